package controller

import (
	"errors"
	"fmt"

	"github.com/zkafka/zkafka/zkutils"
)

// Partition reassignment is Kafka's KIP-455 flow (reference "Partition reassignment"): the topic znode carries
// RS, AR and RR while a reassignment runs; phase A starts the adding replicas, phase B (once TRS ⊆ ISR) moves
// leadership if needed, retires the removing replicas and writes RS = TRS. Because ISR changes travel through
// ZooKeeper here, completion is re-checked when a reassigning partition's state znode changes and on ISR-change
// notifications.

// errReassignmentFailed marks a reassignment that could not be started or completed for a reason other than a
// lost fence; it is logged and the ZooKeeper request for the partition is dropped.
var errReassignmentFailed = errors.New("controller: reassignment failed")

// onPartitionReassignment is Kafka's, steps U, A and B.
func (c *Controller) onPartitionReassignment(p tp, ra replicaAssignment) error {
	if c.cc.topicsToBeDeleted[p.Topic] {
		c.cc.topicsIneligibleForDeletion[p.Topic] = true
	}
	if err := c.updateCurrentReassignment(p, ra); err != nil {
		return err
	}
	complete, err := c.isReassignmentComplete(p, ra)
	if err != nil {
		return err
	}
	if !complete {
		// A1: every replica of ORS + AR learns the new RS/AR/RR; A2: AR start as new replicas.
		if err := c.updateLeaderEpochAndSendRequest(p, ra); err != nil {
			return err
		}
		rs := make([]partitionReplica, 0, len(ra.Adding))
		for _, r := range ra.Adding {
			rs = append(rs, partitionReplica{TP: p, Replica: r})
		}
		return c.handleReplicaStateChanges(rs, newReplica)
	}
	// B1: AR online.
	adding := make([]partitionReplica, 0, len(ra.Adding))
	for _, r := range ra.Adding {
		adding = append(adding, partitionReplica{TP: p, Replica: r})
	}
	if err := c.handleReplicaStateChanges(adding, onlineReplica); err != nil {
		return err
	}
	// B2: RS = TRS in memory; B3: leader into TRS if needed.
	completed := replicaAssignment{Replicas: ra.target()}
	c.cc.setFullAssignment(p, completed)
	if err := c.moveReassignedPartitionLeaderIfRequired(p, completed); err != nil {
		return err
	}
	// B4, B5: RR out of the ISR and deleted.
	if err := c.stopRemovedReplicasOfReassignedPartition(p, ra.Removing); err != nil {
		return err
	}
	// B6: RS = TRS in ZooKeeper; B7: no longer reassigning.
	if err := c.updateReplicaAssignmentForPartition(p, completed); err != nil {
		return err
	}
	if err := c.removePartitionFromReassigningPartitions(p, completed); err != nil {
		return err
	}
	// B8: the leader election above changed replicas and maybe ISR; everyone learns them.
	b := newRequestBatch()
	b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), []tp{p})
	c.sendBatch(b)
	if c.cc.topicsToBeDeleted[p.Topic] {
		delete(c.cc.topicsIneligibleForDeletion, p.Topic)
		return c.resumeDeletions()
	}
	return nil
}

// updateCurrentReassignment is step U: persist RS/AR/RR if they changed and stop replicas a superseded
// reassignment had added; then watch the partition's state for ISR changes.
func (c *Controller) updateCurrentReassignment(p tp, ra replicaAssignment) error {
	cur := c.cc.fullAssignment(p)
	if !cur.equal(ra) {
		c.debugf("Updating assignment of partition %s from %+v to %+v", tpString(p), cur, ra)
		if err := c.updateReplicaAssignmentForPartition(p, ra); err != nil {
			return err
		}
		c.cc.setFullAssignment(p, ra)
		if unneeded := diff(cur.Replicas, ra.Replicas); len(unneeded) > 0 {
			if err := c.stopRemovedReplicasOfReassignedPartition(p, unneeded); err != nil {
				return err
			}
		}
	}
	if err := c.watchPartitionState(p); err != nil {
		return err
	}
	c.cc.partitionsBeingReassigned[p] = true
	return nil
}

