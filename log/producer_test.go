package log

import (
	"encoding/hex"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestProducerDuplicatesOfLastFiveBatches(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	const pid = 1000
	var batches [][]byte
	var infos []AppendInfo
	for i := range 6 {
		b := prodBatch(t, prodSpec{pid: pid, seq: int32(i * 2), n: 2})
		batches = append(batches, append([]byte(nil), b...))
		infos = append(infos, mustAppend(t, l, b))
	}
	leo := l.LogEndOffset()
	for i := 1; i < 6; i++ {
		info, err := l.AppendAsLeader(append([]byte(nil), batches[i]...), 0)
		if err != nil {
			t.Fatalf("retry of batch %d: %v", i, err)
		}
		if !info.Duplicate || info.FirstOffset != infos[i].FirstOffset || info.LastOffset != infos[i].LastOffset {
			t.Fatalf("retry of batch %d: %+v, want duplicate of %+v", i, info, infos[i])
		}
	}
	// The sixth-newest batch is no longer retained: its retry is a gap.
	if _, err := l.AppendAsLeader(append([]byte(nil), batches[0]...), 0); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("retry of an evicted batch: %v, want out of order", err)
	}
	if l.LogEndOffset() != leo {
		t.Fatalf("log end moved from %d to %d on duplicates", leo, l.LogEndOffset())
	}
}

func TestProducerValidation(t *testing.T) {
	type step struct {
		b    *prodSpec
		m    *Marker
		want error
	}
	data := func(epoch int16, seq int32, n int, txn bool, want error) step {
		return step{b: &prodSpec{pid: 5, epoch: epoch, seq: seq, n: n, txn: txn}, want: want}
	}
	mark := func(epoch int16, commit bool, coord int32, want error) step {
		return step{m: &Marker{ProducerID: 5, ProducerEpoch: epoch, Commit: commit, CoordinatorEpoch: coord}, want: want}
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"in sequence", []step{data(0, 0, 3, false, nil), data(0, 3, 1, false, nil), data(0, 4, 2, false, nil)}},
		{"gap", []step{data(0, 0, 1, false, nil), data(0, 2, 1, false, ErrOutOfOrderSequence)}},
		{"unknown producer starts anywhere", []step{data(0, 17, 1, false, nil), data(0, 18, 1, false, nil)}},
		{"new epoch must start at 0", []step{data(0, 0, 1, false, nil), data(1, 5, 1, false, ErrOutOfOrderSequence), data(1, 0, 1, false, nil)}},
		{"stale epoch", []step{data(1, 0, 1, false, nil), data(0, 1, 1, false, ErrInvalidProducerEpoch)}},
		{"retry of an older epoch is stale, not a duplicate", []step{data(0, 0, 1, false, nil), data(1, 0, 1, false, nil), data(0, 0, 1, false, ErrInvalidProducerEpoch)}},
		{"sequence wraps at Int.MAX", []step{data(0, math.MaxInt32-1, 2, false, nil), data(0, 0, 1, false, nil)}},
		{"no wrap before Int.MAX", []step{data(0, math.MaxInt32-2, 2, false, nil), data(0, 0, 1, false, ErrOutOfOrderSequence)}},
		{"plain batch inside a transaction", []step{data(0, 0, 1, true, nil), data(0, 1, 1, false, ErrInvalidTxnState)}},
		{"transaction after commit", []step{data(0, 0, 1, true, nil), mark(0, true, 0, nil), data(0, 1, 1, false, nil)}},
		{"marker with a stale epoch", []step{data(1, 0, 1, true, nil), mark(0, false, 0, ErrInvalidProducerEpoch)}},
		{"marker from a fenced coordinator", []step{data(0, 0, 1, true, nil), mark(0, true, 5, nil), data(0, 1, 1, true, nil), mark(0, true, 4, ErrTransactionCoordinatorFenced)}},
		{"abort marker bumping the epoch", []step{data(0, 0, 1, true, nil), mark(1, false, 0, nil),
			data(0, 1, 1, false, ErrInvalidProducerEpoch), data(1, 3, 1, false, ErrOutOfOrderSequence), data(1, 0, 1, false, nil)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newTestLog(t, DefaultConfig())
			for i, s := range c.steps {
				leo := l.LogEndOffset()
				var err error
				if s.b != nil {
					_, err = l.AppendAsLeader(prodBatch(t, *s.b), 0)
				} else {
					_, err = l.AppendMarker(*s.m, 0)
				}
				if (s.want == nil) != (err == nil) || (s.want != nil && !errors.Is(err, s.want)) {
					t.Fatalf("step %d: %v, want %v", i, err, s.want)
				}
				if err != nil && l.LogEndOffset() != leo {
					t.Fatalf("step %d: rejected append moved the log end", i)
				}
			}
		})
	}
}

