package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(46, 0, 0, (*Server).handleListPartitionReassignments) }

// handleListPartitionReassignments reports the controller's ongoing reassignments (replicas, adding, removing)
// for the listed partitions, or all for a null topic list; other brokers answer NOT_CONTROLLER.
func (s *Server) handleListPartitionReassignments(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ListPartitionReassignmentsRequest)
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	var tps []zkutils.TopicPartition
	if req.Topics != nil {
		tps = []zkutils.TopicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, zkutils.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	var results map[zkutils.TopicPartition]controller.Reassignment
	s.controllerCall(ctx, s.cfg.ControllerSocketTimeout,
		func(cctx context.Context) (err error) {
			results, err = s.ctrl.ListPartitionReassignments(cctx, tps)
			return err
		},
		func(code int16, err error) {
			setTopLevelError(&resp.ErrorCode, &resp.ErrorMessage, code, err)
			respond(resp)
		},
		func() {
			fillListReassignmentsResponse(resp, results)
			respond(resp)
		})
}

func fillListReassignmentsResponse(resp *kmsg.ListPartitionReassignmentsResponse, results map[zkutils.TopicPartition]controller.Reassignment) {
	tps := make([]zkutils.TopicPartition, 0, len(results))
	for tp := range results {
		tps = append(tps, tp)
	}
	sortTopicPartitions(tps)
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			t := kmsg.NewListPartitionReassignmentsResponseTopic()
			t.Topic = tp.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			idx[tp.Topic] = i
		}
		r := results[tp]
		p := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		p.Partition = tp.Partition
		p.Replicas, p.AddingReplicas, p.RemovingReplicas = nonNil(r.Replicas), nonNil(r.Adding), nonNil(r.Removing)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}
