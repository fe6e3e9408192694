package coordinator

import (
	"encoding/hex"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// goldenPrepareCommit is TransactionLog.valueToBytes of PrepareCommit for producer 1000 epoch 0, timeout
// 60000, partitions t-0 and t-1, last update 1700000001000, start 1700000000000.
const goldenPrepareCommit = "0000" + "00000000000003e8" + "0000" + "0000ea60" + "02" +
	"00000001" + "000174" + "00000002" + "00000000" + "00000001" +
	"0000018bcfe56be8" + "0000018bcfe56800"

func TestTxnRecords(t *testing.T) {
	if got := hex.EncodeToString(txnRecordKey("txn-1")); got != "0000000574786e2d31" {
		t.Fatalf("key = %s", got)
	}
	base := txnTransit{producerID: 1000, producerEpoch: 0, timeoutMs: 60000, lastUpdateTimestamp: 1700000001000, startTimestamp: 1700000000000}
	tests := []struct {
		name  string
		state txnState
		parts []TopicPartition
		want  string
	}{
		{"prepare commit", txnPrepareCommit, []TopicPartition{tp("t", 0), tp("t", 1)}, goldenPrepareCommit},
		// Empty: partitions null.
		{"empty", txnEmpty, nil, "0000" + "00000000000003e8" + "0000" + "0000ea60" + "00" + "ffffffff" + "0000018bcfe56be8" + "0000018bcfe56800"},
		// A completed transaction has an empty, non-null list.
		{"complete abort", txnCompleteAbort, []TopicPartition{}, "0000" + "00000000000003e8" + "0000" + "0000ea60" + "05" + "00000000" + "0000018bcfe56be8" + "0000018bcfe56800"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := base
			tr.state, tr.partitions = tc.state, tc.parts
			b := txnRecordValue(tr)
			if got := hex.EncodeToString(b); got != tc.want {
				t.Fatalf("value\n got %s\nwant %s", got, tc.want)
			}
			m, err := readTxnValue("txn-1", b)
			if err != nil {
				t.Fatal(err)
			}
			if m.state != tc.state || m.producerID != 1000 || m.timeoutMs != 60000 || m.startTimestamp != 1700000000000 ||
				m.lastUpdateTimestamp != 1700000001000 || len(m.partitions) != len(tc.parts) || m.lastProducerEpoch != -1 {
				t.Fatalf("read back %+v", m)
			}
		})
	}
}

func TestTxnInitNullTransactionalID(t *testing.T) {
	c, _, _ := newTxnTest(t)
	for i, want := range []int64{1000, 1001} {
		resp := c.initPID(t, initReq(4, nil, 0))
		if resp.ErrorCode != 0 || resp.ProducerID != want || resp.ProducerEpoch != 0 {
			t.Fatalf("init %d: %+v", i, resp)
		}
	}
	// v3+: a producer id without epoch is invalid.
	r := initReq(4, nil, 0)
	r.ProducerID = 5
	if resp := c.initPID(t, r); resp.ErrorCode != kerr.InvalidRequest.Code || resp.ProducerID != -1 {
		t.Fatalf("half a producer id: %+v", resp)
	}
}

