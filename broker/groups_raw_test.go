package broker_test

// Shared pieces of the consumer-group integration tests: the broker settings they run with, requests pinned to one
// broker (the group coordinator, or deliberately another one), and rawMember, a consumer-group member written
// directly on the protocol. A raw member is what a stock client cannot be: one that stops heartbeating without
// leaving (a dead process), one that joins at an exact request version, or fifty of them on a few connections.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

// groupOverrides are the broker settings of the group tests plus extra: few __consumer_offsets partitions (fast to
// create and load), no initial rebalance delay, and a low minimum session timeout so that a dead member is noticed
// within a couple of seconds.
func groupOverrides(extra map[string]string) map[string]string {
	o := map[string]string{
		"offsets.topic.num.partitions":     "5",
		"offsets.topic.replication.factor": "1",
		"group.initial.rebalance.delay.ms": "0",
		"group.min.session.timeout.ms":     "1000",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// groupCall sends req over conn at the version set on req and returns the response as R; a transport error fails
// the test.
func groupCall[R kmsg.Response](t *testing.T, conn *network.Client, req kmsg.Request) R {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := conn.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s v%d to %s: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), conn.Addr(), err)
	}
	r, ok := resp.(R)
	if !ok {
		t.Fatalf("%s answered with %T", kmsg.NameForKey(req.Key()), resp)
	}
	return r
}

// groupDial opens a raw connection to addr, closed at the end of the test.
func groupDial(t *testing.T, addr, clientID string) *network.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, addr, clientID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// findCoordinatorReq is FindCoordinator v3 (one key) for a group.
func findCoordinatorReq(group string) *kmsg.FindCoordinatorRequest {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.SetVersion(3)
	req.CoordinatorKey = group
	return req
}

// groupCoordinator asks each running broker in turn who coordinates the group until one answers NONE, and
// returns that broker; until then (the offsets topic is being created, its partition has no leader yet) it keeps
// asking. A broker that names itself must also have loaded the group's partition: an OffsetFetch it answers with
// NONE proves that, so callers may send group requests at once.
func groupCoordinator(t *testing.T, c *testcluster.Cluster, group string) *testcluster.Broker {
	t.Helper()
	var found *testcluster.Broker
	waitWhy(t, 60*time.Second, "a loaded coordinator for group "+group, func() (bool, string) {
		var why string
		for _, b := range c.Brokers {
			if !b.Running() {
				continue
			}
			id, err := askCoordinator(b.Addr(), group)
			if err != nil {
				why = fmt.Sprintf("broker %d: %v", b.ID, err)
				continue
			}
			coord := c.Broker(id)
			if coord == nil || !coord.Running() {
				why = fmt.Sprintf("broker %d names %d, which is not running", b.ID, id)
				continue
			}
			if code := offsetFetchCode(coord.Addr(), group); code != 0 {
				why = fmt.Sprintf("coordinator %d answers OffsetFetch with %v", id, kerr.ErrorForCode(code))
				continue
			}
			found = coord
			return true, ""
		}
		return false, why
	})
	return found
}

// askCoordinator is one FindCoordinator round trip to addr; a non-NONE answer is an error.
func askCoordinator(addr, group string) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, addr, "group-test")
	if err != nil {
		return -1, err
	}
	defer conn.Close()
	resp, err := conn.Request(ctx, findCoordinatorReq(group))
	if err != nil {
		return -1, err
	}
	r := resp.(*kmsg.FindCoordinatorResponse)
	if r.ErrorCode != 0 {
		return -1, kerr.ErrorForCode(r.ErrorCode)
	}
	return r.NodeID, nil
}

// offsetFetchCode sends an OffsetFetch v7 of all the group's offsets to addr and returns its top-level error code
// (-1 on a transport error).
func offsetFetchCode(addr, group string) int16 {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, addr, "group-test")
	if err != nil {
		return -1
	}
	defer conn.Close()
	resp, err := conn.Request(ctx, offsetFetchReq(group, nil))
	if err != nil {
		return -1
	}
	return resp.(*kmsg.OffsetFetchResponse).ErrorCode
}

// offsetFetchReq is OffsetFetch v7 for one group; topics nil asks for every committed partition.
func offsetFetchReq(group string, topics map[string][]int32) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group = group
	if topics != nil {
		req.Topics = []kmsg.OffsetFetchRequestTopic{}
		for topic, parts := range topics {
			rt := kmsg.NewOffsetFetchRequestTopic()
			rt.Topic, rt.Partitions = topic, parts
			req.Topics = append(req.Topics, rt)
		}
	}
	return req
}

