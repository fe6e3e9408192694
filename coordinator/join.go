package coordinator

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// JoinGroup is Kafka's handleJoinGroup: respond is called once, at once for errors and MEMBER_ID_REQUIRED,
// else when the rebalance completes (or the member is fenced, removed or the group unloaded).
func (c *Coordinator) JoinGroup(req *kmsg.JoinGroupRequest, client Client, respond func(*kmsg.JoinGroupResponse)) {
	cb := func(r joinResult) {
		resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = r.err
		resp.Generation = r.generation
		resp.ProtocolType = r.protocolType
		resp.Protocol = r.protocolName
		resp.LeaderID = r.leaderID
		resp.SkipAssignment = r.skipAssignment
		resp.MemberID = r.memberID
		resp.Members = r.members
		respond(resp)
	}
	if code := c.validateGroupStatus(req.Group, emptyIDInvalid); code != errNone {
		cb(joinError(req.MemberID, code))
		return
	}
	if ms(req.SessionTimeoutMillis) < c.cfg.GroupMinSessionTimeout || ms(req.SessionTimeoutMillis) > c.cfg.GroupMaxSessionTimeout {
		cb(joinError(req.MemberID, errInvalidSessionTimeout))
		return
	}
	rebalanceMs := req.RebalanceTimeoutMillis
	if req.Version == 0 {
		rebalanceMs = req.SessionTimeoutMillis // v0 has no rebalance timeout
	}
	j := joinRequest{
		memberID:           req.MemberID,
		instanceID:         req.InstanceID,
		requireKnownMember: req.Version >= 4 && req.InstanceID == nil,
		supportSkip:        req.Version >= 9,
		clientID:           client.ClientID,
		clientHost:         client.ClientHost,
		rebalanceMs:        rebalanceMs,
		sessionMs:          req.SessionTimeoutMillis,
		protocolType:       req.ProtocolType,
		reason:             "not provided",
		cb:                 cb,
	}
	if req.Reason != nil {
		j.reason = *req.Reason
	}
	for _, p := range req.Protocols {
		j.protocols = append(j.protocols, protocol{name: p.Name, metadata: p.Metadata})
		j.names = append(j.names, p.Name)
	}

	isUnknown := req.MemberID == ""
	g := c.getOrCreateGroup(req.Group, isUnknown)
	if g == nil {
		cb(joinError(req.MemberID, errUnknownMemberID))
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case !c.acceptJoiningMember(g, req.MemberID):
		g.remove(req.MemberID)
		cb(joinError("", errGroupMaxSizeReached))
	case isUnknown:
		c.doNewMemberJoinLocked(g, j)
	default:
		c.doCurrentMemberJoinLocked(g, j)
	}
	if g.is(statePreparingRebalance) {
		c.checkJoinLocked(g)
	}
}

type joinRequest struct {
	memberID           string
	instanceID         *string
	requireKnownMember bool
	supportSkip        bool
	clientID           string
	clientHost         string
	rebalanceMs        int32
	sessionMs          int32
	protocolType       string
	protocols          []protocol
	names              []string
	reason             string
	cb                 func(joinResult)
}

// acceptJoiningMember is Kafka's group.max.size check: while rebalancing, the number of members already
// rejoined counts, so a shrunk limit kicks out the last to rejoin.
func (c *Coordinator) acceptJoiningMember(g *group, id string) bool {
	switch g.state {
	case stateEmpty, stateDead:
		return true
	case statePreparingRebalance:
		if m := g.byID[id]; m != nil && m.awaitingJoin() {
			return true
		}
		return g.numAwaitingJoin < c.cfg.GroupMaxSize
	default:
		return g.has(id) || g.size() < c.cfg.GroupMaxSize
	}
}