// TestTxnCommitFlow: Empty, Ongoing, PrepareCommit (the golden value), the markers, CompleteCommit, in this
// order; a retried commit then answers NONE and an abort INVALID_TXN_STATE.
func TestTxnCommitFlow(t *testing.T) {
	c, f, clk := newTxnTest(t)
	pid, epoch := c.mustInit(t, "txn-1")
	if pid != 1000 || epoch != 0 {
		t.Fatalf("init: pid %d epoch %d", pid, epoch)
	}
	c.mustAdd(t, "txn-1", pid, epoch, tp("t", 0), tp("t", 1))
	// Adding partitions already in the transaction writes nothing.
	if code := c.addCode(t, 3, "txn-1", pid, epoch, tp("t", 1)); code != 0 {
		t.Fatalf("add again: %s", errName(code))
	}
	if got := c.stateOf("txn-1"); got != "Ongoing" {
		t.Fatalf("state %s", got)
	}
	clk.advance(time.Second)
	c.mustCommit(t, "txn-1", pid, epoch)
	waitFor(t, "CompleteCommit", func() bool { return c.stateOf("txn-1") == "CompleteCommit" })

	want := []string{
		"append txn-1 Empty pid=1000 epoch=0 []",
		"append txn-1 Ongoing pid=1000 epoch=0 [{t 0} {t 1}]",
		"append txn-1 PrepareCommit pid=1000 epoch=0 [{t 0} {t 1}]",
		"markers COMMIT pid=1000 epoch=0 coordEpoch=7 [{t 0} {t 1}]",
		"append txn-1 CompleteCommit pid=1000 epoch=0 []",
	}
	if got := f.eventList(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	recs := f.records(0)
	if got := hex.EncodeToString(recs[2].Value); got != goldenPrepareCommit {
		t.Fatalf("PrepareCommit value\n got %s\nwant %s", got, goldenPrepareCommit)
	}
	if got := hex.EncodeToString(recs[2].Key); got != "0000000574786e2d31" {
		t.Fatalf("key %s", got)
	}

	if code := c.endTxn(t, 3, "txn-1", pid, epoch, true); code != 0 {
		t.Fatalf("retried commit: %s", errName(code))
	}
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, false); code != kerr.InvalidTxnState.Code {
		t.Fatalf("abort after commit: %s", errName(code))
	}
	if n := len(f.eventList()); n != len(want) {
		t.Fatalf("retries wrote %d more events", n-len(want))
	}
}

func TestTxnAbortFlowWithOffsets(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, epoch := c.mustInit(t, "txn-1")
	c.mustAdd(t, "txn-1", pid, epoch, tp("u", 3))
	if code := c.addOffsets(t, 3, "txn-1", pid, epoch, "group"); code != 0 {
		t.Fatalf("add offsets: %s", errName(code))
	}
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, false); code != 0 {
		t.Fatalf("abort: %s", errName(code))
	}
	waitFor(t, "CompleteAbort", func() bool { return c.stateOf("txn-1") == "CompleteAbort" })
	ms := f.markerList()
	want := TxnMarker{ProducerID: pid, ProducerEpoch: epoch, Commit: false, CoordinatorEpoch: 7,
		Partitions: []TopicPartition{tp(OffsetsTopic, 2), tp("u", 3)}}
	if len(ms) != 1 || !reflect.DeepEqual(ms[0], want) {
		t.Fatalf("markers %+v, want %+v", ms, want)
	}
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, false); code != 0 {
		t.Fatalf("retried abort: %s", errName(code))
	}
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, true); code != kerr.InvalidTxnState.Code {
		t.Fatalf("commit after abort: %s", errName(code))
	}
	// The next transaction starts from CompleteAbort.
	if code := c.addCode(t, 3, "txn-1", pid, epoch, tp("t", 0)); code != 0 {
		t.Fatalf("add after abort: %s", errName(code))
	}
}

// TestTxnFenceOngoing: a new InitProducerId during an open transaction aborts it with a bumped epoch and
// answers CONCURRENT_TRANSACTIONS; the retry bumps again, and the old producer is fenced.
func TestTxnFenceOngoing(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, epoch := c.mustInit(t, "txn-1")
	c.mustAdd(t, "txn-1", pid, epoch, tp("t", 0))
	if resp := c.initPID(t, initReq(4, strp("txn-1"), 60000)); resp.ErrorCode != kerr.ConcurrentTransactions.Code {
		t.Fatalf("init during txn: %+v", resp)
	}
	waitFor(t, "CompleteAbort", func() bool { return c.stateOf("txn-1") == "CompleteAbort" })
	ms := f.markerList()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != epoch+1 || ms[0].ProducerID != pid {
		t.Fatalf("markers %+v, want an abort with epoch %d", ms, epoch+1)
	}
	resp := c.initPID(t, initReq(4, strp("txn-1"), 60000))
	if resp.ErrorCode != 0 || resp.ProducerID != pid || resp.ProducerEpoch != epoch+2 {
		t.Fatalf("retried init: %+v", resp)
	}
	for _, tc := range []struct {
		version int16
		want    int16
	}{{2, kerr.ProducerFenced.Code}, {1, kerr.InvalidProducerEpoch.Code}} {
		if code := c.endTxn(t, tc.version, "txn-1", pid, epoch, true); code != tc.want {
			t.Fatalf("EndTxn v%d of the fenced producer: %s, want %s", tc.version, errName(code), errName(tc.want))
		}
		if code := c.addCode(t, tc.version, "txn-1", pid, epoch, tp("t", 0)); code != tc.want {
			t.Fatalf("AddPartitions v%d of the fenced producer: %s, want %s", tc.version, errName(code), errName(tc.want))
		}
	}
}

