package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// Heartbeat v0–v4 (KafkaApis.handleHeartbeatRequest).
func init() { register(12, 0, 4, (*Server).handleHeartbeat) }

func (s *Server) handleHeartbeat(ctx context.Context, nreq *network.Request, respond respondFunc) {
	respond(s.coord.Heartbeat(nreq.Body.(*kmsg.HeartbeatRequest)))
}
