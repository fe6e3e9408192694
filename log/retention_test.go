package log

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testClock is an adjustable clock for logs and managers.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: fixedNow} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newClockLog(t *testing.T, cfg Config, clock *testClock) *Log {
	t.Helper()
	l, err := openLog(filepath.Join(t.TempDir(), "t-0"), "t", 0, cfg,
		loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true},
		testLogger(t), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// segInfo is what a test knows of a segment, read before retention runs.
type segInfo struct {
	base, size, maxTs int64
}

func segInfos(l *Log) []segInfo {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	var out []segInfo
	for _, s := range l.segments {
		out = append(out, segInfo{s.base, s.size.Load(), s.maxTimestamp})
	}
	return out
}

func segBases(l *Log) []int64 {
	var out []int64
	for _, s := range segInfos(l) {
		out = append(out, s.base)
	}
	return out
}

// deletedFiles lists the .deleted files in the log's directory.
func deletedFiles(t *testing.T, l *Log) []string {
	t.Helper()
	entries, err := os.ReadDir(l.Dir())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		// Producer snapshots at the deleted segments' bases go too, but
		// these tests count segment files.
		if strings.HasSuffix(e.Name(), deletedSuffix) && !strings.HasSuffix(e.Name(), snapshotSuffix+deletedSuffix) {
			out = append(out, e.Name())
		}
	}
	return out
}

// waitFor polls cond until it holds or a few seconds pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// appendTs appends n batches of one 100-byte record each with timestamps
// ts, ts+step, ...
func appendTs(t *testing.T, l *Log, n int, ts, step int64) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.AppendAsLeader(simpleBatch(t, 1, 100, ts+int64(i)*step), 1); err != nil {
			t.Fatal(err)
		}
	}
}

// oneBatchSize is the size of appendTs's batches (the same for any timestamp).
var oneBatchSize = int64(len(simpleBatch(&testing.T{}, 1, 100, 0)))

func retentionConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 3 * oneBatchSize // three of appendTs's batches per segment
	cfg.FileDeleteDelayMs = 30
	return cfg
}

func TestRetentionDeletesWhatKafkaWould(t *testing.T) {
	now := fixedNow.UnixMilli()
	cases := []struct {
		name           string
		retentionMs    int64
		retentionBytes int64
		policy         string
		hwOffset       int64 // -1: the log end
		firstTs, step  int64
		// expect computes the number of leading segments Kafka deletes,
		// independently of the code under test.
		expect func(segs []segInfo, hwOffset int64, leo int64, cfg Config) int
	}{
		{name: "time", retentionMs: 10_000, retentionBytes: -1, policy: "delete", hwOffset: -1,
			firstTs: now - 40_000, step: 1_000, expect: expectTime},
		{name: "time bounded by HW", retentionMs: 10_000, retentionBytes: -1, policy: "delete", hwOffset: 7,
			firstTs: now - 40_000, step: 1_000, expect: expectTime},
		{name: "size", retentionMs: -1, retentionBytes: 5 * oneBatchSize, policy: "delete", hwOffset: -1,
			firstTs: now, step: 1, expect: expectSize},
		{name: "size and time", retentionMs: 25_000, retentionBytes: 20 * oneBatchSize, policy: "compact,delete", hwOffset: -1,
			firstTs: now - 40_000, step: 1_000, expect: func(segs []segInfo, hw, leo int64, cfg Config) int {
				n := expectSize(segs, hw, leo, cfg)
				return n + expectTime(segs[n:], hw, leo, cfg)
			}},
		{name: "compact only keeps old data", retentionMs: 1, retentionBytes: 1, policy: "compact", hwOffset: -1,
			firstTs: now - 40_000, step: 1_000, expect: func([]segInfo, int64, int64, Config) int { return 0 }},
		{name: "forever", retentionMs: -1, retentionBytes: -1, policy: "delete", hwOffset: -1,
			firstTs: 0, step: 1, expect: func([]segInfo, int64, int64, Config) int { return 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := retentionConfig()
			cfg.RetentionMs, cfg.RetentionBytes, cfg.CleanupPolicy = tc.retentionMs, tc.retentionBytes, tc.policy
			l := newClockLog(t, cfg, newTestClock())
			appendTs(t, l, 32, tc.firstTs, tc.step) // 11 segments, the last holding two batches
			hw := tc.hwOffset
			if hw < 0 {
				hw = l.LogEndOffset()
			}
			l.SetHighWatermark(hw)
			before := segInfos(l)
			if len(before) != 11 {
				t.Fatalf("%d segments, want 11", len(before))
			}
			want := tc.expect(before, hw, l.LogEndOffset(), cfg)
			n, err := l.DeleteOldSegments()
			if err != nil || n != want {
				t.Fatalf("deleted %d (%v), want %d", n, err, want)
			}
			if got := segBases(l); len(got) != len(before)-want || got[0] != before[want].base {
				t.Fatalf("segments %v after deleting %d of %v", got, want, before)
			}
			if l.LogStartOffset() != before[want].base {
				t.Fatalf("log start %d, want %d", l.LogStartOffset(), before[want].base)
			}
			if want == 0 {
				return
			}
			if _, err := l.Read(before[want].base-1, 100, l.LogEndOffset(), true); !errors.Is(err, ErrOffsetOutOfRange) {
				t.Fatalf("read below the new start: %v", err)
			}
			if got := deletedFiles(t, l); len(got) != 3*want {
				t.Fatalf(".deleted files %v, want %d", got, 3*want)
			}
			waitFor(t, ".deleted files to go", func() bool { return len(deletedFiles(t, l)) == 0 })
			if _, err := os.Stat(segmentPath(l.Dir(), before[0].base, logSuffix)); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("segment file still there: %v", err)
			}
			if n, err := l.DeleteOldSegments(); err != nil || n != 0 {
				t.Fatalf("second pass deleted %d: %v", n, err)
			}
		})
	}
}

