package log

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func ee(pairs ...int64) []EpochEntry {
	var out []EpochEntry
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, EpochEntry{Epoch: int32(pairs[i]), StartOffset: pairs[i+1]})
	}
	return out
}

func testCache(t *testing.T, entries []EpochEntry) (*epochCache, *logtest.Hook) {
	logger, hook := logtest.NewNullLogger()
	logger.Level = logrus.DebugLevel
	c := newEpochCache(t.TempDir(), logrus.NewEntry(logger))
	c.entries = append([]EpochEntry(nil), entries...)
	return c, hook
}

func warnings(hook *logtest.Hook) int {
	n := 0
	for _, e := range hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			n++
		}
	}
	return n
}

func TestEpochCacheAssign(t *testing.T) {
	base := ee(0, 0, 3, 150)
	tests := []struct {
		name    string
		start   []EpochEntry
		add     EpochEntry
		want    []EpochEntry
		changed bool
		warn    bool
		err     bool
	}{
		{"first entry", nil, EpochEntry{0, 0}, ee(0, 0), true, false, false},
		{"same epoch later offset", base, EpochEntry{3, 200}, base, false, false, false},
		{"same epoch same offset", base, EpochEntry{3, 150}, base, false, false, false},
		{"new epoch", base, EpochEntry{4, 200}, ee(0, 0, 3, 150, 4, 200), true, false, false},
		{"new epoch at same offset replaces an empty epoch", base, EpochEntry{4, 150}, ee(0, 0, 4, 150), true, false, false},
		{"same epoch earlier offset", base, EpochEntry{3, 100}, ee(0, 0, 3, 100), true, true, false},
		{"older epoch later offset", base, EpochEntry{2, 200}, ee(0, 0, 2, 200), true, true, false},
		{"newer epoch earlier offset", base, EpochEntry{5, 100}, ee(0, 0, 5, 100), true, true, false},
		{"newer epoch at zero wipes all", base, EpochEntry{5, 0}, ee(5, 0), true, true, false},
		{"older epoch of an existing one", base, EpochEntry{0, 10}, ee(0, 10), true, true, false},
		{"negative epoch", base, EpochEntry{-1, 200}, base, false, false, true},
		{"negative offset", base, EpochEntry{4, -1}, base, false, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, hook := testCache(t, tc.start)
			changed, err := c.assign(tc.add)
			if (err != nil) != tc.err || changed != tc.changed {
				t.Fatalf("assign(%v) = %v, %v; want changed %v, error %v", tc.add, changed, err, tc.changed, tc.err)
			}
			if got := c.snapshot(); !slices.Equal(got, tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			if got := warnings(hook) > 0; got != tc.warn {
				t.Fatalf("warning logged %v, want %v (%v)", got, tc.warn, hook.AllEntries())
			}
		})
	}
}

func TestEpochCacheEndOffsetFor(t *testing.T) {
	entries := ee(1, 10, 3, 150, 5, 300)
	const leo = 400
	tests := []struct {
		name      string
		entries   []EpochEntry
		requested int32
		epoch     int32
		end       int64
	}{
		{"undefined", entries, -1, -1, -1},
		{"latest is the log end", entries, 5, 5, leo},
		{"above every epoch", entries, 6, -1, -1},
		{"below every epoch", entries, 0, 0, 10},
		{"first epoch ends where the next starts", entries, 1, 1, 150},
		{"between: largest below, next start", entries, 2, 1, 150},
		{"middle epoch", entries, 3, 3, 300},
		{"between the last two", entries, 4, 3, 300},
		{"empty cache", nil, 0, -1, -1},
		{"single entry latest", ee(2, 0), 2, 2, leo},
		{"single entry below", ee(2, 5), 1, 1, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := testCache(t, tc.entries)
			epoch, end := c.endOffsetFor(tc.requested, leo)
			if epoch != tc.epoch || end != tc.end {
				t.Fatalf("endOffsetFor(%d) = (%d, %d), want (%d, %d)", tc.requested, epoch, end, tc.epoch, tc.end)
			}
		})
	}
}

