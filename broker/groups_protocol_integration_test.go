package broker_test

// The group APIs on the wire, request by request, against Kafka 3.7's error codes and state names: every request
// goes to the group's coordinator (or, for NOT_COORDINATOR, deliberately to the other broker) at a chosen version.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/jhash"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

const protoTopic, protoPartitions = "proto-topic", 4

// protoEnv is one group's coordinator and the broker that is not its coordinator, with raw connections to both.
type protoEnv struct {
	t           *testing.T
	c           *testcluster.Cluster
	group       string
	coord       *testcluster.Broker
	conn, other *network.Client
}

func newProtoEnv(t *testing.T, c *testcluster.Cluster, group string) *protoEnv {
	t.Helper()
	coord := groupCoordinator(t, c, group)
	e := &protoEnv{t: t, c: c, group: group, coord: coord, conn: groupDial(t, coord.Addr(), "proto-client")}
	for _, b := range c.Brokers {
		if b.ID != coord.ID {
			e.other = groupDial(t, b.Addr(), "proto-client")
		}
	}
	return e
}

// neighbour returns a group id, never used before, that hashes to the same __consumer_offsets partition as the
// env's group (of the 5 the tests configure), so the same coordinator answers for it.
func (e *protoEnv) neighbour(prefix string) string {
	part := func(g string) int32 { return jhash.Abs(jhash.String(g)) % 5 }
	for i := 0; ; i++ {
		if g := fmt.Sprintf("%s-%d", prefix, i); part(g) == part(e.group) {
			return g
		}
	}
}

// member makes a raw member of the env's group on the coordinator, speaking "range".
func (e *protoEnv) member(clientID string) *rawMember {
	m := newRawMember(e.t, e.coord.Addr(), clientID, e.group, protoTopic, protoPartitions, "range")
	m.sessionMs = 6000
	return m
}

func TestIntegrationGroupProtocol(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 2, Overrides: groupOverrides(nil)})
	createTopic(t, c, protoTopic, protoPartitions)
	t.Run("MemberIDRequired", func(t *testing.T) { testMemberIDRequired(t, c) })
	t.Run("JoinValidation", func(t *testing.T) { testJoinValidation(t, c) })
	t.Run("UnknownMemberAndGeneration", func(t *testing.T) { testUnknownMemberAndGeneration(t, c) })
	t.Run("RebalanceInProgress", func(t *testing.T) { testRebalanceInProgress(t, c) })
	t.Run("NotCoordinator", func(t *testing.T) { testNotCoordinator(t, c) })
	t.Run("StatesAndListing", func(t *testing.T) { testStatesAndListing(t, c) })
	t.Run("DeleteGroups", func(t *testing.T) { testDeleteGroups(t, c) })
	t.Run("OffsetDelete", func(t *testing.T) { testOffsetDelete(t, c) })
}

// JoinGroup v4+ without a member id is answered MEMBER_ID_REQUIRED with the id to use (clientId-UUID); v0-3
// members are added at once.
func testMemberIDRequired(t *testing.T, c *testcluster.Cluster) {
	for _, v := range []int16{3, 4, 5, 9} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			e := newProtoEnv(t, c, fmt.Sprintf("member-id-v%d", v))
			m := e.member("mid-client")
			m.joinVer = v
			first := groupCall[*kmsg.JoinGroupResponse](t, m.conn, m.joinReq())
			if !strings.HasPrefix(first.MemberID, "mid-client-") || len(first.MemberID) != len("mid-client-")+36 {
				t.Errorf("member id %q: want mid-client-<UUID>", first.MemberID)
			}
			if v < 4 {
				if first.ErrorCode != 0 || first.Generation != 1 || first.LeaderID != first.MemberID {
					t.Fatalf("v%d join: error %v generation %d leader %q member %q; want an immediate join as leader of generation 1",
						v, kerr.ErrorForCode(first.ErrorCode), first.Generation, first.LeaderID, first.MemberID)
				}
				return
			}
			checkCode(t, "first join", first.ErrorCode, kerr.MemberIDRequired)
			if first.Generation != -1 || len(first.Members) != 0 {
				t.Errorf("MEMBER_ID_REQUIRED answer carries generation %d and %d members", first.Generation, len(first.Members))
			}
			m.memberID = first.MemberID
			j := m.join()
			if j.ErrorCode != 0 || j.MemberID != first.MemberID || j.Generation != 1 || j.LeaderID != j.MemberID ||
				len(j.Members) != 1 || j.Members[0].MemberID != j.MemberID || j.Protocol == nil || *j.Protocol != "range" {
				t.Fatalf("join with the given id: %+v", j)
			}
			if s := m.sync(j); s.ErrorCode != 0 {
				t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
			}
			if _, _, parts := m.state(protoTopic); len(parts) != protoPartitions {
				t.Errorf("a lone member was assigned %v", parts)
			}
		})
	}
}

