package coordinator

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func offsetRec(off int64, group, topic string, p int32, value int64) LoadedRecord {
	return LoadedRecord{Offset: off, Key: offsetCommitKey(group, topicPartition{topic, p}),
		Value: offsetCommitValue(offsetAndMetadata{offset: value, leaderEpoch: -1, commitTimestamp: 1, expireTimestamp: -1})}
}

func controlBatch(off, pid int64, commit bool) Batch {
	key := make([]byte, 4)
	if commit {
		binary.BigEndian.PutUint16(key[2:], 1)
	}
	return Batch{BaseOffset: off, LastOffset: off, ProducerID: pid, Transactional: true, Control: true,
		Records: []LoadedRecord{{Offset: off, Key: key, Value: []byte{0, 0, 0, 0, 0, 0}}}}
}

func groupRec(off int64, t *testing.T, id string, sessionMs int32) LoadedRecord {
	g := newGroup(id, 0, 1000)
	g.add(&member{id: "m1", clientID: "c", clientHost: "/h", rebalanceMs: 1000, sessionMs: sessionMs, protocolType: "consumer",
		protocols: []protocol{{"range", subscription("t")}}}, nil)
	g.generation = 2
	p := "range"
	g.protocolName = &p
	g.state = stateStable
	return LoadedRecord{Offset: off, Key: groupMetadataKey(id), Value: groupMetadataValue(g, map[string][]byte{"m1": {1}})}
}

func TestLoadPartition(t *testing.T) {
	fl := newFakeLog()
	one := func(off int64, r LoadedRecord) Batch {
		return Batch{BaseOffset: off, LastOffset: off, ProducerID: -1, Records: []LoadedRecord{r}}
	}
	fl.batches[0] = []Batch{
		{BaseOffset: 0, LastOffset: 1, ProducerID: -1, Records: []LoadedRecord{offsetRec(0, "g1", "t", 0, 5), offsetRec(1, "g1", "t", 1, 6)}},
		one(2, groupRec(2, t, "g1", 60000)),
		one(3, LoadedRecord{Offset: 3, Key: offsetCommitKey("g1", topicPartition{"t", 1})}),
		{BaseOffset: 4, LastOffset: 4, ProducerID: 7, Transactional: true, Records: []LoadedRecord{offsetRec(4, "g1", "u", 0, 100)}},
		controlBatch(5, 7, true),
		{BaseOffset: 6, LastOffset: 6, ProducerID: 8, Transactional: true, Records: []LoadedRecord{offsetRec(6, "g1", "u", 1, 200)}},
		controlBatch(7, 8, false),
		{BaseOffset: 8, LastOffset: 8, ProducerID: 9, Transactional: true, Records: []LoadedRecord{offsetRec(8, "g1", "v", 0, 300)}},
		one(9, groupRec(9, t, "g2", 60000)),
		one(10, LoadedRecord{Offset: 10, Key: groupMetadataKey("g2")}),
		one(11, LoadedRecord{Offset: 11, Key: []byte{0, 7, 0, 1, 'x'}, Value: []byte{1}}),
		one(12, offsetRec(12, "s", "t", 0, 1)),
		one(13, offsetRec(13, "g1", "t", 0, 55)),
	}
	c := startCoordinator(t, testConfig(), fl)

	if s := c.GroupState("g1"); s != "Stable" {
		t.Fatalf("g1 %s", s)
	}
	if s := c.GroupState("g2"); s != "Dead" {
		t.Fatalf("tombstoned g2 %s", s)
	}
	if s := c.GroupState("s"); s != "Empty" {
		t.Fatalf("offsets-only group %s", s)
	}
	for _, tc := range []struct {
		topic string
		p     int32
		want  int64
	}{
		{"t", 0, 55}, {"t", 1, -1}, {"u", 0, 100}, {"u", 1, -1}, {"v", 0, -1},
	} {
		if p := fetchOne(t, c, "g1", tc.topic, tc.p); p.Offset != tc.want {
			t.Errorf("%s-%d: offset %d, want %d", tc.topic, tc.p, p.Offset, tc.want)
		}
	}
	stable := kmsg.NewPtrOffsetFetchRequest()
	stable.Version, stable.Group, stable.RequireStable = 7, "g1", true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = "v", []int32{0}
	stable.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	if p := c.OffsetFetch(stable).Topics[0].Partitions[0]; p.ErrorCode != kerr.UnstableOffsetCommit.Code {
		t.Fatalf("pending transactional offset with requireStable: %+v", p)
	}
	// The producer's marker arrives later: the offset materializes.
	c.OnTxnCompleted(9, []int32{0}, true)
	if p := fetchOne(t, c, "g1", "v", 0); p.Offset != 300 {
		t.Fatalf("after commit marker: %d", p.Offset)
	}

	// The loaded member heartbeats with its loaded generation.
	if code := c.heartbeatCode("g1", "m1", 2); code != 0 {
		t.Fatalf("heartbeat of loaded member: %d", code)
	}
	d := kmsg.NewPtrDescribeGroupsRequest()
	d.Version, d.Groups = 5, []string{"g1"}
	dg := c.DescribeGroups(d).Groups[0]
	if len(dg.Members) != 1 || dg.Members[0].ClientHost != "/h" || dg.Protocol != "range" || len(dg.Members[0].MemberAssignment) != 1 {
		t.Fatalf("describe loaded group: %+v", dg)
	}
}

