package log

import (
	"errors"
	"math/rand"
	"path/filepath"
	"testing"
	"time"
)

// modelRecord and modelBatch are what a test appended, kept to check the
// log against a linear scan.
type modelRecord struct {
	offset, ts int64
	epoch      int32
}

type modelBatch struct {
	base, last, maxTs int64
	epoch             int32
}

type logModel struct {
	records []modelRecord
	batches []modelBatch
}

// appendRandomBatch appends one batch of 1-5 records with timestamps
// scattered around baseTs (out of order within and across batches) and a
// random codec, and records it in the model.
func (m *logModel) appendRandomBatch(t *testing.T, l *Log, rng *rand.Rand, baseTs int64, epoch int32) {
	t.Helper()
	n := 1 + rng.Intn(5)
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, rng.Intn(120))
		rng.Read(v)
		recs[i] = testRecord{key: []byte{byte(i)}, value: v}
		if i > 0 {
			recs[i].tsDelta = int64(rng.Intn(61) - 30)
		}
	}
	codecs := []int{codecNone, codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd}
	b := buildBatch(t, batchSpec{records: recs, baseTs: baseTs, codec: codecs[rng.Intn(len(codecs))]})
	info, err := l.AppendAsLeader(b, epoch)
	if err != nil {
		t.Fatal(err)
	}
	mb := modelBatch{base: info.FirstOffset, last: info.LastOffset, maxTs: -1, epoch: epoch}
	for i, r := range recs {
		ts := baseTs + r.tsDelta
		if l.Config().logAppendTime() {
			ts = info.LogAppendTime
		}
		mb.maxTs = max(mb.maxTs, ts)
		m.records = append(m.records, modelRecord{info.FirstOffset + int64(i), ts, epoch})
	}
	m.batches = append(m.batches, mb)
}

// segmentBounds returns the live segments' [base, next base) ranges.
func segmentBounds(l *Log) [][2]int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out [][2]int64
	for i, s := range l.segments {
		end := l.leo.Load()
		if i+1 < len(l.segments) {
			end = l.segments[i+1].base
		}
		out = append(out, [2]int64{s.base, end})
	}
	return out
}

// expectByTimestamp is Kafka's lookup computed from the model: the first
// segment whose largest timestamp is >= ts (empty segments never match a
// timestamp the test uses), then its first record at or after the log start
// with a timestamp >= ts.
func (m *logModel) expectByTimestamp(l *Log, ts int64) (TimestampOffset, bool) {
	start := l.LogStartOffset()
	for _, b := range segmentBounds(l) {
		segMax := int64(-1)
		for _, r := range m.records {
			if r.offset >= b[0] && r.offset < b[1] {
				segMax = max(segMax, r.ts)
			}
		}
		if segMax < ts {
			continue
		}
		for _, r := range m.records {
			if r.offset >= b[0] && r.offset < b[1] && r.offset >= start && r.ts >= ts {
				return TimestampOffset{r.ts, r.offset, r.epoch}, true
			}
		}
		return TimestampOffset{}, false
	}
	return TimestampOffset{}, false
}

// linearScan is the first record of the log at or after its start with a
// timestamp >= ts.
func (m *logModel) linearScan(l *Log, ts int64) (TimestampOffset, bool) {
	for _, r := range m.records {
		if r.offset >= l.LogStartOffset() && r.ts >= ts {
			return TimestampOffset{r.ts, r.offset, r.epoch}, true
		}
	}
	return TimestampOffset{}, false
}

func (m *logModel) batchAt(offset int64) modelBatch {
	for _, b := range m.batches {
		if b.last >= offset {
			return b
		}
	}
	return modelBatch{base: -1, last: -1, epoch: -1}
}

// expectMax is MaxTimestamp from the model: the first live segment with the
// largest timestamp, and the last offset of its first batch reaching it.
func (m *logModel) expectMax(l *Log) TimestampOffset {
	best := TimestampOffset{Timestamp: -1, Offset: segmentBounds(l)[0][0]}
	for _, sb := range segmentBounds(l) {
		for _, b := range m.batches {
			if b.base >= sb[0] && b.base < sb[1] && b.maxTs > best.Timestamp {
				best = TimestampOffset{Timestamp: b.maxTs, Offset: b.last}
			}
		}
	}
	best.LeaderEpoch = m.batchAt(l.LogEndOffset() - 1).epoch
	return best
}

