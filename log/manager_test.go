package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newTestManager(t testing.TB, dirs ...string) *LogManager {
	t.Helper()
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 256
	m, err := NewLogManager(ManagerConfig{Dirs: dirs, Default: cfg, Logger: testLogger(t), Now: func() time.Time { return fixedNow }})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func smallSegments() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 256
	return cfg
}

func fillLog(t *testing.T, l *Log, batches int) {
	t.Helper()
	for i := 0; i < batches; i++ {
		if _, err := l.AppendAsLeader(simpleBatch(t, 1+i%5, 50+i%200, int64(i)), 3); err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, l *Log) []byte {
	t.Helper()
	ri, err := l.Read(l.LogStartOffset(), 1<<30, l.LogEndOffset(), false)
	if err != nil {
		t.Fatal(err)
	}
	return regionBytes(t, ri)
}

func TestRestartCleanReadsBackSameBytes(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	l, err := m.GetOrCreateLog("orders", 0, smallSegments())
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, 120)
	l.SetHighWatermark(100)
	before, leo := readAll(t, l), l.LogEndOffset()
	if l.NumSegments() < 3 {
		t.Fatalf("want several segments, have %d", l.NumSegments())
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CleanShutdownFile, RecoveryPointCheckpointFile, ReplicationOffsetCheckpointFile, LogStartOffsetCheckpointFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Fatalf("after shutdown: %v", err)
		}
	}
	m = newTestManager(t, dir)
	defer m.Shutdown()
	if _, err := os.Stat(filepath.Join(dir, CleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("clean shutdown marker not deleted after reading it")
	}
	l = m.GetLog("orders", 0)
	if l == nil {
		t.Fatal("log not loaded")
	}
	if l.LogEndOffset() != leo || l.HighWatermark() != 100 || l.RecoveryPoint() != leo {
		t.Fatalf("leo %d/%d hw %d rp %d", l.LogEndOffset(), leo, l.HighWatermark(), l.RecoveryPoint())
	}
	if after := readAll(t, l); !bytes.Equal(before, after) {
		t.Fatalf("read back %d bytes, differ from the %d written", len(after), len(before))
	}
	info, err := l.AppendAsLeader(simpleBatch(t, 2, 10, 1), 4)
	if err != nil || info.FirstOffset != leo {
		t.Fatalf("append after restart: %+v %v", info, err)
	}
}

func TestRestartUncleanTruncatesTornBatch(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	l, err := m.GetOrCreateLog("orders", 1, smallSegments())
	if err != nil {
		t.Fatal(err)
	}
	fillLog(t, l, 50)
	all := splitBatches(t, readAll(t, l))
	last := all[len(all)-1]
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// Simulate kill -9 mid-write: no marker, last segment cut inside its
	// last batch.
	os.Remove(filepath.Join(dir, CleanShutdownFile))
	segs, _ := filepath.Glob(filepath.Join(l.Dir(), "*.log"))
	lastSeg := segs[len(segs)-1]
	st, _ := os.Stat(lastSeg)
	if err := os.Truncate(lastSeg, st.Size()-int64(len(last.raw))/2); err != nil {
		t.Fatal(err)
	}
	m = newTestManager(t, dir)
	defer m.Shutdown()
	l = m.GetLog("orders", 1)
	if l.LogEndOffset() != last.base {
		t.Fatalf("LEO %d, want %d (torn batch dropped)", l.LogEndOffset(), last.base)
	}
	got := splitBatches(t, readAll(t, l))
	if len(got) != len(all)-1 {
		t.Fatalf("%d batches after recovery, want %d", len(got), len(all)-1)
	}
	for i := range got {
		if !bytes.Equal(got[i].raw, all[i].raw) {
			t.Fatalf("batch %d changed", i)
		}
	}
	info, err := l.AppendAsLeader(simpleBatch(t, 1, 10, 1), 0)
	if err != nil || info.FirstOffset != last.base {
		t.Fatalf("append after recovery: %+v %v", info, err)
	}
	// The torn bytes are physically gone: the whole log reads back as the
	// surviving batches followed by the new one.
	got = splitBatches(t, readAll(t, l))
	if len(got) != len(all) || got[len(got)-1].base != last.base || !bytes.Equal(got[len(got)-2].raw, all[len(all)-2].raw) {
		t.Fatalf("after recovery and append: %d batches, last at %d", len(got), got[len(got)-1].base)
	}
	if st, _ := os.Stat(lastSeg); st.Size() != l.activeSegment().size.Load() {
		t.Fatalf("segment file has %d bytes, log thinks %d", st.Size(), l.activeSegment().size.Load())
	}
}

