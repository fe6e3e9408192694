package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// OffsetDelete v0 (KafkaApis.handleOffsetDeleteRequest): partitions of unknown topics are answered here; the
// coordinator is asked even when none is left, since it also validates the group.
func init() { register(47, 0, 0, (*Server).handleOffsetDelete) }

func (s *Server) handleOffsetDelete(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.OffsetDeleteRequest)
	local := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	byName := map[string]int{}
	reject := func(topic string, partition int32) {
		i, ok := byName[topic]
		if !ok {
			rt := kmsg.NewOffsetDeleteResponseTopic()
			rt.Topic = topic
			local.Topics = append(local.Topics, rt)
			i = len(local.Topics) - 1
			byName[topic] = i
		}
		rp := kmsg.NewOffsetDeleteResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, kerr.UnknownTopicOrPartition.Code
		local.Topics[i].Partitions = append(local.Topics[i].Partitions, rp)
	}
	var valid []kmsg.OffsetDeleteRequestTopic
	for _, t := range req.Topics {
		if !s.cache.contains(t.Topic) {
			for _, p := range t.Partitions {
				reject(t.Topic, p.Partition)
			}
			continue
		}
		vt := t
		vt.Partitions = nil
		for _, p := range t.Partitions {
			if s.cache.hostsPartition(topicPartition{Topic: t.Topic, Partition: p.Partition}) {
				vt.Partitions = append(vt.Partitions, p)
			} else {
				reject(t.Topic, p.Partition)
			}
		}
		if len(vt.Partitions) > 0 {
			valid = append(valid, vt)
		}
	}
	fwd := *req
	fwd.Topics = valid
	s.coord.OffsetDelete(&fwd, func(r *kmsg.OffsetDeleteResponse) {
		respond(mergeOffsetDelete(local, byName, r))
	})
}

// mergeOffsetDelete is OffsetDeleteResponse.Builder.merge: a group-level error replaces everything; otherwise the
// coordinator's partitions join the ones answered here, topic by topic.
func mergeOffsetDelete(local *kmsg.OffsetDeleteResponse, byName map[string]int, r *kmsg.OffsetDeleteResponse) *kmsg.OffsetDeleteResponse {
	if r.ErrorCode != 0 || len(local.Topics) == 0 {
		return r
	}
	local.ThrottleMillis = r.ThrottleMillis
	for _, t := range r.Topics {
		if i, ok := byName[t.Topic]; ok {
			local.Topics[i].Partitions = append(local.Topics[i].Partitions, t.Partitions...)
			continue
		}
		byName[t.Topic] = len(local.Topics)
		local.Topics = append(local.Topics, t)
	}
	return local
}