// firstBatchAt reads at offset and returns the first batch's range.
func firstBatchAt(t *testing.T, l *Log, offset int64) (base, last int64) {
	t.Helper()
	ri, err := l.Read(offset, 1, l.LogEndOffset(), true)
	if err != nil {
		t.Fatalf("read at %d: %v", offset, err)
	}
	b, err := ri.AppendTo(nil)
	if err != nil || len(b) < batchHeaderSize {
		t.Fatalf("read at %d: %d bytes, %v", offset, len(b), err)
	}
	return batchView(b).baseOffset(), batchView(b).lastOffset()
}

// checkLogAgainstModel compares every lookup with the model.
func checkLogAgainstModel(t *testing.T, l *Log, m *logModel, minTs, maxTs int64) {
	t.Helper()
	for o := l.LogStartOffset(); o < l.LogEndOffset(); o++ {
		want := m.batchAt(o)
		if base, last := firstBatchAt(t, l, o); base != want.base || last != want.last {
			t.Fatalf("read at %d: batch [%d,%d], want [%d,%d]", o, base, last, want.base, want.last)
		}
	}
	if _, err := l.Read(l.LogStartOffset()-1, 1, l.LogEndOffset(), true); l.LogStartOffset() > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the log start: %v", err)
	}
	simpleStart := l.LogStartOffset() == segmentBounds(l)[0][0]
	for ts := minTs - 2; ts <= maxTs+2; ts++ {
		got, ok, err := l.FetchOffsetByTimestamp(ts)
		if err != nil {
			t.Fatal(err)
		}
		want, wantOK := m.expectByTimestamp(l, ts)
		if ok != wantOK || (ok && got != want) {
			t.Fatalf("timestamp %d: got %+v %v, want %+v %v", ts, got, ok, want, wantOK)
		}
		if simpleStart {
			// With the log start at a segment base Kafka's segment choice
			// cannot skip a match: the answer is the linear scan's.
			if lin, linOK := m.linearScan(l, ts); lin != want || linOK != wantOK {
				t.Fatalf("timestamp %d: model %+v %v but linear scan %+v %v", ts, want, wantOK, lin, linOK)
			}
		}
	}
	type special struct {
		ts   int64
		want TimestampOffset
	}
	for _, c := range []special{
		{EarliestTimestamp, TimestampOffset{-1, l.LogStartOffset(), m.batchAt(l.LogStartOffset()).epoch}},
		{LatestTimestamp, TimestampOffset{-1, l.LogEndOffset(), m.batchAt(l.LogEndOffset() - 1).epoch}},
		{MaxTimestamp, m.expectMax(l)},
	} {
		got, ok, err := l.FetchOffsetByTimestamp(c.ts)
		if err != nil || !ok || got != c.want {
			t.Fatalf("target %d: got %+v %v %v, want %+v", c.ts, got, ok, err, c.want)
		}
	}
}

func reopenLog(t *testing.T, l *Log, cfg Config) *Log {
	t.Helper()
	start := l.LogStartOffset()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := openLog(l.Dir(), l.Topic(), l.Partition(), cfg,
		loadOptions{recoveryPoint: -1, logStart: start, highWatermark: -1, cleanShutdown: true}, l.logger, l.now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l2.Close() })
	l2.SetHighWatermark(l2.LogEndOffset())
	return l2
}