// JoinGroup's argument checks, before any group state changes.
func testJoinValidation(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "join-validation")
	established := e.member("established")
	established.joinSync()
	for _, tc := range []struct {
		name   string
		mutate func(*kmsg.JoinGroupRequest)
		want   *kerr.Error
	}{
		{"session below group.min.session.timeout.ms", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 999 }, kerr.InvalidSessionTimeout},
		{"session above group.max.session.timeout.ms", func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1800001 }, kerr.InvalidSessionTimeout},
		{"unknown member id in an unknown group", func(r *kmsg.JoinGroupRequest) { r.Group, r.MemberID = e.neighbour("no-such-group"), "ghost" }, kerr.UnknownMemberID},
		{"unknown member id in a live group", func(r *kmsg.JoinGroupRequest) { r.MemberID = "ghost" }, kerr.UnknownMemberID},
		{"other protocol type", func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }, kerr.InconsistentGroupProtocol},
		{"no common assignor", func(r *kmsg.JoinGroupRequest) { r.Protocols[0].Name = "roundrobin" }, kerr.InconsistentGroupProtocol},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := e.member("validation")
			m.joinVer = 5
			req := m.joinReq()
			tc.mutate(req)
			resp := groupCall[*kmsg.JoinGroupResponse](t, m.conn, req)
			checkCode(t, tc.name, resp.ErrorCode, tc.want)
		})
	}
	// The established member noticed nothing.
	if code := established.heartbeat(); code != 0 {
		t.Errorf("heartbeat of the established member after rejected joins: %v", kerr.ErrorForCode(code))
	}
	d := describeOne(t, e.conn, e.group)
	if d.State != "Stable" || len(d.Members) != 1 {
		t.Errorf("after rejected joins the group is %s with %d members, want Stable with 1", d.State, len(d.Members))
	}
}

