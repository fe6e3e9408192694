package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// OffsetForLeaderEpoch v0–v4: followers truncating after a leader change (KIP-101) and consumers validating
// their position after one (KIP-320) ask the leader where an epoch ended.
func init() { register(23, 0, 4, (*Server).handleOffsetForLeaderEpoch) }

func (s *Server) handleOffsetForLeaderEpoch(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.OffsetForLeaderEpochRequest)
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetForLeaderEpochResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			rp.Partition = p.Partition
			tp := topicPartition{Topic: t.Topic, Partition: p.Partition}
			current := p.CurrentLeaderEpoch
			if req.Version < 2 {
				current = -1
			}
			epoch, end, err := s.replicas.lastOffsetForLeaderEpoch(tp, current, p.LeaderEpoch)
			rp.LeaderEpoch, rp.EndOffset = epoch, end
			if err != nil {
				rp.LeaderEpoch, rp.EndOffset = -1, -1
				rp.ErrorCode = errorCode(err)
				if rp.ErrorCode == kerr.UnknownTopicOrPartition.Code && s.cache.contains(t.Topic) {
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	respond(resp)
}
