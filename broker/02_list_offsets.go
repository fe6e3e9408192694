package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
)

// ListOffsets v1–v8, as KafkaApis.handleListOffsetRequestV1AndAbove serves them. v0 (max_num_offsets, a list of
// segment base offsets chosen by segment mtimes) is not served: the log does not expose its segments' mtimes,
// and a made-up answer would be worse than an honest UNSUPPORTED_VERSION at negotiation.
func init() { register(2, 1, 8, (*Server).handleListOffsets) }

// Replica ids a ListOffsets request may carry.
const (
	listOffsetsConsumerReplica  = -1 // a client: bounded by the high watermark
	listOffsetsDebuggingReplica = -2 // a tool: may read a follower's log, bounded by the log end
)

func (s *Server) handleListOffsets(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	dups := duplicateListOffsetsPartitions(req.Topics)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			tp := topicPartition{Topic: t.Topic, Partition: p.Partition}
			if dups[tp] {
				rp.ErrorCode = kerr.InvalidRequest.Code
				rt.Partitions = append(rt.Partitions, rp)
				continue
			}
			found, ok, err := s.listOffset(tp, p.Timestamp, p.CurrentLeaderEpoch, req.ReplicaID, req.IsolationLevel)
			switch {
			case err != nil:
				rp.ErrorCode = errorCode(err)
				if rp.ErrorCode == kerr.UnknownServerError.Code {
					s.logger.Errorf("Error while responding to offset request for %s-%d: %v", t.Topic, p.Partition, err)
				}
			case ok:
				rp.Timestamp, rp.Offset = found.Timestamp, found.Offset
				if req.Version >= 4 {
					rp.LeaderEpoch = found.LeaderEpoch
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	respond(resp)
}

// duplicateListOffsetsPartitions returns the partitions named more than once; Kafka answers every occurrence of
// them with INVALID_REQUEST.
func duplicateListOffsetsPartitions(topics []kmsg.ListOffsetsRequestTopic) map[topicPartition]bool {
	seen := map[topicPartition]bool{}
	var dups map[topicPartition]bool
	for _, t := range topics {
		for _, p := range t.Partitions {
			tp := topicPartition{Topic: t.Topic, Partition: p.Partition}
			if seen[tp] {
				if dups == nil {
					dups = map[topicPartition]bool{}
				}
				dups[tp] = true
			}
			seen[tp] = true
		}
	}
	return dups
}

// listOffset is Partition.fetchOffsetForTimestamp: ok=false means "no such offset" (answered with offset -1 and
// no error).
func (s *Server) listOffset(tp topicPartition, timestamp int64, currentLeaderEpoch, replicaID int32, isolationLevel int8) (log.TimestampOffset, bool, error) {
	part := s.replicas.partition(tp)
	if part == nil {
		if s.cache.contains(tp.Topic) {
			return log.TimestampOffset{}, false, errNotLeader
		}
		return log.TimestampOffset{}, false, errUnknownPartition
	}
	l, leaderEpoch, err := part.listOffsetsLog(currentLeaderEpoch, replicaID != listOffsetsDebuggingReplica)
	if err != nil {
		return log.TimestampOffset{}, false, err
	}
	// A client must not learn of offsets it cannot fetch yet: read_uncommitted clients are bounded by the high
	// watermark, read_committed ones (isolation level 1) by the last stable offset. Replicas and tools are
	// bounded by the log end.
	lastFetchable := l.LogEndOffset()
	if replicaID == listOffsetsConsumerReplica {
		lastFetchable = l.HighWatermark()
		if isolationLevel == 1 {
			lastFetchable = l.LastStableOffset()
		}
	}
	// Clients send -3 (max timestamp) only from v7 and -4 (earliest local) only from v8, but like Kafka 3.7 the
	// broker does not check the version: both are served on any version. Without tiered storage the local log
	// start is the log start.
	switch timestamp {
	case log.LatestTimestamp:
		return log.TimestampOffset{Timestamp: -1, Offset: lastFetchable, LeaderEpoch: leaderEpoch}, true, nil
	case log.EarliestTimestamp, log.EarliestLocalTimestamp:
		return l.FetchOffsetByTimestamp(log.EarliestTimestamp)
	default:
		found, ok, err := l.FetchOffsetByTimestamp(timestamp)
		if err != nil || !ok || found.Offset >= lastFetchable {
			return log.TimestampOffset{}, false, err
		}
		return found, true, nil
	}
}

// listOffsetsLog is Partition.localLogWithEpochOrThrow: the local log if this broker leads the partition (or, for
// the debugging replica id, holds any replica of it), after checking the caller's view of the leader epoch
// (-1 = no check). It also returns the current leader epoch.
func (p *Partition) listOffsetsLog(currentLeaderEpoch int32, requireLeader bool) (*log.Log, int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if currentLeaderEpoch >= 0 && currentLeaderEpoch != p.leaderEpoch {
		if currentLeaderEpoch < p.leaderEpoch {
			return nil, 0, errFencedLeaderEpoch
		}
		return nil, 0, errUnknownLeaderEpoch
	}
	if (requireLeader && !p.isLeaderLocked()) || p.log == nil {
		return nil, 0, errNotLeader
	}
	return p.log, p.leaderEpoch, nil
}
