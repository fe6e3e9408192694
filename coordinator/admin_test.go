package coordinator

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time { f.mu.Lock(); defer f.mu.Unlock(); return f.now }
func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

func tombstoned(recs []Record, key []byte) bool {
	for _, r := range recs {
		if bytes.Equal(r.Key, key) && r.Value == nil {
			return true
		}
	}
	return false
}

func TestRetention(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.Now = clock.Now
	cfg.OffsetsRetention = time.Hour
	fl := newFakeLog()
	c := startCoordinator(t, cfg, fl)

	// A consumer group that emptied, and a simple-commit group.
	id, gen := stableGroup(t, c, joinSpec{})
	c.commit(t, commitReq("g", id, gen, map[topicPartition]int64{{"t", 0}: 1}))
	c.commit(t, commitReq("s", "", -1, map[topicPartition]int64{{"t", 0}: 1}))
	leave := kmsg.NewPtrLeaveGroupRequest()
	leave.Version, leave.Group, leave.MemberID = 1, "g", id
	if code := c.LeaveGroup(leave).ErrorCode; code != 0 {
		t.Fatalf("leave %d", code)
	}
	waitFor(t, "g empty", func() bool { return c.GroupState("g") == "Empty" })

	clock.advance(59 * time.Minute)
	c.ExpireOffsetsNow()
	if p := fetchOne(t, c, "g", "t", 0); p.Offset != 1 {
		t.Fatalf("expired too early: %+v", p)
	}
	clock.advance(2 * time.Minute)
	c.ExpireOffsetsNow()
	for _, g := range []string{"g", "s"} {
		if s := c.GroupState(g); s != "Dead" {
			t.Fatalf("%s: state %s after its offsets expired", g, s)
		}
	}
	waitFor(t, "tombstones", func() bool {
		recs := fl.allRecords(0)
		return tombstoned(recs, offsetCommitKey("g", topicPartition{"t", 0})) &&
			tombstoned(recs, offsetCommitKey("s", topicPartition{"t", 0})) &&
			tombstoned(recs, groupMetadataKey("g"))
	})
	if tombstoned(fl.allRecords(0), groupMetadataKey("s")) {
		t.Fatal("group tombstone for a group that never had a generation")
	}
}

func TestRetentionStableGroupKeepsSubscribedTopics(t *testing.T) {
	clock := &fakeClock{now: time.UnixMilli(1_000_000)}
	cfg := testConfig()
	cfg.Now = clock.Now
	cfg.OffsetsRetention = time.Hour
	c := startCoordinator(t, cfg, newFakeLog())
	id, gen := stableGroup(t, c, joinSpec{sessionMs: 60000}) // subscribed to t
	c.commit(t, commitReq("g", id, gen, map[topicPartition]int64{{"t", 0}: 1, {"u", 0}: 2}))
	clock.advance(2 * time.Hour)
	c.ExpireOffsetsNow()
	if p := fetchOne(t, c, "g", "t", 0); p.Offset != 1 {
		t.Fatalf("subscribed topic's offset expired: %+v", p)
	}
	if p := fetchOne(t, c, "g", "u", 0); p.Offset != -1 {
		t.Fatalf("unsubscribed topic's offset kept: %+v", p)
	}
}