func TestTxnTimeoutAbort(t *testing.T) {
	c, f, clk := newTxnTest(t)
	resp := c.initPID(t, initReq(4, strp("txn-1"), 1000))
	if resp.ErrorCode != 0 {
		t.Fatalf("init: %s", errName(resp.ErrorCode))
	}
	pid, epoch := resp.ProducerID, resp.ProducerEpoch
	c.mustAdd(t, "txn-1", pid, epoch, tp("t", 0))
	c.abortTimedOutTransactions()
	if got := c.stateOf("txn-1"); got != "Ongoing" {
		t.Fatalf("aborted before its timeout: %s", got)
	}
	clk.advance(1001 * time.Millisecond)
	c.abortTimedOutTransactions()
	waitFor(t, "CompleteAbort", func() bool { return c.stateOf("txn-1") == "CompleteAbort" })
	ms := f.markerList()
	if len(ms) != 1 || ms[0].Commit || ms[0].ProducerEpoch != epoch+1 {
		t.Fatalf("markers %+v", ms)
	}
	if d := c.describeOne("txn-1"); d.ProducerEpoch != epoch+1 {
		t.Fatalf("epoch after timeout %d", d.ProducerEpoch)
	}
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, true); code != kerr.ProducerFenced.Code {
		t.Fatalf("commit of the timed-out producer: %s", errName(code))
	}
}

// loadedBatch is a __transaction_state batch holding records (key, value) in order.
func txnBatch(base int64, recs ...Record) Batch {
	b := Batch{BaseOffset: base, LastOffset: base + int64(len(recs)) - 1, ProducerID: -1}
	for i, r := range recs {
		b.Records = append(b.Records, LoadedRecord{Offset: base + int64(i), Key: r.Key, Value: r.Value})
	}
	return b
}

func txnRec(id string, state txnState, pid int64, epoch int16, parts ...TopicPartition) Record {
	tr := txnTransit{producerID: pid, producerEpoch: epoch, timeoutMs: 60000, state: state, partitions: parts,
		startTimestamp: -1, lastUpdateTimestamp: txnTestStart.UnixMilli()}
	if state != txnEmpty {
		tr.startTimestamp = txnTestStart.UnixMilli()
	}
	return Record{Key: txnRecordKey(id), Value: txnRecordValue(tr)}
}

// TestTxnLoadResumesPrepareCommit: the latest record per id wins, tombstones delete, requests wait with
// COORDINATOR_LOAD_IN_PROGRESS, and a PrepareCommit gets its markers (coordinator epoch = leader epoch) and
// its CompleteCommit.
func TestTxnLoadResumesPrepareCommit(t *testing.T) {
	f := newTxnFake()
	f.batches[0] = []Batch{
		txnBatch(0, txnRec("a", txnEmpty, 500, 0), txnRec("gone", txnEmpty, 501, 0)),
		txnBatch(2, txnRec("a", txnOngoing, 500, 0, tp("t", 0)), Record{Key: txnRecordKey("gone")}),
		txnBatch(4, txnRec("a", txnPrepareCommit, 500, 0, tp("t", 0), tp("u", 1))),
		txnBatch(5, txnRec("b", txnOngoing, 502, 3, tp("t", 2))),
	}
	gate := make(chan struct{})
	f.loadGate = gate
	clk := &testClock{t: txnTestStart}
	c := NewTxn(TxnConfig{BrokerID: 1, TxnLogPartitions: 1, AbortTimedOutInterval: time.Hour, RemoveExpiredInterval: time.Hour, Now: clk.now}, f, f, f)
	c.Startup()
	t.Cleanup(c.Shutdown)
	c.OnElection(0, 12)

	if resp := c.initPID(t, initReq(4, strp("a"), 60000)); resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("init while loading: %+v", resp)
	}
	if code := c.endTxn(t, 3, "a", 500, 0, true); code != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("end while loading: %s", errName(code))
	}
	if d := c.describeOne("a"); d.ErrorCode != kerr.CoordinatorLoadInProgress.Code {
		t.Fatalf("describe while loading: %+v", d)
	}
	close(gate)
	waitFor(t, "a completed", func() bool { return c.stateOf("a") == "CompleteCommit" })

	want := []string{
		"markers COMMIT pid=500 epoch=0 coordEpoch=12 [{t 0} {u 1}]",
		"append a CompleteCommit pid=500 epoch=0 []",
	}
	if got := f.eventList(); !reflect.DeepEqual(got, want) {
		t.Fatalf("events\n got %q\nwant %q", got, want)
	}
	if d := c.describeOne("gone"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("tombstoned id: %+v", d)
	}
	if d := c.describeOne("b"); d.State != "Ongoing" || d.ProducerEpoch != 3 || len(d.Topics) != 1 {
		t.Fatalf("b: %+v", d)
	}
}