// Requests naming a member the group does not have, or a generation it is not in.
func testUnknownMemberAndGeneration(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "unknown-member")
	m := e.member("known")
	m.joinSync()
	id, gen, _ := m.state(protoTopic)

	hb := func(member string, g int32) int16 {
		r := m.heartbeatReq()
		r.MemberID, r.Generation = member, g
		return groupCall[*kmsg.HeartbeatResponse](t, e.conn, r).ErrorCode
	}
	sync := func(member string, g int32) int16 {
		r := m.syncReq(nil)
		r.MemberID, r.Generation = member, g
		return groupCall[*kmsg.SyncGroupResponse](t, e.conn, r).ErrorCode
	}
	commit := func(member string, g int32) int16 {
		r := simpleCommitReq(e.group, member, g, protoTopic, map[int32]int64{0: 1})
		return commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, r))[protoTopic+"-0"]
	}
	leave := func(member string) int16 {
		r := kmsg.NewPtrLeaveGroupRequest()
		r.SetVersion(4)
		r.Group = e.group
		lm := kmsg.NewLeaveGroupRequestMember()
		lm.MemberID = member
		r.Members = append(r.Members, lm)
		resp := groupCall[*kmsg.LeaveGroupResponse](t, e.conn, r)
		if resp.ErrorCode != 0 || len(resp.Members) != 1 {
			return resp.ErrorCode
		}
		return resp.Members[0].ErrorCode
	}
	for _, tc := range []struct {
		name string
		got  func() int16
		want *kerr.Error
	}{
		{"heartbeat unknown member", func() int16 { return hb("ghost", gen) }, kerr.UnknownMemberID},
		{"sync unknown member", func() int16 { return sync("ghost", gen) }, kerr.UnknownMemberID},
		{"commit unknown member", func() int16 { return commit("ghost", gen) }, kerr.UnknownMemberID},
		{"leave unknown member", func() int16 { return leave("ghost") }, kerr.UnknownMemberID},
		{"member commit to an unknown group", func() int16 {
			r := simpleCommitReq(e.neighbour("uncommitted"), "ghost", 1, protoTopic, map[int32]int64{0: 1})
			return commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, r))[protoTopic+"-0"]
		}, kerr.IllegalGeneration},
		{"simple commit to a group with members", func() int16 { return commit("", -1) }, kerr.UnknownMemberID},
		{"heartbeat next generation", func() int16 { return hb(id, gen+1) }, kerr.IllegalGeneration},
		{"sync next generation", func() int16 { return sync(id, gen+1) }, kerr.IllegalGeneration},
		{"commit stale generation", func() int16 { return commit(id, gen-1) }, kerr.IllegalGeneration},
		{"commit next generation", func() int16 { return commit(id, gen+1) }, kerr.IllegalGeneration},
		{"commit current generation", func() int16 { return commit(id, gen) }, nil},
		{"heartbeat current generation", func() int16 { return hb(id, gen) }, nil},
		{"sync again in Stable returns the assignment", func() int16 { return sync(id, gen) }, nil},
	} {
		checkCode(t, tc.name, tc.got(), tc.want)
	}
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, e.conn, offsetFetchReq(e.group, map[string][]int32{protoTopic: {0}})))
	if off[protoTopic][0] != 1 {
		t.Errorf("committed offset of %s-0 is %d; only the commit of the current generation (offset 1) was valid", protoTopic, off[protoTopic][0])
	}
}

// A new member's join moves the group to PreparingRebalance: heartbeats answer REBALANCE_IN_PROGRESS until the
// member rejoins; between the joins and the leader's SyncGroup the group is CompletingRebalance, where commits are
// refused with REBALANCE_IN_PROGRESS.
func testRebalanceInProgress(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "rebalancing")
	a := e.member("member-a")
	a.joinSync()
	_, gen1, _ := a.state(protoTopic)

	b := e.member("member-b")
	bJoined := make(chan *kmsg.JoinGroupResponse, 1)
	go func() {
		// JoinGroup parks until a rejoins; the raw call cannot t.Fatal from here.
		bJoined <- b.join()
	}()
	waitWhy(t, 30*time.Second, "a heartbeat answered REBALANCE_IN_PROGRESS", func() (bool, string) {
		code := a.heartbeat()
		return code == kerr.RebalanceInProgress.Code, fmt.Sprintf("heartbeat: %v", kerr.ErrorForCode(code))
	})
	if d := describeOne(t, e.conn, e.group); d.State != "PreparingRebalance" {
		t.Errorf("while a new member waits: state %q, want PreparingRebalance", d.State)
	}
	checkCode(t, "SyncGroup while preparing", groupCall[*kmsg.SyncGroupResponse](t, a.conn, a.syncReq(nil)).ErrorCode, kerr.RebalanceInProgress)
	id, _, _ := a.state(protoTopic)
	checkCode(t, "commit of the old generation while preparing",
		commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, simpleCommitReq(e.group, id, gen1, protoTopic, map[int32]int64{1: 5})))[protoTopic+"-1"], nil)

	ja := a.join()
	jb := <-bJoined
	if ja.ErrorCode != 0 || jb.ErrorCode != 0 || ja.Generation != gen1+1 || jb.Generation != gen1+1 || ja.LeaderID != jb.LeaderID {
		t.Fatalf("rejoin: a %v gen %d leader %s; b %v gen %d leader %s; want both in generation %d",
			kerr.ErrorForCode(ja.ErrorCode), ja.Generation, ja.LeaderID, kerr.ErrorForCode(jb.ErrorCode), jb.Generation, jb.LeaderID, gen1+1)
	}
	if ja.LeaderID != ja.MemberID || len(ja.Members) != 2 || len(jb.Members) != 0 {
		t.Errorf("the old leader must stay leader and alone get the member list: leader %s, a %s, members a %d b %d", ja.LeaderID, ja.MemberID, len(ja.Members), len(jb.Members))
	}
	if d := describeOne(t, e.conn, e.group); d.State != "CompletingRebalance" {
		t.Errorf("after the joins: state %q, want CompletingRebalance", d.State)
	}
	checkCode(t, "commit while completing",
		commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, simpleCommitReq(e.group, id, gen1+1, protoTopic, map[int32]int64{1: 6})))[protoTopic+"-1"], kerr.RebalanceInProgress)
	checkCode(t, "heartbeat while completing", a.heartbeat(), nil)

	if s := a.sync(ja); s.ErrorCode != 0 {
		t.Fatalf("leader sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	if s := b.sync(jb); s.ErrorCode != 0 {
		t.Fatalf("follower sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	_, _, pa := a.state(protoTopic)
	_, _, pb := b.state(protoTopic)
	all := append(slices.Clone(pa), pb...)
	slices.Sort(all)
	if !slices.Equal(all, []int32{0, 1, 2, 3}) || len(pa) != 2 {
		t.Errorf("assignments after the rebalance: a %v, b %v", pa, pb)
	}
	d := describeOne(t, e.conn, e.group)
	if d.State != "Stable" || len(d.Members) != 2 {
		t.Errorf("after the syncs: state %q with %d members, want Stable with 2", d.State, len(d.Members))
	}
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, e.conn, offsetFetchReq(e.group, map[string][]int32{protoTopic: {1}})))
	if off[protoTopic][1] != 5 {
		t.Errorf("committed %s-1 = %d, want 5 (the commit while preparing)", protoTopic, off[protoTopic][1])
	}
}

