package coordinator

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type txnCommitSpec struct {
	version    int16
	group      string
	pid        int64
	epoch      int16
	generation int32
	memberID   string
	offsets    map[topicPartition]int64
}

func txnCommitReq(s txnCommitSpec) *kmsg.TxnOffsetCommitRequest {
	r := kmsg.NewPtrTxnOffsetCommitRequest()
	r.Version = s.version
	r.TransactionalID = "txn"
	r.Group = s.group
	r.ProducerID, r.ProducerEpoch = s.pid, s.epoch
	r.Generation, r.MemberID = s.generation, s.memberID
	var tps []topicPartition
	for tp := range s.offsets {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	for _, tp := range tps {
		n := len(r.Topics)
		if n == 0 || r.Topics[n-1].Topic != tp.topic {
			rt := kmsg.NewTxnOffsetCommitRequestTopic()
			rt.Topic = tp.topic
			r.Topics = append(r.Topics, rt)
			n++
		}
		p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, s.offsets[tp]
		r.Topics[n-1].Partitions = append(r.Topics[n-1].Partitions, p)
	}
	return r
}

func (c *Coordinator) txnCommit(t *testing.T, s txnCommitSpec) map[topicPartition]int16 {
	t.Helper()
	ch := make(chan *kmsg.TxnOffsetCommitResponse, 1)
	c.TxnOffsetCommit(txnCommitReq(s), func(resp *kmsg.TxnOffsetCommitResponse) { ch <- resp })
	resp := recv(t, ch)
	out := map[topicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[topicPartition{rt.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

// fetchStable is OffsetFetch v7 with requireStable.
func fetchStable(t *testing.T, c *Coordinator, group string, tp topicPartition) kmsg.OffsetFetchResponseTopicPartition {
	t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 7
	r.Group = group
	r.RequireStable = true
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = tp.topic, []int32{tp.partition}
	r.Topics = []kmsg.OffsetFetchRequestTopic{rt}
	resp := c.OffsetFetch(r)
	if resp.ErrorCode != 0 || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// TestTxnOffsetCommitPendingUntilMarker: transactional offsets are invisible (UNSTABLE_OFFSET_COMMIT with
// requireStable) until the COMMIT marker, and dropped by an ABORT.
func TestTxnOffsetCommitPendingUntilMarker(t *testing.T) {
	for _, commit := range []bool{true, false} {
		t.Run(resultName(commit), func(t *testing.T) {
			fl := newFakeLog()
			c := startCoordinator(t, testConfig(), fl)
			t0 := topicPartition{"t", 0}
			res := c.txnCommit(t, txnCommitSpec{version: 3, group: "g", pid: 42, epoch: 3, generation: -1, offsets: map[topicPartition]int64{t0: 17}})
			if res[t0] != 0 {
				t.Fatalf("commit: %s", errName(res[t0]))
			}
			fl.mu.Lock()
			apps := append([]txnAppend(nil), fl.txnAppends...)
			fl.mu.Unlock()
			if len(apps) != 1 || apps[0].pid != 42 || apps[0].epoch != 3 || apps[0].p != 0 || len(apps[0].records) != 1 {
				t.Fatalf("transactional appends %+v", apps)
			}
			if om, err := readOffsetValue(apps[0].records[0].Value); err != nil || om.offset != 17 {
				t.Fatalf("record %+v %v", om, err)
			}
			if p := fetchStable(t, c, "g", t0); p.ErrorCode != kerr.UnstableOffsetCommit.Code || p.Offset != -1 {
				t.Fatalf("requireStable while pending: %+v", p)
			}
			if p := fetchOne(t, c, "g", "t", 0); p.ErrorCode != 0 || p.Offset != -1 {
				t.Fatalf("fetch while pending: %+v", p)
			}
			// A marker of another producer changes nothing.
			c.OnTxnCompleted(43, []int32{0}, true)
			if p := fetchStable(t, c, "g", t0); p.ErrorCode != kerr.UnstableOffsetCommit.Code {
				t.Fatalf("after another producer's marker: %+v", p)
			}
			c.OnTxnCompleted(42, []int32{0}, commit)
			want := int64(-1)
			if commit {
				want = 17
			}
			if p := fetchStable(t, c, "g", t0); p.ErrorCode != 0 || p.Offset != want {
				t.Fatalf("after %s: %+v, want offset %d", resultName(commit), p, want)
			}
		})
	}
}

func TestTxnOffsetCommitAppendFailure(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	t0 := topicPartition{"t", 0}
	fl.setErr(kerr.NotEnoughReplicas)
	res := c.txnCommit(t, txnCommitSpec{version: 3, group: "g", pid: 42, generation: -1, offsets: map[topicPartition]int64{t0: 5}})
	if res[t0] != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("commit: %s", errName(res[t0]))
	}
	if p := fetchStable(t, c, "g", t0); p.ErrorCode != 0 || p.Offset != -1 {
		t.Fatalf("failed commit left pending offsets: %+v", p)
	}
	c.OnTxnCompleted(42, []int32{0}, true)
	if p := fetchOne(t, c, "g", "t", 0); p.Offset != -1 {
		t.Fatalf("failed commit materialized: %+v", p)
	}
}

func TestTxnOffsetCommitValidation(t *testing.T) {
	fl := newFakeLog()
	c := startCoordinator(t, testConfig(), fl)
	memberID, gen := stableGroup(t, c, joinSpec{group: "g"})
	t0 := topicPartition{"t", 0}
	one := map[topicPartition]int64{t0: 1}
	tests := []struct {
		name string
		spec txnCommitSpec
		want map[topicPartition]int16
	}{
		{"member", txnCommitSpec{version: 3, group: "g", generation: gen, memberID: memberID, offsets: one}, map[topicPartition]int16{t0: 0}},
		{"wrong generation", txnCommitSpec{version: 3, group: "g", generation: gen + 1, memberID: memberID, offsets: one}, map[topicPartition]int16{t0: kerr.IllegalGeneration.Code}},
		{"unknown member", txnCommitSpec{version: 3, group: "g", generation: gen, memberID: "nobody", offsets: one}, map[topicPartition]int16{t0: kerr.UnknownMemberID.Code}},
		// Transactional commits without member information are accepted even by a group with members.
		{"no member info", txnCommitSpec{version: 3, group: "g", generation: -1, offsets: one}, map[topicPartition]int16{t0: 0}},
		// Before v3 there is no member or generation: whatever the fields hold is ignored.
		{"v2 ignores member fields", txnCommitSpec{version: 2, group: "g", generation: gen + 5, memberID: "nobody", offsets: one}, map[topicPartition]int16{t0: 0}},
		{"empty group id", txnCommitSpec{version: 3, group: "", generation: -1, offsets: one}, map[topicPartition]int16{t0: kerr.InvalidGroupID.Code}},
		{"unknown topic", txnCommitSpec{version: 3, group: "g", generation: -1, offsets: map[topicPartition]int64{{"nope", 0}: 1, t0: 2}},
			map[topicPartition]int16{{"nope", 0}: kerr.UnknownTopicOrPartition.Code, t0: 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := c.txnCommit(t, tc.spec)
			if len(got) != len(tc.want) {
				t.Fatalf("got %v want %v", got, tc.want)
			}
			for tp, code := range tc.want {
				if got[tp] != code {
					t.Fatalf("%v: got %s want %s", tp, errName(got[tp]), errName(code))
				}
			}
		})
	}
}

func TestTxnOffsetCommitLoadInProgress(t *testing.T) {
	fl := newFakeLog()
	gate, started := make(chan struct{}), make(chan struct{})
	fl.loadGate, fl.loadStart = gate, started
	c := New(testConfig(), fl)
	c.Startup()
	t.Cleanup(c.Shutdown)
	c.OnElection(0, 1)
	<-started
	defer close(gate)
	t0 := topicPartition{"t", 0}
	for _, tc := range []struct {
		version int16
		want    int16
	}{{1, kerr.CoordinatorNotAvailable.Code}, {3, kerr.CoordinatorLoadInProgress.Code}} {
		res := c.txnCommit(t, txnCommitSpec{version: tc.version, group: "g", generation: -1, offsets: map[topicPartition]int64{t0: 1}})
		if res[t0] != tc.want {
			t.Fatalf("v%d while loading: %s, want %s", tc.version, errName(res[t0]), errName(tc.want))
		}
	}
}
