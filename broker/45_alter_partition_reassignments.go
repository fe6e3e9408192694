package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(45, 0, 0, (*Server).handleAlterPartitionReassignments) }

// handleAlterPartitionReassignments starts or cancels (null replicas) reassignments on the active controller;
// other brokers answer NOT_CONTROLLER at the top level so the admin client finds the controller. As in Kafka the
// response does not wait for the reassignments to complete.
func (s *Server) handleAlterPartitionReassignments(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.AlterPartitionAssignmentsRequest)
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	reassignments := map[zkutils.TopicPartition][]int32{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			// nil (a null array on the wire) cancels; an empty array is an invalid target.
			reassignments[zkutils.TopicPartition{Topic: t.Topic, Partition: p.Partition}] = p.Replicas
		}
	}
	var results map[zkutils.TopicPartition]error
	s.controllerCall(ctx, s.cfg.ControllerSocketTimeout,
		func(cctx context.Context) (err error) {
			results, err = s.ctrl.AlterPartitionReassignments(cctx, reassignments)
			return err
		},
		func(code int16, err error) {
			setTopLevelError(&resp.ErrorCode, &resp.ErrorMessage, code, err)
			respond(resp)
		},
		func() {
			fillAlterReassignmentsResponse(resp, results)
			respond(resp)
		})
}

// fillAlterReassignmentsResponse groups per-partition results by topic (sorted, where Kafka iterates a map).
func fillAlterReassignmentsResponse(resp *kmsg.AlterPartitionAssignmentsResponse, results map[zkutils.TopicPartition]error) {
	tps := make([]zkutils.TopicPartition, 0, len(results))
	for tp := range results {
		tps = append(tps, tp)
	}
	sortTopicPartitions(tps)
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			t := kmsg.NewAlterPartitionAssignmentsResponseTopic()
			t.Topic = tp.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			idx[tp.Topic] = i
		}
		p := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
		p.Partition = tp.Partition
		if err := results[tp]; err != nil {
			p.ErrorCode = reassignmentErrorCode(err)
			var re *controller.ReassignmentError
			if errors.As(err, &re) {
				p.ErrorMessage = &re.Message
			}
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
}

// reassignmentErrorCode maps the controller's per-partition errors; anything unexpected is
// UNKNOWN_SERVER_ERROR without a message, as Kafka's ApiError does.
func reassignmentErrorCode(err error) int16 {
	switch {
	case errors.Is(err, controller.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, controller.ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, controller.ErrUnknownTopicOrPartition):
		return kerr.UnknownTopicOrPartition.Code
	}
	return kerr.UnknownServerError.Code
}
