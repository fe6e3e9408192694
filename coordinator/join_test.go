package coordinator

import (
	"bytes"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestTwoMembersThenThird(t *testing.T) {
	cfg := testConfig()
	cfg.GroupInitialRebalanceDelay = 100 * time.Millisecond
	fl := newFakeLog()
	c := startCoordinator(t, cfg, fl)

	ch1 := c.joinNew(t, joinSpec{clientID: "a"})
	ch2 := c.joinNew(t, joinSpec{clientID: "b"})
	j1, j2 := recv(t, ch1), recv(t, ch2)
	for _, j := range []*kmsg.JoinGroupResponse{j1, j2} {
		if j.ErrorCode != 0 || j.Generation != 1 || *j.Protocol != "range" || *j.ProtocolType != "consumer" {
			t.Fatalf("join: %+v", j)
		}
		if j.LeaderID != j1.MemberID {
			t.Fatalf("leader %q, want the first member %q", j.LeaderID, j1.MemberID)
		}
	}
	if len(j1.Members) != 2 || len(j2.Members) != 0 {
		t.Fatalf("leader got %d members, follower %d; want 2 and 0", len(j1.Members), len(j2.Members))
	}
	if c.GroupState("g") != "CompletingRebalance" {
		t.Fatalf("state %s", c.GroupState("g"))
	}

	// The follower parks until the leader's assignment is written.
	f := c.syncAsync(syncReq("g", j2.MemberID, 1, nil))
	noRecv(t, f, 20*time.Millisecond)
	l := c.syncAsync(syncReq("g", j1.MemberID, 1, map[string][]byte{j1.MemberID: {1}, j2.MemberID: {2}}))
	s1, s2 := recv(t, l), recv(t, f)
	if s1.ErrorCode != 0 || !bytes.Equal(s1.MemberAssignment, []byte{1}) || s2.ErrorCode != 0 || !bytes.Equal(s2.MemberAssignment, []byte{2}) {
		t.Fatalf("sync: %+v %+v", s1, s2)
	}
	if *s1.Protocol != "range" {
		t.Fatalf("sync protocol %v", s1.Protocol)
	}
	if c.GroupState("g") != "Stable" {
		t.Fatalf("state %s", c.GroupState("g"))
	}
	recs := fl.allRecords(0)
	if len(recs) != 1 || !bytes.Equal(recs[0].Key, groupMetadataKey("g")) {
		t.Fatalf("appended %d records, want the group record", len(recs))
	}
	stored, err := readGroupValue("g", 0, recs[0].Value)
	if err != nil || stored.generation != 1 || len(stored.members) != 2 {
		t.Fatalf("stored group %+v %v", stored, err)
	}
	if code := c.heartbeatCode("g", j2.MemberID, 1); code != 0 {
		t.Fatalf("heartbeat %d", code)
	}

	// A third member joins: rebalance; the others learn it from their heartbeats and rejoin.
	ch3 := c.joinNew(t, joinSpec{clientID: "c"})
	if c.GroupState("g") != "PreparingRebalance" {
		t.Fatalf("state %s", c.GroupState("g"))
	}
	for _, id := range []string{j1.MemberID, j2.MemberID} {
		if code := c.heartbeatCode("g", id, 1); code != kerr.RebalanceInProgress.Code {
			t.Fatalf("heartbeat during rebalance: %d", code)
		}
	}
	noRecv(t, ch3, 20*time.Millisecond)
	r1 := c.joinAsync(joinSpec{clientID: "a", memberID: j1.MemberID})
	r2 := c.joinAsync(joinSpec{clientID: "b", memberID: j2.MemberID})
	for _, ch := range []<-chan *kmsg.JoinGroupResponse{r1, r2, ch3} {
		j := recv(t, ch)
		if j.ErrorCode != 0 || j.Generation != 2 {
			t.Fatalf("rejoin: %+v", j)
		}
		if j.MemberID == j.LeaderID && len(j.Members) != 3 {
			t.Fatalf("leader got %d members", len(j.Members))
		}
	}
	if code := c.heartbeatCode("g", j1.MemberID, 1); code != kerr.IllegalGeneration.Code {
		t.Fatalf("old generation heartbeat: %d", code)
	}
}

func TestJoinErrors(t *testing.T) {
	cfg := testConfig()
	c := startCoordinator(t, cfg, newFakeLog())
	for _, tc := range []struct {
		name string
		spec joinSpec
		want int16
	}{
		{"session timeout too small", joinSpec{sessionMs: 1}, kerr.InvalidSessionTimeout.Code},
		{"session timeout too large", joinSpec{sessionMs: 120000}, kerr.InvalidSessionTimeout.Code},
		{"unknown member of unknown group", joinSpec{group: "other", memberID: "x"}, kerr.UnknownMemberID.Code},
		{"v3 is added at once", joinSpec{version: 3, group: "v3"}, 0},
		{"v4 needs a member id", joinSpec{version: 4, group: "v4"}, kerr.MemberIDRequired.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := recv(t, c.joinAsync(tc.spec))
			if j.ErrorCode != tc.want {
				t.Fatalf("error %d, want %d", j.ErrorCode, tc.want)
			}
		})
	}
	t.Run("empty group id", func(t *testing.T) {
		r := joinReq(joinSpec{})
		r.Group = ""
		ch := make(chan *kmsg.JoinGroupResponse, 1)
		c.JoinGroup(r, Client{}, func(resp *kmsg.JoinGroupResponse) { ch <- resp })
		if j := recv(t, ch); j.ErrorCode != kerr.InvalidGroupID.Code {
			t.Fatalf("error %d", j.ErrorCode)
		}
	})
}

