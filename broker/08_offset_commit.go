package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// OffsetCommit v1–v9 (KafkaApis.handleOffsetCommitRequest). Version 0 is not served: Kafka stores v0 commits in
// ZooKeeper (/consumers/<group>/offsets), a path this broker does not implement, and no client in use sends v0.
// v9 only names the generation field GenerationIdOrMemberEpoch; the classic coordinator reads it as v8's
// generation.
func init() { register(8, 1, 9, (*Server).handleOffsetCommit) }

func (s *Server) handleOffsetCommit(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.OffsetCommitRequest)
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	// Partitions of topics or partitions the metadata cache does not know are answered here, as KafkaApis does;
	// only the rest reach the coordinator.
	byName := map[string]int{}
	reject := func(topic string, partition int32) {
		i, ok := byName[topic]
		if !ok {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			byName[topic] = i
		}
		rp := kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, kerr.UnknownTopicOrPartition.Code
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	var valid []kmsg.OffsetCommitRequestTopic
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
	if len(valid) == 0 {
		respond(resp)
		return
	}
	fwd := *req
	fwd.Topics = valid
	s.coord.OffsetCommit(&fwd, func(r *kmsg.OffsetCommitResponse) {
		respond(mergeOffsetCommit(resp, byName, r))
	})
}

// mergeOffsetCommit is OffsetCommitResponse.Builder.merge: the coordinator's answer joins the partitions
// answered here, topic by topic.
func mergeOffsetCommit(local *kmsg.OffsetCommitResponse, byName map[string]int, r *kmsg.OffsetCommitResponse) *kmsg.OffsetCommitResponse {
	if len(local.Topics) == 0 {
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
