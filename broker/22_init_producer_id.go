package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// InitProducerId v0–v4: a producer id (and epoch) for an idempotent producer (null transactional id) or a
// transactional one, from the transaction coordinator (KafkaApis.handleInitProducerIdRequest).
func init() { register(22, 0, 4, (*Server).handleInitProducerID) }

func (s *Server) handleInitProducerID(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.InitProducerIDRequest)
	// KIP-360 (v3+): a producer id and epoch come together or not at all.
	if (req.ProducerID == -1) != (req.ProducerEpoch == -1) {
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = kerr.InvalidRequest.Code, -1, -1
		respond(resp)
		return
	}
	s.txnCoord.InitProducerID(req, func(resp *kmsg.InitProducerIDResponse) {
		resp.Version = req.Version
		resp.ErrorCode = fencedForOldClients(resp.ErrorCode, req.Version, 4)
		respond(resp)
	})
}

// fencedForOldClients answers PRODUCER_FENCED as INVALID_PRODUCER_EPOCH to request versions below since, which
// predate the new code (KIP-588): their clients handle only the old one.
func fencedForOldClients(code, version, since int16) int16 {
	if version < since && code == kerr.ProducerFenced.Code {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}