func TestLoadedMembersMustHeartbeat(t *testing.T) {
	fl := newFakeLog()
	fl.batches[0] = []Batch{{BaseOffset: 0, LastOffset: 0, ProducerID: -1, Records: []LoadedRecord{groupRec(0, t, "g1", 30)}}}
	c := startCoordinator(t, testConfig(), fl)
	waitFor(t, "silent loaded member removed", func() bool { return c.GroupState("g1") == "Empty" })
}

func TestLoadInProgressAndResignation(t *testing.T) {
	fl := newFakeLog()
	gate, started := make(chan struct{}), make(chan struct{})
	fl.loadGate, fl.loadStart = gate, started
	cfg := testConfig()
	cfg.GroupInitialRebalanceDelay = time.Minute // joins from Empty stay parked
	c := New(cfg, fl)
	c.Startup()
	t.Cleanup(c.Shutdown)
	c.OnElection(0, 1)
	recv(t, started)

	if j := recv(t, c.joinAsync(joinSpec{})); j.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("join while loading: %d", j.ErrorCode)
	}
	if code := c.heartbeatCode("g", "m", 1); code != 0 {
		t.Fatalf("heartbeat while loading: %d (Kafka answers NONE)", code)
	}
	if s := recv(t, c.syncAsync(syncReq("g", "m", 1, nil))); s.ErrorCode != kerr.RebalanceInProgress.Code {
		t.Fatalf("sync while loading: %d", s.ErrorCode)
	}
	l := kmsg.NewPtrListGroupsRequest()
	if code := c.ListGroups(l).ErrorCode; code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("list while loading: %d", code)
	}
	close(gate)
	waitFor(t, "loaded", func() bool { return c.IsOwned(0) })

	// A parked join is answered NOT_COORDINATOR when the partition moves away.
	parked := c.joinAsync(joinSpec{version: 3, group: "h", rebalanceMs: 60000})
	noRecv(t, parked, 10*time.Millisecond)
	c.OnResignation(0, 2)
	if r := recv(t, parked); r.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("parked join after resignation: %d", r.ErrorCode)
	}
	if s := c.GroupState("h"); s != "Dead" {
		t.Fatalf("unloaded group state %s", s)
	}
	if code := c.heartbeatCode("h", "m", 1); code != kerr.NotCoordinator.Code {
		t.Fatalf("heartbeat after resignation: %d", code)
	}
	// An election older than the resignation is ignored.
	c.OnElection(0, 1)
	c.OnElection(0, 2) // the same epoch is accepted
	waitFor(t, "re-elected in epoch 2", func() bool { return c.IsOwned(0) })
	c.OnResignation(0, 3)
	c.OnElection(0, 2)
	done := make(chan struct{})
	c.enqueue(func() { close(done) })
	recv(t, done)
	if c.IsOwned(0) {
		t.Fatal("stale election (epoch 2 after resignation in 3) was applied")
	}
}