// watchPartitionState arms the data watch on a reassigning partition's state znode, once per term.
func (c *Controller) watchPartitionState(p tp) error {
	if c.term.stateWatches[p] {
		return nil
	}
	_, _, w, err := c.zk.WatchPartitionState(p)
	if err != nil {
		return err
	}
	c.term.stateWatches[p] = true
	c.armWatch(w, c.term.stop, partitionReassignmentIsrChangeEvent{term: c.term.id, tp: p})
	return nil
}

// isReassignmentComplete: nothing to do, or every target replica is in the ISR as ZooKeeper has it now.
func (c *Controller) isReassignmentComplete(p tp, ra replicaAssignment) (bool, error) {
	if !ra.isBeingReassigned() {
		return true, nil
	}
	states, err := c.zk.GetPartitionStates([]tp{p})
	if err != nil {
		return false, err
	}
	li, ok := states[p]
	if !ok {
		return false, nil
	}
	for _, r := range ra.target() {
		if !contains(li.ISR, r) {
			return false, nil
		}
	}
	return true, nil
}

// updateLeaderEpoch bumps the leader epoch with no leader or ISR change, so the leader accepts a LeaderAndIsr
// carrying the new replica set. It fails if another controller wrote the state.
func (c *Controller) updateLeaderEpoch(p tp) (zkutils.LeaderIsr, bool, error) {
	for attempt := 0; attempt < maxElectionAttempts; attempt++ {
		states, err := c.zk.GetPartitionStates([]tp{p})
		if err != nil {
			return zkutils.LeaderIsr{}, false, err
		}
		li, ok := states[p]
		if !ok {
			c.stateChangef("Failed to update leader epoch for partition %s: its state znode does not exist", tpString(p))
			return zkutils.LeaderIsr{}, false, nil
		}
		if li.ControllerEpoch > c.cc.epoch {
			c.stateChangef("Leader and isr path of partition %s written by another controller with epoch %d. "+
				"Aborting state change by this controller", tpString(p), li.ControllerEpoch)
			return zkutils.LeaderIsr{}, false, nil
		}
		next := li
		next.LeaderEpoch++
		next.ControllerEpoch = c.cc.epoch
		written, conflicts, err := c.writePartitionStates(map[tp]zkutils.LeaderIsr{p: next}, "update leader epoch of")
		if err != nil {
			return zkutils.LeaderIsr{}, false, err
		}
		if w, ok := written[p]; ok {
			c.infof("Updated leader epoch for partition %s to %d, zkVersion=%d", tpString(p), w.LeaderEpoch, w.ZkVersion)
			return w, true, nil
		}
		if len(conflicts) == 0 {
			return zkutils.LeaderIsr{}, false, nil
		}
	}
	return zkutils.LeaderIsr{}, false, nil
}

// updateLeaderEpochAndSendRequest sends the bumped state to ORS (isNew=false) and AR (isNew=true).
func (c *Controller) updateLeaderEpochAndSendRequest(p tp, ra replicaAssignment) error {
	li, ok, err := c.updateLeaderEpoch(p)
	if err != nil {
		return err
	}
	if !ok {
		c.errorf("Failed to send LeaderAndIsr request with new assignment %+v to leader of partition %s", ra, tpString(p))
		return nil
	}
	b := newRequestBatch()
	b.addLeaderAndIsr(c.cc, ra.origin(), p, li, false)
	b.addLeaderAndIsr(c.cc, ra.Adding, p, li, true)
	c.sendBatch(b)
	c.stateChangef("Sent LeaderAndIsr request for partition %s with new assignment %+v", tpString(p), ra)
	return nil
}

// moveReassignedPartitionLeaderIfRequired is step B3.
func (c *Controller) moveReassignedPartitionLeaderIfRequired(p tp, completed replicaAssignment) error {
	leader := c.cc.leadership[p].Leader
	switch {
	case !contains(completed.Replicas, leader):
		c.infof("Leader %d for partition %s being reassigned, is not in the new list of replicas %v. Re-electing leader",
			leader, tpString(p), completed.Replicas)
		return c.handlePartitionStateChanges([]tp{p}, onlinePartition, electionStrategy{kind: reassignElection})
	case c.cc.isReplicaOnline(leader):
		c.infof("Leader %d for partition %s being reassigned, is already in the new list of replicas %v and is alive",
			leader, tpString(p), completed.Replicas)
		return c.updateLeaderEpochAndSendRequest(p, completed)
	default:
		c.infof("Leader %d for partition %s being reassigned, is already in the new list of replicas %v but is dead",
			leader, tpString(p), completed.Replicas)
		return c.handlePartitionStateChanges([]tp{p}, onlinePartition, electionStrategy{kind: reassignElection})
	}
}

