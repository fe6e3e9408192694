package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/network"
)

func init() { register(5, 0, 4, (*Server).handleStopReplica) }

func (s *Server) handleStopReplica(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.StopReplicaRequest)
	resp := req.ResponseKind().(*kmsg.StopReplicaResponse)
	if code := s.staleControlRequest(req.ControllerEpoch, req.BrokerEpoch); code != 0 {
		s.logger.Warnf("Ignoring StopReplica from controller %d with epoch %d: %s", req.ControllerID, req.ControllerEpoch, kerr.ErrorForCode(code))
		resp.ErrorCode = code
		respond(resp)
		return
	}
	stop := func(topic string, partition, leaderEpoch int32, del bool) {
		rp := kmsg.NewStopReplicaResponsePartition()
		rp.Topic, rp.Partition = topic, partition
		rp.ErrorCode = s.replicas.stopReplica(topicPartition{Topic: topic, Partition: partition}, leaderEpoch, del)
		resp.Partitions = append(resp.Partitions, rp)
		if rp.ErrorCode == 0 && del && isCoordinatorTopic(topic) {
			// KafkaApis.handleStopReplicaRequest: a reassignment away from this broker sends no LeaderAndIsr here,
			// so the coordinator's groups (or transactions) of the partition are dropped now.
			epoch := leaderEpoch
			if epoch < 0 {
				epoch = -1
			}
			if topic == coordinator.TxnTopic {
				s.txnCoord.OnResignation(partition, epoch)
			} else {
				s.coord.OnResignation(partition, epoch)
			}
		}
	}
	for _, t := range req.Topics {
		switch {
		case req.Version >= 3:
			for _, p := range t.PartitionStates {
				stop(t.Topic, p.Partition, p.LeaderEpoch, p.Delete)
			}
		case req.Version >= 1:
			for _, p := range t.Partitions {
				stop(t.Topic, p, -1, req.DeletePartitions)
			}
		default:
			stop(t.Topic, t.Partition, -1, req.DeletePartitions)
		}
	}
	respond(resp)
}
