package controller

import (
	"fmt"

	"github.com/zkafka/zkafka/zkutils"
)

// handleReplicaStateChanges runs one batch of replica transitions and sends the requests it produced.
func (c *Controller) handleReplicaStateChanges(rs []partitionReplica, target replicaState) error {
	if len(rs) == 0 {
		return nil
	}
	b := newRequestBatch()
	if err := c.doReplicaStateChanges(b, rs, target); err != nil {
		return err
	}
	c.sendBatch(b)
	return nil
}

func (c *Controller) doReplicaStateChanges(b *requestBatch, rs []partitionReplica, target replicaState) error {
	var valid []partitionReplica
	for _, r := range rs {
		cur := c.cc.replicaState(r)
		if !validReplicaTransition(cur, target) {
			c.stateChangef("Invalid state transition for replica %d of partition %s from %s to %s",
				r.Replica, tpString(r.TP), cur, target)
			continue
		}
		valid = append(valid, r)
	}
	switch target {
	case newReplica:
		for _, r := range valid {
			if li, ok := c.cc.leadership[r.TP]; ok {
				if li.Leader == r.Replica {
					c.stateChangef("Replica %d for partition %s cannot be moved to NewReplica state as it is being requested to become leader",
						r.Replica, tpString(r.TP))
					continue
				}
				b.addLeaderAndIsr(c.cc, []int32{r.Replica}, r.TP, li, true)
			}
			c.setReplicaState(r, target)
		}
	case onlineReplica:
		for _, r := range valid {
			if c.cc.replicaState(r) != newReplica {
				if li, ok := c.cc.leadership[r.TP]; ok {
					b.addLeaderAndIsr(c.cc, []int32{r.Replica}, r.TP, li, false)
				}
			}
			c.setReplicaState(r, target)
		}
	case offlineReplica:
		return c.replicasOffline(b, valid)
	case replicaDeletionStarted:
		for _, r := range valid {
			c.setReplicaState(r, target)
			b.addStopReplica(c.cc, []int32{r.Replica}, r.TP, true)
		}
	case replicaDeletionSuccessful, replicaDeletionIneligible:
		for _, r := range valid {
			c.setReplicaState(r, target)
		}
	case nonExistentReplica:
		for _, r := range valid {
			c.stateChangef("Changed state of replica %d for partition %s from %s to %s",
				r.Replica, tpString(r.TP), c.cc.replicaState(r), target)
			if parts := c.cc.assignments[r.TP.Topic]; parts != nil {
				parts[r.TP.Partition] = filter(parts[r.TP.Partition], func(x int32) bool { return x != r.Replica })
			}
			delete(c.cc.replicaStates, r)
		}
	}
	return nil
}

func (c *Controller) setReplicaState(r partitionReplica, target replicaState) {
	c.stateChangef("Changed state of replica %d for partition %s from %s to %s",
		r.Replica, tpString(r.TP), c.cc.replicaState(r), target)
	c.cc.replicaStates[r] = target
}

// replicasOffline stops the replicas (without deleting), shrinks the ISRs they were in, and tells the remaining
// replicas about the new state.
func (c *Controller) replicasOffline(b *requestBatch, rs []partitionReplica) error {
	byReplica := map[int32][]tp{}
	for _, r := range rs {
		b.addStopReplica(c.cc, []int32{r.Replica}, r.TP, false)
		if _, ok := c.cc.leadership[r.TP]; ok {
			byReplica[r.Replica] = append(byReplica[r.Replica], r.TP)
			continue
		}
		b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), []tp{r.TP})
		c.setReplicaState(r, offlineReplica)
	}
	for _, id := range sortedKeys(byReplica) {
		updated, err := c.removeReplicaFromIsr(id, byReplica[id])
		if err != nil {
			return err
		}
		for _, p := range sortedTPKeys(updated) {
			li := updated[p]
			if !c.cc.topicsToBeDeleted[p.Topic] {
				others := filter(c.cc.replicas(p), func(x int32) bool { return x != id })
				b.addLeaderAndIsr(c.cc, others, p, li, false)
			}
			c.setReplicaState(partitionReplica{TP: p, Replica: id}, offlineReplica)
		}
	}
	return nil
}