func TestTxnResignation(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, epoch := c.mustInit(t, "txn-1")
	c.mustAdd(t, "txn-1", pid, epoch, tp("t", 0))
	f.holdAllMarkers()
	c.mustCommit(t, "txn-1", pid, epoch)
	waitFor(t, "markers sent", func() bool { return len(f.markerList()) == 1 })
	c.OnResignation(0, 7)
	n := len(f.eventList())
	// The markers of the old coordinator epoch complete: nothing more is written.
	f.releaseMarkers()
	if code := c.endTxn(t, 3, "txn-1", pid, epoch, true); code != kerr.NotCoordinator.Code {
		t.Fatalf("after resignation: %s", errName(code))
	}
	if resp := c.initPID(t, initReq(4, strp("txn-2"), 1000)); resp.ErrorCode != kerr.NotCoordinator.Code {
		t.Fatalf("init after resignation: %+v", resp)
	}
	// A CompleteCommit would be appended from within the marker callback.
	waitFor(t, "marker callback returned", func() bool { return f.doneCount() == 1 })
	if got := f.eventList(); len(got) != n {
		t.Fatalf("wrote after resignation: %q", got[n:])
	}
}

func TestTxnErrors(t *testing.T) {
	type setup struct {
		c   *TxnCoordinator
		f   *txnFake
		pid int64
		ep  int16
	}
	// Each case starts from "txn" initialized and Ongoing on t-0.
	tests := []struct {
		name string
		run  func(t *testing.T, s setup) int16
		want int16
	}{
		{"add unknown id", func(t *testing.T, s setup) int16 { return s.c.addCode(t, 3, "other", s.pid, s.ep, tp("t", 1)) }, kerr.InvalidProducerIDMapping.Code},
		{"add other producer id", func(t *testing.T, s setup) int16 { return s.c.addCode(t, 3, "txn", s.pid+1, s.ep, tp("t", 1)) }, kerr.InvalidProducerIDMapping.Code},
		{"add old epoch", func(t *testing.T, s setup) int16 { return s.c.addCode(t, 3, "txn", s.pid, s.ep-1, tp("t", 1)) }, kerr.ProducerFenced.Code},
		{"add offsets old epoch v1", func(t *testing.T, s setup) int16 { return s.c.addOffsets(t, 1, "txn", s.pid, s.ep+1, "g") }, kerr.InvalidProducerEpoch.Code},
		{"end unknown id", func(t *testing.T, s setup) int16 { return s.c.endTxn(t, 3, "other", s.pid, s.ep, true) }, kerr.InvalidProducerIDMapping.Code},
		{"end empty id", func(t *testing.T, s setup) int16 { return s.c.endTxn(t, 3, "", s.pid, s.ep, true) }, kerr.InvalidRequest.Code},
		{"end future epoch", func(t *testing.T, s setup) int16 { return s.c.endTxn(t, 3, "txn", s.pid, s.ep+1, true) }, kerr.ProducerFenced.Code},
		{"end while prepare commit", func(t *testing.T, s setup) int16 {
			s.f.holdAllMarkers()
			defer s.f.releaseMarkers()
			if code := s.c.endTxn(t, 3, "txn", s.pid, s.ep, true); code != 0 {
				t.Fatalf("first end: %s", errName(code))
			}
			return s.c.endTxn(t, 3, "txn", s.pid, s.ep, true)
		}, kerr.ConcurrentTransactions.Code},
		{"add while prepare commit", func(t *testing.T, s setup) int16 {
			s.f.holdAllMarkers()
			defer s.f.releaseMarkers()
			if code := s.c.endTxn(t, 3, "txn", s.pid, s.ep, true); code != 0 {
				t.Fatalf("first end: %s", errName(code))
			}
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 5))
		}, kerr.ConcurrentTransactions.Code},
		{"init while prepare commit", func(t *testing.T, s setup) int16 {
			s.f.holdAllMarkers()
			defer s.f.releaseMarkers()
			if code := s.c.endTxn(t, 3, "txn", s.pid, s.ep, true); code != 0 {
				t.Fatalf("first end: %s", errName(code))
			}
			return s.c.initPID(t, initReq(4, strp("txn"), 1000)).ErrorCode
		}, kerr.ConcurrentTransactions.Code},
		{"abort while prepare commit", func(t *testing.T, s setup) int16 {
			s.f.holdAllMarkers()
			defer s.f.releaseMarkers()
			if code := s.c.endTxn(t, 3, "txn", s.pid, s.ep, true); code != 0 {
				t.Fatalf("first end: %s", errName(code))
			}
			waitFor(t, "PrepareCommit", func() bool { return s.c.stateOf("txn") == "PrepareCommit" })
			// Kafka checks the pending CompleteCommit before the state: the opposite result is only
			// INVALID_TXN_STATE once no write is in flight.
			return s.c.endTxn(t, 3, "txn", s.pid, s.ep, false)
		}, kerr.ConcurrentTransactions.Code},
		{"end on empty", func(t *testing.T, s setup) int16 {
			pid, ep := s.c.mustInit(t, "fresh")
			return s.c.endTxn(t, 3, "fresh", pid, ep, true)
		}, kerr.InvalidTxnState.Code},
		{"timeout too large", func(t *testing.T, s setup) int16 {
			return s.c.initPID(t, initReq(4, strp("x"), 15*60*1000+1)).ErrorCode
		}, kerr.InvalidTransactionTimeout.Code},
		{"timeout zero", func(t *testing.T, s setup) int16 { return s.c.initPID(t, initReq(4, strp("x"), 0)).ErrorCode }, kerr.InvalidTransactionTimeout.Code},
		{"init empty id", func(t *testing.T, s setup) int16 { return s.c.initPID(t, initReq(4, strp(""), 1000)).ErrorCode }, kerr.InvalidRequest.Code},
		{"append not enough replicas", func(t *testing.T, s setup) int16 {
			s.f.setAppendErr(kerr.NotEnoughReplicas)
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 1))
		}, kerr.CoordinatorNotAvailable.Code},
		{"append timed out", func(t *testing.T, s setup) int16 {
			s.f.setAppendErr(kerr.RequestTimedOut)
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 1))
		}, kerr.CoordinatorNotAvailable.Code},
		{"append not leader", func(t *testing.T, s setup) int16 {
			s.f.setAppendErr(kerr.NotLeaderForPartition)
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 1))
		}, kerr.NotCoordinator.Code},
		{"append too large", func(t *testing.T, s setup) int16 {
			s.f.setAppendErr(kerr.MessageTooLarge)
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 1))
		}, kerr.UnknownServerError.Code},
		{"not coordinator", func(t *testing.T, s setup) int16 {
			s.c.OnResignation(0, 7)
			return s.c.addCode(t, 3, "txn", s.pid, s.ep, tp("t", 1))
		}, kerr.NotCoordinator.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, f, _ := newTxnTest(t)
			pid, ep := c.mustInit(t, "txn")
			c.mustAdd(t, "txn", pid, ep, tp("t", 0))
			if got := tc.run(t, setup{c, f, pid, ep}); got != tc.want {
				t.Fatalf("got %s, want %s", errName(got), errName(tc.want))
			}
		})
	}
}

