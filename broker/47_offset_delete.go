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
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	local := newLocalTopics(&resp.Topics, func(t *kmsg.OffsetDeleteResponseTopic) (*string, *[]kmsg.OffsetDeleteResponseTopicPartition) {
		return &t.Topic, &t.Partitions
	}, kmsg.NewOffsetDeleteResponseTopic)
	valid := hostedOnly(s, req.Topics, func(t *kmsg.OffsetDeleteRequestTopic) (*string, *[]kmsg.OffsetDeleteRequestTopicPartition) {
		return &t.Topic, &t.Partitions
	}, func(p kmsg.OffsetDeleteRequestTopicPartition) int32 { return p.Partition }, func(topic string, partition int32) {
		rp := kmsg.NewOffsetDeleteResponseTopicPartition()
		rp.Partition, rp.ErrorCode = partition, kerr.UnknownTopicOrPartition.Code
		local.add(topic, rp)
	})
	fwd := *req
	fwd.Topics = valid
	s.coord.OffsetDelete(&fwd, func(r *kmsg.OffsetDeleteResponse) {
		respond(mergeOffsetDelete(resp, local, r))
	})
}

// mergeOffsetDelete is OffsetDeleteResponse.Builder.merge: a group-level error replaces everything; otherwise the
// coordinator's partitions join the ones answered here, topic by topic.
func mergeOffsetDelete(resp *kmsg.OffsetDeleteResponse, local *localTopics[kmsg.OffsetDeleteResponseTopic, kmsg.OffsetDeleteResponseTopicPartition], r *kmsg.OffsetDeleteResponse) *kmsg.OffsetDeleteResponse {
	if r.ErrorCode != 0 || local.empty() {
		return r
	}
	resp.ThrottleMillis = r.ThrottleMillis
	local.merge(r.Topics)
	return resp
}
