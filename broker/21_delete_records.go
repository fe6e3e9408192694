package broker

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// DeleteRecords v0–v2: the leader raises a partition's log start offset (KafkaApis.handleDeleteRecordsRequest,
// ReplicaManager.deleteRecords, Partition.deleteRecordsOnLeader).
func init() { register(21, 0, 2, (*Server).handleDeleteRecords) }

// deleteRecordsHighWatermark is DeleteRecordsRequest.HIGH_WATERMARK: "delete everything below the HW".
const deleteRecordsHighWatermark = -1

func (s *Server) handleDeleteRecords(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewDeleteRecordsResponseTopic()
		rt.Topic = t.Topic
		// Kafka keys the work by partition, so a partition named twice is answered once, for its last offset.
		index := map[int32]int{}
		for _, p := range t.Partitions {
			rp := kmsg.NewDeleteRecordsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.LowWatermark = -1
			tp := topicPartition{Topic: t.Topic, Partition: p.Partition}
			if !s.cache.hostsPartition(tp) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			} else {
				low, err := s.replicas.deleteRecords(tp, p.Offset)
				rp.ErrorCode = errorCode(err)
				if err == nil {
					rp.LowWatermark = low
				} else if rp.ErrorCode == kerr.UnknownServerError.Code {
					s.logger.Errorf("Error processing delete records operation on partition %s-%d: %v", t.Topic, p.Partition, err)
				}
			}
			if i, dup := index[p.Partition]; dup {
				rt.Partitions[i] = rp
				continue
			}
			index[p.Partition] = len(rt.Partitions)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Kafka parks a DelayedDeleteRecords here when a partition's low watermark (the minimum log start offset of
	// its live replicas) is still below the requested offset, and completes it as followers' fetches report
	// their new log starts, or after timeout_ms. Followers do not replicate yet, so the low watermark is the
	// leader's own log start, which deleteRecords has already moved: every answer is final now.
	respond(resp)
}

// hostsPartition reports whether the cluster metadata knows the topic partition (MetadataCache.contains(tp)).
func (c *metadataCache) hostsPartition(tp topicPartition) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[tp.Topic]
	if !ok {
		return false
	}
	_, ok = t.partitions[tp.Partition]
	return ok
}

// deleteRecords is ReplicaManager.deleteRecordsOnLocalLog for one partition: it moves the leader's log start up
// to offset (-1 = the high watermark) and returns the partition's low watermark.
func (rm *ReplicaManager) deleteRecords(tp topicPartition, offset int64) (int64, error) {
	if tp.Topic == "__consumer_offsets" || tp.Topic == "__transaction_state" {
		return -1, newAPIError(kerr.InvalidTopicException, "Cannot delete records of internal topic %s", tp.Topic)
	}
	p := rm.partition(tp)
	if p == nil {
		return -1, newAPIError(kerr.NotLeaderForPartition, "Leader not local for partition %s-%d on broker %d", tp.Topic, tp.Partition, rm.brokerID)
	}
	return p.deleteRecordsOnLeader(offset)
}

// deleteRecordsOnLeader is Partition.deleteRecordsOnLeader. It holds the partition's read lock throughout, as
// Kafka holds leaderIsrUpdateLock, so leadership cannot change between the checks and the move.
func (p *Partition) deleteRecordsOnLeader(offset int64) (int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	tp := p.tp
	if !p.isLeaderLocked() || p.log == nil {
		return -1, newAPIError(kerr.NotLeaderForPartition, "Leader not local for partition %s-%d on broker %d", tp.Topic, tp.Partition, p.brokerID)
	}
	l := p.log
	if !strings.Contains(l.Config().CleanupPolicy, "delete") {
		return -1, newAPIError(kerr.PolicyViolation, "Records of partition %s-%d can not be deleted due to the configured policy", tp.Topic, tp.Partition)
	}
	if offset == deleteRecordsHighWatermark {
		offset = l.HighWatermark()
	}
	if offset < 0 {
		return -1, newAPIError(kerr.OffsetOutOfRange, "The offset %d for partition %s-%d is not valid", offset, tp.Topic, tp.Partition)
	}
	// The log refuses offsets above the high watermark (OFFSET_OUT_OF_RANGE, with Kafka's message).
	if err := l.IncrementLogStartOffset(offset); err != nil {
		return -1, err
	}
	// Kafka's low watermark is the minimum log start offset over the live replicas; only the leader's is known
	// until followers report theirs in fetches.
	return l.LogStartOffset(), nil
}