// removeReplicaFromIsr is Kafka's removeReplicasFromIsr: read, decide (removeFromIsr), write conditionally and
// fenced, retry on version conflicts. Partitions whose ISR did not hold the replica come back unchanged.
func (c *Controller) removeReplicaFromIsr(replica int32, ps []tp) (map[tp]zkutils.LeaderIsr, error) {
	out := map[tp]zkutils.LeaderIsr{}
	remaining := ps
	for attempt := 0; len(remaining) > 0 && attempt < maxElectionAttempts; attempt++ {
		current, err := c.partitionStatesForWrite(remaining, replica, attempt == 0)
		if err != nil {
			return out, err
		}
		updates := map[tp]zkutils.LeaderIsr{}
		for _, p := range remaining {
			li, ok := current[p]
			if !ok {
				continue
			}
			if li.ControllerEpoch > c.cc.epoch {
				c.stateChangef("Leader and isr path of partition %s was written by another controller with epoch %d; not removing replica %d",
					tpString(p), li.ControllerEpoch, replica)
				continue
			}
			next, changed := removeFromIsr(li, replica, c.cc.epoch)
			if !changed {
				c.cc.leadership[p] = li
				out[p] = li
				continue
			}
			updates[p] = next
		}
		if len(updates) == 0 {
			break
		}
		written, conflicts, err := c.writePartitionStates(updates, fmt.Sprintf("remove replica %d from ISR of", replica))
		if err != nil {
			return out, err
		}
		remaining = conflicts
		for p, li := range written {
			out[p] = li
		}
	}
	return out, nil
}

// partitionStatesForWrite gives the states a conditional write decides from. On the first attempt the cached
// ones serve: the write carries their znode version, so a state changed since (a leader's ISR update) fails
// with BADVERSION and the retry reads ZooKeeper. That saves a read of every partition, which at failover (just
// after the full load) is thousands of round trips. A cached state is trusted only when it leads to a write
// (the ISR holds replica): the cache may lag an ISR expansion, and a skipped write would never be checked, so
// those partitions, and ones missing from the cache, are read.
func (c *Controller) partitionStatesForWrite(ps []tp, replica int32, cacheFirst bool) (map[tp]zkutils.LeaderIsr, error) {
	if !cacheFirst {
		return c.zk.GetPartitionStates(ps)
	}
	out := make(map[tp]zkutils.LeaderIsr, len(ps))
	var missing []tp
	for _, p := range ps {
		if li, ok := c.cc.leadership[p]; ok && contains(li.ISR, replica) {
			out[p] = li
		} else {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		read, err := c.zk.GetPartitionStates(missing)
		if err != nil {
			return nil, err
		}
		for p, li := range read {
			out[p] = li
		}
	}
	return out, nil
}

// startupReplicaStateMachine marks replicas on live brokers Online (telling each broker its partitions' state)
// and the rest Offline.
func (c *Controller) startupReplicaStateMachine() error {
	var online, offline []partitionReplica
	for _, p := range c.cc.allPartitions() {
		for _, r := range c.cc.replicas(p) {
			pr := partitionReplica{TP: p, Replica: r}
			if c.cc.isReplicaOnline(r) {
				c.cc.replicaStates[pr] = onlineReplica
				online = append(online, pr)
			} else {
				c.cc.replicaStates[pr] = replicaDeletionIneligible
				offline = append(offline, pr)
			}
		}
	}
	if err := c.handleReplicaStateChanges(online, onlineReplica); err != nil {
		return err
	}
	return c.handleReplicaStateChanges(offline, offlineReplica)
}