// expectTime: oldest first, while now - largest timestamp > retention.ms
// and the segment ends at or below the HW; never the last segment (here
// always non-empty, and not everything expires in these cases).
func expectTime(segs []segInfo, hw, leo int64, cfg Config) int {
	if cfg.RetentionMs < 0 {
		return 0
	}
	n := 0
	for i, s := range segs {
		end := leo
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		if end > hw || fixedNow.UnixMilli()-s.maxTs <= cfg.RetentionMs {
			break
		}
		n++
	}
	return n
}

// expectSize: oldest first, while the log stays at or above retention.bytes
// without the segment.
func expectSize(segs []segInfo, hw, leo int64, cfg Config) int {
	if cfg.RetentionBytes < 0 {
		return 0
	}
	var total int64
	for _, s := range segs {
		total += s.size
	}
	n := 0
	for i, s := range segs {
		end := leo
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		if end > hw || total-s.size < cfg.RetentionBytes {
			break
		}
		total -= s.size
		n++
	}
	return n
}

// TestRetentionRollsBeforeDeletingEverything: when every segment has
// expired, the active one (non-empty) is rolled and all old ones deleted;
// an empty active segment is never deleted.
func TestRetentionRollsBeforeDeletingEverything(t *testing.T) {
	cfg := retentionConfig()
	cfg.RetentionMs = 1000
	l := newClockLog(t, cfg, newTestClock())
	appendTs(t, l, 7, fixedNow.UnixMilli()-10_000, 1) // 3 segments, active non-empty
	l.SetHighWatermark(l.LogEndOffset())
	if n, err := l.DeleteOldSegments(); err != nil || n != 3 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	segs := segInfos(l)
	if len(segs) != 1 || segs[0].base != 7 || segs[0].size != 0 || l.LogStartOffset() != 7 || l.LogEndOffset() != 7 {
		t.Fatalf("segments %+v, start %d, end %d", segs, l.LogStartOffset(), l.LogEndOffset())
	}
	if ri, err := l.Read(7, 100, 7, true); err != nil || ri.Size != 0 {
		t.Fatalf("read at the log end: %+v %v", ri, err)
	}
	if _, err := l.Read(6, 100, 7, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below: %v", err)
	}
	if n, err := l.DeleteOldSegments(); err != nil || n != 0 || l.NumSegments() != 1 {
		t.Fatalf("empty active segment: deleted %d: %v", n, err)
	}
	// Appends continue in the new segment.
	appendTs(t, l, 1, fixedNow.UnixMilli(), 1)
	if base, _ := firstBatchAt(t, l, 7); base != 7 {
		t.Fatalf("batch at %d", base)
	}
}

