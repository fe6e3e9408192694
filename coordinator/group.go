package coordinator

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is one of Kafka's classic group states; String gives the exact names DescribeGroups and
// ListGroups carry.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

// validPrevious is Kafka's GroupState.validPreviousStates.
func (s groupState) validPrevious(from groupState) bool {
	switch s {
	case stateEmpty:
		return from == statePreparingRebalance
	case statePreparingRebalance:
		return from == stateStable || from == stateCompletingRebalance || from == stateEmpty
	case stateCompletingRebalance:
		return from == statePreparingRebalance
	case stateStable:
		return from == stateCompletingRebalance
	default:
		return true
	}
}

const consumerProtocolType = "consumer"

// joinResult and syncResult are what parked JoinGroup / SyncGroup requests are answered with; the
// callbacks turn them into responses of the request's version.
type joinResult struct {
	members        []kmsg.JoinGroupResponseMember
	memberID       string
	generation     int32
	protocolType   *string
	protocolName   *string
	leaderID       string
	skipAssignment bool
	err            int16
}

func joinError(memberID string, code int16) joinResult {
	return joinResult{memberID: memberID, generation: -1, err: code}
}

type syncResult struct {
	protocolType *string
	protocolName *string
	assignment   []byte
	err          int16
}

type protocol struct {
	name     string
	metadata []byte
}

// member is Kafka's MemberMetadata.
type member struct {
	id           string
	instanceID   *string
	clientID     string
	clientHost   string
	rebalanceMs  int32
	sessionMs    int32
	protocolType string
	protocols    []protocol
	assignment   []byte

	joinCB func(joinResult)
	syncCB func(syncResult)
	isNew  bool

	// hb is the session (or new-member join) expiration.
	hb *expiry
}

func (m *member) stopHeartbeat() {
	if m.hb != nil {
		stopTimer(m.hb.t)
		m.hb = nil
	}
}

func (m *member) awaitingJoin() bool { return m.joinCB != nil }
func (m *member) awaitingSync() bool { return m.syncCB != nil }
func (m *member) isStatic() bool     { return m.instanceID != nil }

// satisfiedHeartbeat is MemberMetadata.hasSatisfiedHeartbeat at expiration time: a member parked in a
// rebalance cannot expire, except a new member whose JoinGroup has waited too long.
func (m *member) satisfiedHeartbeat() bool {
	if m.isNew {
		return false
	}
	return m.awaitingJoin() || m.awaitingSync()
}

func (m *member) metadataFor(name string) []byte {
	for _, p := range m.protocols {
		if p.name == name {
			return p.metadata
		}
	}
	return nil
}

func (m *member) matches(ps []protocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].name != m.protocols[i].name || !bytes.Equal(ps[i].metadata, m.protocols[i].metadata) {
			return false
		}
	}
	return true
}

func (m *member) vote(candidates map[string]bool) string {
	for _, p := range m.protocols {
		if candidates[p.name] {
			return p.name
		}
	}
	return ""
}

func (m *member) String() string {
	inst := "None"
	if m.instanceID != nil {
		inst = "Some(" + *m.instanceID + ")"
	}
	names := make([]string, len(m.protocols))
	for i, p := range m.protocols {
		names[i] = p.name
	}
	return fmt.Sprintf("MemberMetadata(memberId=%s, groupInstanceId=%s, clientId=%s, clientHost=%s, sessionTimeoutMs=%d, rebalanceTimeoutMs=%d, supportedProtocols=%v)",
		m.id, inst, m.clientID, m.clientHost, m.sessionMs, m.rebalanceMs, names)
}

// expiry is one scheduled expiration; a timer that fires finds out whether it is still the current one by
// comparing its *expiry with the one stored.
type expiry struct{ t *time.Timer }

type topicPartition struct {
	topic     string
	partition int32
}

func (tp topicPartition) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// offsetAndMetadata is a committed offset; expireTimestamp -1 means none (the usual case since Kafka 2.1).
type offsetAndMetadata struct {
	offset          int64
	leaderEpoch     int32
	metadata        string
	commitTimestamp int64
	expireTimestamp int64
}

