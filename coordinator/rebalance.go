package coordinator

import (
	"fmt"
	"time"
)

// newMemberJoinTimeout bounds how long a new member's JoinGroup may wait in a rebalance (Kafka's
// GroupCoordinator.NewMemberJoinTimeoutMs): its socket is muted meanwhile, so a client that gave up and
// retried would otherwise leave a defunct member behind.
const newMemberJoinTimeout = 5 * time.Minute

func ms(v int32) time.Duration { return time.Duration(v) * time.Millisecond }

// Timers. Each expiration is an *expiry stored in the group; a firing timer takes the group lock and acts
// only if its *expiry is still the stored one, so stopping a timer that already fired is harmless.

// scheduleHeartbeatLocked (re)starts the member's session timeout.
func (c *Coordinator) scheduleHeartbeatLocked(g *group, m *member) {
	c.scheduleExpirationLocked(g, m, ms(m.sessionMs))
}

func (c *Coordinator) scheduleExpirationLocked(g *group, m *member, d time.Duration) {
	m.stopHeartbeat()
	e := &expiry{}
	m.hb = e
	e.t = time.AfterFunc(d, func() { c.onHeartbeatExpire(g, m, e) })
}

func (c *Coordinator) onHeartbeatExpire(g *group, m *member, e *expiry) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if m.hb != e {
		return
	}
	m.hb = nil
	if g.is(stateDead) {
		c.infof("Received notification of heartbeat expiration for member %s after group %s had already been unloaded or deleted.", m.id, g.id)
		return
	}
	if g.byID[m.id] != m {
		c.debugf("Member %s has already been removed from the group.", m.id)
		return
	}
	if !m.satisfiedHeartbeat() {
		c.infof("Member %s in group %s has failed, removing it from the group", m.id, g.id)
		c.removeMemberAndUpdateGroupLocked(g, m, fmt.Sprintf("removing member %s on heartbeat expiration", m.id))
	}
}

func (c *Coordinator) addPendingMemberExpirationLocked(g *group, id string, sessionMs int32) {
	e := &expiry{}
	g.pending[id] = e
	e.t = time.AfterFunc(ms(sessionMs), func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.pending[id] != e || g.is(stateDead) {
			return
		}
		c.infof("Pending member %s in group %s has been removed after session timeout expiration.", id, g.id)
		c.removePendingMemberAndUpdateGroupLocked(g, id)
	})
}

// delayedJoin is Kafka's DelayedJoin (complete once every known member rejoined and no pending member is
// left, or at the rebalance timeout) and InitialDelayedJoin (from Empty: wait the initial delay, again while
// new members keep arriving, never past the rebalance timeout).
type delayedJoin struct {
	initial           bool
	configured, delay time.Duration
	remaining         time.Duration
	t                 *time.Timer
}

func (c *Coordinator) watchJoinLocked(g *group, dj *delayedJoin) {
	if !dj.initial && g.hasAllMembersJoined() {
		c.onCompleteJoinLocked(g)
		return
	}
	g.join = dj
	dj.t = time.AfterFunc(dj.delay, func() { c.onJoinTimer(g, dj) })
}

func (c *Coordinator) onJoinTimer(g *group, dj *delayedJoin) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.join != dj {
		return
	}
	g.join = nil
	if dj.initial && g.newMemberAdded && dj.remaining != 0 {
		g.newMemberAdded = false
		delay := min(dj.configured, dj.remaining)
		remaining := max(dj.remaining-dj.delay, 0)
		c.watchJoinLocked(g, &delayedJoin{initial: true, configured: dj.configured, delay: delay, remaining: remaining})
		return
	}
	c.onCompleteJoinLocked(g)
}

// checkJoinLocked completes the pending DelayedJoin if every member is in (Kafka's checkAndComplete on the
// group's join key).
func (c *Coordinator) checkJoinLocked(g *group) {
	dj := g.join
	if dj == nil || dj.initial || !g.hasAllMembersJoined() {
		return
	}
	stopTimer(dj.t)
	g.join = nil
	c.onCompleteJoinLocked(g)
}