func TestDescribeListDelete(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	id, _ := stableGroup(t, c, joinSpec{group: "busy", clientID: "cl"})
	c.commit(t, commitReq("idle", "", -1, map[topicPartition]int64{{"t", 0}: 1}))

	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version, d.Groups, d.IncludeAuthorizedOperations = 5, []string{"busy", "idle", "unknown"}, true
	resp := c.DescribeGroups(d)
	busy, idle, unknown := resp.Groups[0], resp.Groups[1], resp.Groups[2]
	if busy.State != "Stable" || busy.Protocol != "range" || busy.ProtocolType != "consumer" || len(busy.Members) != 1 ||
		busy.Members[0].MemberID != id || busy.Members[0].ClientID != "cl" || busy.Members[0].ClientHost != "/127.0.0.1" ||
		!bytes.Equal(busy.Members[0].MemberAssignment, []byte{1}) || busy.AuthorizedOperations != groupAuthorizedOperations {
		t.Fatalf("busy: %+v", busy)
	}
	if idle.State != "Empty" || idle.ErrorCode != 0 || len(idle.Members) != 0 {
		t.Fatalf("idle: %+v", idle)
	}
	if unknown.State != "Dead" || unknown.ErrorCode != 0 {
		t.Fatalf("unknown: %+v", unknown)
	}
	d.IncludeAuthorizedOperations = false
	if op := c.DescribeGroups(d).Groups[0].AuthorizedOperations; op != -2147483648 {
		t.Fatalf("authorized operations not requested: %d", op)
	}

	for _, tc := range []struct {
		name    string
		version int16
		filter  []string
		want    []string
	}{
		{"all", 3, nil, []string{"busy", "idle"}},
		{"stable only", 4, []string{"Stable"}, []string{"busy"}},
		{"filter ignored before v4", 3, []string{"Stable"}, []string{"busy", "idle"}},
		{"no match", 4, []string{"Dead"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := kmsg.NewPtrListGroupsRequest()
			l.Version, l.StatesFilter = tc.version, tc.filter
			r := c.ListGroups(l)
			if r.ErrorCode != 0 || len(r.Groups) != len(tc.want) {
				t.Fatalf("list: %+v", r)
			}
			for i, g := range r.Groups {
				if g.Group != tc.want[i] {
					t.Fatalf("group %d: %q want %q", i, g.Group, tc.want[i])
				}
			}
		})
	}

	del := kmsg.NewPtrDeleteGroupsRequest()
	del.Version, del.Groups = 2, []string{"busy", "idle", "unknown", "idle"}
	ch := make(chan *kmsg.DeleteGroupsResponse, 1)
	c.DeleteGroups(del, func(r *kmsg.DeleteGroupsResponse) { ch <- r })
	dr := recv(t, ch)
	want := map[string]int16{"busy": kerr.NonEmptyGroup.Code, "idle": 0, "unknown": kerr.GroupIDNotFound.Code}
	if len(dr.Groups) != 3 {
		t.Fatalf("delete: %+v", dr)
	}
	for _, g := range dr.Groups {
		if g.ErrorCode != want[g.Group] {
			t.Fatalf("delete %s: %d want %d", g.Group, g.ErrorCode, want[g.Group])
		}
	}
	if s := c.GroupState("idle"); s != "Dead" {
		t.Fatalf("deleted group %s", s)
	}
	waitFor(t, "offset tombstone", func() bool {
		return tombstoned(fl.allRecords(0), offsetCommitKey("idle", topicPartition{"t", 0}))
	})
	c.DeleteGroups(del, func(r *kmsg.DeleteGroupsResponse) { ch <- r })
	for _, g := range recv(t, ch).Groups {
		if g.Group == "idle" && g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("second delete: %d", g.ErrorCode)
		}
	}
}

func TestOffsetDelete(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	id, gen := stableGroup(t, c, joinSpec{}) // subscribed to t
	c.commit(t, commitReq("g", id, gen, map[topicPartition]int64{{"t", 0}: 1, {"u", 0}: 2}))

	del := func(group string, tps ...topicPartition) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, tp := range tps {
			rt := kmsg.NewOffsetDeleteRequestTopic()
			rt.Topic = tp.topic
			p := kmsg.NewOffsetDeleteRequestTopicPartition()
			p.Partition = tp.partition
			rt.Partitions = append(rt.Partitions, p)
			r.Topics = append(r.Topics, rt)
		}
		ch := make(chan *kmsg.OffsetDeleteResponse, 1)
		c.OffsetDelete(r, func(resp *kmsg.OffsetDeleteResponse) { ch <- resp })
		return recv(t, ch)
	}
	resp := del("g", topicPartition{"t", 0}, topicPartition{"u", 0}, topicPartition{"nope", 0})
	if resp.ErrorCode != 0 || len(resp.Topics) != 3 ||
		resp.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code ||
		resp.Topics[1].Partitions[0].ErrorCode != 0 ||
		resp.Topics[2].Partitions[0].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("offset delete: %+v", resp)
	}
	if p := fetchOne(t, c, "g", "u", 0); p.Offset != -1 {
		t.Fatalf("deleted offset still there: %+v", p)
	}
	if p := fetchOne(t, c, "g", "t", 0); p.Offset != 1 {
		t.Fatalf("subscribed offset deleted: %+v", p)
	}
	waitFor(t, "tombstone", func() bool { return tombstoned(fl.allRecords(0), offsetCommitKey("g", topicPartition{"u", 0})) })
	if r := del("missing", topicPartition{"t", 0}); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("unknown group: %d", r.ErrorCode)
	}

	// A group with members that is not a consumer group cannot lose offsets.
	j := recv(t, c.joinAsync(joinSpec{version: 3, group: "conn", ptype: "connect"}))
	recv(t, c.syncAsync(func() *kmsg.SyncGroupRequest {
		r := syncReq("conn", j.MemberID, j.Generation, nil)
		pt := "connect"
		r.ProtocolType = &pt
		return r
	}()))
	if r := del("conn", topicPartition{"t", 0}); r.ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("non-consumer group with members: %d", r.ErrorCode)
	}
}

func TestOnTopicsDeleted(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	c.commit(t, commitReq("s", "", -1, map[topicPartition]int64{{"t", 0}: 1, {"u", 0}: 2}))
	c.OnTopicsDeleted([]string{"u"})
	if p := fetchOne(t, c, "s", "u", 0); p.Offset != -1 {
		t.Fatalf("offset of deleted topic: %+v", p)
	}
	if p := fetchOne(t, c, "s", "t", 0); p.Offset != 1 {
		t.Fatalf("other topic's offset: %+v", p)
	}
	waitFor(t, "tombstone", func() bool { return tombstoned(fl.allRecords(0), offsetCommitKey("s", topicPartition{"u", 0})) })
}
