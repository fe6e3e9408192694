package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// AddOffsetsToTxn v0–v3: the transaction coordinator adds the group's __consumer_offsets partition to the
// transaction.
func init() { register(25, 0, 3, (*Server).handleAddOffsetsToTxn) }

func (s *Server) handleAddOffsetsToTxn(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.AddOffsetsToTxnRequest)
	s.txnCoord.AddOffsetsToTxn(req, func(resp *kmsg.AddOffsetsToTxnResponse) {
		resp.Version = req.Version
		resp.ErrorCode = fencedForOldClients(resp.ErrorCode, req.Version, 2)
		respond(resp)
	})
}
