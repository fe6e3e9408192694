package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// Fetch v4+ (record batch v2; older versions would need down-conversion to message sets v0/v1).
func init() { register(1, 4, 16, (*Server).handleFetch) }

// fetchPartition is one partition of a fetch, resolved to a name, in request order.
type fetchPartition struct {
	tp          topicPartition
	topicID     [16]byte
	offset      int64
	maxBytes    int32
	leaderEpoch int32
	lastEpoch   int32 // a follower's LastFetchedEpoch (v12+), -1 = none
	logStart    int64 // a follower's log start offset
	err         int16 // resolution error (unknown topic id)
}

func (s *Server) handleFetch(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.FetchRequest)
	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	isFollower := replicaID >= 0
	// Followers read to the log end whatever isolation they send; read_committed consumers to the LSO.
	isolation := fetchIsolationOf(isFollower, req.IsolationLevel)

	session, sessErr := s.fetchSessions.resolve(req)
	if sessErr != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = sessErr
		respond(resp)
		return
	}
	parts := session.partitions

	// A follower's fetch tells the leader where the follower is (moving the HW and maybe the ISR), unless its log
	// diverged from the leader's: then it gets the epoch to truncate to and no records.
	var followerErrs map[int]error
	var diverging map[int]kmsg.FetchResponseTopicPartitionDivergingEpoch
	if isFollower {
		followerErrs, diverging = s.replicas.followerFetches(replicaID, parts)
	}

	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = int(s.cfg.FetchMaxBytes)
	}
	if !isFollower && maxBytes > int(s.cfg.FetchMaxBytes) {
		maxBytes = int(s.cfg.FetchMaxBytes)
	}

	// build answers with the records as file regions: the network layer sends them with sendfile, so record bytes
	// never pass through the broker's memory.
	build := func() *network.SplicedResponse {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		out := &network.SplicedResponse{Response: resp}
		resp.SessionID = session.id
		remaining := maxBytes
		minOne := true
		var lastTopic *kmsg.FetchResponseTopic
		for i, fp := range parts {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = fp.tp.Partition
			rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = -1, -1, -1
			rp.RecordBatches = []byte{} // empty, not null: librdkafka rejects a null record set
			var sp network.Splice
			var spSize int
			if fp.err != 0 {
				rp.ErrorCode = fp.err
			} else if err := followerErrs[i]; err != nil {
				rp.ErrorCode = errorCode(err)
			} else if div, ok := diverging[i]; ok {
				rp.DivergingEpoch = div
				if l := s.replicas.partition(fp.tp); l != nil {
					if lg, _, err := l.leaderLog(-1); err == nil {
						rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = lg.HighWatermark(), lg.LastStableOffset(), lg.LogStartOffset()
					}
				}
			} else {
				limit := int(fp.maxBytes)
				if limit > remaining {
					limit = remaining
				}
				res := s.replicas.read(fp.tp, fp.offset, limit, fp.leaderEpoch, isolation, minOne)
				rp.ErrorCode = errorCode(res.err)
				rp.HighWatermark = res.info.HighWatermark
				// Kafka reports the LSO whatever the isolation level.
				rp.LastStableOffset = res.lso
				rp.LogStartOffset = res.info.LogStartOffset
				if res.err == nil && res.aborted != nil {
					rp.AbortedTransactions = make([]kmsg.FetchResponseTopicPartitionAbortedTransaction, 0, len(res.aborted))
					for _, a := range res.aborted {
						at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
						at.ProducerID, at.FirstOffset = a.ProducerID, a.FirstOffset
						rp.AbortedTransactions = append(rp.AbortedTransactions, at)
					}
				}
				if res.err == nil && res.info.Size > 0 {
					sp = network.Splice{Tag: network.NewSpliceTag(), Regions: make([]network.FileRegion, len(res.info.Regions))}
					for i, r := range res.info.Regions {
						sp.Regions[i] = network.FileRegion{File: r.File, Pos: r.Pos, Len: r.Len}
					}
					rp.RecordBatches = sp.Tag
					spSize = int(res.info.Size)
					remaining -= spSize
					minOne = false
				}
				if res.err != nil && rp.ErrorCode == kerr.UnknownTopicOrPartition.Code && s.cache.contains(fp.tp.Topic) {
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				}
			}
			if !session.include(fp, rp) {
				continue
			}
			if sp.Tag != nil {
				// Splices must be listed in the order their partitions are encoded: the order of parts.
				out.Splices = append(out.Splices, sp)
				s.bytesOut(fp.tp.Topic, spSize)
			}
			if lastTopic == nil || lastTopic.Topic != fp.tp.Topic || lastTopic.TopicID != fp.topicID {
				t := kmsg.NewFetchResponseTopic()
				t.Topic, t.TopicID = fp.tp.Topic, fp.topicID
				resp.Topics = append(resp.Topics, t)
				lastTopic = &resp.Topics[len(resp.Topics)-1]
			}
			lastTopic.Partitions = append(lastTopic.Partitions, rp)
		}
		return out
	}

	// Enough data (or an error) now → answer; otherwise park until min.bytes arrive or max.wait.ms passes.
	available := func() (bytes int, done bool) {
		if len(followerErrs) > 0 || len(diverging) > 0 {
			return 0, true
		}
		for _, fp := range parts {
			if fp.err != 0 {
				return 0, true
			}
			p := s.replicas.partition(fp.tp)
			if p == nil {
				return 0, true
			}
			l, _, err := p.leaderLog(fp.leaderEpoch)
			if err != nil {
				return 0, true
			}
			// DelayedFetch's end offset: read_committed waits on the LSO, which markers and HW moves advance
			// (both touch the partition's key in the purgatory).
			end := fetchEnd(l, isolation)
			if fp.offset > l.LogEndOffset() || fp.offset < l.LogStartOffset() {
				return 0, true // out of range: answer with the error now
			}
			if end > fp.offset {
				if req.MinBytes <= 1 {
					return 1, true
				}
				res := s.replicas.read(fp.tp, fp.offset, int(fp.maxBytes), fp.leaderEpoch, isolation, false)
				bytes += int(res.info.Size)
			}
		}
		return bytes, bytes >= int(req.MinBytes)
	}
	if req.MaxWaitMillis <= 0 || req.MinBytes <= 0 || len(parts) == 0 {
		respond(build())
		return
	}
	if _, done := available(); done {
		respond(build())
		return
	}
	keys := make([]any, len(parts))
	for i, fp := range parts {
		keys[i] = fp.tp
	}
	op := &delayedOp{
		check:    func() bool { _, done := available(); return done },
		complete: func() { respond(build()) },
	}
	s.replicas.fetches.tryCompleteElseWatch(op, time.Duration(req.MaxWaitMillis)*time.Millisecond, keys)
}