func TestEpochCacheTruncateFromEnd(t *testing.T) {
	entries := ee(1, 10, 3, 150, 5, 300)
	tests := []struct {
		end     int64
		want    []EpochEntry
		changed bool
	}{
		{400, entries, false},
		{301, entries, false},
		{300, ee(1, 10, 3, 150), true},
		{151, ee(1, 10, 3, 150), true},
		{150, ee(1, 10), true},
		{11, ee(1, 10), true},
		{10, nil, true},
		{0, nil, true},
		{-1, entries, false},
	}
	for _, tc := range tests {
		c, _ := testCache(t, entries)
		if changed := c.truncateFromEnd(tc.end); changed != tc.changed {
			t.Errorf("truncateFromEnd(%d) changed %v, want %v", tc.end, changed, tc.changed)
		}
		if got := c.snapshot(); !slices.Equal(got, tc.want) {
			t.Errorf("truncateFromEnd(%d): %v, want %v", tc.end, got, tc.want)
		}
	}
}

func TestEpochCacheTruncateFromStart(t *testing.T) {
	entries := ee(1, 10, 3, 150, 5, 300)
	tests := []struct {
		start   int64
		want    []EpochEntry
		changed bool
	}{
		{5, entries, false},
		{10, entries, true}, // exclusive: the entry at 10 stays
		{100, ee(1, 100, 3, 150, 5, 300), true},
		{150, ee(3, 150, 5, 300), true},
		{200, ee(3, 200, 5, 300), true},
		{300, ee(5, 300), true},
		{1000, ee(5, 1000), true},
	}
	for _, tc := range tests {
		c, _ := testCache(t, entries)
		if changed := c.truncateFromStart(tc.start); changed != tc.changed {
			t.Errorf("truncateFromStart(%d) changed %v, want %v", tc.start, changed, tc.changed)
		}
		if got := c.snapshot(); !slices.Equal(got, tc.want) {
			t.Errorf("truncateFromStart(%d): %v, want %v", tc.start, got, tc.want)
		}
	}
	c, _ := testCache(t, nil)
	if c.truncateFromStart(5) || len(c.snapshot()) != 0 {
		t.Fatal("truncateFromStart changed an empty cache")
	}
}