// commitRecord is an offset with the position of the batch that wrote it, so that the newer of a regular and a
// transactional commit wins whatever order they materialize in (Kafka's CommitRecordMetadataAndOffset).
// batchOffset -1: not yet appended.
type commitRecord struct {
	batchOffset int64
	om          offsetAndMetadata
}

// group is Kafka's GroupMetadata. Everything in it is guarded by mu.
type group struct {
	mu sync.Mutex

	id        string
	partition int32

	state          groupState
	stateTimestamp int64 // ms; -1 when unknown (loaded from an old record)
	protocolType   string
	protocolName   *string
	generation     int32
	leaderID       string

	members         []*member // in the order they were added
	byID            map[string]*member
	static          map[string]string  // group.instance.id → member id
	pending         map[string]*expiry // pending member id → its expiration
	numAwaitingJoin int
	supported       map[string]int // protocol name → number of members supporting it
	pendingSync     map[string]bool
	newMemberAdded  bool

	subscribed    map[string]bool
	hasSubscribed bool

	offsets        map[topicPartition]commitRecord
	pendingOffsets map[topicPartition]offsetAndMetadata
	pendingTxn     map[int64]map[topicPartition]commitRecord

	join *delayedJoin
	sync *expiry // the DelayedSync: members that got their JoinGroup answer must SyncGroup in time
}

func newGroup(id string, partition int32, now int64) *group {
	return &group{
		id:             id,
		partition:      partition,
		state:          stateEmpty,
		stateTimestamp: now,
		byID:           map[string]*member{},
		static:         map[string]string{},
		pending:        map[string]*expiry{},
		supported:      map[string]int{},
		pendingSync:    map[string]bool{},
		offsets:        map[topicPartition]commitRecord{},
		pendingOffsets: map[topicPartition]offsetAndMetadata{},
		pendingTxn:     map[int64]map[topicPartition]commitRecord{},
	}
}

func (g *group) is(s groupState) bool { return g.state == s }
func (g *group) has(id string) bool   { _, ok := g.byID[id]; return ok }
func (g *group) size() int            { return len(g.members) }
func (g *group) isLeader(id string) bool {
	return g.leaderID != "" && g.leaderID == id
}

func (g *group) transitionTo(s groupState, now int64) {
	if !s.validPrevious(g.state) {
		panic(fmt.Sprintf("group %s should not move from %s to %s", g.id, g.state, s))
	}
	g.state = s
	g.stateTimestamp = now
}

func (g *group) canRebalance() bool { return statePreparingRebalance.validPrevious(g.state) }

func (g *group) add(m *member, cb func(joinResult)) {
	if m.instanceID != nil {
		g.static[*m.instanceID] = m.id
	}
	if len(g.members) == 0 {
		g.protocolType = m.protocolType
	}
	if g.leaderID == "" {
		g.leaderID = m.id
	}
	g.members = append(g.members, m)
	g.byID[m.id] = m
	for _, p := range m.protocols {
		g.supported[p.name]++
	}
	m.joinCB = cb
	if m.awaitingJoin() {
		g.numAwaitingJoin++
	}
	if e := g.pending[m.id]; e != nil {
		stopTimer(e.t)
		delete(g.pending, m.id)
	}
}

func (g *group) remove(id string) {
	if m, ok := g.byID[id]; ok {
		delete(g.byID, id)
		for i, x := range g.members {
			if x == m {
				g.members = append(g.members[:i:i], g.members[i+1:]...)
				break
			}
		}
		for _, p := range m.protocols {
			g.supported[p.name]--
		}
		if m.awaitingJoin() {
			g.numAwaitingJoin--
		}
		if m.instanceID != nil {
			delete(g.static, *m.instanceID)
		}
		m.stopHeartbeat()
	}
	if g.isLeader(id) {
		g.leaderID = ""
		if len(g.members) > 0 {
			g.leaderID = g.members[0].id
		}
	}
	if e := g.pending[id]; e != nil {
		stopTimer(e.t)
		delete(g.pending, id)
	}
	delete(g.pendingSync, id)
}