func TestRestartUncleanRebuildsUntrimmedIndex(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	l, _ := m.GetOrCreateLog("t", 0, smallSegments())
	fillLog(t, l, 30)
	before := readAll(t, l)
	m.Shutdown()
	os.Remove(filepath.Join(dir, CleanShutdownFile))
	// A crash leaves the active index preallocated and zero-filled past its
	// entries.
	segs, _ := filepath.Glob(filepath.Join(l.Dir(), "*.index"))
	os.Truncate(segs[len(segs)-1], 1<<20)
	m = newTestManager(t, dir)
	defer m.Shutdown()
	l = m.GetLog("t", 0)
	if after := readAll(t, l); !bytes.Equal(before, after) {
		t.Fatal("data differs after index rebuild")
	}
	for off := int64(0); off < l.LogEndOffset(); off++ {
		ri, err := l.Read(off, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatal(err)
		}
		if b := splitBatches(t, regionBytes(t, ri))[0]; off < b.base || off > b.last {
			t.Fatalf("Read(%d) returned [%d,%d]", off, b.base, b.last)
		}
	}
}

func TestMetaProperties(t *testing.T) {
	dir := t.TempDir()
	m := newTestManager(t, dir)
	defer m.Shutdown()
	if err := m.CheckOrWriteMetaProperties(1, "xtzWWN4bTjitpL3kfd9s5g"); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, MetaPropertiesFile))
	want := "#\n#" + fixedNow.Format("Mon Jan 02 15:04:05 MST 2006") + "\nversion=0\nbroker.id=1\ncluster.id=xtzWWN4bTjitpL3kfd9s5g\n"
	if string(data) != want {
		t.Fatalf("meta.properties:\n%q\nwant\n%q", data, want)
	}
	cases := []struct {
		name      string
		id        int32
		cluster   string
		wantParts []string
	}{
		{"same", 1, "xtzWWN4bTjitpL3kfd9s5g", nil},
		{"broker id", 2, "xtzWWN4bTjitpL3kfd9s5g", []string{MetaPropertiesFile, "broker.id", "1", "2"}},
		{"cluster id", 1, "other", []string{MetaPropertiesFile, "cluster.id", "xtzWWN4bTjitpL3kfd9s5g", "other"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := m.CheckOrWriteMetaProperties(tc.id, tc.cluster)
			if tc.wantParts == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInconsistentMetaProperties) {
				t.Fatalf("got %v", err)
			}
			for _, p := range tc.wantParts {
				if !strings.Contains(err.Error(), p) {
					t.Fatalf("error %q does not name %q", err, p)
				}
			}
		})
	}
}

