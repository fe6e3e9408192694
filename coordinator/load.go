package coordinator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

var errShuttingDown = errors.New("coordinator shutting down")

// OnElection is called when this broker becomes leader of __consumer_offsets partition p with leader epoch
// epoch: the partition's groups and offsets are loaded in the background (COORDINATOR_LOAD_IN_PROGRESS until
// then).
func (c *Coordinator) OnElection(p int32, epoch int32) {
	c.infof("Elected as the group coordinator for partition %d in epoch %d", p, epoch)
	c.mgr.infof("Scheduling loading of offsets and group metadata from %s for epoch %d", groupTopicName(p), epoch)
	start := c.cfg.Now()
	c.enqueue(func() { c.loadPartition(p, epoch, start) })
}

// OnResignation is called when this broker stops leading partition p (epoch -1: whatever epoch it had): its
// groups are unloaded and their parked requests answered NOT_COORDINATOR.
func (c *Coordinator) OnResignation(p int32, epoch int32) {
	c.infof("Resigned as the group coordinator for partition %d in epoch %s", p, epochString(epoch))
	c.mgr.infof("Scheduling unloading of offsets and group metadata from %s", groupTopicName(p))
	c.enqueue(func() { c.unloadPartition(p, epoch) })
}

func epochString(epoch int32) string {
	if epoch < 0 {
		return "OptionalInt.empty"
	}
	return fmt.Sprintf("OptionalInt[%d]", epoch)
}

// maybeUpdateEpochLocked records epoch for p if it is newer; false when epoch is older than the last one
// seen (a stale election or resignation, ignored). epoch < 0 always passes. Needs c.mu.
func (c *Coordinator) maybeUpdateEpochLocked(p, epoch int32) bool {
	if epoch < 0 {
		return true
	}
	cur, ok := c.epochs[p]
	if !ok || epoch > cur {
		c.epochs[p] = epoch
		return true
	}
	return epoch == cur
}

func (c *Coordinator) loadPartition(p, epoch int32, start time.Time) {
	c.mu.Lock()
	if !c.maybeUpdateEpochLocked(p, epoch) {
		cur := c.epochs[p]
		c.mu.Unlock()
		c.mgr.infof("Not loading offsets and group metadata for %s in epoch %d since current epoch is %d", groupTopicName(p), epoch, cur)
		return
	}
	if c.owned[p] || c.loading[p] {
		c.mu.Unlock()
		c.mgr.infof("Already loading offsets and group metadata from %s", groupTopicName(p))
		return
	}
	c.loading[p] = true
	c.mu.Unlock()

	schedMs := c.nowMs() - start.UnixMilli()
	if err := c.doLoad(p); err != nil {
		c.mgr.errorf("Error loading offsets from %s: %v", groupTopicName(p), err)
	} else {
		total := c.nowMs() - start.UnixMilli()
		c.mgr.infof("Finished loading offsets and group metadata from %s in %d milliseconds for epoch %d, of which %d milliseconds was spent in the scheduler.",
			groupTopicName(p), total, epoch, schedMs)
	}
	c.mu.Lock()
	c.owned[p] = true
	delete(c.loading, p)
	c.mu.Unlock()
}

type groupTP struct {
	group string
	tp    topicPartition
}

// loadState accumulates a partition's records: the latest record per key wins, tombstones delete, and
// transactional offsets wait per producer for their COMMIT (kept) or ABORT (dropped) marker.
type loadState struct {
	offsets       map[groupTP]commitRecord
	pending       map[int64]map[groupTP]commitRecord
	groups        map[string]*group
	removedGroups map[string]bool
	groupOrder    []string
}

func newLoadState() *loadState {
	return &loadState{
		offsets:       map[groupTP]commitRecord{},
		pending:       map[int64]map[groupTP]commitRecord{},
		groups:        map[string]*group{},
		removedGroups: map[string]bool{},
	}
}

// controlType reads a control record's key (int16 version, int16 type); 0 ABORT, 1 COMMIT.
func controlType(key []byte) (int16, bool) {
	if len(key) < 4 {
		return 0, false
	}
	return int16(binary.BigEndian.Uint16(key[2:])), true
}

