package broker

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// Produce v3+ carries record batch v2 only; v0–v2 (message sets v0/v1) are not served.
func init() { register(0, 3, 10, (*Server).handleProduce) }

func (s *Server) handleProduce(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acks := req.Acks
	if req.TransactionID == nil && hasTransactionalBatch(req) {
		// KafkaApis.handleProduceRequest: transactional records need a transactional id the principal may write
		// to; without one the whole request fails.
		if acks == 0 {
			respond(nil) // getErrorResponse: a producer with acks=0 wants no response
			return
		}
		respond(produceErrorResponse(req, kerr.TransactionalIDAuthorizationFailed.Code))
		return
	}

	type pending struct {
		tp      topicPartition
		ti, pi  int   // index of the partition in resp
		lastOff int64 // the HW must pass this offset
	}
	var waits []pending
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition = p.Partition
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			tp := topicPartition{Topic: t.Topic, Partition: p.Partition}
			recordsErr := validateProduceRecords(req.Version, p.Records)
			switch {
			case acks != 0 && acks != 1 && acks != -1:
				rp.ErrorCode = kerr.InvalidRequiredAcks.Code
			case !s.cache.partitionExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case recordsErr != nil:
				rp.ErrorCode, rp.ErrorMessage = errorCode(recordsErr), errMessage(recordsErr)
			case isInternalTopic(t.Topic) && clientIDOf(nreq) != adminClientID:
				// ReplicaManager.appendToLocalLog: only the admin client may write to an internal topic.
				rp.ErrorCode = kerr.InvalidTopicException.Code
			default:
				res := s.replicas.appendRecords(tp, p.Records, acks)
				rp.ErrorCode = errorCode(res.err)
				switch {
				case res.err == nil:
					rp.BaseOffset = res.info.FirstOffset
					rp.LogAppendTime = res.info.LogAppendTime
					rp.LogStartOffset = res.info.LogStartOffset
					s.bytesIn(t.Topic, len(p.Records), res.info.NumRecords)
					if acks == -1 {
						waits = append(waits, pending{tp: tp, ti: len(resp.Topics), pi: len(rt.Partitions), lastOff: res.info.LastOffset})
					}
				case rp.ErrorCode == kerr.UnknownTopicOrPartition.Code:
					// ReplicaManager.getPartitionOrException: a topic the metadata knows but this broker holds no
					// replica of means the client's metadata is stale.
					rp.ErrorCode = kerr.NotLeaderForPartition.Code
				case rp.ErrorCode == kerr.UnknownServerError.Code:
					s.logger.Errorf("Error processing append operation on partition %s-%d: %v", t.Topic, p.Partition, res.err)
				case rp.ErrorCode == kerr.CorruptMessage.Code || rp.ErrorCode == kerr.InvalidRecord.Code:
					rp.ErrorMessage = errMessage(res.err)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if acks == 0 {
		respond(nil)
		return
	}
	if acks == 1 || len(waits) == 0 {
		respond(resp)
		return
	}
	// acks=all: wait until the HW passes every appended batch (all ISR members have it) or timeout.ms.
	satisfied := func(w pending) (bool, int16) { return s.replicas.acksAllSatisfied(w.tp, w.lastOff) }
	tps := make([]topicPartition, len(waits))
	for i, w := range waits {
		tps[i] = w.tp
	}
	done := func(i int) bool { ok, _ := satisfied(waits[i]); return ok }
	s.replicas.produces.watchAll(tps, time.Duration(req.TimeoutMillis)*time.Millisecond, done, func() {
		for _, w := range waits {
			done, code := satisfied(w)
			if !done {
				code = kerr.RequestTimedOut.Code
			}
			resp.Topics[w.ti].Partitions[w.pi].ErrorCode = code
		}
		respond(resp)
	})
}

// hasTransactionalBatch is RequestUtils.hasTransactionalRecords: any batch with the transactional attribute.
func hasTransactionalBatch(req *kmsg.ProduceRequest) bool {
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			// v3+ carries one magic-2 batch per partition; the attributes are bytes 21-22.
			if len(p.Records) >= 23 && p.Records[16] == 2 && binary.BigEndian.Uint16(p.Records[21:23])&0x10 != 0 {
				return true
			}
		}
	}
	return false
}

// produceErrorResponse is ProduceRequest.getErrorResponse: every partition gets the error.
func produceErrorResponse(req *kmsg.ProduceRequest, code int16) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewProduceResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewProduceResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rp.BaseOffset, rp.LogAppendTime, rp.LogStartOffset = -1, -1, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// adminClientID is AdminUtils.ADMIN_CLIENT_ID, the one client id allowed to produce to internal topics.
const adminClientID = "__admin_client"

// isInternalTopic is Kafka's Topic.isInternal.
func isInternalTopic(topic string) bool {
	return topic == "__consumer_offsets" || topic == "__transaction_state"
}

// acksAllSatisfied is DelayedProduce's check for one partition: done once the high watermark passed lastOffset
// (with NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR then is below min.insync.replicas), or at once with the error
// of a partition this broker no longer leads.
func (rm *ReplicaManager) acksAllSatisfied(tp topicPartition, lastOffset int64) (done bool, code int16) {
	p := rm.partition(tp)
	if p == nil {
		return true, kerr.NotLeaderForPartition.Code
	}
	l, _, err := p.leaderLog(-1)
	if err != nil {
		return true, errorCode(err)
	}
	if l.HighWatermark() > lastOffset {
		isr, minISR := p.inSyncReplicas()
		if len(isr) < minISR {
			return true, kerr.NotEnoughReplicasAfterAppend.Code
		}
		return true, 0
	}
	return false, 0
}

// validateProduceRecords applies Kafka's ProduceRequest.validateRecords: v3+ carries exactly one magic-2 batch,
// and zstd needs v7+.
func validateProduceRecords(version int16, records []byte) error {
	if len(records) < 61 {
		return newAPIError(kerr.InvalidRecord, "Produce requests with version %d are only allowed to contain exactly one record batch", version)
	}
	length := int64(binary.BigEndian.Uint32(records[8:12]))
	if length+12 != int64(len(records)) {
		if length+12 < int64(len(records)) {
			return newAPIError(kerr.InvalidRecord, "Produce requests with version %d are only allowed to contain exactly one record batch", version)
		}
		return newAPIError(kerr.CorruptMessage, "Record batch size %d exceeds the %d bytes received", length+12, len(records))
	}
	if records[16] != 2 {
		return newAPIError(kerr.InvalidRecord, "Produce requests with version %d are only allowed to contain record batches with magic version 2", version)
	}
	if codec := binary.BigEndian.Uint16(records[21:23]) & 7; codec == 4 && version < 7 {
		return newAPIError(kerr.UnsupportedCompressionType, "Produce requests with version %d must not use ZStandard compression", version)
	}
	return nil
}
