package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// ListTransactions v0 (KIP-664), answered by the transaction coordinator from the partitions it leads.
func init() { register(66, 0, 0, (*Server).handleListTransactions) }

func (s *Server) handleListTransactions(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ListTransactionsRequest)
	resp := s.txnCoord.ListTransactions(req)
	resp.Version = req.Version
	respond(resp)
}