// TestTxnAppendErrorClearsPending: a failed write leaves the transaction as it was and the next request
// succeeds.
func TestTxnAppendErrorClearsPending(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, ep := c.mustInit(t, "txn")
	f.setAppendErr(kerr.NotEnoughReplicas)
	if code := c.addCode(t, 3, "txn", pid, ep, tp("t", 0)); code != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("add: %s", errName(code))
	}
	if got := c.stateOf("txn"); got != "Empty" {
		t.Fatalf("state after failed add %s", got)
	}
	f.setAppendErr(nil)
	if code := c.addCode(t, 3, "txn", pid, ep, tp("t", 0)); code != 0 {
		t.Fatalf("add again: %s", errName(code))
	}
}

func TestTxnAddPartitionsUnknownTopic(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, ep := c.mustInit(t, "txn")
	res := c.addParts(t, 3, "txn", pid, ep, tp("t", 0), tp("nope", 1))
	want := map[TopicPartition]int16{tp("t", 0): kerr.OperationNotAttempted.Code, tp("nope", 1): kerr.UnknownTopicOrPartition.Code}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("got %v want %v", res, want)
	}
	if got := c.stateOf("txn"); got != "Empty" {
		t.Fatalf("state %s", got)
	}
	if n := len(f.eventList()); n != 1 {
		t.Fatalf("%d events, want only the init", n)
	}
}

