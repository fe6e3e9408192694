package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// DeleteGroups v0–v2 (KafkaApis.handleDeleteGroupsRequest).
func init() { register(42, 0, 2, (*Server).handleDeleteGroups) }

func (s *Server) handleDeleteGroups(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DeleteGroupsRequest)
	// Kafka answers a group named twice once (groupsNames.distinct).
	fwd := *req
	fwd.Groups = distinctStrings(req.Groups)
	s.coord.DeleteGroups(&fwd, func(r *kmsg.DeleteGroupsResponse) { respond(r) })
}

// distinctStrings keeps the first occurrence of each string, in order.
func distinctStrings(in []string) []string {
	seen := make(map[string]bool, len(in))
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