// committed maps topic → partition → committed offset, from an OffsetFetch answer (offset −1 = none).
func committed(t *testing.T, resp *kmsg.OffsetFetchResponse) map[string]map[int32]int64 {
	t.Helper()
	if resp.ErrorCode != 0 {
		t.Fatalf("OffsetFetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	out := map[string]map[int32]int64{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("OffsetFetch %s-%d: %v", rt.Topic, p.Partition, kerr.ErrorForCode(p.ErrorCode))
			}
			if out[rt.Topic] == nil {
				out[rt.Topic] = map[int32]int64{}
			}
			out[rt.Topic][p.Partition] = p.Offset
		}
	}
	return out
}

// simpleCommitReq is an OffsetCommit v8 of offsets for one topic; generation −1 and an empty member id make it a
// "simple" (admin) commit, as kafka-consumer-groups.sh --reset-offsets sends.
func simpleCommitReq(group, memberID string, generation int32, topic string, offsets map[int32]int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(8)
	req.Group, req.MemberID, req.Generation = group, memberID, generation
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	parts := make([]int32, 0, len(offsets))
	for p := range offsets {
		parts = append(parts, p)
	}
	slices.Sort(parts)
	for _, p := range parts {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offsets[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// commitCodes flattens an OffsetCommit answer to "topic-partition" → error code.
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := map[string]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[fmt.Sprintf("%s-%d", rt.Topic, p.Partition)] = p.ErrorCode
		}
	}
	return out
}

// describeReq is DescribeGroups v5.
func describeReq(groups ...string) *kmsg.DescribeGroupsRequest {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.SetVersion(5)
	req.Groups = groups
	return req
}

// describeOne describes one group on conn.
func describeOne(t *testing.T, conn *network.Client, group string) kmsg.DescribeGroupsResponseGroup {
	t.Helper()
	resp := groupCall[*kmsg.DescribeGroupsResponse](t, conn, describeReq(group))
	if len(resp.Groups) != 1 || resp.Groups[0].Group != group {
		t.Fatalf("DescribeGroups(%s) answered %+v", group, resp.Groups)
	}
	return resp.Groups[0]
}

// rawMember is one consumer-group member spoken on the wire: JoinGroup (rejoining with the id a
// MEMBER_ID_REQUIRED answer carries), SyncGroup (as leader it assigns each subscribed topic's partitions round
// robin over the members that want it), Heartbeat, LeaveGroup. It uses the consumer protocol's encodings so stock
// clients in the same group understand it.
type rawMember struct {
	t          *testing.T
	conn       *network.Client
	group      string
	instanceID *string
	topics     []string
	partitions map[string]int32 // partition count of each topic, for the leader's plan
	protocols  []string         // assignor names, most preferred first
	sessionMs  int32
	rebalMs    int32
	joinVer    int16

	mu         sync.Mutex
	memberID   string
	generation int32
	protocol   string
	assigned   map[string][]int32
	syncedGen  int32     // generation of the last SyncGroup answered NONE (by rejoin)
	syncedAt   time.Time // when that answer arrived

	stop chan struct{}
	done chan struct{}
	err  error // why the heartbeat loop ended, when it ended by itself
}

// newRawMember makes a member of group subscribed to topic (with n partitions) that speaks protocol, connected to
// the coordinator at addr.
func newRawMember(t *testing.T, addr, clientID, group, topic string, n int32, protocol string) *rawMember {
	return &rawMember{
		t: t, conn: groupDial(t, addr, clientID), group: group,
		topics: []string{topic}, partitions: map[string]int32{topic: n}, protocols: []string{protocol},
		sessionMs: 10000, rebalMs: 10000, joinVer: 7,
	}
}

func (m *rawMember) metadata() []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 1
	meta.Topics = m.topics
	m.mu.Lock()
	for topic, parts := range m.assigned {
		op := kmsg.NewConsumerMemberMetadataOwnedPartition()
		op.Topic, op.Partitions = topic, parts
		meta.OwnedPartitions = append(meta.OwnedPartitions, op)
	}
	m.mu.Unlock()
	return meta.AppendTo(nil)
}

// joinReq is the member's JoinGroup at its version, with its current member id.
func (m *rawMember) joinReq() *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.SetVersion(m.joinVer)
	req.Group = m.group
	req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = m.sessionMs, m.rebalMs
	m.mu.Lock()
	req.MemberID = m.memberID
	m.mu.Unlock()
	req.InstanceID = m.instanceID
	req.ProtocolType = "consumer"
	md := m.metadata()
	for _, name := range m.protocols {
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = name, md
		req.Protocols = append(req.Protocols, p)
	}
	return req
}