// TestTxnInitKIP360 covers InitProducerId with the producer's current id and epoch (v3+).
func TestTxnInitKIP360(t *testing.T) {
	c, _, _ := newTxnTest(t)
	pid, ep := c.mustInit(t, "txn")
	withExpected := func(version int16, pid int64, ep int16) *initResult {
		r := initReq(version, strp("txn"), 60000)
		r.ProducerID, r.ProducerEpoch = pid, ep
		resp := c.initPID(t, r)
		return &initResult{resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch}
	}
	// The current epoch: bumped.
	if got := withExpected(4, pid, ep); *got != (initResult{0, pid, ep + 1}) {
		t.Fatalf("bump: %+v", got)
	}
	// A retry of that bump (the producer never saw the answer): the same epoch again.
	if got := withExpected(4, pid, ep); *got != (initResult{0, pid, ep + 1}) {
		t.Fatalf("retry: %+v", got)
	}
	// An unrelated producer id is fenced; before v4 as INVALID_PRODUCER_EPOCH.
	if got := withExpected(4, pid+50, 0); got.code != kerr.ProducerFenced.Code || got.pid != -1 {
		t.Fatalf("unrelated pid v4: %+v", got)
	}
	if got := withExpected(3, pid+50, 0); got.code != kerr.InvalidProducerEpoch.Code {
		t.Fatalf("unrelated pid v3: %+v", got)
	}
	// A stale epoch that is neither current nor last.
	if got := withExpected(4, pid, 7); got.code != kerr.ProducerFenced.Code {
		t.Fatalf("stale epoch: %+v", got)
	}
}

type initResult struct {
	code  int16
	pid   int64
	epoch int16
}

// TestTxnEpochExhaustion: at epoch 32766 the id gets a new producer id with epoch 0.
func TestTxnEpochExhaustion(t *testing.T) {
	f := newTxnFake()
	f.batches[0] = []Batch{txnBatch(0, txnRec("txn", txnCompleteCommit, 77, 32766))}
	c := startTxn(t, f, &testClock{t: txnTestStart}, 1)
	resp := c.initPID(t, initReq(4, strp("txn"), 60000))
	if resp.ErrorCode != 0 || resp.ProducerID != 1000 || resp.ProducerEpoch != 0 {
		t.Fatalf("init at exhausted epoch: %+v", resp)
	}
}

