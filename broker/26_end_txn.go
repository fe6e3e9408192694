package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// EndTxn v0–v3: commit or abort, answered once the transaction coordinator wrote PrepareCommit/PrepareAbort.
func init() { register(26, 0, 3, (*Server).handleEndTxn) }

func (s *Server) handleEndTxn(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.EndTxnRequest)
	s.txnCoord.EndTxn(req, func(resp *kmsg.EndTxnResponse) {
		resp.Version = req.Version
		resp.ErrorCode = fencedForOldClients(resp.ErrorCode, req.Version, 2)
		respond(resp)
	})
}
