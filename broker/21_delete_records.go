package broker

import (
	"context"
	"slices"
	"strings"
	"time"

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
	type pending struct {
		tp     topicPartition
		ti, pi int
		target int64
	}
	var waits []pending
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
				low, target, err := s.replicas.deleteRecords(tp, p.Offset)
				rp.ErrorCode = errorCode(err)
				if err == nil {
					rp.LowWatermark = low
					if low < target {
						waits = append(waits, pending{tp: tp, ti: len(resp.Topics), pi: len(rt.Partitions), target: target})
					}
				} else if rp.ErrorCode == kerr.UnknownServerError.Code {
					s.logger.Errorf("Error processing delete records operation on partition %s-%d: %v", t.Topic, p.Partition, err)
				}
			}
			if i, dup := index[p.Partition]; dup {
				rt.Partitions[i] = rp
				// Only the last request for the partition is answered, so only it may wait.
				waits = slices.DeleteFunc(waits, func(w pending) bool { return w.tp == tp && w.pi != len(rt.Partitions) })
				if n := len(waits); n > 0 && waits[n-1].tp == tp {
					waits[n-1].pi = i
				}
				continue
			}
			index[p.Partition] = len(rt.Partitions)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(waits) == 0 {
		respond(resp)
		return
	}
	// DelayedDeleteRecords: the answer waits until each partition's low watermark (the smallest log start offset
	// of its live replicas, which followers report in their fetches) reaches the new log start, or timeout_ms.
	check := func(w pending) (done bool, low int64, code int16) {
		p := s.replicas.partition(w.tp)
		if p == nil {
			return true, -1, kerr.NotLeaderForPartition.Code
		}
		low, err := p.lowWatermark(s.cache.isBrokerAlive)
		if err != nil {
			return true, -1, errorCode(err)
		}
		return low >= w.target, low, 0
	}
	tps := make([]topicPartition, len(waits))
	for i, w := range waits {
		tps[i] = w.tp
	}
	done := func(i int) bool { ok, _, _ := check(waits[i]); return ok }
	s.replicas.deletes.watchAll(tps, time.Duration(req.TimeoutMillis)*time.Millisecond, done, func() {
		for _, w := range waits {
			rp := &resp.Topics[w.ti].Partitions[w.pi]
			done, low, code := check(w)
			switch {
			case !done:
				rp.ErrorCode, rp.LowWatermark = kerr.RequestTimedOut.Code, -1
			case code != 0:
				rp.ErrorCode, rp.LowWatermark = code, -1
			default:
				rp.LowWatermark = low
			}
		}
		respond(resp)
	})
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
func (rm *ReplicaManager) deleteRecords(tp topicPartition, offset int64) (low, target int64, err error) {
	if tp.Topic == "__consumer_offsets" || tp.Topic == "__transaction_state" {
		return -1, -1, newAPIError(kerr.InvalidTopicException, "Cannot delete records of internal topic %s", tp.Topic)
	}
	p := rm.partition(tp)
	if p == nil {
		return -1, -1, newAPIError(kerr.NotLeaderForPartition, "Leader not local for partition %s-%d on broker %d", tp.Topic, tp.Partition, rm.brokerID)
	}
	return p.deleteRecordsOnLeader(offset, rm.alive)
}

// deleteRecordsOnLeader is Partition.deleteRecordsOnLeader. It holds the partition's read lock throughout, as
// Kafka holds leaderIsrUpdateLock, so leadership cannot change between the checks and the move. It returns the
// low watermark and the offset the log start moved to.
func (p *Partition) deleteRecordsOnLeader(offset int64, alive func(int32) bool) (int64, int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	tp := p.tp
	if !p.isLeaderLocked() || p.log == nil {
		return -1, -1, newAPIError(kerr.NotLeaderForPartition, "Leader not local for partition %s-%d on broker %d", tp.Topic, tp.Partition, p.brokerID)
	}
	l := p.log
	if !strings.Contains(l.Config().CleanupPolicy, "delete") {
		return -1, -1, newAPIError(kerr.PolicyViolation, "Records of partition %s-%d can not be deleted due to the configured policy", tp.Topic, tp.Partition)
	}
	if offset == deleteRecordsHighWatermark {
		offset = l.HighWatermark()
	}
	if offset < 0 {
		return -1, -1, newAPIError(kerr.OffsetOutOfRange, "The offset %d for partition %s-%d is not valid", offset, tp.Topic, tp.Partition)
	}
	// The log refuses offsets above the high watermark (OFFSET_OUT_OF_RANGE, with Kafka's message).
	if err := l.IncrementLogStartOffset(offset); err != nil {
		return -1, -1, err
	}
	return p.lowWatermarkLocked(alive), offset, nil
}

// lowWatermark is Partition.lowWatermarkIfLeader: the smallest log start offset among the leader and its live
// followers (-1 for a follower that has not fetched under this leadership yet).
func (p *Partition) lowWatermark(alive func(int32) bool) (int64, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeaderLocked() || p.log == nil {
		return -1, newAPIError(kerr.NotLeaderForPartition, "Leader not local for partition %s on broker %d", p.tp, p.brokerID)
	}
	return p.lowWatermarkLocked(alive), nil
}

func (p *Partition) lowWatermarkLocked(alive func(int32) bool) int64 {
	low := p.log.LogStartOffset()
	for id, f := range p.followers {
		if alive(id) {
			low = min(low, f.logStart)
		}
	}
	return low
}
