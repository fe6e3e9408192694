package log

import (
	"math"
	"path/filepath"
	"testing"
	"time"
)

func newClockManager(t *testing.T, clock *testClock, dirs ...string) *LogManager {
	t.Helper()
	m, err := NewLogManager(ManagerConfig{Dirs: dirs, Default: retentionConfig(), Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	return m
}

func TestDurationFromMs(t *testing.T) {
	for _, c := range []struct {
		ms   int64
		want time.Duration
	}{
		{300000, 5 * time.Minute},
		{1, time.Millisecond},
		{0, 0},
		{-1, 0},
		{math.MaxInt64, 0}, // Kafka's Long.MAX: never
	} {
		if got := DurationFromMs(c.ms); got != c.want {
			t.Fatalf("DurationFromMs(%d) = %v, want %v", c.ms, got, c.want)
		}
	}
	if d := DefaultSchedulerConfig(); d.RetentionCheckInterval != 5*time.Minute || d.FlushCheckInterval != 0 ||
		d.RecoveryPointCheckpointInterval != time.Minute || d.LogStartOffsetCheckpointInterval != time.Minute ||
		d.InitialDelay != 30*time.Second {
		t.Fatalf("defaults %+v", d)
	}
}

// TestSchedulersRunRetentionAndCheckpoints: with short periods the
// retention task deletes expired segments and writes the log start, and the
// recovery-point task writes its checkpoint; Shutdown stops them.
func TestSchedulersRunRetentionAndCheckpoints(t *testing.T) {
	dir := t.TempDir()
	clock := newTestClock()
	m := newClockManager(t, clock, dir)
	cfg := retentionConfig()
	cfg.RetentionMs = 60_000
	l, err := m.GetOrCreateLog("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendTs(t, l, 7, fixedNow.UnixMilli(), 1) // segments 0, 3, 6
	l.SetHighWatermark(7)
	if err := l.IncrementLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute) // everything expires
	m.StartSchedulers(SchedulerConfig{
		RetentionCheckInterval:           5 * time.Millisecond,
		RecoveryPointCheckpointInterval:  5 * time.Millisecond,
		LogStartOffsetCheckpointInterval: time.Hour,
	})
	m.StartSchedulers(SchedulerConfig{RetentionCheckInterval: time.Millisecond}) // no second set
	waitFor(t, "retention", func() bool { return l.NumSegments() == 1 && l.LogStartOffset() == 7 })
	rpFile := filepath.Join(dir, RecoveryPointCheckpointFile)
	waitFor(t, "recovery-point checkpoint", func() bool {
		got, err := ReadOffsetCheckpoint(rpFile)
		return err == nil && got[TopicPartition{"t", 0}] == 7
	})
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	m.sched.mu.Lock()
	stopped := m.sched.stopped && m.sched.stop == nil
	m.sched.mu.Unlock()
	if !stopped {
		t.Fatal("schedulers still running after Shutdown")
	}
	m.StartSchedulers(SchedulerConfig{RetentionCheckInterval: time.Millisecond})
	if m.sched.stop != nil {
		t.Fatal("schedulers started after Shutdown")
	}
}

// TestRetentionTaskCheckpointsLogStart: the retention task writes the log
// start of a log whose start lies inside its first segment.
func TestRetentionTaskCheckpointsLogStart(t *testing.T) {
	dir := t.TempDir()
	m := newClockManager(t, newTestClock(), dir)
	l, err := m.GetOrCreateLog("t", 0, retentionConfig())
	if err != nil {
		t.Fatal(err)
	}
	appendTs(t, l, 7, fixedNow.UnixMilli(), 1)
	l.SetHighWatermark(7)
	if err := l.IncrementLogStartOffset(4); err != nil {
		t.Fatal(err)
	}
	m.StartSchedulers(SchedulerConfig{RetentionCheckInterval: 5 * time.Millisecond})
	file := filepath.Join(dir, LogStartOffsetCheckpointFile)
	waitFor(t, "log-start checkpoint", func() bool {
		got, err := ReadOffsetCheckpoint(file)
		return err == nil && got[TopicPartition{"t", 0}] == 4 && l.NumSegments() == 2
	})
}

// TestFlushDirtyLogs: a log is flushed once flush.ms has passed since its
// last flush, on the manager's clock.
func TestFlushDirtyLogs(t *testing.T) {
	clock := newTestClock()
	m := newClockManager(t, clock, t.TempDir())
	cfg := DefaultConfig()
	cfg.FlushMs = 1000
	l, err := m.GetOrCreateLog("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		advance time.Duration
		appends int
		wantRP  int64
	}{
		{0, 3, 0},
		{999 * time.Millisecond, 0, 0},
		{time.Millisecond, 0, 3}, // flush.ms reached
		{0, 2, 3},
		{500 * time.Millisecond, 0, 3},
		{500 * time.Millisecond, 0, 5},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		appendTs(t, l, s.appends, fixedNow.UnixMilli(), 0)
		if err := m.flushDirtyLogs(); err != nil {
			t.Fatal(err)
		}
		if got := l.RecoveryPoint(); got != s.wantRP {
			t.Fatalf("step %d: recovery point %d, want %d", i, got, s.wantRP)
		}
	}
}

// TestPlacementFewestPartitions: new logs go to the dir with the fewest
// partitions, the first in log.dirs order on ties, counting logs loaded
// from disk.
func TestPlacementFewestPartitions(t *testing.T) {
	d1, d2, d3 := t.TempDir(), t.TempDir(), t.TempDir()
	// Start with two partitions in d1 and one in d3.
	m := newTestManager(t, d1)
	for p := int32(0); p < 2; p++ {
		if _, err := m.GetOrCreateLog("a", p, DefaultConfig()); err != nil {
			t.Fatal(err)
		}
	}
	m.Shutdown()
	m = newTestManager(t, d3)
	if _, err := m.GetOrCreateLog("b", 0, DefaultConfig()); err != nil {
		t.Fatal(err)
	}
	m.Shutdown()
	m = newTestManager(t, d1, d2, d3)
	defer m.Shutdown()
	// counts (2,0,1) → d2; (2,1,1) → d2 (tie with d3, first in order);
	// (2,2,1) → d3; (2,2,2) → d1; (3,2,2) → d2.
	want := []string{d2, d2, d3, d1, d2}
	for i, w := range want {
		l, err := m.GetOrCreateLog("c", int32(i), DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if got := filepath.Dir(l.Dir()); got != w {
			t.Fatalf("partition %d placed in %s, want %s", i, got, w)
		}
	}
}