func (ls *loadState) apply(c *Coordinator, p int32, b Batch) error {
	if b.Control {
		if len(b.Records) == 0 {
			return nil
		}
		typ, ok := controlType(b.Records[0].Key)
		if ok && typ == 1 {
			for k, cr := range ls.pending[b.ProducerID] {
				if cur, ok := ls.offsets[k]; !ok || cur.batchOffset < cr.batchOffset {
					ls.offsets[k] = cr
				}
			}
		}
		delete(ls.pending, b.ProducerID)
		return nil
	}
	if len(b.Records) == 0 {
		return nil
	}
	base := b.Records[0].Offset
	for _, r := range b.Records {
		if r.Key == nil {
			return fmt.Errorf("group metadata/offset entry key should not be null (offset %d)", r.Offset)
		}
		k, known, err := readKey(r.Key)
		if err != nil {
			return fmt.Errorf("record at offset %d: %w", r.Offset, err)
		}
		if !known {
			c.mgr.warnf("Unknown message key with version %d while loading offsets and group metadata from %s. Ignoring it. It could be a left over from an aborted upgrade.",
				k.version, groupTopicName(p))
			continue
		}
		if k.isOffset {
			gtp := groupTP{k.group, k.tp}
			target := ls.offsets
			if b.Transactional {
				if ls.pending[b.ProducerID] == nil {
					ls.pending[b.ProducerID] = map[groupTP]commitRecord{}
				}
				target = ls.pending[b.ProducerID]
			}
			if r.Value == nil {
				delete(target, gtp)
				continue
			}
			om, err := readOffsetValue(r.Value)
			if err != nil {
				return fmt.Errorf("record at offset %d: %w", r.Offset, err)
			}
			target[gtp] = commitRecord{batchOffset: base, om: om}
			continue
		}
		if r.Value == nil {
			delete(ls.groups, k.group)
			ls.removedGroups[k.group] = true
			continue
		}
		g, err := readGroupValue(k.group, p, r.Value)
		if err != nil {
			return fmt.Errorf("record at offset %d: %w", r.Offset, err)
		}
		delete(ls.removedGroups, k.group)
		if _, seen := ls.groups[k.group]; !seen {
			ls.groupOrder = append(ls.groupOrder, k.group)
		}
		ls.groups[k.group] = g
	}
	return nil
}

func (c *Coordinator) doLoad(p int32) error {
	ls := newLoadState()
	err := c.log.Load(p, func(b Batch) error {
		if c.shuttingDown.Load() {
			return errShuttingDown
		}
		return ls.apply(c, p, b)
	})
	if err != nil {
		return err
	}

	offsetsByGroup := map[string]map[topicPartition]commitRecord{}
	for k, cr := range ls.offsets {
		if offsetsByGroup[k.group] == nil {
			offsetsByGroup[k.group] = map[topicPartition]commitRecord{}
		}
		offsetsByGroup[k.group][k.tp] = cr
	}
	pendingByGroup := map[string]map[int64]map[topicPartition]commitRecord{}
	for pid, po := range ls.pending {
		for k, cr := range po {
			c.addProducerGroup(pid, k.group)
			if pendingByGroup[k.group] == nil {
				pendingByGroup[k.group] = map[int64]map[topicPartition]commitRecord{}
			}
			if pendingByGroup[k.group][pid] == nil {
				pendingByGroup[k.group][pid] = map[topicPartition]commitRecord{}
			}
			pendingByGroup[k.group][pid][k.tp] = cr
		}
	}

	now := c.nowMs()
	var order []string
	seen := map[string]bool{}
	addID := func(id string) {
		if !seen[id] {
			seen[id] = true
			order = append(order, id)
		}
	}
	for _, id := range ls.groupOrder {
		addID(id)
	}
	for id := range offsetsByGroup {
		addID(id)
	}
	for id := range pendingByGroup {
		addID(id)
	}
	for _, id := range order {
		g := ls.groups[id]
		if g == nil {
			if offsetsByGroup[id] == nil && pendingByGroup[id] == nil {
				continue // tombstoned and without offsets
			}
			g = newGroup(id, p, now)
		}
		for tp, cr := range offsetsByGroup[id] {
			g.offsets[tp] = cr
		}
		for pid, po := range pendingByGroup[id] {
			g.pendingTxn[pid] = po
		}
		c.mu.Lock()
		cur := c.groups[id]
		if cur == nil {
			c.groups[id] = g
		}
		c.mu.Unlock()
		if cur != nil {
			c.mgr.infof("Attempt to load group %s from log with generation %d failed because there is already a cached group with generation %d",
				id, g.generation, cur.generation)
			continue
		}
		c.onGroupLoaded(g)
	}
	return nil
}

// onGroupLoaded starts the loaded group's session timers: members must heartbeat within their session
// timeout or leave.
func (c *Coordinator) onGroupLoaded(g *group) {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.infof("Loading group metadata for %s with generation %d", g.id, g.generation)
	if g.size() > c.cfg.GroupMaxSize {
		c.prepareRebalanceLocked(g, fmt.Sprintf("Freshly-loaded group is over capacity (%d). Rebalancing in order to give a chance for consumers to commit offsets", c.cfg.GroupMaxSize))
	}
	for _, m := range g.members {
		c.scheduleHeartbeatLocked(g, m)
	}
}