func TestTxnDescribeAndList(t *testing.T) {
	c, _, _ := newTxnTest(t)
	pa, ea := c.mustInit(t, "a")
	pb, _ := c.mustInit(t, "b")
	c.mustAdd(t, "a", pa, ea, tp("u", 1), tp("t", 2), tp("t", 0))
	d := c.describeOne("a")
	if d.ErrorCode != 0 || d.State != "Ongoing" || d.ProducerID != pa || d.TimeoutMillis != 60000 || d.StartTimestamp != txnTestStart.UnixMilli() {
		t.Fatalf("describe a: %+v", d)
	}
	if len(d.Topics) != 2 || d.Topics[0].Topic != "t" || !reflect.DeepEqual(d.Topics[0].Partitions, []int32{0, 2}) || d.Topics[1].Topic != "u" {
		t.Fatalf("describe a topics: %+v", d.Topics)
	}
	if d := c.describeOne("zzz"); d.ErrorCode != kerr.TransactionalIDNotFound.Code {
		t.Fatalf("describe unknown: %+v", d)
	}
	if d := c.describeOne(""); d.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("describe empty: %+v", d)
	}

	list := func(states []string, pids []int64) (string, []string) {
		r := kmsgListReq(states, pids)
		resp := c.ListTransactions(r)
		var out []string
		for _, s := range resp.TransactionStates {
			out = append(out, s.TransactionalID+":"+s.TransactionState)
		}
		return strings.Join(resp.UnknownStateFilters, ","), out
	}
	tests := []struct {
		states      []string
		pids        []int64
		wantUnknown string
		want        []string
	}{
		{nil, nil, "", []string{"a:Ongoing", "b:Empty"}},
		{[]string{"Ongoing"}, nil, "", []string{"a:Ongoing"}},
		{[]string{"Empty", "Bogus"}, nil, "Bogus", []string{"b:Empty"}},
		{nil, []int64{pb}, "", []string{"b:Empty"}},
		{[]string{"Ongoing"}, []int64{pb}, "", nil},
	}
	for _, tc := range tests {
		unknown, got := list(tc.states, tc.pids)
		if unknown != tc.wantUnknown || !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("list %v %v: unknown %q %v, want %q %v", tc.states, tc.pids, unknown, got, tc.wantUnknown, tc.want)
		}
	}
}

func TestTxnExpireIdleIDs(t *testing.T) {
	c, f, clk := newTxnTest(t)
	c.mustInit(t, "idle")
	clk.advance(24 * time.Hour)
	pid, ep := c.mustInit(t, "busy")
	c.mustAdd(t, "busy", pid, ep, tp("t", 0))
	clk.advance(7*24*time.Hour - time.Hour)
	c.removeExpiredTransactionalIDs()
	waitFor(t, "idle removed", func() bool { return c.describeOne("idle").ErrorCode == kerr.TransactionalIDNotFound.Code })
	if d := c.describeOne("busy"); d.ErrorCode != 0 {
		t.Fatalf("busy expired: %+v", d)
	}
	evs := f.eventList()
	if evs[len(evs)-1] != "tombstone idle" {
		t.Fatalf("events %q", evs)
	}
	// A new InitProducerId for an expired id starts over with a new producer id.
	if pid2, _ := c.mustInit(t, "idle"); pid2 == 1000 {
		t.Fatalf("expired id kept its producer id")
	}
}

// TestTxnMarkerRetries: a failed marker is sent again; a deleted partition leaves the transaction.
func TestTxnMarkerRetries(t *testing.T) {
	c, f, _ := newTxnTest(t)
	var failed sync.Map
	f.markerErrs = func(p TopicPartition) error {
		switch {
		case p.Topic == "gone":
			return kerr.UnknownTopicOrPartition
		case p.Partition == 1:
			if _, again := failed.LoadOrStore(p, true); !again {
				return kerr.NotEnoughReplicas
			}
		}
		return nil
	}
	f.mu.Lock()
	f.topics["gone"] = true
	f.mu.Unlock()
	pid, ep := c.mustInit(t, "txn")
	c.mustAdd(t, "txn", pid, ep, tp("gone", 0), tp("t", 0), tp("t", 1))
	c.mustCommit(t, "txn", pid, ep)
	waitFor(t, "CompleteCommit", func() bool { return c.stateOf("txn") == "CompleteCommit" })
	ms := f.markerList()
	if len(ms) != 2 || !reflect.DeepEqual(ms[1].Partitions, []TopicPartition{tp("t", 1)}) {
		t.Fatalf("markers %+v", ms)
	}
}

func kmsgListReq(states []string, pids []int64) *kmsg.ListTransactionsRequest {
	r := kmsg.NewPtrListTransactionsRequest()
	r.StateFilters, r.ProducerIDFilters = states, pids
	return r
}