// maybeElectNewJoinedLeader keeps the leader if it rejoined, else picks any rejoined member; false when the
// group has no leader or nobody rejoined.
func (g *group) maybeElectNewJoinedLeader() bool {
	if g.leaderID == "" {
		return false
	}
	if l := g.byID[g.leaderID]; l != nil && l.awaitingJoin() {
		return true
	}
	for _, m := range g.members {
		if m.awaitingJoin() {
			g.leaderID = m.id
			return true
		}
	}
	return false
}

// replaceStaticMember gives a static member a new id, fencing whoever still waits under the old one.
func (g *group) replaceStaticMember(instanceID, oldID, newID string) *member {
	m := g.byID[oldID]
	delete(g.byID, oldID)
	g.maybeInvokeJoin(m, joinError(oldID, errFencedInstanceID))
	g.maybeInvokeSync(m, syncResult{err: errFencedInstanceID})
	m.id = newID
	g.byID[newID] = m
	if g.isLeader(oldID) {
		g.leaderID = newID
	}
	g.static[instanceID] = newID
	return m
}

func (g *group) hasAllMembersJoined() bool {
	return len(g.members) == g.numAwaitingJoin && len(g.pending) == 0
}

func (g *group) rebalanceTimeoutMs() int32 {
	var max int32
	for _, m := range g.members {
		if m.rebalanceMs > max {
			max = m.rebalanceMs
		}
	}
	return max
}

func (g *group) candidateProtocols() map[string]bool {
	c := map[string]bool{}
	for name, n := range g.supported {
		if n == len(g.members) {
			c[name] = true
		}
	}
	return c
}

// selectProtocol lets every member vote for its most preferred protocol that all members support; the most
// votes win. Kafka breaks ties by the iteration order of the Scala HashMap its groupBy builds, which
// scalaHashOrder reproduces, so the same group picks the same protocol here as there.
func (g *group) selectProtocol() string {
	cands := g.candidateProtocols()
	votes := map[string]int{}
	var voted []string
	for _, m := range g.members {
		v := m.vote(cands)
		if votes[v] == 0 {
			voted = append(voted, v)
		}
		votes[v]++
	}
	best, bestN := "", 0
	for _, name := range scalaHashOrder(voted) {
		if votes[name] > bestN {
			best, bestN = name, votes[name]
		}
	}
	return best
}

func (g *group) supportsProtocols(protocolType string, names []string) bool {
	if g.is(stateEmpty) {
		return protocolType != "" && len(names) > 0
	}
	if g.protocolType != protocolType {
		return false
	}
	for _, n := range names {
		if g.supported[n] == len(g.members) {
			return true
		}
	}
	return false
}

func (g *group) updateMember(m *member, ps []protocol, rebalanceMs, sessionMs int32, cb func(joinResult)) {
	for _, p := range m.protocols {
		g.supported[p.name]--
	}
	m.protocols = ps
	for _, p := range ps {
		g.supported[p.name]++
	}
	m.rebalanceMs = rebalanceMs
	m.sessionMs = sessionMs
	if cb != nil && !m.awaitingJoin() {
		g.numAwaitingJoin++
	} else if cb == nil && m.awaitingJoin() {
		g.numAwaitingJoin--
	}
	m.joinCB = cb
}

func (g *group) maybeInvokeJoin(m *member, r joinResult) {
	if m.awaitingJoin() {
		cb := m.joinCB
		m.joinCB = nil
		g.numAwaitingJoin--
		cb(r)
	}
}

func (g *group) maybeInvokeSync(m *member, r syncResult) bool {
	if !m.awaitingSync() {
		return false
	}
	cb := m.syncCB
	m.syncCB = nil
	cb(r)
	return true
}

