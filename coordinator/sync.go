package coordinator

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// SyncGroup is Kafka's handleSyncGroup: members park until the leader's assignment is written to
// __consumer_offsets; respond is called once.
func (c *Coordinator) SyncGroup(req *kmsg.SyncGroupRequest, respond func(*kmsg.SyncGroupResponse)) {
	cb := func(r syncResult) {
		resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = r.err
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocolName
		resp.MemberAssignment = nonNil(r.assignment)
		respond(resp)
	}
	if req.Version >= 5 && (req.ProtocolType == nil || req.Protocol == nil) {
		cb(syncResult{err: errInconsistentGroupProtocol})
		return
	}
	switch code := c.validateGroupStatus(req.Group, emptyIDInvalid); code {
	case errNone:
	case errCoordinatorLoadInProgress:
		// The rebalance state was lost with the move: make the member rejoin without looking for the
		// coordinator again (older clients do not expect COORDINATOR_LOAD_IN_PROGRESS here).
		cb(syncResult{err: errRebalanceInProgress})
		return
	default:
		cb(syncResult{err: code})
		return
	}
	g := c.getGroup(req.Group)
	if g == nil {
		cb(syncResult{err: errUnknownMemberID})
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if code := c.validateSyncLocked(g, req); code != errNone {
		cb(syncResult{err: code})
		return
	}
	switch g.state {
	case stateEmpty:
		cb(syncResult{err: errUnknownMemberID})
	case statePreparingRebalance:
		cb(syncResult{err: errRebalanceInProgress})
	case stateCompletingRebalance:
		m := g.byID[req.MemberID]
		m.syncCB = cb
		c.removePendingSyncMemberLocked(g, m.id)
		if g.isLeader(m.id) {
			c.onLeaderSyncLocked(g, m.id, req.GroupAssignment)
		}
	case stateStable:
		c.removePendingSyncMemberLocked(g, req.MemberID)
		m := g.byID[req.MemberID]
		cb(syncResult{protocolType: strPtr(g.protocolType), protocolName: g.protocolName, assignment: m.assignment})
		c.scheduleHeartbeatLocked(g, m)
	}
}

func (c *Coordinator) validateSyncLocked(g *group, req *kmsg.SyncGroupRequest) int16 {
	if g.is(stateDead) {
		return errCoordinatorNotAvailable
	}
	if code := c.validateCurrentMemberLocked(g, req.MemberID, req.InstanceID, "sync-group"); code != errNone {
		return code
	}
	if req.Generation != g.generation {
		return errIllegalGeneration
	}
	if req.ProtocolType != nil && *req.ProtocolType != g.protocolType {
		return errInconsistentGroupProtocol
	}
	if req.Protocol != nil && (g.protocolName == nil || *req.Protocol != *g.protocolName) {
		return errInconsistentGroupProtocol
	}
	return errNone
}

// onLeaderSyncLocked stores the leader's assignment (members it left out get an empty one) and, once
// written, makes the group Stable and answers every parked member.
func (c *Coordinator) onLeaderSyncLocked(g *group, leaderID string, given []kmsg.SyncGroupRequestGroupAssignment) {
	static := len(g.static)
	c.infof("Assignment received from leader %s for group %s for generation %d. The group has %d members, %d of which are static.",
		leaderID, g.id, g.generation, g.size(), static)
	assignment := map[string][]byte{}
	for _, a := range given {
		assignment[a.MemberID] = a.MemberAssignment
	}
	var missing []string
	for _, m := range g.members {
		if _, ok := assignment[m.id]; !ok {
			missing = append(missing, m.id)
			assignment[m.id] = []byte{}
		}
	}
	if len(missing) > 0 {
		c.warnf("Setting empty assignments for members %v of %s for generation %d", missing, g.id, g.generation)
	}
	gen := g.generation
	c.storeGroupLocked(g, assignment, func(code int16) {
		// Someone may have joined meanwhile: only the generation the write was for completes.
		if !g.is(stateCompletingRebalance) || g.generation != gen {
			return
		}
		if code != errNone {
			c.resetAndPropagateAssignmentErrorLocked(g, code)
			c.maybePrepareRebalanceLocked(g, fmt.Sprintf("Error %s when storing group assignment during SyncGroup (member: %s)", errName(code), leaderID))
			return
		}
		c.setAndPropagateAssignmentLocked(g, assignment)
		g.transitionTo(stateStable, c.nowMs())
	})
}

// Heartbeat is Kafka's handleHeartbeat.
func (c *Coordinator) Heartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	switch code := c.validateGroupStatus(req.Group, emptyIDInvalid); code {
	case errNone:
	case errCoordinatorLoadInProgress:
		return errNone // the group is still loading: answer blindly, as Kafka does
	default:
		return code
	}
	g := c.getGroup(req.Group)
	if g == nil {
		return errUnknownMemberID
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.is(stateDead) {
		return errCoordinatorNotAvailable
	}
	if code := c.validateCurrentMemberLocked(g, req.MemberID, req.InstanceID, "heartbeat"); code != errNone {
		return code
	}
	if req.Generation != g.generation {
		return errIllegalGeneration
	}
	switch g.state {
	case stateEmpty:
		return errUnknownMemberID
	case statePreparingRebalance:
		c.scheduleHeartbeatLocked(g, g.byID[req.MemberID])
		return errRebalanceInProgress
	default:
		c.scheduleHeartbeatLocked(g, g.byID[req.MemberID])
		return errNone
	}
}

// LeaveGroup is Kafka's handleLeaveGroup; v0–2 carry one member, v3+ a batch with a result per member.
func (c *Coordinator) LeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	members := req.Members
	if req.Version < 3 {
		m := kmsg.NewLeaveGroupRequestMember()
		m.MemberID = req.MemberID
		members = []kmsg.LeaveGroupRequestMember{m}
	}
	top, results := c.leaveGroup(req.Group, members)
	resp.ErrorCode = top
	if req.Version >= 3 {
		resp.Members = results
	} else if top == errNone && len(results) == 1 {
		// Older versions have no per-member results: the member's error is the answer.
		resp.ErrorCode = results[0].ErrorCode
	}
	return resp
}