func TestOffsetCheckpointGolden(t *testing.T) {
	path := filepath.Join(t.TempDir(), "replication-offset-checkpoint")
	in := map[TopicPartition]int64{{"orders", 1}: 1502, {"orders", 0}: 1534, {"a-b-c", 10}: 7}
	if err := WriteOffsetCheckpoint(path, in); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "0\n3\na-b-c 10 7\norders 0 1534\norders 1 1502\n"
	if string(got) != want {
		t.Fatalf("got %q want %q", got, want)
	}
	back, err := ReadOffsetCheckpoint(path)
	if err != nil || len(back) != 3 || back[TopicPartition{"orders", 0}] != 1534 || back[TopicPartition{"a-b-c", 10}] != 7 {
		t.Fatalf("read back %v %v", back, err)
	}
	for _, bad := range []string{"1\n0\n", "0\n2\norders 0 1\n", "0\n1\norders x 1\n", ""} {
		os.WriteFile(path, []byte(bad), 0o644)
		if _, err := ReadOffsetCheckpoint(path); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestParseTopicPartitionDir(t *testing.T) {
	cases := []struct {
		in    string
		topic string
		part  int32
		ok    bool
	}{
		{"orders-0", "orders", 0, true},
		{"my-topic-12", "my-topic", 12, true},
		{"orders-0.0123456789abcdef0123456789abcdef-delete", "", 0, false},
		{"orders", "", 0, false},
		{"orders-", "", 0, false},
		{"-1", "", 0, false},
		{"orders-x", "", 0, false},
		{"orders--1", "orders-", 1, true}, // topic names may end in "-"
	}
	for _, tc := range cases {
		topic, p, ok := ParseTopicPartitionDir(tc.in)
		if topic != tc.topic || p != tc.part || ok != tc.ok {
			t.Errorf("%q -> %q %d %v", tc.in, topic, p, ok)
		}
	}
}

func TestPlacementDeleteAndLock(t *testing.T) {
	d1, d2 := t.TempDir(), t.TempDir()
	m := newTestManager(t, d1, d2)
	if _, err := NewLogManager(ManagerConfig{Dirs: []string{d2}, Default: DefaultConfig()}); err == nil {
		t.Fatal("second manager locked the same dir")
	}
	var dirs []string
	for p := int32(0); p < 4; p++ {
		l, err := m.GetOrCreateLog("t", p, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, filepath.Dir(l.Dir()))
	}
	if dirs[0] != d1 || dirs[1] != d2 || dirs[2] != d1 || dirs[3] != d2 {
		t.Fatalf("placement %v", dirs)
	}
	l := m.GetLog("t", 1)
	fillLog(t, l, 3)
	if err := m.DeleteLog("t", 1); err != nil {
		t.Fatal(err)
	}
	if m.GetLog("t", 1) != nil || len(m.AllLogs()) != 3 {
		t.Fatal("log still listed")
	}
	if _, err := l.Read(0, 100, 10, false); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("read of a deleted log: %v", err)
	}
	if err := m.Shutdown(); err != nil { // waits for the async removal
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(d2)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "t-1") {
			t.Fatalf("%s left behind", e.Name())
		}
	}
	if n := deleteDirName(TopicPartition{strings.Repeat("x", 300), 3}); len(n) != 255 || !strings.HasSuffix(n, "-delete") {
		t.Fatalf("delete dir name %q (%d)", n, len(n))
	}
	// The lock is released: a new manager starts and skips *-delete dirs.
	os.MkdirAll(filepath.Join(d1, "t-9.0123456789abcdef0123456789abcdef-delete"), 0o755)
	m = newTestManager(t, d1, d2)
	if len(m.AllLogs()) != 3 {
		t.Fatalf("%d logs after restart", len(m.AllLogs()))
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d1, "t-9.0123456789abcdef0123456789abcdef-delete")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("-delete dir not removed")
	}
}

// TestRecoveryCutsAtFirstBadBatch: without the clean-shutdown marker a
// batch with a bad CRC in the middle of the last segment ends the log there.
func TestRecoveryCutsAtFirstBadBatch(t *testing.T) {
	for _, clean := range []bool{false, true} {
		dir := t.TempDir()
		m := newTestManager(t, dir)
		l, _ := m.GetOrCreateLog("t", 0, smallSegments())
		fillLog(t, l, 12)
		all := splitBatches(t, readAll(t, l))
		m.Shutdown()
		if !clean {
			os.Remove(filepath.Join(dir, CleanShutdownFile))
		}
		segs, _ := filepath.Glob(filepath.Join(l.Dir(), "*.log"))
		data, _ := os.ReadFile(segs[len(segs)-1])
		// Damage the payload of the third batch from the end of the segment.
		var pos int
		var positions []int
		for pos < len(data) {
			positions = append(positions, pos)
			pos += batchView(data[pos:]).size()
		}
		bad := positions[len(positions)-3]
		data[bad+batchHeaderSize+2] ^= 0xff
		os.WriteFile(segs[len(segs)-1], data, 0o644)
		m = newTestManager(t, dir)
		l = m.GetLog("t", 0)
		wantLEO := all[len(all)-3].base
		if clean {
			wantLEO = all[len(all)-1].last + 1 // trusted: no scan after a clean shutdown
		}
		if l.LogEndOffset() != wantLEO {
			t.Fatalf("clean=%v: LEO %d want %d", clean, l.LogEndOffset(), wantLEO)
		}
		m.Shutdown()
	}
}