func (c *Coordinator) doNewMemberJoinLocked(g *group, j joinRequest) {
	if g.is(stateDead) {
		// The group was just removed (unloaded or deleted): the member should find the coordinator again.
		j.cb(joinError("", errCoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(j.protocolType, j.names) {
		j.cb(joinError("", errInconsistentGroupProtocol))
		return
	}
	prefix := j.clientID
	if j.instanceID != nil {
		prefix = *j.instanceID
	}
	newID := prefix + "-" + newUUID()

	if j.instanceID != nil {
		if oldID, ok := g.static[*j.instanceID]; ok {
			c.infof("Static member with groupInstanceId=%s and unknown member id joins group %s in %s state. Replacing previously mapped member %s with this groupInstanceId.",
				*j.instanceID, g.id, g.state, oldID)
			c.updateStaticMemberAndRebalanceLocked(g, oldID, newID, j)
			return
		}
		c.infof("Static member with groupInstanceId=%s and unknown member id joins group %s in %s state. Created a new member id %s for this member and add to the group.",
			*j.instanceID, g.id, g.state, newID)
		c.addMemberAndRebalanceLocked(g, newID, j)
		return
	}
	if j.requireKnownMember {
		c.infof("Dynamic member with unknown member id joins group %s in %s state. Created a new member id %s and request the member to rejoin with this id.",
			g.id, g.state, newID)
		c.addPendingMemberExpirationLocked(g, newID, j.sessionMs)
		j.cb(joinError(newID, errMemberIDRequired))
		return
	}
	c.infof("Dynamic Member with unknown member id joins group %s in %s state. Created a new member id %s for this member and add to the group.",
		g.id, g.state, newID)
	c.addMemberAndRebalanceLocked(g, newID, j)
}

// validateCurrentMemberLocked checks that the instance id (if any) maps to memberID and that the member
// exists.
func (c *Coordinator) validateCurrentMemberLocked(g *group, memberID string, instanceID *string, op string) int16 {
	if instanceID != nil {
		cur, ok := g.static[*instanceID]
		if !ok {
			return errUnknownMemberID
		}
		if cur != memberID {
			c.infof("Request memberId=%s for static member with groupInstanceId=%s is fenced by current memberId=%s during operation %s",
				memberID, *instanceID, cur, op)
			return errFencedInstanceID
		}
		return errNone
	}
	if !g.has(memberID) {
		return errUnknownMemberID
	}
	return errNone
}

func (c *Coordinator) doCurrentMemberJoinLocked(g *group, j joinRequest) {
	if g.is(stateDead) {
		j.cb(joinError(j.memberID, errCoordinatorNotAvailable))
		return
	}
	if !g.supportsProtocols(j.protocolType, j.names) {
		j.cb(joinError(j.memberID, errInconsistentGroupProtocol))
		return
	}
	if _, pending := g.pending[j.memberID]; pending {
		if j.instanceID != nil {
			// Pending members are dynamic; Kafka treats this as an impossible state.
			j.cb(joinError(j.memberID, errUnknownServerError))
			return
		}
		c.debugf("Pending dynamic member with id %s joins group %s in %s state. Adding to the group now.", j.memberID, g.id, g.state)
		c.addMemberAndRebalanceLocked(g, j.memberID, j)
		return
	}
	if code := c.validateCurrentMemberLocked(g, j.memberID, j.instanceID, "join-group"); code != errNone {
		j.cb(joinError(j.memberID, code))
		return
	}
	m := g.byID[j.memberID]
	switch g.state {
	case statePreparingRebalance:
		c.updateMemberAndRebalanceLocked(g, m, j, fmt.Sprintf("Member %s joining group during %s; client reason: %s", m.id, g.state, j.reason))
	case stateCompletingRebalance:
		if m.matches(j.protocols) {
			// The member missed its JoinGroup answer: give it the current generation again.
			r := c.currentGenerationResult(g, m.id)
			if g.isLeader(m.id) {
				r.members = g.currentMemberMetadata()
			}
			j.cb(r)
			return
		}
		c.updateMemberAndRebalanceLocked(g, m, j, fmt.Sprintf("Updating metadata for member %s during %s; client reason: %s", m.id, g.state, j.reason))
	case stateStable:
		switch {
		case g.isLeader(m.id):
			// The leader rejoins to make the group reassign (e.g. topic metadata changed).
			c.updateMemberAndRebalanceLocked(g, m, j, fmt.Sprintf("Leader %s re-joining group during %s; client reason: %s", m.id, g.state, j.reason))
		case !m.matches(j.protocols):
			c.updateMemberAndRebalanceLocked(g, m, j, fmt.Sprintf("Updating metadata for member %s during %s; client reason: %s", m.id, g.state, j.reason))
		default:
			j.cb(c.currentGenerationResult(g, m.id))
		}
	default:
		c.warnf("Attempt to add rejoining member %s of group %s in unexpected group state %s", j.memberID, g.id, g.state)
		j.cb(joinError(j.memberID, errUnknownMemberID))
	}
}

func (c *Coordinator) currentGenerationResult(g *group, memberID string) joinResult {
	return joinResult{
		memberID:     memberID,
		generation:   g.generation,
		protocolType: strPtr(g.protocolType),
		protocolName: g.protocolName,
		leaderID:     g.leaderID,
	}
}

func (c *Coordinator) addMemberAndRebalanceLocked(g *group, id string, j joinRequest) {
	m := &member{
		id:           id,
		instanceID:   j.instanceID,
		clientID:     j.clientID,
		clientHost:   j.clientHost,
		rebalanceMs:  j.rebalanceMs,
		sessionMs:    j.sessionMs,
		protocolType: j.protocolType,
		protocols:    j.protocols,
		isNew:        true,
	}
	if g.is(statePreparingRebalance) && g.generation == 0 {
		g.newMemberAdded = true
	}
	g.add(m, j.cb)
	c.scheduleExpirationLocked(g, m, newMemberJoinTimeout)
	inst := "None"
	if j.instanceID != nil {
		inst = "Some(" + *j.instanceID + ")"
	}
	c.maybePrepareRebalanceLocked(g, fmt.Sprintf("Adding new member %s with group instance id %s; client reason: %s", id, inst, j.reason))
}

func (c *Coordinator) updateMemberAndRebalanceLocked(g *group, m *member, j joinRequest, reason string) {
	g.updateMember(m, j.protocols, j.rebalanceMs, j.sessionMs, j.cb)
	c.maybePrepareRebalanceLocked(g, reason)
}

// updateStaticMemberAndRebalanceLocked gives a returning static member a new member id. In a Stable group
// whose selected protocol would not change, no rebalance happens: the group record is rewritten with the new
// id and the member gets the current generation (a v9+ leader is told to skip the assignment).
func (c *Coordinator) updateStaticMemberAndRebalanceLocked(g *group, oldID, newID string, j joinRequest) {
	currentLeader := g.leaderID
	m := g.replaceStaticMember(*j.instanceID, oldID, newID)
	c.scheduleHeartbeatLocked(g, m)

	oldRebalanceMs, oldSessionMs, oldProtocols := m.rebalanceMs, m.sessionMs, m.protocols
	g.updateMember(m, j.protocols, j.rebalanceMs, j.sessionMs, j.cb)

	switch g.state {
	case stateStable:
		if g.protocolName == nil || *g.protocolName != g.selectProtocol() {
			c.maybePrepareRebalanceLocked(g, fmt.Sprintf("Group's selectedProtocol will change because static member %s with instance id %s joined with change of protocol; client reason: %s",
				m.id, *j.instanceID, j.reason))
			return
		}
		c.infof("Static member which joins during Stable stage and doesn't affect selectProtocol will not trigger rebalance.")
		assignment := map[string][]byte{}
		for _, x := range g.members {
			assignment[x.id] = x.assignment
		}
		instanceID := *j.instanceID
		c.storeGroupLocked(g, assignment, func(code int16) {
			if code != errNone {
				c.warnf("Failed to persist metadata for group %s: %s", g.id, errName(code))
				// Revert to the old member id, which is what the log still says.
				cb := m.joinCB
				g.updateMember(m, oldProtocols, oldRebalanceMs, oldSessionMs, nil)
				old := g.replaceStaticMember(instanceID, newID, oldID)
				c.scheduleHeartbeatLocked(g, old)
				if cb != nil {
					r := c.currentGenerationResult(g, "")
					r.leaderID = currentLeader
					r.err = code
					cb(r)
				}
				return
			}
			if g.byID[newID] != m {
				return
			}
			if j.supportSkip {
				isLeader := g.isLeader(newID)
				r := c.currentGenerationResult(g, newID)
				if isLeader {
					r.members = g.currentMemberMetadata()
				}
				r.skipAssignment = isLeader
				g.maybeInvokeJoin(m, r)
				return
			}
			// Before v9 a returning leader must not reassign in a Stable group (its new assignment would not be
			// distributed): it is told the old leader id so that it does not think it leads.
			r := c.currentGenerationResult(g, newID)
			r.leaderID = currentLeader
			g.maybeInvokeJoin(m, r)
		})
	case stateCompletingRebalance:
		// The leader may already assign to the old id: rebalance so the new id gets an assignment.
		c.prepareRebalanceLocked(g, fmt.Sprintf("Updating metadata for static member %s with instance id %s; client reason: %s", m.id, *j.instanceID, j.reason))
	case statePreparingRebalance:
		// The member is now waiting for the rebalance like everyone else.
	}
}