// TestRetentionKeepsReadsWorkingUntilTheDelay: a read that located a
// segment before it was deleted can still read it until the delay passes,
// and Close removes what is pending at once.
func TestRetentionKeepsReadsWorkingUntilTheDelay(t *testing.T) {
	cfg := retentionConfig()
	cfg.RetentionBytes = 0
	cfg.FileDeleteDelayMs = 60_000
	l := newClockLog(t, cfg, newTestClock())
	appendTs(t, l, 7, fixedNow.UnixMilli(), 1)
	l.SetHighWatermark(l.LogEndOffset())
	ri, err := l.Read(0, 1<<20, l.LogEndOffset(), true)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := l.DeleteOldSegments(); err != nil || n != 3 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	b, err := ri.AppendTo(nil)
	if err != nil || len(splitBatches(t, b)) != 7 {
		t.Fatalf("read of deleted segments: %d bytes, %v", len(b), err)
	}
	if got := deletedFiles(t, l); len(got) != 9 {
		t.Fatalf(".deleted files %v", got)
	}
	// retention.bytes=0 holds for the empty active segment too, which
	// still stays.
	if n, err := l.DeleteOldSegments(); err != nil || n != 0 || l.NumSegments() != 1 {
		t.Fatalf("empty active segment: deleted %d: %v", n, err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if got := deletedFiles(t, l); len(got) != 0 {
		t.Fatalf("Close left %v", got)
	}
}

// TestRetentionByModificationTime: a segment without timestamps ages by its
// file's modification time.
func TestRetentionByModificationTime(t *testing.T) {
	cfg := retentionConfig()
	cfg.RetentionMs = 60_000
	l := newClockLog(t, cfg, newTestClock())
	appendTs(t, l, 6, -1, 0) // timestamp -1: no timestamp; two segments
	appendTs(t, l, 1, fixedNow.UnixMilli(), 0)
	l.SetHighWatermark(l.LogEndOffset())
	recent := fixedNow.Add(-30 * time.Second)
	old := fixedNow.Add(-90 * time.Second)
	os.Chtimes(segmentPath(l.Dir(), 0, logSuffix), old, old)
	os.Chtimes(segmentPath(l.Dir(), 3, logSuffix), recent, recent)
	if n, err := l.DeleteOldSegments(); err != nil || n != 1 || l.LogStartOffset() != 3 {
		t.Fatalf("deleted %d (%v), start %d", n, err, l.LogStartOffset())
	}
}

func TestIncrementLogStartOffset(t *testing.T) {
	cfg := retentionConfig()
	l := newClockLog(t, cfg, newTestClock())
	appendTs(t, l, 10, fixedNow.UnixMilli(), 1) // segments at 0, 3, 6, 9
	l.SetHighWatermark(8)
	steps := []struct {
		offset, wantStart int64
		wantErr           error
	}{
		{9, 0, ErrOffsetOutOfRange}, // above the HW
		{4, 4, nil},
		{2, 4, nil}, // below: no-op
		{4, 4, nil},
		{8, 8, nil}, // up to the HW
	}
	for _, s := range steps {
		err := l.IncrementLogStartOffset(s.offset)
		if !errors.Is(err, s.wantErr) || l.LogStartOffset() != s.wantStart {
			t.Fatalf("increment to %d: %v, start %d; want %v, %d", s.offset, err, l.LogStartOffset(), s.wantErr, s.wantStart)
		}
		if l.HighWatermark() < l.LogStartOffset() || l.RecoveryPoint() < l.LogStartOffset() {
			t.Fatalf("HW %d / recovery point %d below the start %d", l.HighWatermark(), l.RecoveryPoint(), l.LogStartOffset())
		}
	}
	if _, err := l.Read(7, 100, 10, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the start: %v", err)
	}
	if base, _ := firstBatchAt(t, l, 8); base != 8 {
		t.Fatalf("batch at %d", base)
	}
	// The log-start rule applies whatever the policy: segments 0 and 3 end
	// at or below 8; segment 6 holds it.
	cfg.CleanupPolicy = "compact"
	l.UpdateConfig(cfg)
	if n, err := l.DeleteOldSegments(); err != nil || n != 2 {
		t.Fatalf("deleted %d: %v", n, err)
	}
	if got := segBases(l); got[0] != 6 || l.LogStartOffset() != 8 {
		t.Fatalf("segments %v, start %d", got, l.LogStartOffset())
	}
}

// TestLogStartOffsetCheckpointedAndReloaded: DeleteRecords survives a
// restart through log-start-offset-checkpoint, and the next retention pass
// removes the segments below it.
func TestLogStartOffsetCheckpointedAndReloaded(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	cfg := retentionConfig()
	l, err := m.GetOrCreateLog("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendTs(t, l, 10, fixedNow.UnixMilli(), 1)
	l.SetHighWatermark(10)
	if err := l.IncrementLogStartOffset(7); err != nil {
		t.Fatal(err)
	}
	if err := m.CheckpointLogStartOffsets(); err != nil {
		t.Fatal(err)
	}
	got, err := ReadOffsetCheckpoint(filepath.Join(dir, LogStartOffsetCheckpointFile))
	if err != nil || got[TopicPartition{"t", 0}] != 7 {
		t.Fatalf("checkpoint %v %v", got, err)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	defer m.Shutdown()
	l = m.GetLog("t", 0)
	if l.LogStartOffset() != 7 || l.HighWatermark() != 10 {
		t.Fatalf("after restart: start %d, HW %d", l.LogStartOffset(), l.HighWatermark())
	}
	if _, err := l.Read(6, 100, 10, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below the reloaded start: %v", err)
	}
	if n, err := m.CleanupLogs(); err != nil || n != 2 {
		t.Fatalf("cleanup deleted %d: %v", n, err)
	}
	if got := segBases(l); got[0] != 6 {
		t.Fatalf("segments %v", got)
	}
}

// TestSegmentMsRoll: segment.ms counts from the first batch's timestamp
// (or the segment's creation when it has none), on the injected clock.
func TestSegmentMsRoll(t *testing.T) {
	t0 := fixedNow.UnixMilli()
	cases := []struct {
		name    string
		lat     bool
		firstTs int64
		// each step: advance the clock, append a batch with this timestamp
		// (-1: none), expect this many segments after.
		steps []struct {
			advance  time.Duration
			ts       int64
			segments int
		}
	}{
		{name: "by record timestamp", firstTs: t0, steps: []struct {
			advance  time.Duration
			ts       int64
			segments int
		}{{0, t0 + 1000, 1}, {0, t0 + 500, 1}, {0, t0 + 1001, 2}, {time.Hour, t0 + 1500, 2}, {0, t0 + 2002, 3}}},
		// Kafka does not restart the clock when the first batch lands: a
		// segment created an hour ago rolls at the second append.
		{name: "by creation time", firstTs: -1, steps: []struct {
			advance  time.Duration
			ts       int64
			segments int
		}{{0, -1, 2}, {1000 * time.Millisecond, -1, 2}, {time.Millisecond, -1, 3}}},
		{name: "log append time", lat: true, firstTs: t0, steps: []struct {
			advance  time.Duration
			ts       int64
			segments int
		}{{1000 * time.Millisecond, 0, 1}, {time.Millisecond, 0, 2}, {999 * time.Millisecond, 0, 2}, {2 * time.Millisecond, 0, 3}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.SegmentMs = 1000
			if tc.lat {
				cfg.MessageTimestampType = "LogAppendTime"
			}
			clock := newTestClock()
			l := newClockLog(t, cfg, clock)
			clock.Advance(time.Hour) // an empty segment never rolls by time
			appendTs(t, l, 1, tc.firstTs, 0)
			if l.NumSegments() != 1 {
				t.Fatalf("empty segment rolled")
			}
			for i, s := range tc.steps {
				clock.Advance(s.advance)
				ts := s.ts
				if tc.lat {
					ts = 0 // overwritten by the broker's clock
				}
				appendTs(t, l, 1, ts, 0)
				if l.NumSegments() != s.segments {
					t.Fatalf("step %d: %d segments, want %d", i, l.NumSegments(), s.segments)
				}
			}
		})
	}
}

func TestSegmentJitter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentMs, cfg.SegmentJitterMs = 1000, 400
	for i := 0; i < 200; i++ {
		if j := cfg.randomSegmentJitter(); j < 0 || j >= 400 {
			t.Fatalf("jitter %d", j)
		}
	}
	cfg.SegmentJitterMs = 5000 // capped by segment.ms
	for i := 0; i < 200; i++ {
		if j := cfg.randomSegmentJitter(); j < 0 || j >= 1000 {
			t.Fatalf("jitter %d", j)
		}
	}
	cfg.SegmentJitterMs = 0
	if j := cfg.randomSegmentJitter(); j != 0 {
		t.Fatalf("jitter %d without segment.jitter.ms", j)
	}
	// A segment's jitter moves its roll earlier.
	clock := newTestClock()
	l := newClockLog(t, cfg, clock)
	appendTs(t, l, 1, fixedNow.UnixMilli(), 0)
	l.appendMu.Lock()
	l.activeSegment().rollJitterMs = 300
	l.appendMu.Unlock()
	appendTs(t, l, 1, fixedNow.UnixMilli()+700, 0)
	if l.NumSegments() != 1 {
		t.Fatal("rolled at exactly segment.ms - jitter")
	}
	appendTs(t, l, 1, fixedNow.UnixMilli()+701, 0)
	if l.NumSegments() != 2 {
		t.Fatal("did not roll past segment.ms - jitter")
	}
}

// TestRetentionConcurrentWithAppendsAndReads runs appends, reads, timestamp
// lookups, DeleteRecords and retention together (run with -race). Reads may
// only fail because the log start moved past them.
func TestRetentionConcurrentWithAppendsAndReads(t *testing.T) {
	cfg := retentionConfig()
	cfg.RetentionBytes = 6 * oneBatchSize
	cfg.FileDeleteDelayMs = 1000
	l := newClockLog(t, cfg, newTestClock())
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	wg.Add(2)
	go func() { // reader
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			ri, err := l.Read(l.LogStartOffset(), 1<<20, l.LogEndOffset(), true)
			if err == nil {
				_, err = ri.AppendTo(nil)
			}
			if err == nil {
				_, _, err = l.FetchOffsetByTimestamp(fixedNow.UnixMilli() + 50)
			}
			if err == nil {
				_, _, err = l.FetchOffsetByTimestamp(MaxTimestamp)
			}
			if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				errs <- err
				return
			}
		}
	}()
	go func() { // retention and DeleteRecords
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			if _, err := l.DeleteOldSegments(); err != nil {
				errs <- err
				return
			}
			if err := l.IncrementLogStartOffset(l.HighWatermark() - 2); err != nil {
				errs <- err
				return
			}
		}
	}()
	for i := 0; i < 150; i++ {
		appendTs(t, l, 1, fixedNow.UnixMilli()+int64(i), 0)
		l.SetHighWatermark(l.LogEndOffset())
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.IncrementLogStartOffset(148); err != nil {
		t.Fatal(err)
	}
	if _, err := l.DeleteOldSegments(); err != nil {
		t.Fatal(err)
	}
	if l.LogStartOffset() != 148 || l.NumSegments() != 1 {
		t.Fatalf("start %d with %d segments", l.LogStartOffset(), l.NumSegments())
	}
}
