package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// LeaveGroup v0–v5 (KafkaApis.handleLeaveGroupRequest); v3+ carries a batch of members.
func init() { register(13, 0, 5, (*Server).handleLeaveGroup) }

func (s *Server) handleLeaveGroup(ctx context.Context, nreq *network.Request, respond respondFunc) {
	respond(s.coord.LeaveGroup(nreq.Body.(*kmsg.LeaveGroupRequest)))
}