func (c *Coordinator) unloadPartition(p, epoch int32) {
	c.mu.Lock()
	if !c.maybeUpdateEpochLocked(p, epoch) {
		cur := c.epochs[p]
		c.mu.Unlock()
		c.mgr.infof("Not removing offsets and group metadata for %s in epoch %s since current epoch is %d", groupTopicName(p), epochString(epoch), cur)
		return
	}
	delete(c.owned, p)
	delete(c.loading, p)
	var groups, offsets int
	for id, g := range c.groups {
		if g.partition != p {
			continue
		}
		offsets += c.onGroupUnloaded(g)
		delete(c.groups, id)
		c.removeGroupFromAllProducers(id)
		groups++
	}
	c.mu.Unlock()
	c.mgr.infof("Finished unloading %s for coordinator epoch %s. Removed %d cached offsets and %d cached groups.",
		groupTopicName(p), epochString(epoch), offsets, groups)
}

// onGroupUnloaded marks the group Dead, answers its parked requests NOT_COORDINATOR and stops its timers;
// it returns the number of offsets the group held.
func (c *Coordinator) onGroupUnloaded(g *group) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	c.infof("Unloading group metadata for %s with generation %d", g.id, g.generation)
	prev := g.state
	g.transitionTo(stateDead, c.nowMs())
	switch prev {
	case statePreparingRebalance:
		for _, m := range g.members {
			g.maybeInvokeJoin(m, joinError(m.id, errNotCoordinator))
		}
	case stateStable, stateCompletingRebalance:
		for _, m := range g.members {
			g.maybeInvokeSync(m, syncResult{err: errNotCoordinator})
		}
	}
	c.stopTimersLocked(g)
	return len(g.offsets)
}

// stopTimersLocked cancels every expiration of the group (it is Dead; a timer that already fired finds it so
// and does nothing).
func (c *Coordinator) stopTimersLocked(g *group) {
	for _, m := range g.members {
		m.stopHeartbeat()
	}
	for _, e := range g.pending {
		stopTimer(e.t)
	}
	if g.join != nil {
		stopTimer(g.join.t)
		g.join = nil
	}
	c.removeSyncExpirationLocked(g)
}

func (c *Coordinator) addProducerGroup(pid int64, groupID string) {
	c.txnMu.Lock()
	defer c.txnMu.Unlock()
	if c.openTxnGroups[pid] == nil {
		c.openTxnGroups[pid] = map[string]bool{}
	}
	c.openTxnGroups[pid][groupID] = true
}

func (c *Coordinator) removeProducerGroup(pid int64, groupID string) {
	c.txnMu.Lock()
	defer c.txnMu.Unlock()
	delete(c.openTxnGroups[pid], groupID)
	if len(c.openTxnGroups[pid]) == 0 {
		delete(c.openTxnGroups, pid)
	}
}

func (c *Coordinator) removeGroupFromAllProducers(groupID string) {
	c.txnMu.Lock()
	defer c.txnMu.Unlock()
	for pid, gs := range c.openTxnGroups {
		delete(gs, groupID)
		if len(gs) == 0 {
			delete(c.openTxnGroups, pid)
		}
	}
}

// OnTxnCompleted is called once a COMMIT (commit true) or ABORT marker of producer pid is written to the
// given __consumer_offsets partitions: the producer's pending transactional offsets of the groups there are
// materialized or dropped.
func (c *Coordinator) OnTxnCompleted(pid int64, partitions []int32, commit bool) {
	in := map[int32]bool{}
	for _, p := range partitions {
		in[p] = true
	}
	c.txnMu.Lock()
	var ids []string
	for id := range c.openTxnGroups[pid] {
		if in[c.PartitionFor(id)] {
			ids = append(ids, id)
		}
	}
	c.txnMu.Unlock()
	for _, id := range ids {
		g := c.getGroup(id)
		if g == nil {
			c.mgr.infof("Group %s has moved away from %d after transaction marker was written but before the cache was updated. The cache on the new group owner will be updated instead.", id, c.cfg.BrokerID)
			continue
		}
		g.mu.Lock()
		if !g.is(stateDead) {
			po := g.pendingTxn[pid]
			delete(g.pendingTxn, pid)
			if commit {
				for tp, cr := range po {
					if cur, ok := g.offsets[tp]; !ok || cur.batchOffset < cr.batchOffset {
						g.offsets[tp] = cr
					}
				}
			}
			c.removeProducerGroup(pid, id)
		}
		g.mu.Unlock()
	}
}
