package broker

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/network"
)

func init() { register(4, 0, 7, (*Server).handleLeaderAndIsr) }

// staleControlRequest applies the fences every control request passes: the controller epoch must not be older
// than the newest seen, and the broker epoch (when given) must not be older than this broker's registration.
func (s *Server) staleControlRequest(controllerEpoch int32, brokerEpoch int64) int16 {
	if !s.replicas.checkControllerEpoch(controllerEpoch) {
		return kerr.StaleControllerEpoch.Code
	}
	if brokerEpoch != -1 && brokerEpoch < s.brokerEpoch.Load() {
		return kerr.StaleBrokerEpoch.Code
	}
	return 0
}

func (s *Server) handleLeaderAndIsr(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.LeaderAndISRRequest)
	resp := req.ResponseKind().(*kmsg.LeaderAndISRResponse)
	var states []leaderAndIsrState
	add := func(topic string, id [16]byte, p kmsg.LeaderAndISRRequestTopicPartition) {
		states = append(states, leaderAndIsrState{
			tp:              topicPartition{Topic: topic, Partition: p.Partition},
			topicID:         id,
			controllerEpoch: p.ControllerEpoch,
			leader:          p.Leader,
			leaderEpoch:     p.LeaderEpoch,
			isr:             p.ISR,
			partitionEpoch:  p.ZKVersion,
			replicas:        p.Replicas,
			isNew:           p.IsNew,
		})
	}
	if req.Version < 2 {
		for _, p := range req.PartitionStates {
			add(p.Topic, [16]byte{}, p)
		}
	} else {
		for _, t := range req.TopicStates {
			for _, p := range t.PartitionStates {
				add(t.Topic, t.TopicID, p)
			}
		}
	}
	var codes map[topicPartition]int16
	if code := s.staleControlRequest(req.ControllerEpoch, req.BrokerEpoch); code != 0 {
		s.logger.Warnf("Ignoring LeaderAndIsr from controller %d with epoch %d: %s", req.ControllerID, req.ControllerEpoch, kerr.ErrorForCode(code))
		resp.ErrorCode = code
	} else {
		start := time.Now()
		addrs := make(map[int32]string, len(req.LiveLeaders))
		for _, l := range req.LiveLeaders {
			addrs[l.BrokerID] = net.JoinHostPort(l.Host, strconv.Itoa(int(l.Port)))
		}
		before := s.offsetsPartitionRoles(states)
		codes = s.replicas.becomeLeaderOrFollower(states, addrs)
		// Before answering, as Kafka does under its replica state change lock: the controller's next request
		// for these partitions must find the coordinator already told.
		s.onOffsetsLeadershipChange(states, codes, before)
		applied := 0
		for _, c := range codes {
			if c == 0 {
				applied++
			}
		}
		// One line per request: the per-partition transitions are logged at debug.
		s.logger.Infof("Handled LeaderAndIsr from controller %d with epoch %d: %d partitions, %d applied, in %d ms",
			req.ControllerID, req.ControllerEpoch, len(states), applied, time.Since(start).Milliseconds())
	}
	if resp.ErrorCode != 0 {
		respond(resp)
		return
	}
	topicIdx := map[string]int{}
	for _, st := range states {
		rp := kmsg.NewLeaderAndISRResponseTopicPartition()
		rp.Topic, rp.Partition, rp.ErrorCode = st.tp.Topic, st.tp.Partition, codes[st.tp]
		if req.Version < 5 {
			resp.Partitions = append(resp.Partitions, rp)
			continue
		}
		i, ok := topicIdx[st.tp.Topic]
		if !ok {
			t := kmsg.NewLeaderAndISRResponseTopic()
			t.TopicID = st.topicID
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			topicIdx[st.tp.Topic] = i
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	respond(resp)
}

// offsetsRole is what this broker was for a coordinator partition (__consumer_offsets or __transaction_state)
// before a LeaderAndIsr.
type offsetsRole struct {
	leader bool
	epoch  int32
}

// isCoordinatorTopic tells whether a topic's leadership is followed by a coordinator.
func isCoordinatorTopic(topic string) bool {
	return topic == coordinator.OffsetsTopic || topic == coordinator.TxnTopic
}

// offsetsPartitionRoles records, for the coordinator partitions of a LeaderAndIsr, whether this broker led them
// and at which leader epoch, so that the change can be told to the coordinators afterwards.
func (s *Server) offsetsPartitionRoles(states []leaderAndIsrState) map[topicPartition]offsetsRole {
	var roles map[topicPartition]offsetsRole
	for _, st := range states {
		if !isCoordinatorTopic(st.tp.Topic) {
			continue
		}
		if roles == nil {
			roles = map[topicPartition]offsetsRole{}
		}
		r := offsetsRole{epoch: -1}
		if p := s.replicas.partition(st.tp); p != nil {
			p.mu.RLock()
			r = offsetsRole{leader: p.isLeaderLocked(), epoch: p.leaderEpoch}
			p.mu.RUnlock()
		}
		roles[st.tp] = r
	}
	return roles
}

// coordinatorLeadership is what the broker tells a coordinator about its partitions.
type coordinatorLeadership interface {
	OnElection(p, epoch int32)
	OnResignation(p, epoch int32)
}

// onOffsetsLeadershipChange is RequestHandlerHelper.onLeadershipChange for the group and transaction
// coordinators, with Kafka's notion of a change: a partition this broker now leads and did not lead before is
// loaded (Partition.makeLeader returned isNewLeader), a partition it follows under a new leader epoch is unloaded
// (makeFollower returned isNewLeaderEpoch). It runs after the partitions changed and with no broker lock held:
// loading reads the log.
func (s *Server) onOffsetsLeadershipChange(states []leaderAndIsrState, codes map[topicPartition]int16, before map[topicPartition]offsetsRole) {
	for _, st := range states {
		if !isCoordinatorTopic(st.tp.Topic) || codes[st.tp] != 0 {
			continue
		}
		var c coordinatorLeadership = s.coord
		if st.tp.Topic == coordinator.TxnTopic {
			c = s.txnCoord
		}
		was := before[st.tp]
		switch {
		case st.leader == s.cfg.BrokerID && !was.leader:
			c.OnElection(st.tp.Partition, st.leaderEpoch)
		case st.leader != s.cfg.BrokerID && st.leaderEpoch > was.epoch:
			c.OnResignation(st.tp.Partition, st.leaderEpoch)
		}
	}
}