// join sends JoinGroup until it is not answered MEMBER_ID_REQUIRED and returns the answer; on NONE the member
// takes the generation and protocol.
func (m *rawMember) join() *kmsg.JoinGroupResponse {
	m.t.Helper()
	for {
		resp := groupCall[*kmsg.JoinGroupResponse](m.t, m.conn, m.joinReq())
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			m.mu.Lock()
			m.memberID = resp.MemberID
			m.mu.Unlock()
			continue
		}
		if resp.ErrorCode == 0 {
			m.mu.Lock()
			m.memberID, m.generation = resp.MemberID, resp.Generation
			if resp.Protocol != nil {
				m.protocol = *resp.Protocol
			}
			m.mu.Unlock()
		}
		return resp
	}
}

// plan is the leader's assignment: each topic's partitions dealt round robin over the members subscribed to it,
// in member id order.
func (m *rawMember) plan(members []kmsg.JoinGroupResponseMember) []kmsg.SyncGroupRequestGroupAssignment {
	byMember := map[string]map[string][]int32{}
	subscribers := map[string][]string{}
	for _, mem := range members {
		byMember[mem.MemberID] = map[string][]int32{}
		var meta kmsg.ConsumerMemberMetadata
		if err := meta.ReadFrom(mem.ProtocolMetadata); err != nil {
			m.t.Errorf("member %s sent undecodable metadata: %v", mem.MemberID, err)
			continue
		}
		for _, topic := range meta.Topics {
			subscribers[topic] = append(subscribers[topic], mem.MemberID)
		}
	}
	for topic, ids := range subscribers {
		sort.Strings(ids)
		for p := int32(0); p < m.partitions[topic]; p++ {
			id := ids[int(p)%len(ids)]
			byMember[id][topic] = append(byMember[id][topic], p)
		}
	}
	var out []kmsg.SyncGroupRequestGroupAssignment
	for id, topics := range byMember {
		a := kmsg.NewConsumerMemberAssignment()
		for topic, parts := range topics {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic, at.Partitions = topic, parts
			a.Topics = append(a.Topics, at)
		}
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a.AppendTo(nil)
		out = append(out, ga)
	}
	return out
}

// syncReq is SyncGroup v5 for the member's generation, with the leader's plan when given.
func (m *rawMember) syncReq(plan []kmsg.SyncGroupRequestGroupAssignment) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.SetVersion(5)
	req.Group = m.group
	m.mu.Lock()
	req.MemberID, req.Generation = m.memberID, m.generation
	req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr(m.protocol)
	m.mu.Unlock()
	req.InstanceID = m.instanceID
	req.GroupAssignment = plan
	return req
}

// sync sends SyncGroup (with the plan when this member leads) and, on NONE, takes the assignment.
func (m *rawMember) sync(join *kmsg.JoinGroupResponse) *kmsg.SyncGroupResponse {
	m.t.Helper()
	var plan []kmsg.SyncGroupRequestGroupAssignment
	if join.LeaderID == join.MemberID && !join.SkipAssignment {
		plan = m.plan(join.Members)
	}
	resp := groupCall[*kmsg.SyncGroupResponse](m.t, m.conn, m.syncReq(plan))
	if resp.ErrorCode == 0 {
		var a kmsg.ConsumerMemberAssignment
		assigned := map[string][]int32{}
		if len(resp.MemberAssignment) > 0 {
			if err := a.ReadFrom(resp.MemberAssignment); err != nil {
				m.t.Errorf("undecodable assignment %x: %v", resp.MemberAssignment, err)
			}
		}
		for _, at := range a.Topics {
			assigned[at.Topic] = append(assigned[at.Topic], at.Partitions...)
		}
		m.mu.Lock()
		m.assigned = assigned
		m.mu.Unlock()
	}
	return resp
}

// joinSync joins and syncs, retrying while the group is rebalancing around it, and fails the test on any other
// error.
func (m *rawMember) joinSync() {
	m.t.Helper()
	for {
		j := m.join()
		if j.ErrorCode != 0 {
			m.t.Fatalf("member %s of %s: JoinGroup: %v", m.memberID, m.group, kerr.ErrorForCode(j.ErrorCode))
		}
		s := m.sync(j)
		switch s.ErrorCode {
		case 0:
			return
		case kerr.RebalanceInProgress.Code:
			continue
		default:
			m.t.Fatalf("member %s of %s: SyncGroup: %v", m.memberID, m.group, kerr.ErrorForCode(s.ErrorCode))
		}
	}
}

// heartbeatReq is Heartbeat v4 for the member's current generation.
func (m *rawMember) heartbeatReq() *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.SetVersion(4)
	req.Group = m.group
	m.mu.Lock()
	req.MemberID, req.Generation = m.memberID, m.generation
	m.mu.Unlock()
	req.InstanceID = m.instanceID
	return req
}

