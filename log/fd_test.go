package log

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

// openFds counts this process's open descriptors.
func openFds(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(entries)
}

// buildSealedLog writes a log of at least n segments into dir and closes it.
func buildSealedLog(t testing.TB, dir string, n int, cfg Config) {
	t.Helper()
	l := openTestLogAt(t, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	src := simpleBatch(t, 4, 100, fixedNow.UnixMilli())
	for l.NumSegments() < n {
		resetForAppend(src)
		if _, err := l.AppendAsLeader(src, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestSegmentKeepsOneFd checks the descriptor budget: an open segment
// holds its .log only, whether its indexes were loaded as they are or
// rebuilt by recovery, and closing the log gives every descriptor back.
func TestSegmentKeepsOneFd(t *testing.T) {
	const segments = 60
	const slack = 8 // the directory scan, the runtime's own
	cfg := DefaultConfig()
	cfg.SegmentBytes = 1 << 10
	cfg.IndexIntervalBytes = 200 // sealed segments with index entries
	cases := []struct {
		name string
		opts loadOptions
	}{
		{"clean", loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true}},
		{"recovered", uncleanOpts},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			buildSealedLog(t, dir, segments, cfg)
			before := openFds(t)
			l := openTestLogAt(t, dir, cfg, tc.opts)
			t.Cleanup(func() { l.Close() }) // a failed check must not leak into the next count
			n := l.NumSegments()
			if n < segments {
				t.Fatalf("%d segments, want %d", n, segments)
			}
			if d := openFds(t) - before; d < n || d > n+slack {
				t.Fatalf("%d segments hold %d descriptors, want %d..%d", n, d, n, n+slack)
			}
			// Flush reopens nothing for good: a recovered log has to
			// sync every segment.
			if err := l.Flush(); err != nil {
				t.Fatal(err)
			}
			if d := openFds(t) - before; d > n+slack {
				t.Fatalf("after flush %d descriptors for %d segments", d, n)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if d := openFds(t) - before; d > 0 {
				t.Fatalf("%d descriptors left after close", d)
			}
		})
	}
}

// TestIndexFollowsRename checks that the operations that reopen an index
// file by name find it after a rename, and that a writable index closed
// under its new name is trimmed there.
func TestIndexFollowsRename(t *testing.T) {
	cases := []struct {
		name    string
		entries int
		op      func(x *mmapIndex) error
		want    int // entries on disk afterwards
	}{
		{"close trims", 3, func(x *mmapIndex) error { return x.close() }, 3},
		{"trim then sync", 2, func(x *mmapIndex) error {
			if err := x.trim(); err != nil {
				return err
			}
			return x.sync()
		}, 2},
		{"sync of an empty index", 0, func(x *mmapIndex) error {
			if err := x.trim(); err != nil {
				return err
			}
			return x.sync()
		}, 0},
		{"reset", 3, func(x *mmapIndex) error {
			if err := x.reset(64); err != nil {
				return err
			}
			if err := x.appendOffset(105, 7); err != nil {
				return err
			}
			return x.close()
		}, 1},
		{"remap writable", 1, func(x *mmapIndex) error {
			if err := x.trim(); err != nil {
				return err
			}
			if err := x.unmap(); err != nil {
				return err
			}
			if err := x.mapFile(64); err != nil {
				return err
			}
			if err := x.appendOffset(150, 9); err != nil {
				return err
			}
			return x.close()
		}, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "00000000000000000100.index")
			x, problem, err := openIndex(path, offsetIndexEntrySize, 100, 64)
			if err != nil || problem != nil {
				t.Fatalf("open: %v %v", err, problem)
			}
			for i := 0; i < tc.entries; i++ {
				if err := x.appendOffset(int64(101+i), int64(10*i)); err != nil {
					t.Fatal(err)
				}
			}
			to := path + deletedSuffix
			if err := x.rename(to); err != nil {
				t.Fatal(err)
			}
			if x.currentPath() != to {
				t.Fatalf("path %s after rename, want %s", x.currentPath(), to)
			}
			if err := tc.op(x); err != nil {
				t.Fatalf("after rename: %v", err)
			}
			x.unmap()
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Fatalf("old name came back: %v", err)
			}
			data, err := os.ReadFile(to)
			if err != nil {
				t.Fatal(err)
			}
			if len(data) != tc.want*offsetIndexEntrySize {
				t.Fatalf("%d bytes on disk, want %d entries", len(data), tc.want)
			}
			if tc.want > 0 {
				last := data[len(data)-offsetIndexEntrySize:]
				if rel := binary.BigEndian.Uint32(last); rel == 0 || bytes.Equal(last, make([]byte, offsetIndexEntrySize)) {
					t.Fatalf("last entry %x is empty", last)
				}
			}
		})
	}
}