func (c *Coordinator) maybePrepareRebalanceLocked(g *group, reason string) {
	if g.canRebalance() {
		c.prepareRebalanceLocked(g, reason)
	}
}

func (c *Coordinator) prepareRebalanceLocked(g *group, reason string) {
	if g.is(stateCompletingRebalance) {
		c.resetAndPropagateAssignmentErrorLocked(g, errRebalanceInProgress)
	}
	c.removeSyncExpirationLocked(g)

	var dj *delayedJoin
	if g.is(stateEmpty) {
		d := c.cfg.GroupInitialRebalanceDelay
		dj = &delayedJoin{initial: true, configured: d, delay: d, remaining: max(ms(g.rebalanceTimeoutMs())-d, 0)}
	} else {
		dj = &delayedJoin{delay: ms(g.rebalanceTimeoutMs())}
	}
	g.transitionTo(statePreparingRebalance, c.nowMs())
	c.infof("Preparing to rebalance group %s in state %s with old generation %d (%s) (reason: %s)",
		g.id, g.state, g.generation, groupTopicName(g.partition), reason)
	c.watchJoinLocked(g, dj)
}

func (c *Coordinator) removeMemberAndUpdateGroupLocked(g *group, m *member, reason string) {
	// A new member may time out while its JoinGroup is parked: answer it so the client retries.
	g.maybeInvokeJoin(m, joinError("", errUnknownMemberID))
	g.remove(m.id)
	switch g.state {
	case stateStable, stateCompletingRebalance:
		c.maybePrepareRebalanceLocked(g, reason)
	case statePreparingRebalance:
		c.checkJoinLocked(g)
	}
}

func (c *Coordinator) removePendingMemberAndUpdateGroupLocked(g *group, id string) {
	g.remove(id)
	if g.is(statePreparingRebalance) {
		c.checkJoinLocked(g)
	}
}

// onCompleteJoinLocked ends the join phase: members that did not rejoin are dropped (static ones stay), the
// next generation starts and every parked JoinGroup is answered, the leader with the member list.
func (c *Coordinator) onCompleteJoinLocked(g *group) {
	var gone []string
	for _, m := range append([]*member(nil), g.members...) {
		if !m.awaitingJoin() && !m.isStatic() {
			gone = append(gone, m.id)
			g.remove(m.id)
		}
	}
	if len(gone) > 0 {
		c.infof("Group %s removed dynamic members who haven't joined: %v", g.id, gone)
	}

	if g.is(stateDead) {
		c.infof("Group %s is dead, skipping rebalance stage", g.id)
		return
	}
	if !g.maybeElectNewJoinedLeader() && len(g.members) > 0 {
		// Only static members that have not rejoined are left: wait for them (or their session timeouts).
		c.errorf("Group %s could not complete rebalance because no members rejoined", g.id)
		c.watchJoinLocked(g, &delayedJoin{delay: ms(g.rebalanceTimeoutMs())})
		return
	}

	g.initNextGeneration(c.nowMs())
	if g.is(stateEmpty) {
		c.infof("Group %s with generation %d is now empty (%s)", g.id, g.generation, groupTopicName(g.partition))
		c.storeGroupLocked(g, nil, func(code int16) {
			if code != errNone {
				// The previous generation stays in the log; with no members it will just time out.
				c.warnf("Failed to write empty metadata for group %s: %s", g.id, errName(code))
			}
		})
		return
	}

	c.infof("Stabilized group %s generation %d (%s) with %d members", g.id, g.generation, groupTopicName(g.partition), g.size())
	for _, m := range g.members {
		r := joinResult{
			memberID:     m.id,
			generation:   g.generation,
			protocolType: strPtr(g.protocolType),
			protocolName: g.protocolName,
			leaderID:     g.leaderID,
		}
		if g.isLeader(m.id) {
			r.members = g.currentMemberMetadata()
		}
		g.maybeInvokeJoin(m, r)
		c.scheduleHeartbeatLocked(g, m)
		m.isNew = false
		g.pendingSync[m.id] = true
	}
	c.schedulePendingSyncLocked(g)
}