func TestEpochCheckpointRead(t *testing.T) {
	tests := []struct {
		name, content string
		want          []EpochEntry
		err           string
	}{
		{"kafka file", "0\n2\n0 0\n3 1210\n", ee(0, 0, 3, 1210), ""},
		{"no entries", "0\n0\n", nil, ""},
		{"version only", "0\n", nil, ""},
		{"extra spaces", "0\n1\n7   42\n", ee(7, 42), ""},
		{"no trailing newline", "0\n1\n7 42", ee(7, 42), ""},
		{"empty", "", nil, "empty"},
		{"bad version", "1\n0\n", nil, "version"},
		{"count too high", "0\n3\n0 0\n3 1210\n", nil, "expected 3 entries but found 2"},
		{"count too low", "0\n1\n0 0\n3 1210\n", nil, "expected 1 entries but found 2"},
		{"three fields", "0\n1\n0 0 0\n", nil, "bad line"},
		{"not a number", "0\n1\n0 x\n", nil, "bad line"},
		{"epoch overflows int32", "0\n1\n4294967296 0\n", nil, "bad line"},
		{"bad count", "0\nx\n", nil, "bad entry count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), LeaderEpochCheckpointFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readEpochCheckpoint(path)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("read %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// epochLog appends batches of 3 records at the given epochs to l.
func appendEpochs(t *testing.T, l *Log, epochs ...int32) {
	t.Helper()
	for _, e := range epochs {
		if _, err := l.AppendAsLeader(simpleBatch(t, 3, 100, fixedNow.UnixMilli()), e); err != nil {
			t.Fatal(err)
		}
	}
}

func readCheckpoint(t *testing.T, l *Log) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Dir(), LeaderEpochCheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestEpochCheckpointFileFormat(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	if got := readCheckpoint(t, l); got != "" {
		t.Fatalf("new log's checkpoint %q, want an empty file as Kafka creates", got)
	}
	appendEpochs(t, l, 0, 0, 0)
	if got, want := readCheckpoint(t, l), "0\n1\n0 0\n"; got != want {
		t.Fatalf("checkpoint %q, want %q", got, want)
	}
	for range 50 {
		appendEpochs(t, l, 0)
	}
	if err := l.AssignEpochStartOffset(3, 150); err != nil {
		t.Fatal(err)
	}
	if got, want := readCheckpoint(t, l), "0\n2\n0 0\n3 150\n"; got != want {
		t.Fatalf("checkpoint %q, want %q", got, want)
	}
	if e, ok := l.LatestEpoch(); !ok || e != 3 {
		t.Fatalf("LatestEpoch %d %v", e, ok)
	}
	if _, err := os.Stat(filepath.Join(l.Dir(), LeaderEpochCheckpointFile+".tmp")); !os.IsNotExist(err) {
		t.Fatalf("tmp file left behind: %v", err)
	}
	if err := l.AssignEpochStartOffset(-1, 150); err == nil {
		t.Fatal("negative epoch accepted")
	}
}

// TestEpochCacheFollowsAppends: leader and follower appends assign each
// new epoch at its first batch; the latest epoch's end is the log end.
func TestEpochCacheFollowsAppends(t *testing.T) {
	leader := newTestLog(t, DefaultConfig())
	appendEpochs(t, leader, 0, 0, 2, 2, 5)
	want := ee(0, 0, 2, 6, 5, 12)
	if got := leader.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("leader entries %v, want %v", got, want)
	}
	if e, end := leader.EndOffsetForEpoch(2); e != 2 || end != 12 {
		t.Fatalf("EndOffsetForEpoch(2) = %d, %d", e, end)
	}
	if e, end := leader.EndOffsetForEpoch(5); e != 5 || end != 15 {
		t.Fatalf("EndOffsetForEpoch(5) = %d, %d", e, end)
	}
	// Producer batches carry -1 until stamped; a leader append with -1
	// assigns nothing.
	if _, err := leader.AppendAsLeader(simpleBatch(t, 1, 10, fixedNow.UnixMilli()), -1); err != nil {
		t.Fatal(err)
	}
	if got := leader.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("entries after an epoch -1 append %v", got)
	}

	follower := newTestLog(t, DefaultConfig())
	info, err := follower.AppendAsFollower(readAll(t, leader))
	if err != nil || info.LastOffset != 15 {
		t.Fatalf("follower append %+v %v", info, err)
	}
	if got := follower.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("follower entries %v, want %v", got, want)
	}
	if got, want := readCheckpoint(t, follower), "0\n3\n0 0\n2 6\n5 12\n"; got != want {
		t.Fatalf("follower checkpoint %q, want %q", got, want)
	}
}

func reopenOpts(l *Log, clean bool) loadOptions {
	return loadOptions{recoveryPoint: l.RecoveryPoint(), logStart: l.LogStartOffset(),
		highWatermark: l.HighWatermark(), cleanShutdown: clean}
}

