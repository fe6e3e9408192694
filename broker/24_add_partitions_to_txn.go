package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// AddPartitionsToTxn v0–v3, from producers. v4 (KIP-890: batched, and verifyOnly requests from partition
// leaders) is not served, since produce does not verify partitions with the coordinator.
func init() { register(24, 0, 3, (*Server).handleAddPartitionsToTxn) }

func (s *Server) handleAddPartitionsToTxn(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.AddPartitionsToTxnRequest)
	// KafkaApis: a partition missing from the metadata fails the whole transaction's request; the others are
	// answered OPERATION_NOT_ATTEMPTED and nothing is added.
	unknown := false
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if !s.cache.partitionExists(t.Topic, p) {
				unknown = true
			}
		}
	}
	if unknown {
		resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition = p
				rp.ErrorCode = kerr.OperationNotAttempted.Code
				if !s.cache.partitionExists(t.Topic, p) {
					rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		respond(resp)
		return
	}
	s.txnCoord.AddPartitionsToTxn(req, func(resp *kmsg.AddPartitionsToTxnResponse) {
		resp.Version = req.Version
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				p := &resp.Topics[i].Partitions[j]
				p.ErrorCode = fencedForOldClients(p.ErrorCode, req.Version, 2)
			}
		}
		respond(resp)
	})
}