// TestTimestampAndOffsetLookupsMatchModel is the property test: random
// batches (compressed or not, timestamps out of order) in small segments
// with sparse indexes; every offset and timestamp lookup must match the
// model, before and after retention, DeleteRecords and a reopen.
func TestTimestampAndOffsetLookupsMatchModel(t *testing.T) {
	for seed := int64(1); seed <= 6; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cfg := DefaultConfig()
		cfg.SegmentBytes = int64(500 + rng.Intn(2500))
		cfg.IndexIntervalBytes = rng.Intn(400)
		if seed%3 == 0 {
			cfg.SegmentIndexBytes = 0 // the minimum: indexes fill and roll segments too
		}
		if seed == 5 {
			cfg.MessageTimestampType = "LogAppendTime"
		}
		cfg.FileDeleteDelayMs = 0
		clock := fixedNow
		l, err := openLog(filepath.Join(t.TempDir(), "t-0"), "t", 0, cfg,
			loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true},
			testLogger(t), func() time.Time { return clock })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		m := &logModel{}
		for i := 0; i < 120; i++ {
			baseTs := 1000 + int64(i)*3 + int64(rng.Intn(200)-100) // drifting up, often out of order
			m.appendRandomBatch(t, l, rng, baseTs, int32(i/25))
			clock = clock.Add(time.Duration(rng.Intn(5)) * time.Millisecond)
		}
		minTs, maxTs := m.records[0].ts, m.records[0].ts
		for _, r := range m.records {
			minTs, maxTs = min(minTs, r.ts), max(maxTs, r.ts)
		}
		if l.NumSegments() < 5 {
			t.Fatalf("seed %d: only %d segments; the test needs rolls", seed, l.NumSegments())
		}
		l.SetHighWatermark(l.LogEndOffset())
		checkLogAgainstModel(t, l, m, minTs, maxTs)

		// Retention by size drops the older half.
		cfg.RetentionBytes = l.Size() / 2
		cfg.RetentionMs = -1
		l.UpdateConfig(cfg)
		if n, err := l.DeleteOldSegments(); err != nil || n == 0 {
			t.Fatalf("seed %d: size retention deleted %d: %v", seed, n, err)
		}
		checkLogAgainstModel(t, l, m, minTs, maxTs)

		// DeleteRecords into the middle of a segment, then reopen.
		b := segmentBounds(l)
		mid := b[len(b)/2][0] + (b[len(b)/2][1]-b[len(b)/2][0])/2
		if err := l.IncrementLogStartOffset(mid); err != nil {
			t.Fatal(err)
		}
		checkLogAgainstModel(t, l, m, minTs, maxTs)
		if _, err := l.DeleteOldSegments(); err != nil {
			t.Fatal(err)
		}
		checkLogAgainstModel(t, l, m, minTs, maxTs)
		l = reopenLog(t, l, cfg)
		if l.LogStartOffset() != mid {
			t.Fatalf("seed %d: log start %d after reopen, want %d", seed, l.LogStartOffset(), mid)
		}
		checkLogAgainstModel(t, l, m, minTs, maxTs)
	}
}

func TestFetchOffsetByTimestampEdges(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	// An empty log: the earliest and latest are the log end, without epoch.
	for _, c := range []struct {
		ts   int64
		want TimestampOffset
		ok   bool
	}{
		{EarliestTimestamp, TimestampOffset{-1, 0, -1}, true},
		{EarliestLocalTimestamp, TimestampOffset{-1, 0, -1}, true},
		{LatestTimestamp, TimestampOffset{-1, 0, -1}, true},
		{MaxTimestamp, TimestampOffset{-1, 0, -1}, true},
		{0, TimestampOffset{}, false},
	} {
		got, ok, err := l.FetchOffsetByTimestamp(c.ts)
		if err != nil || ok != c.ok || got != c.want {
			t.Fatalf("empty log, target %d: %+v %v %v", c.ts, got, ok, err)
		}
	}
	// Record timestamps 50, 10, 30 in one batch, then 20 in the next:
	// Kafka answers the first record at or after the target in log order.
	recs := []testRecord{{value: []byte("a")}, {value: []byte("b"), tsDelta: -40}, {value: []byte("c"), tsDelta: -20}}
	if _, err := l.AppendAsLeader(buildBatch(t, batchSpec{records: recs, baseTs: 50, codec: codecGzip}), 4); err != nil {
		t.Fatal(err)
	}
	if _, err := l.AppendAsLeader(buildBatch(t, batchSpec{records: []testRecord{{value: []byte("d")}}, baseTs: 20}), 5); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ts   int64
		want TimestampOffset
		ok   bool
	}{
		{5, TimestampOffset{50, 0, 4}, true},
		{15, TimestampOffset{50, 0, 4}, true},
		{50, TimestampOffset{50, 0, 4}, true},
		{51, TimestampOffset{}, false},
		{MaxTimestamp, TimestampOffset{50, 2, 5}, true}, // 3.7.0: last offset of the append; latest epoch
		{EarliestTimestamp, TimestampOffset{-1, 0, 4}, true},
		{LatestTimestamp, TimestampOffset{-1, 4, 5}, true},
	} {
		got, ok, err := l.FetchOffsetByTimestamp(c.ts)
		if err != nil || ok != c.ok || got != c.want {
			t.Fatalf("target %d: %+v %v %v, want %+v %v", c.ts, got, ok, err, c.want, c.ok)
		}
	}
	l.Close()
	if _, _, err := l.FetchOffsetByTimestamp(10); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("closed log: %v", err)
	}
}