func TestSessionExpiryRebalances(t *testing.T) {
	cfg := testConfig()
	c := startCoordinator(t, cfg, newFakeLog())
	// Both join generation 1 with a long session; then b's session is shortened by rejoining.
	ja := recv(t, c.joinAsync(joinSpec{version: 3, clientID: "a", sessionMs: 10000}))
	sa := recv(t, c.syncAsync(syncReq("g", ja.MemberID, ja.Generation, map[string][]byte{ja.MemberID: {1}})))
	if sa.ErrorCode != 0 {
		t.Fatalf("sync %d", sa.ErrorCode)
	}
	chb := c.joinAsync(joinSpec{version: 3, clientID: "b", sessionMs: 50})
	cha := c.joinAsync(joinSpec{version: 3, clientID: "a", memberID: ja.MemberID, sessionMs: 10000})
	jb, ja2 := recv(t, chb), recv(t, cha)
	if jb.Generation != 2 || ja2.Generation != 2 {
		t.Fatalf("generations %d %d", jb.Generation, ja2.Generation)
	}
	c.syncAsync(syncReq("g", ja.MemberID, 2, map[string][]byte{ja.MemberID: {1}, jb.MemberID: {2}}))
	recv(t, c.syncAsync(syncReq("g", jb.MemberID, 2, nil)))
	// b never heartbeats: after 50ms it is removed and the group rebalances.
	waitFor(t, "rebalance after b's session expired", func() bool { return c.GroupState("g") == "PreparingRebalance" })
	if code := c.heartbeatCode("g", jb.MemberID, 2); code != kerr.UnknownMemberID.Code {
		t.Fatalf("expired member heartbeat: %d", code)
	}
	if code := c.heartbeatCode("g", ja.MemberID, 2); code != kerr.RebalanceInProgress.Code {
		t.Fatalf("survivor heartbeat: %d", code)
	}
	j := recv(t, c.joinAsync(joinSpec{version: 3, clientID: "a", memberID: ja.MemberID, sessionMs: 10000}))
	if j.Generation != 3 || len(j.Members) != 1 || j.LeaderID != ja.MemberID {
		t.Fatalf("generation 3: %+v", j)
	}
}

func TestPendingMemberExpires(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	first := recv(t, c.joinAsync(joinSpec{sessionMs: 20}))
	if first.ErrorCode != kerr.MemberIDRequired.Code {
		t.Fatalf("error %d", first.ErrorCode)
	}
	g := c.getGroup("g")
	waitFor(t, "pending member dropped", func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.pending) == 0
	})
	// A join with the expired id is now unknown.
	if j := recv(t, c.joinAsync(joinSpec{memberID: first.MemberID})); j.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("join with expired pending id: %d", j.ErrorCode)
	}
}

