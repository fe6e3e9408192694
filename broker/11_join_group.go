package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// JoinGroup v0–v9 (KafkaApis.handleJoinGroupRequest). The coordinator answers when the rebalance completes, so
// the response is asynchronous; the member's client id and host come from the connection.
func init() { register(11, 0, 9, (*Server).handleJoinGroup) }

func (s *Server) handleJoinGroup(ctx context.Context, nreq *network.Request, respond respondFunc) {
	s.coord.JoinGroup(nreq.Body.(*kmsg.JoinGroupRequest), groupClient(nreq), func(r *kmsg.JoinGroupResponse) { respond(r) })
}