// computeSubscribedTopics parses every member's consumer-protocol subscription (version 0 prefix, as Kafka
// does so future versions stay readable); ok false when unknown (not a consumer group, no protocol yet or an
// unparsable subscription).
func (g *group) computeSubscribedTopics() (map[string]bool, bool) {
	if g.protocolType != consumerProtocolType {
		return nil, false
	}
	if len(g.members) == 0 {
		return map[string]bool{}, true
	}
	if g.protocolName == nil {
		return nil, false
	}
	topics := map[string]bool{}
	for _, m := range g.members {
		ts, ok := parseSubscriptionTopics(m.metadataFor(*g.protocolName))
		if !ok {
			return nil, false
		}
		for _, t := range ts {
			topics[t] = true
		}
	}
	return topics, true
}

func (g *group) isSubscribedToTopic(topic string) bool {
	if !g.hasSubscribed {
		return true
	}
	return g.subscribed[topic]
}

func (g *group) initNextGeneration(now int64) {
	g.generation++
	if len(g.members) > 0 {
		p := g.selectProtocol()
		g.protocolName = &p
		g.subscribed, g.hasSubscribed = g.computeSubscribedTopics()
		g.transitionTo(stateCompletingRebalance, now)
	} else {
		g.protocolName = nil
		g.subscribed, g.hasSubscribed = g.computeSubscribedTopics()
		g.transitionTo(stateEmpty, now)
	}
	g.pendingSync = map[string]bool{}
}

// currentMemberMetadata is the member list the leader receives.
func (g *group) currentMemberMetadata() []kmsg.JoinGroupResponseMember {
	out := make([]kmsg.JoinGroupResponseMember, 0, len(g.members))
	for _, m := range g.members {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		if g.protocolName != nil {
			jm.ProtocolMetadata = m.metadataFor(*g.protocolName)
		}
		out = append(out, jm)
	}
	return out
}

func (g *group) hasOffsets() bool {
	return len(g.offsets) > 0 || len(g.pendingOffsets) > 0 || len(g.pendingTxn) > 0
}

func (g *group) hasPendingCommitsFor(tp topicPartition) bool {
	if _, ok := g.pendingOffsets[tp]; ok {
		return true
	}
	for _, po := range g.pendingTxn {
		if _, ok := po[tp]; ok {
			return true
		}
	}
	return false
}

// removeOffsets drops the given partitions' offsets (committed and pending) and returns those that were
// committed, which need tombstones.
func (g *group) removeOffsets(tps []topicPartition) []topicPartition {
	var removed []topicPartition
	for _, tp := range tps {
		delete(g.pendingOffsets, tp)
		for _, po := range g.pendingTxn {
			delete(po, tp)
		}
		if _, ok := g.offsets[tp]; ok {
			delete(g.offsets, tp)
			removed = append(removed, tp)
		}
	}
	return removed
}

func (g *group) allOffsetPartitions() []topicPartition {
	tps := make([]topicPartition, 0, len(g.offsets))
	for tp := range g.offsets {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	return tps
}

// removeExpiredOffsets is GroupMetadata.removeExpiredOffsets.
func (g *group) removeExpiredOffsets(now, retentionMs int64) []topicPartition {
	expired := func(base func(commitRecord) int64, subscribed map[string]bool) []topicPartition {
		var out []topicPartition
		for tp, cr := range g.offsets {
			if subscribed[tp.topic] {
				continue
			}
			if _, ok := g.pendingOffsets[tp]; ok {
				continue
			}
			if cr.om.expireTimestamp >= 0 {
				if now >= cr.om.expireTimestamp {
					out = append(out, tp)
				}
			} else if now-base(cr) >= retentionMs {
				out = append(out, tp)
			}
		}
		return out
	}
	byCommit := func(cr commitRecord) int64 { return cr.om.commitTimestamp }
	var out []topicPartition
	switch {
	case g.protocolType != "" && g.is(stateEmpty):
		out = expired(func(cr commitRecord) int64 {
			if g.stateTimestamp >= 0 {
				return g.stateTimestamp
			}
			return cr.om.commitTimestamp
		}, nil)
	case g.protocolType == consumerProtocolType && g.hasSubscribed && g.is(stateStable):
		out = expired(byCommit, g.subscribed)
	case g.protocolType == "":
		out = expired(byCommit, nil)
	}
	for _, tp := range out {
		delete(g.offsets, tp)
	}
	sortTPs(out)
	return out
}