func TestSyncDeadlineRemovesMembers(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	ja := recv(t, c.joinAsync(joinSpec{version: 3, clientID: "a", rebalanceMs: 50}))
	if ja.ErrorCode != 0 {
		t.Fatalf("join %d", ja.ErrorCode)
	}
	// Nobody syncs: after the rebalance timeout the member is removed and the group ends up Empty.
	waitFor(t, "group emptied by the sync deadline", func() bool { return c.GroupState("g") == "Empty" })
	if code := c.heartbeatCode("g", ja.MemberID, ja.Generation); code != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat %d", code)
	}
}

func TestStaticMemberRejoin(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	inst := "i1"
	j := recv(t, c.joinAsync(joinSpec{instanceID: &inst}))
	if j.ErrorCode != 0 || j.Generation != 1 || j.LeaderID != j.MemberID {
		t.Fatalf("static join: %+v", j)
	}
	if len(j.MemberID) < 3 || j.MemberID[:3] != "i1-" {
		t.Fatalf("static member id %q should start with the instance id", j.MemberID)
	}
	recv(t, c.syncAsync(syncReq("g", j.MemberID, 1, map[string][]byte{j.MemberID: {9}})))
	before := len(fl.allRecords(0))

	// The same instance comes back with no member id: new id, same generation, no rebalance.
	j2 := recv(t, c.joinAsync(joinSpec{instanceID: &inst}))
	if j2.ErrorCode != 0 || j2.Generation != 1 || j2.MemberID == j.MemberID || !j2.SkipAssignment || len(j2.Members) != 1 {
		t.Fatalf("static rejoin: %+v", j2)
	}
	if c.GroupState("g") != "Stable" {
		t.Fatalf("state %s", c.GroupState("g"))
	}
	recs := fl.allRecords(0)
	if len(recs) != before+1 {
		t.Fatalf("%d records appended, want the group record with the new id", len(recs)-before)
	}
	stored, _ := readGroupValue("g", 0, recs[len(recs)-1].Value)
	if stored.members[0].id != j2.MemberID || !bytes.Equal(stored.members[0].assignment, []byte{9}) {
		t.Fatalf("stored member %+v", stored.members[0])
	}
	s := recv(t, c.syncAsync(func() *kmsg.SyncGroupRequest {
		r := syncReq("g", j2.MemberID, 1, nil)
		r.InstanceID = &inst
		return r
	}()))
	if s.ErrorCode != 0 || !bytes.Equal(s.MemberAssignment, []byte{9}) {
		t.Fatalf("sync after rejoin: %+v", s)
	}
	// The old id is fenced.
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version, r.Group, r.MemberID, r.Generation, r.InstanceID = 4, "g", j.MemberID, 1, &inst
	if code := c.Heartbeat(r).ErrorCode; code != kerr.FencedInstanceID.Code {
		t.Fatalf("old id heartbeat: %d", code)
	}

	// Before v9 the returning leader is told the old leader id, so it does not reassign.
	j3 := recv(t, c.joinAsync(joinSpec{version: 8, instanceID: &inst}))
	if j3.ErrorCode != 0 || j3.LeaderID != j2.MemberID || j3.MemberID == j2.MemberID || len(j3.Members) != 0 {
		t.Fatalf("v8 static rejoin: %+v", j3)
	}
}

func TestProtocolSelection(t *testing.T) {
	p := func(names ...string) []protocol {
		var ps []protocol
		for _, n := range names {
			ps = append(ps, protocol{n, nil})
		}
		return ps
	}
	for _, tc := range []struct {
		name    string
		members [][]protocol
		want    string
	}{
		{"single", [][]protocol{p("range", "roundrobin")}, "range"},
		{"majority preference", [][]protocol{p("a", "b"), p("b", "a"), p("b", "a")}, "b"},
		{"only common one counts", [][]protocol{p("x", "b"), p("b")}, "b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGroup("g", 0, 0)
			for i, ps := range tc.members {
				g.add(&member{id: string(rune('a' + i)), protocolType: "consumer", protocols: ps}, nil)
			}
			if got := g.selectProtocol(); got != tc.want {
				t.Fatalf("selected %q, want %q", got, tc.want)
			}
		})
	}
	// A tie goes to the protocol a Scala HashMap iterates first: the same answer for any member order.
	tie := func(order ...int) string {
		g := newGroup("g", 0, 0)
		pss := [][]protocol{p("range", "roundrobin"), p("roundrobin", "range")}
		for _, i := range order {
			g.add(&member{id: string(rune('a' + i)), protocolType: "consumer", protocols: pss[i]}, nil)
		}
		return g.selectProtocol()
	}
	if a, b := tie(0, 1), tie(1, 0); a != b {
		t.Fatalf("tie depends on member order: %q vs %q", a, b)
	}
}