func TestEpochCacheLoad(t *testing.T) {
	cfg := crashConfig()
	cfg.SegmentBytes = 2 << 10
	want := ee(0, 0, 2, 30, 5, 60)
	build := func(t *testing.T) (string, loadOptions) {
		dir := filepath.Join(t.TempDir(), "t-0")
		l := openTestLogAt(t, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
		appendEpochs(t, l, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5, 5, 5)
		if l.NumSegments() < 3 {
			t.Fatalf("want several segments, have %d", l.NumSegments())
		}
		if got := l.EpochEntries(); !slices.Equal(got, want) {
			t.Fatalf("entries %v, want %v", got, want)
		}
		opts := reopenOpts(l, true)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		return dir, opts
	}
	ckpt := func(dir string) string { return filepath.Join(dir, LeaderEpochCheckpointFile) }
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string, opts *loadOptions)
		want   []EpochEntry
		leo    int64
	}{
		{"clean", func(*testing.T, string, *loadOptions) {}, want, 69},
		{"unclean", func(_ *testing.T, _ string, o *loadOptions) { o.cleanShutdown = false; o.recoveryPoint = 0 }, want, 69},
		{"file deleted", func(t *testing.T, dir string, _ *loadOptions) { os.Remove(ckpt(dir)) }, want, 69},
		{"file emptied", func(t *testing.T, dir string, _ *loadOptions) { os.WriteFile(ckpt(dir), nil, 0o644) }, want, 69},
		{"file garbage", func(t *testing.T, dir string, _ *loadOptions) { os.WriteFile(ckpt(dir), []byte("0\n9\nx\n"), 0o644) }, want, 69},
		{"stale file, unclean", func(t *testing.T, dir string, o *loadOptions) {
			// The crash came before the checkpoint of epoch 5 was renamed
			// into place: recovery finds it in the batches.
			os.WriteFile(ckpt(dir), []byte("0\n2\n0 0\n2 30\n"), 0o644)
			o.cleanShutdown, o.recoveryPoint = false, 45
		}, want, 69},
		{"entry past the end", func(t *testing.T, dir string, _ *loadOptions) {
			os.WriteFile(ckpt(dir), []byte("0\n4\n0 0\n2 30\n5 60\n7 69\n"), 0o644)
		}, want, 69},
		{"torn last batch, unclean", func(t *testing.T, dir string, o *loadOptions) {
			// Cut into the first batch of epoch 5 and drop what follows:
			// epoch 5 wrote nothing that survived.
			var cut diskBatch
			for _, b := range diskBatches(t, dir) {
				if b.base == 60 {
					cut = b
				}
			}
			if err := os.Truncate(filepath.Join(dir, cut.file), cut.pos+10); err != nil {
				t.Fatal(err)
			}
			logs, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
			for _, p := range logs {
				if filepath.Base(p) > cut.file {
					os.Remove(p)
				}
			}
			o.cleanShutdown, o.recoveryPoint = false, 0
		}, ee(0, 0, 2, 30), 60},
		{"log start above the first epochs", func(_ *testing.T, _ string, o *loadOptions) { o.logStart = 40 }, ee(2, 40, 5, 60), 69},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir, opts := build(t)
			tc.damage(t, dir, &opts)
			l := openTestLogAt(t, dir, cfg, opts)
			defer l.Close()
			if l.LogEndOffset() != tc.leo {
				t.Fatalf("LEO %d, want %d", l.LogEndOffset(), tc.leo)
			}
			if got := l.EpochEntries(); !slices.Equal(got, tc.want) {
				t.Fatalf("entries %v, want %v", got, tc.want)
			}
			if got, want := readCheckpoint(t, l), string(formatEpochCheckpoint(tc.want)); got != want {
				t.Fatalf("checkpoint on disk %q, want %q", got, want)
			}
		})
	}
}

func TestEpochCacheFollowsLogStart(t *testing.T) {
	cfg := crashConfig()
	l := newTestLog(t, cfg)
	appendEpochs(t, l, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 5)
	l.SetHighWatermark(l.LogEndOffset())
	if err := l.IncrementLogStartOffset(31); err != nil {
		t.Fatal(err)
	}
	want := ee(2, 31, 5, 60)
	if got := l.EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
	if got := readCheckpoint(t, l); got != string(formatEpochCheckpoint(want)) {
		t.Fatalf("checkpoint %q", got)
	}
	// Retention moving the start to a segment base does the same.
	if _, err := l.DeleteOldSegments(); err != nil {
		t.Fatal(err)
	}
	start := l.LogStartOffset()
	if got := l.EpochEntries(); len(got) == 0 || got[0].StartOffset != start || start < 31 {
		t.Fatalf("entries %v after retention moved the start to %d", got, start)
	}
	ts, _, err := l.FetchOffsetByTimestamp(EarliestTimestamp)
	if err != nil || ts.LeaderEpoch != l.EpochEntries()[0].Epoch || ts.Offset != start {
		t.Fatalf("earliest %+v %v", ts, err)
	}
	if err := l.AssignEpochStartOffset(8, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	ts, _, err = l.FetchOffsetByTimestamp(LatestTimestamp)
	if err != nil || ts.LeaderEpoch != 8 || ts.Offset != l.LogEndOffset() {
		t.Fatalf("latest %+v %v (Kafka answers the latest cached epoch)", ts, err)
	}
}
