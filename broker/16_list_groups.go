package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// ListGroups v0–v4 (KafkaApis.handleListGroupsRequest): the groups this broker coordinates; v4 filters by state.
func init() { register(16, 0, 4, (*Server).handleListGroups) }

func (s *Server) handleListGroups(ctx context.Context, nreq *network.Request, respond respondFunc) {
	respond(s.coord.ListGroups(nreq.Body.(*kmsg.ListGroupsRequest)))
}