func TestTransactionsHoldLSOAndIndexAborts(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	mustAppend(t, l, simpleBatch(t, 2, 10, fixedNow.UnixMilli())) // 0-1
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO without transactions %d, want HW 2", got)
	}
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 7, seq: 0, n: 3, txn: true})) // 2-4
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 2 {
		t.Fatalf("LSO with an open transaction at 2: %d", got)
	}
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 8, seq: 0, n: 1, txn: true})) // 5
	abort := mustMarker(t, l, Marker{ProducerID: 7, CoordinatorEpoch: 3})     // 6
	if abort.FirstOffset != 6 || abort.LastOffset != 6 {
		t.Fatalf("abort marker at %+v, want 6", abort)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 5 {
		t.Fatalf("LSO after aborting 7 with 8 open: %d, want 5", got)
	}
	mustMarker(t, l, Marker{ProducerID: 8, Commit: true, CoordinatorEpoch: 3}) // 7
	if got := l.LastStableOffset(); got != 5 {
		t.Fatalf("LSO with the commit marker above the HW: %d, want 5", got)
	}
	l.SetHighWatermark(l.LogEndOffset())
	if got := l.LastStableOffset(); got != 8 {
		t.Fatalf("LSO after the commit is replicated: %d, want 8", got)
	}

	// One entry: producer 7, first 2, marker 6, LSO 5 (8's open transaction).
	raw, err := os.ReadFile(segmentPath(l.Dir(), 0, txnIndexSuffix))
	if err != nil {
		t.Fatal(err)
	}
	want := "0000" + "0000000000000007" + "0000000000000002" + "0000000000000006" + "0000000000000005"
	if got := hex.EncodeToString(raw); got != want {
		t.Fatalf(".txnindex\n got %s\nwant %s", got, want)
	}
	for _, c := range []struct {
		start, upper int64
		want         []AbortedTxn
	}{
		{0, 8, []AbortedTxn{{7, 2}}},
		{6, 8, []AbortedTxn{{7, 2}}},
		{7, 8, nil},
		{0, 2, nil},
		{0, 3, []AbortedTxn{{7, 2}}},
	} {
		if got := l.CollectAbortedTransactions(c.start, c.upper); !reflect.DeepEqual(got, c.want) {
			t.Errorf("CollectAbortedTransactions(%d, %d) = %v, want %v", c.start, c.upper, got, c.want)
		}
	}
	// The marker itself is a control batch Kafka's consumers recognize.
	b := readAll(t, l)
	var markers int
	if _, err := DecodeBatches(b, func(info BatchInfo, recs []Record) error {
		if info.Control {
			markers++
			if !info.Transactional || info.BaseSequence != -1 || len(recs) != 1 || hex.EncodeToString(recs[0].Value) != "000000000003" {
				t.Errorf("marker batch %+v %+v", info, recs)
			}
		}
		return nil
	}); err != nil || markers != 2 {
		t.Fatalf("decode: %v, %d markers", err, markers)
	}
}

