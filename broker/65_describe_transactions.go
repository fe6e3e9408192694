package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// DescribeTransactions v0 (KIP-664), answered by the transaction coordinator.
func init() { register(65, 0, 0, (*Server).handleDescribeTransactions) }

func (s *Server) handleDescribeTransactions(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DescribeTransactionsRequest)
	resp := s.txnCoord.DescribeTransactions(req)
	resp.Version = req.Version
	respond(resp)
}