func memberLeaveResult(m kmsg.LeaveGroupRequestMember, code int16) kmsg.LeaveGroupResponseMember {
	r := kmsg.NewLeaveGroupResponseMember()
	r.MemberID = m.MemberID
	r.InstanceID = m.InstanceID
	r.ErrorCode = code
	return r
}

func (c *Coordinator) leaveGroup(groupID string, members []kmsg.LeaveGroupRequestMember) (int16, []kmsg.LeaveGroupResponseMember) {
	if code := c.validateGroupStatus(groupID, emptyIDInvalid); code != errNone {
		return code, nil
	}
	g := c.getGroup(groupID)
	if g == nil {
		var out []kmsg.LeaveGroupResponseMember
		for _, m := range members {
			out = append(out, memberLeaveResult(m, errUnknownMemberID))
		}
		return errNone, out
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.is(stateDead) {
		return errCoordinatorNotAvailable, nil
	}
	var out []kmsg.LeaveGroupResponseMember
	for _, lm := range members {
		reason := "not provided"
		if lm.Reason != nil {
			reason = *lm.Reason
		}
		switch {
		case lm.MemberID == "":
			// Administrative removal of a static member by its instance id.
			cur, ok := "", false
			if lm.InstanceID != nil {
				cur, ok = g.static[*lm.InstanceID]
			}
			if !ok {
				out = append(out, memberLeaveResult(lm, errUnknownMemberID))
				continue
			}
			c.removeLeavingMemberLocked(g, cur, reason)
			out = append(out, memberLeaveResult(lm, errNone))
		case g.pending[lm.MemberID] != nil:
			c.removePendingMemberAndUpdateGroupLocked(g, lm.MemberID)
			c.infof("Pending member with memberId=%s has left group %s through explicit `LeaveGroup` request", lm.MemberID, g.id)
			out = append(out, memberLeaveResult(lm, errNone))
		default:
			code := c.validateCurrentMemberLocked(g, lm.MemberID, lm.InstanceID, "leave-group")
			if code == errNone {
				c.removeLeavingMemberLocked(g, lm.MemberID, reason)
			}
			out = append(out, memberLeaveResult(lm, code))
		}
	}
	return errNone, out
}

func (c *Coordinator) removeLeavingMemberLocked(g *group, id, reason string) {
	m := g.byID[id]
	c.removeMemberAndUpdateGroupLocked(g, m, fmt.Sprintf("Removing member %s on LeaveGroup; client reason: %s", id, reason))
	c.infof("Member %s has left group %s through explicit `LeaveGroup`; client reason: %s", m, g.id, reason)
}