// Every group API sent to a broker that does not coordinate the group is answered NOT_COORDINATOR.
func testNotCoordinator(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "wrong-broker")
	if e.other == nil {
		t.Fatal("no second broker")
	}
	m := e.member("misdirected")
	m.conn = e.other
	m.memberID, m.generation = "someone", 1
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.SetVersion(4)
	leave.Group = e.group
	lm := kmsg.NewLeaveGroupRequestMember()
	lm.MemberID = "someone"
	leave.Members = append(leave.Members, lm)
	del := kmsg.NewPtrDeleteGroupsRequest()
	del.SetVersion(2)
	del.Groups = []string{e.group}
	odel := kmsg.NewPtrOffsetDeleteRequest()
	odel.Group = e.group
	odt := kmsg.NewOffsetDeleteRequestTopic()
	odt.Topic = protoTopic
	odp := kmsg.NewOffsetDeleteRequestTopicPartition()
	odt.Partitions = append(odt.Partitions, odp)
	odel.Topics = append(odel.Topics, odt)
	for _, tc := range []struct {
		name string
		req  kmsg.Request
		code func(kmsg.Response) int16
	}{
		{"JoinGroup", m.joinReq(), func(r kmsg.Response) int16 { return r.(*kmsg.JoinGroupResponse).ErrorCode }},
		{"SyncGroup", m.syncReq(nil), func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode }},
		{"Heartbeat", m.heartbeatReq(), func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode }},
		{"LeaveGroup", leave, func(r kmsg.Response) int16 { return r.(*kmsg.LeaveGroupResponse).ErrorCode }},
		{"OffsetCommit", simpleCommitReq(e.group, "", -1, protoTopic, map[int32]int64{0: 1}), func(r kmsg.Response) int16 {
			return commitCodes(r.(*kmsg.OffsetCommitResponse))[protoTopic+"-0"]
		}},
		{"OffsetFetch", offsetFetchReq(e.group, nil), func(r kmsg.Response) int16 { return r.(*kmsg.OffsetFetchResponse).ErrorCode }},
		{"DescribeGroups", describeReq(e.group), func(r kmsg.Response) int16 { return r.(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode }},
		{"DeleteGroups", del, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode }},
		{"OffsetDelete", odel, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode }},
	} {
		resp := groupCall[kmsg.Response](t, e.other, tc.req)
		checkCode(t, tc.name+" to a non-coordinator", tc.code(resp), kerr.NotCoordinator)
	}
}