// strPtr is Kafka's Option for a protocol type: None when empty.
func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (c *Coordinator) schedulePendingSyncLocked(g *group) {
	c.removeSyncExpirationTimerLocked(g)
	if len(g.pendingSync) == 0 {
		return
	}
	gen := g.generation
	e := &expiry{}
	g.sync = e
	e.t = time.AfterFunc(ms(g.rebalanceTimeoutMs()), func() { c.onExpirePendingSync(g, e, gen) })
}

func (c *Coordinator) removeSyncExpirationTimerLocked(g *group) {
	if g.sync != nil {
		stopTimer(g.sync.t)
		g.sync = nil
	}
}

// removeSyncExpirationLocked clears the members awaited for SyncGroup and cancels the sync deadline.
func (c *Coordinator) removeSyncExpirationLocked(g *group) {
	g.pendingSync = map[string]bool{}
	c.removeSyncExpirationTimerLocked(g)
}

func (c *Coordinator) removePendingSyncMemberLocked(g *group, id string) {
	delete(g.pendingSync, id)
	if len(g.pendingSync) == 0 {
		c.removeSyncExpirationTimerLocked(g)
	}
}

func (c *Coordinator) onExpirePendingSync(g *group, e *expiry, gen int32) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.sync != e {
		return
	}
	g.sync = nil
	if gen != g.generation {
		c.errorf("Received unexpected notification of sync expiration for %s with an old generation %d while the group has %d.", g.id, gen, g.generation)
		return
	}
	switch g.state {
	case stateDead, stateEmpty, statePreparingRebalance:
		c.errorf("Received unexpected notification of sync expiration after group %s already transitioned to the %s state.", g.id, g.state)
		return
	}
	if len(g.pendingSync) == 0 {
		return
	}
	var ids []string
	for _, m := range g.members {
		if g.pendingSync[m.id] {
			ids = append(ids, m.id)
		}
	}
	for _, id := range ids {
		g.remove(id)
	}
	c.debugf("Group %s removed members who haven't sent their sync request: %v", g.id, ids)
	c.prepareRebalanceLocked(g, fmt.Sprintf("Removing %v on pending sync request expiration", ids))
}

func (c *Coordinator) resetAndPropagateAssignmentErrorLocked(g *group, code int16) {
	for _, m := range g.members {
		m.assignment = nil
	}
	c.propagateAssignmentLocked(g, code)
}

func (c *Coordinator) setAndPropagateAssignmentLocked(g *group, assignment map[string][]byte) {
	for _, m := range g.members {
		m.assignment = assignment[m.id]
	}
	c.propagateAssignmentLocked(g, errNone)
}

func (c *Coordinator) propagateAssignmentLocked(g *group, code int16) {
	var pt, pn *string
	if code == errNone {
		pt, pn = strPtr(g.protocolType), g.protocolName
	}
	for _, m := range g.members {
		if len(m.assignment) == 0 && code == errNone {
			c.warnf("Sending empty assignment to member %s of %s for generation %d with no errors", m.id, g.id, g.generation)
		}
		if g.maybeInvokeSync(m, syncResult{protocolType: pt, protocolName: pn, assignment: m.assignment, err: code}) {
			// A member whose session ran out while it waited for the leader or the write gets a fresh one.
			c.scheduleHeartbeatLocked(g, m)
		}
	}
}

// storeGroupLocked writes the group record (with the given assignment) and calls done with the mapped error
// code once the write completed; done runs with the group lock held.
func (c *Coordinator) storeGroupLocked(g *group, assignment map[string][]byte, done func(code int16)) {
	rec := Record{Key: groupMetadataKey(g.id), Value: groupMetadataValue(g, assignment)}
	gen := g.generation
	c.log.Append(g.partition, []Record{rec}, func(err error) {
		code := errorCode(err)
		g.mu.Lock()
		defer g.mu.Unlock()
		if code != errNone {
			c.debugf("Metadata from group %s with generation %d failed when appending to log due to %s", g.id, gen, errName(code))
		}
		done(storeGroupError(code))
	})
}
