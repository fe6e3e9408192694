package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// TxnOffsetCommit v0–v3: a transactional producer's offsets, written by the group coordinator as a
// transactional batch and kept pending until the transaction's marker (KafkaApis.handleTxnOffsetCommitRequest).
func init() { register(28, 0, 3, (*Server).handleTxnOffsetCommit) }

func (s *Server) handleTxnOffsetCommit(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.TxnOffsetCommitRequest)
	// Partitions missing from the metadata are answered UNKNOWN_TOPIC_OR_PARTITION here; the coordinator gets
	// the rest and its answer is merged in.
	var rejected []kmsg.TxnOffsetCommitResponseTopic
	valid := *req
	valid.Topics = nil
	for _, t := range req.Topics {
		vt := t
		vt.Partitions = nil
		rt := kmsg.NewTxnOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			if s.cache.partitionExists(t.Topic, p.Partition) {
				vt.Partitions = append(vt.Partitions, p)
				continue
			}
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, kerr.UnknownTopicOrPartition.Code
			rt.Partitions = append(rt.Partitions, rp)
		}
		if len(vt.Partitions) > 0 {
			valid.Topics = append(valid.Topics, vt)
		}
		if len(rt.Partitions) > 0 {
			rejected = append(rejected, rt)
		}
	}
	send := func(resp *kmsg.TxnOffsetCommitResponse) {
		resp.Version = req.Version
		resp.Topics = mergeTxnOffsetTopics(resp.Topics, rejected)
		if req.Version < 2 {
			// KAFKA-7296: clients before 2.0 cannot handle COORDINATOR_LOAD_IN_PROGRESS here.
			for i := range resp.Topics {
				for j := range resp.Topics[i].Partitions {
					if p := &resp.Topics[i].Partitions[j]; p.ErrorCode == kerr.CoordinatorLoadInProgress.Code {
						p.ErrorCode = kerr.CoordinatorNotAvailable.Code
					}
				}
			}
		}
		respond(resp)
	}
	if len(valid.Topics) == 0 {
		send(req.ResponseKind().(*kmsg.TxnOffsetCommitResponse))
		return
	}
	s.coord.TxnOffsetCommit(&valid, send)
}

// mergeTxnOffsetTopics adds the rejected partitions to the coordinator's answer (TxnOffsetCommitResponse.Builder.merge).
func mergeTxnOffsetTopics(topics, rejected []kmsg.TxnOffsetCommitResponseTopic) []kmsg.TxnOffsetCommitResponseTopic {
	for _, r := range rejected {
		merged := false
		for i := range topics {
			if topics[i].Topic == r.Topic {
				topics[i].Partitions = append(topics[i].Partitions, r.Partitions...)
				merged = true
				break
			}
		}
		if !merged {
			topics = append(topics, r)
		}
	}
	return topics
}
