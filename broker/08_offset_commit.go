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
	local := newLocalTopics(&resp.Topics, func(t *kmsg.OffsetCommitResponseTopic) (*string, *[]kmsg.OffsetCommitResponseTopicPartition) {
		return &t.Topic, &t.Partitions
	}, kmsg.NewOffsetCommitResponseTopic)
	valid := hostedOnly(s, req.Topics, func(t *kmsg.OffsetCommitRequestTopic) (*string, *[]kmsg.OffsetCommitRequestTopicPartition) {
		return &t.Topic, &t.Partitions
	}, func(p kmsg.OffsetCommitRequestTopicPartition) int32 { return p.Partition }, func(topic string, partition int32) {
		rp := kmsg.NewOffsetCommitResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, kerr.UnknownTopicOrPartition.Code
		local.add(topic, rp)
	})
	if len(valid) == 0 {
		respond(resp)
		return
	}
	fwd := *req
	fwd.Topics = valid
	s.coord.OffsetCommit(&fwd, func(r *kmsg.OffsetCommitResponse) {
		respond(mergeOffsetCommit(resp, local, r))
	})
}

// mergeOffsetCommit is OffsetCommitResponse.Builder.merge: the coordinator's answer joins the partitions
// answered here, topic by topic.
func mergeOffsetCommit(resp *kmsg.OffsetCommitResponse, local *localTopics[kmsg.OffsetCommitResponseTopic, kmsg.OffsetCommitResponseTopicPartition], r *kmsg.OffsetCommitResponse) *kmsg.OffsetCommitResponse {
	if local.empty() {
		return r
	}
	resp.ThrottleMillis = r.ThrottleMillis
	local.merge(r.Topics)
	return resp
}