// stopRemovedReplicasOfReassignedPartition takes replicas out of the ISR, then deletes them (B4, B5).
func (c *Controller) stopRemovedReplicasOfReassignedPartition(p tp, removed []int32) error {
	if len(removed) == 0 {
		return nil
	}
	rs := make([]partitionReplica, 0, len(removed))
	for _, r := range removed {
		rs = append(rs, partitionReplica{TP: p, Replica: r})
	}
	for _, s := range []replicaState{offlineReplica, replicaDeletionStarted, replicaDeletionSuccessful, nonExistentReplica} {
		if err := c.handleReplicaStateChanges(rs, s); err != nil {
			return err
		}
	}
	return nil
}

// updateReplicaAssignmentForPartition writes the topic znode with the partition's new RS/AR/RR, fenced.
func (c *Controller) updateReplicaAssignmentForPartition(p tp, ra replicaAssignment) error {
	a := zkutils.TopicAssignment{
		Topic: p.Topic, TopicID: c.cc.topicIDs[p.Topic],
		Partitions: map[int32][]int32{}, Adding: map[int32][]int32{}, Removing: map[int32][]int32{},
		ZkVersion: -1,
	}
	for _, q := range c.cc.partitionsForTopic(p.Topic) {
		full := c.cc.fullAssignment(q)
		if q == p {
			full = ra
		}
		a.Partitions[q.Partition] = full.Replicas
		if len(full.Adding) > 0 {
			a.Adding[q.Partition] = full.Adding
		}
		if len(full.Removing) > 0 {
			a.Removing[q.Partition] = full.Removing
		}
	}
	v, err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, a)
	if err != nil {
		if errors.Is(err, zkutils.ErrControllerMoved) {
			return err
		}
		return fmt.Errorf("%w: writing assignment of %s: %v", errReassignmentFailed, tpString(p), err)
	}
	c.cc.topicZkVer[p.Topic] = v
	return nil
}

// removePartitionFromReassigningPartitions is step B7. The state watch is left to fire once more and be ignored.
func (c *Controller) removePartitionFromReassigningPartitions(p tp, completed replicaAssignment) error {
	delete(c.cc.partitionsBeingReassigned, p)
	return c.maybeRemoveFromZkReassignment(func(q tp, replicas []int32) bool {
		return q == p && equalIDs(replicas, completed.Replicas)
	})
}

// maybeRemoveFromZkReassignment drops matching entries from /admin/reassign_partitions, deleting the node when
// none remain (the deletion fires our exists watch, which re-arms it).
func (c *Controller) maybeRemoveFromZkReassignment(remove func(tp, []int32) bool) error {
	exists, err := c.zk.PartitionReassignmentInProgress()
	if err != nil || !exists {
		return err
	}
	entries, err := c.zk.GetPartitionReassignment()
	if err != nil {
		return err
	}
	remaining := map[tp][]int32{}
	var removing []tp
	for p, rs := range entries {
		if remove(p, rs) {
			removing = append(removing, p)
		} else {
			remaining[p] = rs
		}
	}
	sortTPs(removing)
	c.infof("Removing partitions %s from the list of reassigned partitions in zookeeper", tpsString(removing))
	if len(remaining) == 0 {
		c.infof("No more partitions need to be reassigned. Deleting zk path /admin/reassign_partitions")
		return c.zk.DeletePartitionReassignment(c.cc.epochZkVersion)
	}
	if len(removing) == 0 {
		return nil
	}
	return c.zk.SetOrCreatePartitionReassignment(c.cc.epochZkVersion, remaining)
}

// armPartitionReassignmentWatch sets the exists watch on /admin/reassign_partitions.
func (c *Controller) armPartitionReassignmentWatch() (bool, int64, error) {
	exists, created, w, err := c.zk.WatchPartitionReassignment()
	if err != nil {
		return false, 0, err
	}
	c.armWatch(w, c.term.stop, zkPartitionReassignmentEvent{term: c.term.id})
	return exists, created, nil
}

