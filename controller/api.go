package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkafka/zkafka/zkutils"
)

// Errors of the controller's request-facing API; the broker maps them to Kafka error codes at its handler.
var (
	// ErrNotController: this broker is not the active controller (NOT_CONTROLLER).
	ErrNotController = errors.New("controller: this broker is not the active controller")
	// ErrStaleBrokerEpoch: the request's broker epoch is older than the registration's (STALE_BROKER_EPOCH).
	ErrStaleBrokerEpoch = errors.New("controller: stale broker epoch")
	// ErrBrokerNotAvailable: controlled shutdown of a broker that is not registered (BROKER_NOT_AVAILABLE).
	ErrBrokerNotAvailable = errors.New("controller: broker is not available")
	// ErrElectionNotNeeded: the partition already has the leader the election would pick (ELECTION_NOT_NEEDED).
	ErrElectionNotNeeded = errors.New("controller: leader election not needed")
	// ErrPreferredLeaderNotAvailable: a preferred election failed (PREFERRED_LEADER_NOT_AVAILABLE).
	ErrPreferredLeaderNotAvailable = errors.New("controller: preferred leader not available")
	// ErrEligibleLeadersNotAvailable: an unclean election failed (ELIGIBLE_LEADERS_NOT_AVAILABLE).
	ErrEligibleLeadersNotAvailable = errors.New("controller: eligible leaders not available")
	// ErrUnknownTopicOrPartition: the partition does not exist (UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopicOrPartition = errors.New("controller: the partition does not exist")
	// ErrTopicBeingDeleted: the partition's topic is queued for deletion (INVALID_TOPIC_EXCEPTION in
	// ElectLeaders).
	ErrTopicBeingDeleted = errors.New("controller: the topic is being deleted")
	// ErrInvalidElectionType: ElectLeaders with an election type other than 0 or 1 (INVALID_REQUEST).
	ErrInvalidElectionType = errors.New("controller: unknown election type")
)

// Election types of the ElectLeaders API.
const (
	ElectionPreferred int8 = 0
	ElectionUnclean   int8 = 1
)

// ControlledShutdown is KafkaController.controlledShutdown: queued as an event; moves leadership off brokerID with
// the controlled-shutdown election, removes it from ISRs of partitions it follows (sending StopReplica without
// delete), and returns the partitions (with more than one replica) it still leads: empty when done. Partitions
// with a single replica are left alone, as in Kafka. brokerEpoch −1 skips the epoch check. ctx bounds the wait.
func (c *Controller) ControlledShutdown(ctx context.Context, brokerID int32, brokerEpoch int64) ([]zkutils.TopicPartition, error) {
	reply := make(chan shutdownReply, 1)
	if err := c.putRequest(ctx, controlledShutdownEvent{broker: brokerID, epoch: brokerEpoch, reply: reply}); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		return r.remaining, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrNotController
	}
}

// ElectLeaders is the ElectLeaders API on the controller: electionType 0 = preferred, 1 = unclean; partitions nil
// means every partition (of topics not being deleted), as Kafka's handler does. Per-partition errors use the
// sentinels above (nil = elected). It returns once the elections are written and the LeaderAndIsr requests
// queued; waiting for brokers to learn the leaders is the caller's business.
func (c *Controller) ElectLeaders(ctx context.Context, electionType int8, partitions []zkutils.TopicPartition) (map[zkutils.TopicPartition]error, error) {
	if electionType != ElectionPreferred && electionType != ElectionUnclean {
		return nil, fmt.Errorf("%w %d", ErrInvalidElectionType, electionType)
	}
	reply := make(chan electReply, 1)
	ev := replicaLeaderElectionEvent{partitions: partitions, all: partitions == nil, electionType: electionType, reply: reply}
	if err := c.putRequest(ctx, ev); err != nil {
		return nil, err
	}
	select {
	case r := <-reply:
		return r.results, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrNotController
	}
}

// putRequest queues an API event, refusing early when this broker is known not to be the controller.
func (c *Controller) putRequest(ctx context.Context, ev event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if !c.started.Load() || !c.active.Load() {
		return ErrNotController
	}
	select {
	case <-c.done:
		return ErrNotController
	default:
	}
	c.events.put(ev)
	return nil
}

type shutdownReply struct {
	remaining []tp
	err       error
}

type electReply struct {
	results map[tp]error
	err     error
}

// replyErr is what an API caller hears for an internal error: a lost fence means another broker is controller.
func replyErr(err error) error {
	if errors.Is(err, zkutils.ErrControllerMoved) {
		return ErrNotController
	}
	return err
}

// internalErr keeps, of an API event's error, what the event loop itself must handle or log: the refusals that
// are answers to the caller (not controller, stale epoch, unknown broker) are not failures of the controller.
func internalErr(err error) error {
	switch {
	case err == nil, errors.Is(err, ErrNotController), errors.Is(err, ErrStaleBrokerEpoch),
		errors.Is(err, ErrBrokerNotAvailable):
		return nil
	}
	return err
}
