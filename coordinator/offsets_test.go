package coordinator

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestOffsetCommitValidation(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	id, gen := stableGroup(t, c, joinSpec{})
	tp := topicPartition{"t", 0}
	one := map[topicPartition]int64{tp: 5}
	long := make([]byte, 4097)
	for i := range long {
		long[i] = 'x'
	}

	for _, tc := range []struct {
		name    string
		req     func() *kmsg.OffsetCommitRequest
		failErr error
		want    map[topicPartition]int16
	}{
		{"member commit", func() *kmsg.OffsetCommitRequest { return commitReq("g", id, gen, one) }, nil,
			map[topicPartition]int16{tp: 0}},
		{"illegal generation", func() *kmsg.OffsetCommitRequest { return commitReq("g", id, gen+1, one) }, nil,
			map[topicPartition]int16{tp: kerr.IllegalGeneration.Code}},
		{"unknown member", func() *kmsg.OffsetCommitRequest { return commitReq("g", "nobody", gen, one) }, nil,
			map[topicPartition]int16{tp: kerr.UnknownMemberID.Code}},
		{"non-member commit to a group with members", func() *kmsg.OffsetCommitRequest { return commitReq("g", "", -1, one) }, nil,
			map[topicPartition]int16{tp: kerr.UnknownMemberID.Code}},
		{"simple commit creates an empty group", func() *kmsg.OffsetCommitRequest { return commitReq("simple", "", -1, one) }, nil,
			map[topicPartition]int16{tp: 0}},
		{"generation of a group that does not exist", func() *kmsg.OffsetCommitRequest { return commitReq("gone", "m", 3, one) }, nil,
			map[topicPartition]int16{tp: kerr.IllegalGeneration.Code}},
		{"metadata too large", func() *kmsg.OffsetCommitRequest {
			r := commitReq("simple", "", -1, map[topicPartition]int64{tp: 1, {"t", 1}: 2})
			s := string(long)
			r.Topics[0].Partitions[0].Metadata = &s
			return r
		}, nil, map[topicPartition]int16{tp: kerr.OffsetMetadataTooLarge.Code, {"t", 1}: 0}},
		{"unknown topic", func() *kmsg.OffsetCommitRequest {
			return commitReq("simple", "", -1, map[topicPartition]int64{{"nope", 0}: 1, tp: 1})
		}, nil, map[topicPartition]int16{{"nope", 0}: kerr.UnknownTopicOrPartition.Code, tp: 0}},
		{"not enough replicas", func() *kmsg.OffsetCommitRequest { return commitReq("simple", "", -1, one) }, kerr.NotEnoughReplicas,
			map[topicPartition]int16{tp: kerr.CoordinatorNotAvailable.Code}},
		{"not leader", func() *kmsg.OffsetCommitRequest { return commitReq("simple", "", -1, one) }, kerr.NotLeaderForPartition,
			map[topicPartition]int16{tp: kerr.NotCoordinator.Code}},
		{"too large batch", func() *kmsg.OffsetCommitRequest { return commitReq("simple", "", -1, one) }, kerr.MessageTooLarge,
			map[topicPartition]int16{tp: kerr.InvalidCommitOffsetSize.Code}},
		{"timeout passes through", func() *kmsg.OffsetCommitRequest { return commitReq("simple", "", -1, one) }, kerr.RequestTimedOut,
			map[topicPartition]int16{tp: kerr.RequestTimedOut.Code}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fl.setErr(tc.failErr)
			defer fl.setErr(nil)
			got := c.commit(t, tc.req())
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Fatalf("%v: got %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
	if s := c.GroupState("simple"); s != "Empty" {
		t.Fatalf("simple-commit group state %s", s)
	}
}

func TestOffsetCommitDuringRebalanceStates(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	ja := recv(t, c.joinAsync(joinSpec{version: 3}))
	// CompletingRebalance: the member has its generation but no assignment yet.
	got := c.commit(t, commitReq("g", ja.MemberID, ja.Generation, map[topicPartition]int64{{"t", 0}: 1}))
	if got[topicPartition{"t", 0}] != kerr.RebalanceInProgress.Code {
		t.Fatalf("commit while completing rebalance: %v", got)
	}
}

func TestOffsetVisibleOnlyAfterAppend(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	fl.setErr(kerr.NotEnoughReplicas)
	c.commit(t, commitReq("s", "", -1, map[topicPartition]int64{{"t", 0}: 7}))
	fl.setErr(nil)
	if p := fetchOne(t, c, "s", "t", 0); p.Offset != -1 {
		t.Fatalf("failed commit visible: %+v", p)
	}
	c.commit(t, commitReq("s", "", -1, map[topicPartition]int64{{"t", 0}: 8}))
	if p := fetchOne(t, c, "s", "t", 0); p.Offset != 8 {
		t.Fatalf("offset %d, want 8", p.Offset)
	}
	recs := fl.allRecords(0)
	om, err := readOffsetValue(recs[len(recs)-1].Value)
	if err != nil || om.offset != 8 || om.expireTimestamp != -1 {
		t.Fatalf("stored %+v %v", om, err)
	}
}

func fetchOne(t *testing.T, c *Coordinator, group, topic string, p int32) kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 5
	r.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{p}
	r.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	resp := c.OffsetFetch(r)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func TestOffsetFetch(t *testing.T) {
	c := startCoordinator(t, testConfig(), newFakeLog())
	c.commit(t, commitReq("g1", "", -1, map[topicPartition]int64{{"u", 1}: 11, {"t", 0}: 10, {"t", 2}: 12}))

	all := kmsg.NewPtrOffsetFetchRequest()
	all.Version, all.Group = 7, "g1"
	resp := c.OffsetFetch(all)
	if resp.ErrorCode != 0 || len(resp.Topics) != 2 || resp.Topics[0].Topic != "t" || len(resp.Topics[0].Partitions) != 2 ||
		resp.Topics[1].Partitions[0].Offset != 11 {
		t.Fatalf("all partitions: %+v", resp)
	}

	if p := fetchOne(t, c, "g1", "t", 2); p.Offset != 12 || p.LeaderEpoch != -1 || *p.Metadata != "" {
		t.Fatalf("one partition: %+v", p)
	}
	if p := fetchOne(t, c, "g1", "t", 5); p.Offset != -1 || p.ErrorCode != 0 {
		t.Fatalf("uncommitted partition: %+v", p)
	}
	if p := fetchOne(t, c, "nogroup", "t", 0); p.Offset != -1 || p.ErrorCode != 0 {
		t.Fatalf("unknown group: %+v", p)
	}

	v8 := kmsg.NewPtrOffsetFetchRequest()
	v8.Version = 8
	g1 := kmsg.NewOffsetFetchRequestGroup()
	g1.Group = "g1"
	g2 := kmsg.NewOffsetFetchRequestGroup()
	g2.Group = "g2"
	gt := kmsg.NewOffsetFetchRequestGroupTopic()
	gt.Topic, gt.Partitions = "t", []int32{0}
	g2.Topics = []kmsg.OffsetFetchRequestGroupTopic{gt}
	v8.Groups = []kmsg.OffsetFetchRequestGroup{g1, g2}
	r8 := c.OffsetFetch(v8)
	if len(r8.Groups) != 2 || r8.Groups[0].Group != "g1" || len(r8.Groups[0].Topics) != 2 ||
		r8.Groups[1].Group != "g2" || r8.Groups[1].Topics[0].Partitions[0].Offset != -1 || len(r8.Topics) != 0 {
		t.Fatalf("v8: %+v", r8)
	}

	// Errors: v2+ top level, v1 per partition.
	c.OnResignation(0, 2)
	waitFor(t, "unloaded", func() bool { return !c.IsOwned(0) })
	resp = c.OffsetFetch(all)
	if resp.ErrorCode != kerr.NotCoordinator.Code || len(resp.Topics) != 0 {
		t.Fatalf("v7 error: %+v", resp)
	}
	v1 := kmsg.NewPtrOffsetFetchRequest()
	v1.Version, v1.Group = 1, "g1"
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "t", []int32{0, 1}
	v1.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	r1 := c.OffsetFetch(v1)
	if len(r1.Topics) != 1 || len(r1.Topics[0].Partitions) != 2 || r1.Topics[0].Partitions[1].ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("v1 error: %+v", r1)
	}
}

func TestOffsetCommitRetentionTimeWritesV1(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	r := commitReq("s", "", -1, map[topicPartition]int64{{"t", 0}: 3})
	r.Version = 2
	r.RetentionTimeMillis = 60000
	c.commit(t, r)
	recs := fl.allRecords(0)
	v := recs[len(recs)-1].Value
	if v[1] != 1 {
		t.Fatalf("value version %d, want 1", v[1])
	}
	om, _ := readOffsetValue(v)
	if om.expireTimestamp-om.commitTimestamp != 60000 {
		t.Fatalf("expire %d commit %d", om.expireTimestamp, om.commitTimestamp)
	}
}