func TestScalaHashOrder(t *testing.T) {
	// Any order of the same keys gives the same iteration order.
	a := scalaHashOrder([]string{"range", "roundrobin", "sticky", "cooperative-sticky"})
	b := scalaHashOrder([]string{"cooperative-sticky", "sticky", "roundrobin", "range"})
	if len(a) != 4 {
		t.Fatalf("lost keys: %v", a)
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("order depends on input order: %v vs %v", a, b)
		}
	}
	// Keys alone in their slot of the low 5 bits come out in slot order.
	slot := func(s string) uint32 { return uint32(scalaImprove(int32FromJava(s))) & 31 }
	for i := 1; i < len(a); i++ {
		if slot(a[i-1]) > slot(a[i]) && slot(a[i-1]) != slot(a[i]) {
			// only colliding keys may come out of slot order
			collide := false
			for _, k := range a {
				if k != a[i] && slot(k) == slot(a[i]) {
					collide = true
				}
			}
			if !collide {
				t.Fatalf("order %v not by slot", a)
			}
		}
	}
}

func TestInconsistentProtocol(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	recv(t, c.joinAsync(joinSpec{version: 3, protocols: []protocol{{"range", nil}}}))
	for _, tc := range []struct {
		name string
		spec joinSpec
	}{
		{"no common protocol", joinSpec{version: 3, protocols: []protocol{{"sticky", nil}}}},
		{"other protocol type", joinSpec{version: 3, ptype: "connect", protocols: []protocol{{"range", nil}}}},
		{"no protocols", joinSpec{version: 3, protocols: []protocol{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if j := recv(t, c.joinAsync(tc.spec)); j.ErrorCode != kerr.InconsistentGroupProtocol.Code {
				t.Fatalf("error %d", j.ErrorCode)
			}
		})
	}
}

func TestLeaveGroup(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	id, _ := stableGroup(t, c, joinSpec{})
	r := kmsg.NewPtrLeaveGroupRequest()
	r.Version, r.Group = 5, "g"
	unknown := kmsg.NewLeaveGroupRequestMember()
	unknown.MemberID = "nobody"
	known := kmsg.NewLeaveGroupRequestMember()
	known.MemberID = id
	r.Members = []kmsg.LeaveGroupRequestMember{unknown, known}
	resp := c.LeaveGroup(r)
	if resp.ErrorCode != 0 || len(resp.Members) != 2 || resp.Members[0].ErrorCode != kerr.UnknownMemberID.Code || resp.Members[1].ErrorCode != 0 {
		t.Fatalf("leave: %+v", resp)
	}
	waitFor(t, "group empty", func() bool { return c.GroupState("g") == "Empty" })

	old := kmsg.NewPtrLeaveGroupRequest()
	old.Version, old.Group, old.MemberID = 1, "g", id
	if code := c.LeaveGroup(old).ErrorCode; code != kerr.UnknownMemberID.Code {
		t.Fatalf("v1 leave of a gone member: %d", code)
	}
}

// With two tied protocols in different 5-bit slots, Kafka's maxBy keeps the first one its HashMap
// iterates: the one in the lower slot.
func TestProtocolTieGoesToLowerSlot(t *testing.T) {
	slot := func(s string) uint32 { return uint32(scalaImprove(int32FromJava(s))) & 31 }
	a, b := "range", "roundrobin"
	if slot(a) == slot(b) {
		t.Skip("same slot")
	}
	want := a
	if slot(b) < slot(a) {
		want = b
	}
	g := newGroup("g", 0, 0)
	g.add(&member{id: "m1", protocolType: "consumer", protocols: []protocol{{a, nil}, {b, nil}}}, nil)
	g.add(&member{id: "m2", protocolType: "consumer", protocols: []protocol{{b, nil}, {a, nil}}}, nil)
	if got := g.selectProtocol(); got != want {
		t.Fatalf("tie went to %q, want %q (slots %d, %d)", got, want, slot(a), slot(b))
	}
}