// heartbeat sends one Heartbeat and returns its error code.
func (m *rawMember) heartbeat() int16 {
	return groupCall[*kmsg.HeartbeatResponse](m.t, m.conn, m.heartbeatReq()).ErrorCode
}

// keepAlive heartbeats every interval in the background, rejoining when the group rebalances, until die or leave.
// Any other heartbeat error ends the loop and is kept for the test to report.
func (m *rawMember) keepAlive(interval time.Duration) {
	m.keepAliveAfter(nil, interval)
}

// keepAliveAfter is keepAlive started in the same goroutine as first, which runs before the first heartbeat (a
// join, say); an error from first ends the loop.
func (m *rawMember) keepAliveAfter(first func() error, interval time.Duration) {
	m.stop, m.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(m.done)
		if first != nil {
			if err := first(); err != nil {
				m.err = err
				return
			}
		}
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			resp, err := m.conn.Request(ctx, m.heartbeatReq())
			cancel()
			if err != nil {
				m.err = err
				return
			}
			switch code := resp.(*kmsg.HeartbeatResponse).ErrorCode; code {
			case 0:
			case kerr.RebalanceInProgress.Code:
				if err := m.rejoin(); err != nil {
					m.err = err
					return
				}
			default:
				m.err = fmt.Errorf("heartbeat: %v", kerr.ErrorForCode(code))
				return
			}
		}
	}()
}

// rejoin is joinSync for goroutines, which must not call t.Fatal: it returns the error instead.
func (m *rawMember) rejoin() error {
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		resp, err := m.conn.Request(ctx, m.joinReq())
		cancel()
		if err != nil {
			return err
		}
		j := resp.(*kmsg.JoinGroupResponse)
		if j.ErrorCode == kerr.MemberIDRequired.Code {
			m.mu.Lock()
			m.memberID = j.MemberID
			m.mu.Unlock()
			continue
		}
		if j.ErrorCode != 0 {
			return fmt.Errorf("rejoin: %v", kerr.ErrorForCode(j.ErrorCode))
		}
		m.mu.Lock()
		m.memberID, m.generation = j.MemberID, j.Generation
		if j.Protocol != nil {
			m.protocol = *j.Protocol
		}
		m.mu.Unlock()
		var plan []kmsg.SyncGroupRequestGroupAssignment
		if j.LeaderID == j.MemberID && !j.SkipAssignment {
			plan = m.plan(j.Members)
		}
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		resp, err = m.conn.Request(ctx, m.syncReq(plan))
		cancel()
		if err != nil {
			return err
		}
		s := resp.(*kmsg.SyncGroupResponse)
		switch s.ErrorCode {
		case 0:
			var a kmsg.ConsumerMemberAssignment
			if len(s.MemberAssignment) > 0 {
				if err := a.ReadFrom(s.MemberAssignment); err != nil {
					return fmt.Errorf("undecodable assignment: %v", err)
				}
			}
			assigned := map[string][]int32{}
			for _, at := range a.Topics {
				assigned[at.Topic] = append(assigned[at.Topic], at.Partitions...)
			}
			m.mu.Lock()
			m.assigned = assigned
			m.syncedGen, m.syncedAt = m.generation, time.Now()
			m.mu.Unlock()
			return nil
		case kerr.RebalanceInProgress.Code:
			continue
		default:
			return fmt.Errorf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
		}
	}
}

// die stops heartbeating without leaving, as a killed process does; the coordinator only learns of it when the
// session times out.
func (m *rawMember) die() {
	if m.stop != nil {
		close(m.stop)
		<-m.done
		m.stop = nil
	}
}

// leave stops heartbeating and sends LeaveGroup v4 for the member.
func (m *rawMember) leave() int16 {
	m.die()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.SetVersion(4)
	req.Group = m.group
	mem := kmsg.NewLeaveGroupRequestMember()
	m.mu.Lock()
	mem.MemberID = m.memberID
	m.mu.Unlock()
	mem.InstanceID = m.instanceID
	req.Members = append(req.Members, mem)
	resp := groupCall[*kmsg.LeaveGroupResponse](m.t, m.conn, req)
	if resp.ErrorCode == 0 && len(resp.Members) == 1 {
		return resp.Members[0].ErrorCode
	}
	return resp.ErrorCode
}

// synced returns the generation and time of the member's last successful rejoin.
func (m *rawMember) synced() (int32, time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.syncedGen, m.syncedAt
}

// state returns the member's id, generation and assignment of topic.
func (m *rawMember) state(topic string) (string, int32, []int32) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.memberID, m.generation, slices.Clone(m.assigned[topic])
}