// TestTxnLoadResumesAborts: PrepareAbort is completed with its epoch; a PrepareEpochFence (never written by
// Kafka, but readable) is aborted with a bumped epoch.
func TestTxnLoadResumesAborts(t *testing.T) {
	f := newTxnFake()
	f.batches[0] = []Batch{txnBatch(0,
		txnRec("pa", txnPrepareAbort, 600, 4, tp("t", 0)),
		txnRec("pf", txnPrepareEpochFence, 601, 9, tp("u", 0)),
	)}
	c := startTxn(t, f, &testClock{t: txnTestStart}, 3)
	waitFor(t, "both aborted", func() bool {
		return c.stateOf("pa") == "CompleteAbort" && c.stateOf("pf") == "CompleteAbort"
	})
	byPID := map[int64]TxnMarker{}
	for _, m := range f.markerList() {
		byPID[m.ProducerID] = m
	}
	if m := byPID[600]; m.Commit || m.ProducerEpoch != 4 || m.CoordinatorEpoch != 3 {
		t.Fatalf("PrepareAbort markers %+v", m)
	}
	if m := byPID[601]; m.Commit || m.ProducerEpoch != 10 || m.CoordinatorEpoch != 3 {
		t.Fatalf("PrepareEpochFence markers %+v", m)
	}
}

// TestTxnCompletionRetried: the CompleteCommit append is retried while the log is unavailable; the
// producer gets CONCURRENT_TRANSACTIONS until it is written.
func TestTxnCompletionRetried(t *testing.T) {
	c, f, _ := newTxnTest(t)
	pid, ep := c.mustInit(t, "txn")
	c.mustAdd(t, "txn", pid, ep, tp("t", 0))
	f.holdAllMarkers()
	c.mustCommit(t, "txn", pid, ep)
	f.setAppendErr(kerr.NotEnoughReplicas)
	f.releaseMarkers()
	waitFor(t, "a failed CompleteCommit append", func() bool {
		evs := f.eventList()
		return strings.HasPrefix(evs[len(evs)-1], "append txn CompleteCommit")
	})
	if code := c.addCode(t, 3, "txn", pid, ep, tp("t", 1)); code != kerr.ConcurrentTransactions.Code {
		t.Fatalf("add during completion: %s", errName(code))
	}
	f.setAppendErr(nil)
	waitFor(t, "CompleteCommit", func() bool { return c.stateOf("txn") == "CompleteCommit" })
}

// TestTxnAddPartitionsV4 covers the broker-to-broker batch: one transaction added, another verified.
func TestTxnAddPartitionsV4(t *testing.T) {
	c, _, _ := newTxnTest(t)
	pa, ea := c.mustInit(t, "a")
	pb, eb := c.mustInit(t, "b")
	if code := c.addCode(t, 3, "b", pb, eb, tp("t", 0)); code != 0 {
		t.Fatalf("add b: %s", errName(code))
	}
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = 4
	mk := func(id string, pid int64, ep int16, verify bool, parts ...int32) kmsg.AddPartitionsToTxnRequestTransaction {
		tx := kmsg.NewAddPartitionsToTxnRequestTransaction()
		tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, tx.VerifyOnly = id, pid, ep, verify
		rt := kmsg.NewAddPartitionsToTxnRequestTransactionTopic()
		rt.Topic, rt.Partitions = "t", parts
		tx.Topics = []kmsg.AddPartitionsToTxnRequestTransactionTopic{rt}
		return tx
	}
	r.Transactions = []kmsg.AddPartitionsToTxnRequestTransaction{
		mk("a", pa, ea, false, 5),
		mk("b", pb, eb, true, 0, 1),
		mk("b", pb, eb+1, true, 0),
	}
	ch := make(chan *kmsg.AddPartitionsToTxnResponse, 1)
	c.AddPartitionsToTxn(r, func(resp *kmsg.AddPartitionsToTxnResponse) { ch <- resp })
	resp := recv(t, ch)
	got := map[string][]int16{}
	for i, tx := range resp.Transactions {
		key := tx.TransactionalID + string(rune('0'+i))
		for _, p := range tx.Topics[0].Partitions {
			got[key] = append(got[key], p.ErrorCode)
		}
	}
	want := map[string][]int16{
		"a0": {0},
		"b1": {0, kerr.InvalidTxnState.Code},
		"b2": {kerr.ProducerFenced.Code},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
	if s := c.stateOf("a"); s != "Ongoing" {
		t.Fatalf("a: %s", s)
	}
}