func TestSnapshotFormat(t *testing.T) {
	entries := []*producerEntry{
		{producerID: 7, epoch: 0, coordinatorEpoch: 5, lastTimestamp: 2000, txnFirstOffset: -1},
		{producerID: 42, epoch: 3, batches: []batchMeta{{lastSeq: 9, lastOffset: 109, offsetDelta: 4, timestamp: 1000}},
			coordinatorEpoch: 2, lastTimestamp: 1000, txnFirstOffset: 105},
	}
	tail := "00000002" +
		"0000000000000007" + "0000" + "ffffffff" + "ffffffffffffffff" + "00000000" + "00000000000007d0" + "00000005" + "ffffffffffffffff" +
		"000000000000002a" + "0003" + "00000009" + "000000000000006d" + "00000004" + "00000000000003e8" + "00000002" + "0000000000000069"
	tailBytes, _ := hex.DecodeString(tail)
	crc := make([]byte, 4)
	c := crc32c(tailBytes)
	crc[0], crc[1], crc[2], crc[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
	want := "0001" + hex.EncodeToString(crc) + tail
	got := encodeSnapshot(entries)
	if hex.EncodeToString(got) != want {
		t.Fatalf("snapshot\n got %x\nwant %s", got, want)
	}
	back, err := decodeSnapshot(got)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, entries) {
		t.Fatalf("round trip:\n got %+v %+v\nwant %+v %+v", *back[0], *back[1], *entries[0], *entries[1])
	}
	for _, bad := range []func([]byte) []byte{
		func(b []byte) []byte { b[len(b)-1] ^= 1; return b },
		func(b []byte) []byte { b[1] = 2; return b },
		func(b []byte) []byte { return b[:len(b)-3] },
	} {
		if _, err := decodeSnapshot(bad(append([]byte(nil), got...))); !errors.Is(err, errCorruptSnapshot) {
			t.Fatalf("damaged snapshot: %v", err)
		}
	}
}

// txnScenario builds a log over several segments: an idempotent producer
// (1), an aborted (3) and a committed (4) transaction, and one left open
// (2). It returns the last batch of producer 1 (as sent) and its offsets.
func txnScenario(t *testing.T, l *Log) ([]byte, AppendInfo) {
	t.Helper()
	var last []byte
	var lastInfo AppendInfo
	seq := int32(0)
	for i := range 12 {
		b := prodBatch(t, prodSpec{pid: 1, seq: seq, n: 3})
		last = append([]byte(nil), b...)
		lastInfo = mustAppend(t, l, b)
		seq += 3
		switch i {
		case 2:
			mustAppend(t, l, prodBatch(t, prodSpec{pid: 3, epoch: 2, seq: 0, n: 2, txn: true}))
		case 4:
			mustAppend(t, l, prodBatch(t, prodSpec{pid: 4, seq: 0, n: 2, txn: true}))
		case 5:
			mustMarker(t, l, Marker{ProducerID: 3, ProducerEpoch: 2, CoordinatorEpoch: 1})
		case 7:
			mustAppend(t, l, prodBatch(t, prodSpec{pid: 2, seq: 0, n: 2, txn: true}))
		case 9:
			mustMarker(t, l, Marker{ProducerID: 4, Commit: true, CoordinatorEpoch: 1})
		}
	}
	if l.NumSegments() < 3 {
		t.Fatalf("scenario wants several segments, has %d", l.NumSegments())
	}
	return last, lastInfo
}

func smallTxnConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 400
	return cfg
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	for _, mode := range []string{"clean", "clean without snapshots", "unclean", "unclean without txnindex"} {
		t.Run(mode, func(t *testing.T) {
			cfg := smallTxnConfig()
			l := newTestLog(t, cfg)
			last, lastInfo := txnScenario(t, l)
			producers, aborted := l.ActiveProducers(), allAborted(l)
			l.SetHighWatermark(l.LogEndOffset())
			lso := l.LastStableOffset()
			if len(aborted) != 1 || lso == l.LogEndOffset() {
				t.Fatalf("scenario: aborted %v, LSO %d", aborted, lso)
			}
			dir := l.Dir()
			opts := reopenOpts(l, true)
			switch mode {
			case "clean", "clean without snapshots":
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				if mode == "clean without snapshots" {
					removeGlob(t, dir, "*"+snapshotSuffix)
				}
			default:
				crash(t, l)
				opts = uncleanOpts
				opts.recoveryPoint = 0
				if mode == "unclean without txnindex" {
					removeGlob(t, dir, "*"+txnIndexSuffix)
				}
			}
			l2 := openTestLogAt(t, dir, cfg, opts)
			defer l2.Close()
			if got := l2.ActiveProducers(); !reflect.DeepEqual(got, producers) {
				t.Fatalf("producers after reopen\n got %+v\nwant %+v", got, producers)
			}
			if got := allAborted(l2); !reflect.DeepEqual(got, aborted) {
				t.Fatalf("aborted after reopen %v, want %v", got, aborted)
			}
			l2.SetHighWatermark(l2.LogEndOffset())
			if got := l2.LastStableOffset(); got != lso {
				t.Fatalf("LSO after reopen %d, want %d", got, lso)
			}
			info, err := l2.AppendAsLeader(last, 0)
			if err != nil || !info.Duplicate || info.FirstOffset != lastInfo.FirstOffset {
				t.Fatalf("retry after reopen: %+v %v, want duplicate at %d", info, err, lastInfo.FirstOffset)
			}
		})
	}
}

func removeGlob(t *testing.T, dir, pattern string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, pattern))
	if len(files) == 0 {
		t.Fatalf("no %s files to remove", pattern)
	}
	for _, f := range files {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
}

func TestTruncationRebuildsProducerState(t *testing.T) {
	cfg := smallTxnConfig()
	l := newTestLog(t, cfg)
	type point struct {
		leo       int64
		producers []ProducerInfo
		aborted   []abortedTxnEntry
	}
	var points []point
	seq := int32(0)
	for i := range 14 {
		mustAppend(t, l, prodBatch(t, prodSpec{pid: 1, seq: seq, n: 2}))
		seq += 2
		switch i {
		case 3:
			mustAppend(t, l, prodBatch(t, prodSpec{pid: 2, seq: 0, n: 1, txn: true}))
		case 8:
			mustMarker(t, l, Marker{ProducerID: 2, CoordinatorEpoch: 0})
		}
		points = append(points, point{l.LogEndOffset(), l.ActiveProducers(), allAborted(l)})
	}
	for _, k := range []int{12, 9, 7, 2} {
		p := points[k]
		if _, err := l.TruncateTo(p.leo); err != nil {
			t.Fatal(err)
		}
		if got := l.ActiveProducers(); !reflect.DeepEqual(got, p.producers) {
			t.Fatalf("truncated to %d:\n got %+v\nwant %+v", p.leo, got, p.producers)
		}
		if got := allAborted(l); !reflect.DeepEqual(got, p.aborted) {
			t.Fatalf("truncated to %d: aborted %v, want %v", p.leo, got, p.aborted)
		}
		snaps, _ := listSnapshots(l.Dir())
		for _, s := range snaps {
			if s > p.leo {
				t.Fatalf("snapshot %d left above the truncation point %d", s, p.leo)
			}
		}
		// The producer continues where the truncated log says it is.
		next := p.producers[0].LastSequence + 1
		if _, err := l.AppendAsLeader(prodBatch(t, prodSpec{pid: 1, seq: next + 2}), 0); !errors.Is(err, ErrOutOfOrderSequence) {
			t.Fatalf("gap after truncation: %v", err)
		}
		if _, err := l.TruncateTo(p.leo); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.TruncateFullyAndStartAt(500); err != nil {
		t.Fatal(err)
	}
	if got := l.ActiveProducers(); len(got) != 0 {
		t.Fatalf("producers after full truncation: %v", got)
	}
	if snaps, _ := listSnapshots(l.Dir()); len(snaps) != 0 {
		t.Fatalf("snapshots after full truncation: %v", snaps)
	}
	if got := l.LastStableOffset(); got != 500 {
		t.Fatalf("LSO after full truncation %d", got)
	}
}

func TestFollowerBuildsTheSameState(t *testing.T) {
	leader := newTestLog(t, smallTxnConfig())
	txnScenario(t, leader)
	follower := newTestLog(t, smallTxnConfig())
	// Batch by batch, as fetches of various sizes would bring them.
	for _, b := range splitBatches(t, readAll(t, leader)) {
		if _, err := follower.AppendAsFollower(b.raw); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := follower.ActiveProducers(), leader.ActiveProducers(); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower producers\n got %+v\nwant %+v", got, want)
	}
	if got, want := allAborted(follower), allAborted(leader); !reflect.DeepEqual(got, want) {
		t.Fatalf("follower aborted %v, leader %v", got, want)
	}
	leader.SetHighWatermark(leader.LogEndOffset())
	follower.SetHighWatermark(follower.LogEndOffset())
	if got, want := follower.LastStableOffset(), leader.LastStableOffset(); got != want {
		t.Fatalf("follower LSO %d, leader %d", got, want)
	}
}

func TestProducerExpiration(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ProducerIDExpirationMs = 1000
	l := newTestLog(t, cfg)
	now := fixedNow.UnixMilli()
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 1, seq: 0, ts: now - 5000}))
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 2, seq: 0, ts: now - 10}))
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 3, seq: 0, ts: now - 5000, txn: true}))
	if err := l.removeExpiredProducers(now); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, p := range l.ActiveProducers() {
		ids = append(ids, p.ProducerID)
	}
	if !reflect.DeepEqual(ids, []int64{2, 3}) {
		t.Fatalf("producers after expiration %v, want [2 3] (3 has an open transaction)", ids)
	}
	// Forgotten, producer 1 may start anywhere.
	mustAppend(t, l, prodBatch(t, prodSpec{pid: 1, seq: 40}))
}

