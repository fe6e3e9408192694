package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// DescribeProducers v0 (KIP-664): the active producers of partitions this broker holds a replica of
// (Partition.activeProducerState answers from any local log, leader or follower).
func init() { register(61, 0, 0, (*Server).handleDescribeProducers) }

func (s *Server) handleDescribeProducers(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDescribeProducersResponseTopic()
		rt.Topic = t.Topic
		// ApiError carries a message: the validation's, or the error's default one.
		var code int16
		var msg *string
		if err := validateTopicName(t.Topic); err != nil {
			code, msg = errorCode(err), errMessage(err)
		} else if !s.cache.contains(t.Topic) {
			code, msg = kerr.UnknownTopicOrPartition.Code, &kerr.UnknownTopicOrPartition.Description
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewDescribeProducersResponseTopicPartition()
			rp.Partition = p
			if code != 0 {
				rp.ErrorCode, rp.ErrorMessage = code, msg
			} else {
				s.activeProducerState(topicPartition{Topic: t.Topic, Partition: p}, &rp)
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	respond(resp)
}

// activeProducerState is ReplicaManager.activeProducerState.
func (s *Server) activeProducerState(tp topicPartition, rp *kmsg.DescribeProducersResponseTopicPartition) {
	part := s.replicas.partition(tp)
	if part == nil {
		// getPartitionOrError: the topic exists (checked above) but this broker holds no replica.
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	part.mu.RLock()
	l := part.log
	part.mu.RUnlock()
	if l == nil {
		rp.ErrorCode = kerr.NotLeaderForPartition.Code
		return
	}
	rp.ActiveProducers = []kmsg.DescribeProducersResponseTopicPartitionActiveProducer{}
	for _, pi := range l.ActiveProducers() {
		ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
		ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = pi.ProducerID, int32(pi.ProducerEpoch), pi.LastSequence
		ap.LastTimestamp, ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = pi.LastTimestamp, pi.CoordinatorEpoch, pi.CurrentTxnStartOffset
		rp.ActiveProducers = append(rp.ActiveProducers, ap)
	}
}