// DescribeGroups and ListGroups name Kafka's states; an unknown group is described as Dead without an error.
func testStatesAndListing(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "states")
	if d := describeOne(t, e.conn, e.neighbour("never-seen-group")); d.ErrorCode != 0 || d.State != "Dead" || len(d.Members) != 0 {
		t.Errorf("unknown group: error %v state %q members %d; want Dead, no error", kerr.ErrorForCode(d.ErrorCode), d.State, len(d.Members))
	}
	m := e.member("describer")
	j := m.join()
	if j.ErrorCode != 0 {
		t.Fatalf("join: %v", kerr.ErrorForCode(j.ErrorCode))
	}
	if d := describeOne(t, e.conn, e.group); d.State != "CompletingRebalance" {
		t.Errorf("joined, not synced: state %q, want CompletingRebalance", d.State)
	}
	if s := m.sync(j); s.ErrorCode != 0 {
		t.Fatalf("sync: %v", kerr.ErrorForCode(s.ErrorCode))
	}
	d := describeOne(t, e.conn, e.group)
	if d.ErrorCode != 0 || d.State != "Stable" || d.ProtocolType != "consumer" || d.Protocol != "range" || len(d.Members) != 1 {
		t.Fatalf("stable group described as %+v", d)
	}
	dm := d.Members[0]
	var assigned kmsg.ConsumerMemberAssignment
	if err := assigned.ReadFrom(dm.MemberAssignment); err != nil || len(assigned.Topics) != 1 || len(assigned.Topics[0].Partitions) != protoPartitions {
		t.Errorf("described assignment %x (%v): want all %d partitions of %s", dm.MemberAssignment, err, protoPartitions, protoTopic)
	}
	var meta kmsg.ConsumerMemberMetadata
	if err := meta.ReadFrom(dm.ProtocolMetadata); err != nil || !slices.Equal(meta.Topics, []string{protoTopic}) {
		t.Errorf("described metadata %x (%v): want the subscription the member sent", dm.ProtocolMetadata, err)
	}
	if dm.MemberID != j.MemberID || dm.ClientID != "describer" || dm.ClientHost != "/127.0.0.1" {
		t.Errorf("member described as id %q client %q host %q", dm.MemberID, dm.ClientID, dm.ClientHost)
	}

	list := func(conn *network.Client, states ...string) map[string]kmsg.ListGroupsResponseGroup {
		req := kmsg.NewPtrListGroupsRequest()
		req.SetVersion(4)
		req.StatesFilter = states
		resp := groupCall[*kmsg.ListGroupsResponse](t, conn, req)
		if resp.ErrorCode != 0 {
			t.Fatalf("ListGroups: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		out := map[string]kmsg.ListGroupsResponseGroup{}
		for _, g := range resp.Groups {
			out[g.Group] = g
		}
		return out
	}
	if g, ok := list(e.conn)[e.group]; !ok || g.ProtocolType != "consumer" || g.GroupState != "Stable" {
		t.Errorf("ListGroups on the coordinator: %+v (listed %v)", g, ok)
	}
	if _, ok := list(e.conn, "Stable")[e.group]; !ok {
		t.Errorf("ListGroups filtered by Stable misses the group")
	}
	if _, ok := list(e.conn, "Empty")[e.group]; ok {
		t.Errorf("ListGroups filtered by Empty lists a Stable group")
	}
	if _, ok := list(e.other)[e.group]; ok {
		t.Errorf("a broker that does not coordinate the group lists it")
	}

	checkCode(t, "leave", m.leave(), nil)
	d = describeOne(t, e.conn, e.group)
	if d.State != "Empty" || len(d.Members) != 0 {
		t.Errorf("after the last member left: state %q with %d members, want Empty", d.State, len(d.Members))
	}
	if g, ok := list(e.conn, "Empty")[e.group]; !ok || g.GroupState != "Empty" {
		t.Errorf("ListGroups filtered by Empty: %+v (listed %v)", g, ok)
	}
}

// DeleteGroups refuses a group with members (NON_EMPTY_GROUP), deletes it and its offsets once Empty, and then
// knows it no more (GROUP_ID_NOT_FOUND).
func testDeleteGroups(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "deletable")
	m := e.member("doomed")
	m.joinSync()
	id, gen, _ := m.state(protoTopic)
	if code := commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, simpleCommitReq(e.group, id, gen, protoTopic, map[int32]int64{2: 42})))[protoTopic+"-2"]; code != 0 {
		t.Fatalf("commit: %v", kerr.ErrorForCode(code))
	}
	del := func() int16 {
		req := kmsg.NewPtrDeleteGroupsRequest()
		req.SetVersion(2)
		req.Groups = []string{e.group}
		resp := groupCall[*kmsg.DeleteGroupsResponse](t, e.conn, req)
		if len(resp.Groups) != 1 || resp.Groups[0].Group != e.group {
			t.Fatalf("DeleteGroups answered %+v", resp.Groups)
		}
		return resp.Groups[0].ErrorCode
	}
	checkCode(t, "delete a group with a member", del(), kerr.NonEmptyGroup)
	checkCode(t, "leave", m.leave(), nil)
	checkCode(t, "delete the empty group", del(), nil)
	if d := describeOne(t, e.conn, e.group); d.State != "Dead" {
		t.Errorf("deleted group described as %q, want Dead", d.State)
	}
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, e.conn, offsetFetchReq(e.group, map[string][]int32{protoTopic: {2}})))
	if off[protoTopic][2] != -1 {
		t.Errorf("a deleted group still has offset %d for %s-2", off[protoTopic][2], protoTopic)
	}
	checkCode(t, "delete again", del(), kerr.GroupIDNotFound)
}