func TestAppendAsCoordinatorChecksEpochsOnly(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	for i := range 3 {
		info, err := l.AppendAsCoordinator(prodBatch(t, prodSpec{pid: 9, epoch: 2, seq: 0, txn: true}), 0)
		if err != nil || info.Duplicate {
			t.Fatalf("offset commit %d: %+v %v", i, info, err)
		}
	}
	if _, err := l.AppendAsCoordinator(prodBatch(t, prodSpec{pid: 9, epoch: 1, seq: 0, txn: true}), 0); !errors.Is(err, ErrInvalidProducerEpoch) {
		t.Fatalf("stale epoch: %v", err)
	}
	if p := l.ActiveProducers(); len(p) != 1 || p[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("producers %+v", p)
	}
	mustMarker(t, l, Marker{ProducerID: 9, ProducerEpoch: 2, Commit: true})
	if p := l.ActiveProducers(); p[0].CurrentTxnStartOffset != -1 {
		t.Fatalf("transaction still open after commit: %+v", p)
	}
}

func TestRetentionDeletesSnapshotsBelowLogStart(t *testing.T) {
	cfg := smallTxnConfig()
	cfg.RetentionBytes = 1000
	cfg.FileDeleteDelayMs = 0
	l := newTestLog(t, cfg)
	txnScenario(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	if _, err := l.DeleteOldSegments(); err != nil {
		t.Fatal(err)
	}
	start := l.LogStartOffset()
	if start == 0 {
		t.Fatal("nothing deleted")
	}
	waitNoDeletedFiles(t, l.Dir())
	snaps, _ := listSnapshots(l.Dir())
	if len(snaps) == 0 {
		t.Fatal("every snapshot deleted")
	}
	for _, s := range snaps {
		if s < start {
			t.Fatalf("snapshot %d below the log start %d", s, start)
		}
	}
}
