package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// ListOffsets v1–v6: earliest (-2) and latest (-1). Lookups by timestamp arrive with the time index.
func init() { register(2, 1, 6, (*Server).handleListOffsets) }

func (s *Server) handleListOffsets(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			rp.Timestamp, rp.Offset, rp.LeaderEpoch = -1, -1, -1
			rp.ErrorCode = s.listOffset(t.Topic, p, req.ReplicaID, &rp)
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	respond(resp)
}

func (s *Server) listOffset(topic string, p kmsg.ListOffsetsRequestTopicPartition, replicaID int32,
	rp *kmsg.ListOffsetsResponseTopicPartition) int16 {
	tp := topicPartition{Topic: topic, Partition: p.Partition}
	part := s.replicas.partition(tp)
	if part == nil {
		if s.cache.contains(topic) {
			return kerr.NotLeaderForPartition.Code
		}
		return kerr.UnknownTopicOrPartition.Code
	}
	l, epoch, err := part.leaderLog(p.CurrentLeaderEpoch)
	if err != nil {
		return errorCode(err)
	}
	switch p.Timestamp {
	case -2:
		rp.Offset = l.LogStartOffset()
	case -1:
		// Consumers see up to the high watermark; a replica (debugging tools) sees the log end.
		rp.Offset = l.HighWatermark()
		if replicaID >= 0 {
			rp.Offset = l.LogEndOffset()
		}
	default:
		return kerr.UnsupportedVersion.Code
	}
	rp.LeaderEpoch = epoch
	return 0
}
