package controller

import (
	"context"
	"errors"
	"fmt"

	"github.com/zkafka/zkafka/zkutils"
)

// The AlterPartitionReassignments and ListPartitionReassignments APIs (KIP-455) on the controller. Both run on
// the event goroutine through callEvent, like every other API, so they see and change controller state alone.

var (
	// ErrInvalidReplicaAssignment: an empty, duplicated or negative target, or one adding a broker that is not
	// live (INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReplicaAssignment = errors.New("controller: invalid replica assignment")
	// ErrNoReassignmentInProgress: cancelling a partition that is not being reassigned
	// (NO_REASSIGNMENT_IN_PROGRESS).
	ErrNoReassignmentInProgress = errors.New("controller: no reassignment in progress")
)

// ReassignmentError carries Kafka's per-partition message with one of the sentinels above.
type ReassignmentError struct {
	Err     error
	Message string
}

func (e *ReassignmentError) Error() string { return e.Message }
func (e *ReassignmentError) Unwrap() error { return e.Err }

// Reassignment is an ongoing reassignment: the full replica set RS and the replicas being added and removed.
type Reassignment struct {
	Replicas, Adding, Removing []int32
}

// AlterPartitionReassignments is the AlterPartitionReassignments API: each partition maps to its target
// replicas, or to nil to cancel its reassignment (revert to the original replicas). Per-partition results are
// nil (started; completion comes later, when the targets join the ISR), ErrInvalidReplicaAssignment,
// ErrNoReassignmentInProgress, ErrUnknownTopicOrPartition, or another error for an internal failure.
func (c *Controller) AlterPartitionReassignments(ctx context.Context, reassignments map[zkutils.TopicPartition][]int32) (map[zkutils.TopicPartition]error, error) {
	type reply struct {
		results map[tp]error
		err     error
	}
	ch := make(chan reply, 1)
	ev := callEvent{f: func() error {
		results, err := c.processAPIPartitionReassignment(reassignments)
		ch <- reply{results, replyErr(err)}
		return internalErr(err)
	}}
	if err := c.putRequest(ctx, ev); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.results, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrNotController
	}
}

// ListPartitionReassignments is the ListPartitionReassignments API: the ongoing reassignments among partitions,
// or all of them for nil. Partitions not being reassigned (or unknown) are left out, as in Kafka.
func (c *Controller) ListPartitionReassignments(ctx context.Context, partitions []zkutils.TopicPartition) (map[zkutils.TopicPartition]Reassignment, error) {
	type reply struct {
		results map[tp]Reassignment
		err     error
	}
	ch := make(chan reply, 1)
	ev := callEvent{f: func() error {
		if !c.isActive() {
			ch <- reply{err: ErrNotController}
			return nil
		}
		ch <- reply{results: c.listPartitionReassignments(partitions)}
		return nil
	}}
	if err := c.putRequest(ctx, ev); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.results, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.done:
		return nil, ErrNotController
	}
}

func (c *Controller) listPartitionReassignments(partitions []tp) map[tp]Reassignment {
	if partitions == nil {
		for p := range c.cc.partitionsBeingReassigned {
			partitions = append(partitions, p)
		}
	}
	out := map[tp]Reassignment{}
	for _, p := range partitions {
		ra := c.cc.fullAssignment(p)
		if ra.isBeingReassigned() {
			out[p] = Reassignment{
				Replicas: append([]int32(nil), ra.Replicas...),
				Adding:   append([]int32(nil), ra.Adding...),
				Removing: append([]int32(nil), ra.Removing...),
			}
		}
	}
	return out
}

// processAPIPartitionReassignment is Kafka's processApiPartitionReassignment.
func (c *Controller) processAPIPartitionReassignment(reqs map[tp][]int32) (map[tp]error, error) {
	if !c.isActive() {
		return nil, ErrNotController
	}
	results := make(map[tp]error, len(reqs))
	toReassign := map[tp]replicaAssignment{}
	for p, target := range reqs {
		if target != nil {
			if err := c.validateReassignmentReplicas(p, target); err != nil {
				results[p] = err
				continue
			}
		}
		ra, ok := c.buildReassignment(p, target)
		if !ok {
			results[p] = &ReassignmentError{Err: ErrNoReassignmentInProgress,
				Message: "No partition reassignment is in progress."}
			continue
		}
		toReassign[p] = ra
	}
	// The newest reassignment wins: entries for these partitions leave /admin/reassign_partitions.
	if err := c.maybeRemoveFromZkReassignment(func(p tp, _ []int32) bool {
		_, ok := toReassign[p]
		return ok
	}); err != nil {
		return nil, err
	}
	ps := make([]tp, 0, len(toReassign))
	for p := range toReassign {
		ps = append(ps, p)
	}
	sortTPs(ps)
	for _, p := range ps {
		if c.cc.topicsToBeDeleted[p.Topic] || len(c.cc.replicas(p)) == 0 {
			if c.cc.topicsToBeDeleted[p.Topic] {
				c.infof("Skipping reassignment of %s since the topic is currently being deleted", tpString(p))
			}
			results[p] = &ReassignmentError{Err: ErrUnknownTopicOrPartition, Message: "The partition does not exist."}
			continue
		}
		err := c.onPartitionReassignment(p, toReassign[p])
		switch {
		case errors.Is(err, zkutils.ErrControllerMoved):
			c.infof("Failed completing reassignment of partition %s because controller has moved to another broker", tpString(p))
			return nil, err
		case err != nil:
			c.errorf("Error completing reassignment of partition %s: %v", tpString(p), err)
			results[p] = err
		default:
			results[p] = nil
		}
	}
	return results, nil
}

// validateReassignmentReplicas is Kafka's validateReplicas: the adding replicas must be live brokers.
func (c *Controller) validateReassignmentReplicas(p tp, target []int32) error {
	invalid := func(format string, args ...any) error {
		return &ReassignmentError{Err: ErrInvalidReplicaAssignment, Message: fmt.Sprintf(format, args...)}
	}
	switch {
	case len(target) == 0:
		return invalid("Empty replica list specified in partition reassignment.")
	case len(distinct(target)) != len(target):
		return invalid("Duplicate replica ids in partition reassignment replica list: %s", scalaList(target))
	}
	for _, r := range target {
		if r < 0 {
			return invalid("Invalid broker id in replica list: %s", scalaList(target))
		}
	}
	adding := c.cc.fullAssignment(p).reassignTo(target).Adding
	live := c.cc.liveSet()
	for _, r := range adding {
		if !live[r] {
			return invalid("Replica assignment has brokers that are not alive. Replica list: %s, live broker list: %s",
				scalaList(adding), scalaSet(sortedIDs(live)))
		}
	}
	return nil
}

// buildReassignment is Kafka's maybeBuildReassignment: a nil target cancels, which is only possible while a
// reassignment runs (it then reassigns back to the original replicas).
func (c *Controller) buildReassignment(p tp, target []int32) (replicaAssignment, bool) {
	cur := c.cc.fullAssignment(p)
	if target == nil {
		if !cur.isBeingReassigned() {
			return replicaAssignment{}, false
		}
		target = cur.origin()
	}
	return cur.reassignTo(target), true
}

func scalaList(ids []int32) string { return "List(" + joinIDs(ids) + ")" }
func scalaSet(ids []int32) string  { return "HashSet(" + joinIDs(ids) + ")" }

func joinIDs(ids []int32) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprint(id)
	}
	return s
}
