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
	if deleted := deletedTopics(req); len(deleted) > 0 {
		// KafkaApis.handleUpdateMetadataRequest → GroupCoordinator.onPartitionsDeleted: offsets of deleted topics go.
		s.coord.OnTopicsDeleted(deleted)
	}
	respond(resp)
}

// deletedTopics lists, once each and in request order, the topics of partitions an UpdateMetadata marks as being
// deleted (leader -2, LeaderAndIsr.LeaderDuringDelete).
func deletedTopics(req *kmsg.UpdateMetadataRequest) []string {
	var out []string
	seen := map[string]bool{}
	add := func(topic string, leader int32) {
		if leader == leaderDuringDelete && !seen[topic] {
			seen[topic] = true
			out = append(out, topic)
		}
	}
	if req.Version >= 5 {
		for _, t := range req.TopicStates {
			for _, p := range t.PartitionStates {
				add(t.Topic, p.Leader)
			}
		}
	} else {
		for _, p := range req.PartitionStates {
			add(p.Topic, p.Leader)
		}
	}
	return out
}

// leaderDuringDelete is LeaderAndIsr.LeaderDuringDelete: the leader the controller sends for a topic being deleted.
const leaderDuringDelete = -2
