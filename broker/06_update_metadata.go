package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

func init() { register(6, 0, 8, (*Server).handleUpdateMetadata) }

func (s *Server) handleUpdateMetadata(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.UpdateMetadataRequest)
	resp := req.ResponseKind().(*kmsg.UpdateMetadataResponse)
	if code := s.staleControlRequest(req.ControllerEpoch, req.BrokerEpoch); code != 0 {
		s.logger.Warnf("Ignoring UpdateMetadata from controller %d with epoch %d: %s", req.ControllerID, req.ControllerEpoch, kerr.ErrorForCode(code))
		resp.ErrorCode = code
		respond(resp)
		return
	}
	s.cache.update(req)
	respond(resp)
}
