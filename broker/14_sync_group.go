package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// SyncGroup v0–v5 (KafkaApis.handleSyncGroupRequest). The coordinator answers members once the leader's
// assignment is written, so the response is asynchronous.
func init() { register(14, 0, 5, (*Server).handleSyncGroup) }

func (s *Server) handleSyncGroup(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.SyncGroupRequest)
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		// SyncGroupRequest.areMandatoryProtocolTypeAndNamePresent: v5 made both fields mandatory.
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = kerr.InconsistentGroupProtocol.Code
		respond(resp)
		return
	}
	s.coord.SyncGroup(req, func(r *kmsg.SyncGroupResponse) { respond(r) })
}