// processZkPartitionReassignmentWatch runs when the watch fired; as in Kafka only a newly created request
// starts reassignments.
func (c *Controller) processZkPartitionReassignmentWatch() error {
	exists, created, err := c.armPartitionReassignmentWatch()
	if err != nil {
		return err
	}
	if !exists || created == c.term.reassignmentNode {
		return nil
	}
	c.term.reassignmentNode = created
	_, err = c.processZkPartitionReassignment()
	return err
}

// processZkPartitionReassignment starts every reassignment listed in /admin/reassign_partitions and drops the
// entries that failed. It returns the partitions it started.
func (c *Controller) processZkPartitionReassignment() (map[tp]bool, error) {
	entries, err := c.zk.GetPartitionReassignment()
	if err != nil {
		return nil, err
	}
	started := map[tp]bool{}
	failed := map[tp]bool{}
	ps := make([]tp, 0, len(entries))
	for p := range entries {
		ps = append(ps, p)
	}
	sortTPs(ps)
	for _, p := range ps {
		target := entries[p]
		if err := c.triggerPartitionReassignment(p, target); err != nil {
			if errors.Is(err, zkutils.ErrControllerMoved) {
				return nil, err
			}
			c.warnf("Failed reassignment of partition %s through zk: %v", tpString(p), err)
			failed[p] = true
			continue
		}
		started[p] = true
	}
	if len(failed) > 0 {
		if err := c.maybeRemoveFromZkReassignment(func(p tp, _ []int32) bool { return failed[p] }); err != nil {
			return nil, err
		}
	}
	return started, nil
}

// triggerPartitionReassignment is Kafka's maybeTriggerPartitionReassignment for one partition.
func (c *Controller) triggerPartitionReassignment(p tp, target []int32) error {
	if c.cc.topicsToBeDeleted[p.Topic] {
		c.infof("Skipping reassignment of %s since the topic is currently being deleted", tpString(p))
		return ErrUnknownTopicOrPartition
	}
	if len(c.cc.replicas(p)) == 0 {
		return ErrUnknownTopicOrPartition
	}
	if len(target) == 0 || len(distinct(target)) != len(target) {
		return fmt.Errorf("%w: invalid target replicas %v", errReassignmentFailed, target)
	}
	return c.onPartitionReassignment(p, c.cc.fullAssignment(p).reassignTo(target))
}

// initializePartitionReassignments is the failover step: requests in ZooKeeper first (they supersede), then
// reassignments recorded in topic znodes.
func (c *Controller) initializePartitionReassignments() error {
	exists, created, err := c.armPartitionReassignmentWatch()
	if err != nil {
		return err
	}
	zkStarted := map[tp]bool{}
	if exists {
		c.term.reassignmentNode = created
		if zkStarted, err = c.processZkPartitionReassignment(); err != nil {
			return err
		}
	}
	return c.maybeResumeReassignments(func(p tp, _ replicaAssignment) bool { return !zkStarted[p] })
}

// maybeResumeReassignments restarts the in-progress reassignments that resume selects.
func (c *Controller) maybeResumeReassignments(resume func(tp, replicaAssignment) bool) error {
	ps := make([]tp, 0, len(c.cc.partitionsBeingReassigned))
	for p := range c.cc.partitionsBeingReassigned {
		ps = append(ps, p)
	}
	sortTPs(ps)
	for _, p := range ps {
		ra := c.cc.fullAssignment(p)
		if !resume(p, ra) {
			continue
		}
		if err := c.onPartitionReassignment(p, ra); err != nil {
			if errors.Is(err, zkutils.ErrControllerMoved) {
				return err
			}
			c.errorf("Error resuming reassignment of partition %s: %v", tpString(p), err)
		}
	}
	return nil
}

// maybeCompleteReassignment finishes a reassignment whose target replicas all joined the ISR.
func (c *Controller) maybeCompleteReassignment(p tp) error {
	ra := c.cc.fullAssignment(p)
	complete, err := c.isReassignmentComplete(p, ra)
	if err != nil || !complete {
		return err
	}
	c.infof("Target replicas %v have all caught up with the leader for reassigning partition %s", ra.target(), tpString(p))
	return c.onPartitionReassignment(p, ra)
}

func (c *Controller) processPartitionReassignmentIsrChange(p tp) error {
	delete(c.term.stateWatches, p)
	if !c.cc.partitionsBeingReassigned[p] {
		return nil
	}
	if err := c.watchPartitionState(p); err != nil {
		return err
	}
	return c.maybeCompleteReassignment(p)
}
