package log

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	es, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if strings.HasSuffix(e.Name(), deletedSuffix) {
			continue // going away under a delayed delete
		}
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func openForTest(t *testing.T, dir string, clean bool) *Log {
	t.Helper()
	l, err := openLog(dir, "c", 0, compactedConfig(),
		loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: clean},
		testLogger(t), func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// A crash at any point of the swap protocol reopens as either the log
// before the pass or the log after it.
func TestCleanerCrashDuringSwap(t *testing.T) {
	root := t.TempDir()
	clock := newTestClock()
	m := newCleanerManager(t, filepath.Join(root, "data"), clock)
	l, err := m.GetOrCreateLog("c", 0, compactedConfig())
	if err != nil {
		t.Fatal(err)
	}
	fillUpdates(t, l, codecNone, 150, 10)
	roll(t, l)
	appendKeyed(t, l, codecNone, fixedNow.UnixMilli(), keyed("other", "v"))
	l.SetHighWatermark(l.LogEndOffset())
	// One group: the whole sealed log becomes one segment at base 0.
	cfg := compactedConfig()
	cfg.SegmentBytes = 1 << 20
	l.UpdateConfig(cfg)
	before := readRecords(t, l)
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	pre := filepath.Join(root, "pre")
	copyDir(t, l.Dir(), pre)
	var oldBases []int64
	for _, s := range l.segments[:len(l.segments)-1] {
		oldBases = append(oldBases, s.base)
	}
	_, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	cleanNow(t, cl, l, clockMs(clock))
	after := readRecords(t, l)
	if l.segments[0].base != 0 || len(l.segments) != 2 {
		t.Fatalf("expected one cleaned segment at 0 and the active one, got %v", segmentBases(l.segments))
	}
	post := filepath.Join(root, "post")
	copyDir(t, l.Dir(), post)
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}

	newFile := func(suffix string) string { return filepath.Base(segmentPath("", 0, suffix)) }
	put := func(t *testing.T, dir, name, as string) {
		b, err := os.ReadFile(filepath.Join(post, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, as), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	renameOld := func(t *testing.T, dir string) {
		for _, base := range oldBases {
			for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				p := filepath.Join(dir, filepath.Base(segmentPath("", base, sfx)))
				if err := os.Rename(p, p+deletedSuffix); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  []readRecord
	}{
		{"cleaned files written", func(t *testing.T, dir string) {
			for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				put(t, dir, newFile(sfx), newFile(sfx)+cleanedSuffix)
			}
		}, before},
		{"log renamed to swap", func(t *testing.T, dir string) {
			put(t, dir, newFile(logSuffix), newFile(logSuffix)+swapSuffix)
			for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
				put(t, dir, newFile(sfx), newFile(sfx)+cleanedSuffix)
			}
		}, after},
		{"all swap files, old segments in place", func(t *testing.T, dir string) {
			for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				put(t, dir, newFile(sfx), newFile(sfx)+swapSuffix)
			}
		}, after},
		{"old segments renamed deleted", func(t *testing.T, dir string) {
			renameOld(t, dir)
			for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
				put(t, dir, newFile(sfx), newFile(sfx)+swapSuffix)
			}
		}, after},
		{"indexes already final", func(t *testing.T, dir string) {
			renameOld(t, dir)
			put(t, dir, newFile(indexSuffix), newFile(indexSuffix))
			put(t, dir, newFile(timeIndexSuffix), newFile(timeIndexSuffix))
			put(t, dir, newFile(logSuffix), newFile(logSuffix)+swapSuffix)
		}, after},
	} {
		for _, clean := range []bool{true, false} {
			name := tc.name + map[bool]string{true: " clean", false: " unclean"}[clean]
			t.Run(name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "c-0")
				copyDir(t, pre, dir)
				tc.setup(t, dir)
				l := openForTest(t, dir, clean)
				if got := readRecords(t, l); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("reopened log:\n%v\nwant\n%v", got, tc.want)
				}
				for _, f := range dirListing(t, dir) {
					if strings.Contains(f, cleanedSuffix) || strings.Contains(f, swapSuffix) {
						t.Errorf("leftover %s", f)
					}
				}
			})
		}
	}
}