// OffsetDelete removes committed offsets of an Empty group, and refuses topics a Stable consumer group is
// subscribed to (GROUP_SUBSCRIBED_TO_TOPIC).
func testOffsetDelete(t *testing.T, c *testcluster.Cluster) {
	e := newProtoEnv(t, c, "offset-delete")
	offDel := func(group string, parts ...int32) *kmsg.OffsetDeleteResponse {
		req := kmsg.NewPtrOffsetDeleteRequest()
		req.Group = group
		rt := kmsg.NewOffsetDeleteRequestTopic()
		rt.Topic = protoTopic
		for _, p := range parts {
			rp := kmsg.NewOffsetDeleteRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return groupCall[*kmsg.OffsetDeleteResponse](t, e.conn, req)
	}
	partCode := func(r *kmsg.OffsetDeleteResponse, p int32) int16 {
		for _, rt := range r.Topics {
			for _, rp := range rt.Partitions {
				if rt.Topic == protoTopic && rp.Partition == p {
					return rp.ErrorCode
				}
			}
		}
		t.Fatalf("OffsetDelete answer has no %s-%d: %+v", protoTopic, p, r)
		return -1
	}
	checkCode(t, "unknown group", offDel(e.neighbour("no-offsets-here"), 0).ErrorCode, kerr.GroupIDNotFound)

	codes := commitCodes(groupCall[*kmsg.OffsetCommitResponse](t, e.conn, simpleCommitReq(e.group, "", -1, protoTopic, map[int32]int64{0: 10, 1: 11})))
	if codes[protoTopic+"-0"] != 0 || codes[protoTopic+"-1"] != 0 {
		t.Fatalf("simple commits to a new group: %v", codes)
	}
	r := offDel(e.group, 0)
	checkCode(t, "delete from an Empty group", r.ErrorCode, nil)
	checkCode(t, "partition 0", partCode(r, 0), nil)
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, e.conn, offsetFetchReq(e.group, map[string][]int32{protoTopic: {0, 1}})))
	if off[protoTopic][0] != -1 || off[protoTopic][1] != 11 {
		t.Errorf("after deleting %s-0: offsets %v, want 0 → -1 and 1 → 11", protoTopic, off[protoTopic])
	}

	m := e.member("subscriber")
	m.joinSync()
	r = offDel(e.group, 1)
	checkCode(t, "delete from a Stable group", r.ErrorCode, nil)
	checkCode(t, "partition of a subscribed topic", partCode(r, 1), kerr.GroupSubscribedToTopic)
	off = committed(t, groupCall[*kmsg.OffsetFetchResponse](t, e.conn, offsetFetchReq(e.group, map[string][]int32{protoTopic: {1}})))
	if off[protoTopic][1] != 11 {
		t.Errorf("a refused OffsetDelete changed %s-1 to %d", protoTopic, off[protoTopic][1])
	}
}
