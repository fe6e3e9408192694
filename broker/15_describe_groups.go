package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// DescribeGroups v0–v5 (KafkaApis.handleDescribeGroupsRequest). Without an authorizer every group is described;
// authorized operations are left as the coordinator sets them.
func init() { register(15, 0, 5, (*Server).handleDescribeGroups) }

func (s *Server) handleDescribeGroups(ctx context.Context, nreq *network.Request, respond respondFunc) {
	respond(s.coord.DescribeGroups(nreq.Body.(*kmsg.DescribeGroupsRequest)))
}
