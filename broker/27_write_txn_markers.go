package broker

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
)

// WriteTxnMarkers v0–v1, from transaction coordinators (this broker's own included): each marker is appended as
// a control batch to every partition this broker leads, with acks=all and request.timeout.ms, as
// KafkaApis.handleWriteTxnMarkersRequest does; once a marker is committed on __consumer_offsets partitions the
// group coordinator materializes or drops the producer's pending offsets there.
func init() { register(27, 0, 1, (*Server).handleWriteTxnMarkers) }

// markerPartitionResult is one partition's outcome of one marker, in request order.
type markerPartitionResult struct {
	tp   topicPartition
	code int16
}

func (s *Server) handleWriteTxnMarkers(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.WriteTxnMarkersRequest)
	results := make([][]markerPartitionResult, len(req.Markers))
	var remaining atomic.Int32
	remaining.Store(int32(len(req.Markers)))
	finish := func() {
		if remaining.Add(-1) == 0 {
			respond(writeTxnMarkersResponse(req, results))
		}
	}
	if len(req.Markers) == 0 {
		respond(req.ResponseKind())
		return
	}
	for i, m := range req.Markers {
		s.writeMarker(m, func(res []markerPartitionResult) {
			results[i] = res
			finish()
		})
	}
}

// writeMarker appends one marker to its partitions and calls done with every partition's code once the appended
// ones are committed (or failed, or timed out).
func (s *Server) writeMarker(m kmsg.WriteTxnMarkersRequestMarker, done func([]markerPartitionResult)) {
	var res []markerPartitionResult
	var waits []int // indexes into res of appended partitions
	var lastOffsets []int64
	marker := log.Marker{ProducerID: m.ProducerID, ProducerEpoch: m.ProducerEpoch, Commit: m.Committed, CoordinatorEpoch: m.CoordinatorEpoch}
	for _, t := range m.Topics {
		for _, p := range t.Partitions {
			tp := topicPartition{Topic: t.Topic, Partition: p}
			if s.logs.GetLog(tp.Topic, tp.Partition) == nil {
				// ReplicaManager.getMagic: no local replica of the partition.
				res = append(res, markerPartitionResult{tp: tp, code: kerr.UnknownTopicOrPartition.Code})
				continue
			}
			r := s.replicas.appendMarker(tp, marker)
			code := errorCode(r.err)
			if code == kerr.UnknownServerError.Code {
				s.logger.Errorf("Error writing the transaction marker of producer %d to %s-%d: %v", m.ProducerID, tp.Topic, tp.Partition, r.err)
			}
			res = append(res, markerPartitionResult{tp: tp, code: code})
			if r.err == nil {
				waits = append(waits, len(res)-1)
				lastOffsets = append(lastOffsets, r.info.LastOffset)
			}
		}
	}
	complete := func() {
		s.onMarkerWritten(m, res)
		done(res)
	}
	if len(waits) == 0 {
		complete()
		return
	}
	tps := make([]topicPartition, len(waits))
	for i, w := range waits {
		tps[i] = res[w].tp
	}
	satisfied := func(i int) bool {
		ok, _ := s.replicas.acksAllSatisfied(tps[i], lastOffsets[i])
		return ok
	}
	var once sync.Once
	s.replicas.produces.watchAll(tps, s.cfg.RequestTimeout, satisfied, func() {
		once.Do(func() {
			for i, w := range waits {
				ok, code := s.replicas.acksAllSatisfied(tps[i], lastOffsets[i])
				if !ok {
					code = kerr.RequestTimedOut.Code
				}
				res[w].code = code
			}
			complete()
		})
	})
}

// onMarkerWritten tells the group coordinator about committed markers on __consumer_offsets partitions
// (GroupCoordinator.onTransactionCompleted), so the producer's pending offsets there become visible or vanish.
func (s *Server) onMarkerWritten(m kmsg.WriteTxnMarkersRequestMarker, res []markerPartitionResult) {
	var parts []int32
	for _, r := range res {
		if r.code == 0 && r.tp.Topic == coordinator.OffsetsTopic {
			parts = append(parts, r.tp.Partition)
		}
	}
	if len(parts) > 0 {
		s.coord.OnTxnCompleted(m.ProducerID, parts, m.Committed)
	}
}

// writeTxnMarkersResponse is WriteTxnMarkersResponse built from Kafka's map of producer id → partition errors:
// markers of the same producer are merged into one entry.
func writeTxnMarkersResponse(req *kmsg.WriteTxnMarkersRequest, results [][]markerPartitionResult) *kmsg.WriteTxnMarkersResponse {
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	byPID := map[int64]int{}
	for i, m := range req.Markers {
		j, ok := byPID[m.ProducerID]
		if !ok {
			rm := kmsg.NewWriteTxnMarkersResponseMarker()
			rm.ProducerID = m.ProducerID
			resp.Markers = append(resp.Markers, rm)
			j = len(resp.Markers) - 1
			byPID[m.ProducerID] = j
		}
		rm := &resp.Markers[j]
		for _, r := range results[i] {
			var t *kmsg.WriteTxnMarkersResponseMarkerTopic
			for k := range rm.Topics {
				if rm.Topics[k].Topic == r.tp.Topic {
					t = &rm.Topics[k]
					break
				}
			}
			if t == nil {
				nt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
				nt.Topic = r.tp.Topic
				rm.Topics = append(rm.Topics, nt)
				t = &rm.Topics[len(rm.Topics)-1]
			}
			found := false
			for k := range t.Partitions {
				if t.Partitions[k].Partition == r.tp.Partition {
					t.Partitions[k].ErrorCode = r.code // a later marker of the same producer overwrites, as putAll
					found = true
				}
			}
			if !found {
				p := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				p.Partition, p.ErrorCode = r.tp.Partition, r.code
				t.Partitions = append(t.Partitions, p)
			}
		}
	}
	return resp
}
