package broker

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(43, 0, 2, (*Server).handleElectLeaders) }

const (
	electionPreferred = controller.ElectionPreferred
	electionUnclean   = controller.ElectionUnclean
)

// electionOutcome is one partition's result: code 0 with waiting set means the controller elected a leader and
// the response waits until this broker's metadata shows it (Kafka's DelayedElectLeader).
type electionOutcome struct {
	code    int16
	msg     *string
	waiting bool
}

// handleElectLeaders asks the controller to run preferred or unclean elections. As in Kafka's ZK mode any broker
// accepts the request, but only the active controller elects: the others answer NOT_CONTROLLER per partition,
// which makes clients look up the controller and retry.
func (s *Server) handleElectLeaders(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ElectLeadersRequest)
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	electionType := electionPreferred
	if req.Version >= 1 {
		electionType = req.ElectionType
	}
	allPartitions := req.Topics == nil
	tps := s.electionPartitions(req.Topics)
	outcomes := make(map[zkutils.TopicPartition]*electionOutcome, len(tps))
	finish := func() {
		fillElectLeadersResponse(resp, tps, outcomes, allPartitions)
		respond(resp)
	}
	setAll := func(code int16) {
		for _, tp := range tps {
			outcomes[tp] = &electionOutcome{code: code}
		}
	}
	if electionType != electionPreferred && electionType != electionUnclean {
		resp.ErrorCode = kerr.InvalidRequest.Code
		setAll(kerr.InvalidRequest.Code)
		finish()
		return
	}
	if len(tps) == 0 {
		setAll(kerr.NotController.Code)
		finish()
		return
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	deadline := time.Now().Add(timeout)
	// The election itself is not bounded by timeout_ms (Kafka queues it regardless); only the wait for the new
	// leaders to show in the metadata is.
	callTimeout := max(timeout, s.cfg.ControllerSocketTimeout)
	var results map[zkutils.TopicPartition]error
	call := func(cctx context.Context) (err error) {
		results, err = s.ctrl.ElectLeaders(cctx, electionType, tps)
		return err
	}
	failed := func(code int16, err error) {
		if err != nil {
			s.logger.Debugf("ElectLeaders (%s) failed: %v", electionTypeName(electionType), err)
		}
		setAll(code)
		finish()
	}
	s.controllerCall(ctx, callTimeout, call, failed, func() {
		var waiting []zkutils.TopicPartition
		for _, tp := range tps {
			err, ok := results[tp]
			switch {
			case !ok:
				msg := "The partition does not exist."
				outcomes[tp] = &electionOutcome{code: kerr.UnknownTopicOrPartition.Code, msg: &msg}
			case err == nil:
				outcomes[tp] = &electionOutcome{waiting: true}
				waiting = append(waiting, tp)
			default:
				outcomes[tp] = &electionOutcome{code: controllerErrorCode(err), msg: electionErrorMessage(tp, electionType, err)}
			}
		}
		if len(waiting) == 0 {
			finish()
			return
		}
		elected := func() bool {
			for _, tp := range waiting {
				if outcomes[tp].waiting && s.leaderElected(tp, electionType) {
					outcomes[tp].waiting = false
				}
			}
			for _, tp := range waiting {
				if outcomes[tp].waiting {
					return false
				}
			}
			return true
		}
		s.waitForMetadata(time.Until(deadline), elected, func(bool) {
			for _, tp := range waiting {
				if outcomes[tp].waiting {
					outcomes[tp].code = kerr.RequestTimedOut.Code
				}
			}
			finish()
		})
	})
}

// electionPartitions lists the requested partitions, or every cached partition for a null list (as Kafka does),
// sorted and without duplicates.
func (s *Server) electionPartitions(topics []kmsg.ElectLeadersRequestTopic) []zkutils.TopicPartition {
	seen := map[zkutils.TopicPartition]bool{}
	var out []zkutils.TopicPartition
	add := func(tp zkutils.TopicPartition) {
		if !seen[tp] {
			seen[tp] = true
			out = append(out, tp)
		}
	}
	if topics == nil {
		for _, name := range s.cache.allTopics() {
			t, ok := s.cache.topic(name)
			if !ok {
				continue
			}
			for p := range t.partitions {
				add(zkutils.TopicPartition{Topic: name, Partition: p})
			}
		}
	} else {
		for _, t := range topics {
			for _, p := range t.Partitions {
				add(zkutils.TopicPartition{Topic: t.Topic, Partition: p})
			}
		}
	}
	sortTopicPartitions(out)
	return out
}

func sortTopicPartitions(tps []zkutils.TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// leaderElected reports whether this broker's metadata shows the leader the election was to produce: the
// preferred replica, or for an unclean election any live leader.
func (s *Server) leaderElected(tp zkutils.TopicPartition, electionType int8) bool {
	t, ok := s.cache.topic(tp.Topic)
	if !ok {
		return false
	}
	p, ok := t.partitions[tp.Partition]
	if !ok || p.leader < 0 {
		return false
	}
	if electionType == electionPreferred {
		return len(p.replicas) > 0 && p.leader == p.replicas[0]
	}
	return s.cache.isBrokerAlive(p.leader)
}

// fillElectLeadersResponse groups outcomes by topic. For a null partition list, partitions that needed no
// election are left out, as Kafka does.
func fillElectLeadersResponse(resp *kmsg.ElectLeadersResponse, tps []zkutils.TopicPartition, outcomes map[zkutils.TopicPartition]*electionOutcome, allPartitions bool) {
	idx := map[string]int{}
	for _, tp := range tps {
		o := outcomes[tp]
		if o == nil {
			continue
		}
		if allPartitions && o.code == kerr.ElectionNotNeeded.Code {
			continue
		}
		i, ok := idx[tp.Topic]
		if !ok {
			t := kmsg.NewElectLeadersResponseTopic()
			t.Topic = tp.Topic
			resp.Topics = append(resp.Topics, t)
			i = len(resp.Topics) - 1
			idx[tp.Topic] = i
		}
		p := kmsg.NewElectLeadersResponseTopicPartition()
		p.Partition, p.ErrorCode, p.ErrorMessage = tp.Partition, o.code, o.msg
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, p)
	}
}

// electionErrorMessage is the message Kafka's controller attaches to a failed election (none for
// ELECTION_NOT_NEEDED and NOT_CONTROLLER, so clients show the error's standard text); an unexpected error keeps
// its own text.
func electionErrorMessage(tp zkutils.TopicPartition, electionType int8, err error) *string {
	var msg string
	switch {
	case errors.Is(err, controller.ErrElectionNotNeeded), errors.Is(err, controller.ErrNotController):
		return nil
	case errors.Is(err, controller.ErrPreferredLeaderNotAvailable), errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
		strategy := "PreferredReplicaPartitionLeaderElectionStrategy"
		if electionType == electionUnclean {
			strategy = "OfflinePartitionLeaderElectionStrategy(true)"
		}
		msg = fmt.Sprintf("Failed to elect leader for partition %s-%d under strategy %s", tp.Topic, tp.Partition, strategy)
	case errors.Is(err, controller.ErrUnknownTopicOrPartition):
		msg = "The partition does not exist."
	case errors.Is(err, controller.ErrTopicBeingDeleted):
		msg = "The topic is being deleted"
	default:
		msg = err.Error()
	}
	return &msg
}

func electionTypeName(t int8) string {
	if t == electionUnclean {
		return "UNCLEAN"
	}
	return "PREFERRED"
}
