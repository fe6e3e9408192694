package log

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
)

func truncConfig() Config {
	cfg := crashConfig()
	cfg.SegmentBytes = 2 << 10
	cfg.FileDeleteDelayMs = 20
	return cfg
}

// epochEntriesBelow is the part of entries a truncation to offset keeps.
func epochEntriesBelow(entries []EpochEntry, offset int64) []EpochEntry {
	var out []EpochEntry
	for _, e := range entries {
		if e.StartOffset < offset {
			out = append(out, e)
		}
	}
	return out
}

// buildTruncLog writes 8 batches of 3 records at each of epochs 0, 2 and 5
// (offsets 0-71) over several segments, and marks everything committed.
func buildTruncLog(t *testing.T, dir string, cfg Config) (*Log, []parsedBatch) {
	t.Helper()
	l := openTestLogAt(t, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	for i := range 24 {
		// Growing timestamps, so a segment's largest one depends on
		// which batches it still holds.
		b := simpleBatch(t, 3, 100, fixedNow.UnixMilli()+int64(i)*10)
		if _, err := l.AppendAsLeader(b, []int32{0, 2, 5}[i/8]); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(l.LogEndOffset())
	if l.NumSegments() < 4 || l.LogEndOffset() != 72 {
		t.Fatalf("%d segments, LEO %d", l.NumSegments(), l.LogEndOffset())
	}
	return l, splitBatches(t, readAll(t, l))
}

// checkServes checks that every offset of the log reads back, from the
// batch holding it, the bytes the log held before, and that nothing is
// served at or past the end.
func checkServes(t *testing.T, l *Log, orig []parsedBatch) {
	t.Helper()
	leo := l.LogEndOffset()
	var want []byte
	for _, b := range orig {
		if b.last < leo && b.base >= l.LogStartOffset() {
			want = append(want, b.raw...)
		}
	}
	if got := readAll(t, l); !bytes.Equal(got, want) {
		t.Fatalf("log holds %d bytes, want %d", len(got), len(want))
	}
	for o := l.LogStartOffset(); o < leo; o++ {
		i := slices.IndexFunc(orig, func(b parsedBatch) bool { return b.base <= o && o <= b.last })
		got := splitBatches(t, regionBytes(t, mustRead(t, l, o, 1<<20, leo, true)))
		if orig[i].last >= leo {
			// The cut removed the whole batch holding o, as Kafka's does.
			if len(got) != 0 {
				t.Fatalf("read at %d, in a batch cut off, returned %d batches", o, len(got))
			}
			continue
		}
		if len(got) == 0 || !bytes.Equal(got[0].raw, orig[i].raw) {
			t.Fatalf("read at %d does not start with batch [%d, %d]", o, orig[i].base, orig[i].last)
		}
	}
	if ri := mustRead(t, l, leo, 1<<20, leo+100, true); len(ri.Regions) != 0 {
		t.Fatalf("read at the log end returned %d bytes", ri.Size)
	}
	if _, err := l.Read(leo+1, 1<<20, leo+100, true); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read past the end: %v", err)
	}
}

// checkMaxTimestamp: the largest timestamp left, with its batch's last
// offset, is what ListOffsets(MAX_TIMESTAMP) answers after a cut.
func checkMaxTimestamp(t *testing.T, l *Log, orig []parsedBatch) {
	t.Helper()
	want := TimestampOffset{Timestamp: noTimestamp}
	for _, b := range orig {
		if ts := batchView(b.raw).maxTimestamp(); b.last < l.LogEndOffset() && ts > want.Timestamp {
			want.Timestamp, want.Offset = ts, b.last
		}
	}
	if want.Timestamp == noTimestamp {
		return
	}
	got, ok, err := l.FetchOffsetByTimestamp(MaxTimestamp)
	if err != nil || !ok || got.Timestamp != want.Timestamp || got.Offset != want.Offset {
		t.Fatalf("max timestamp %+v %v %v, want %d at %d", got, ok, err, want.Timestamp, want.Offset)
	}
}

// state is what a reopen must reproduce.
type logState struct {
	leo, start int64
	entries    []EpochEntry
	data       []byte
}

func stateOf(t *testing.T, l *Log) logState {
	return logState{l.LogEndOffset(), l.LogStartOffset(), l.EpochEntries(), readAll(t, l)}
}

func (s logState) check(t *testing.T, l *Log, what string) {
	t.Helper()
	got := stateOf(t, l)
	if got.leo != s.leo || got.start != s.start || !slices.Equal(got.entries, s.entries) || !bytes.Equal(got.data, s.data) {
		t.Fatalf("%s: LEO %d start %d entries %v (%d bytes), want LEO %d start %d entries %v (%d bytes)",
			what, got.leo, got.start, got.entries, len(got.data), s.leo, s.start, s.entries, len(s.data))
	}
}

// reopen closes l and opens its directory again, failing on any warning
// of a clean load (an index left inconsistent would be rebuilt with one).
func reopen(t *testing.T, l *Log, cfg Config, clean bool) *Log {
	t.Helper()
	opts := reopenOpts(l, clean)
	if !clean {
		opts.recoveryPoint = 0
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	logger, hook := logtest.NewNullLogger()
	l2, err := openLog(l.Dir(), "t", 0, cfg, opts, logrus.NewEntry(logger), func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	if n := warnings(hook); clean && n > 0 {
		t.Fatalf("clean reopen logged %d warnings: %v", n, hook.AllEntries()[0].Message)
	}
	return l2
}

func waitNoDeletedFiles(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, _ := filepath.Glob(filepath.Join(dir, "*"+deletedSuffix))
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf(".deleted files still there: %v", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestTruncateTo(t *testing.T) {
	cfg := truncConfig()
	// Offsets of interest come from the layout: segment bases, and a
	// batch boundary inside a segment.
	probe, _ := buildTruncLog(t, filepath.Join(t.TempDir(), "t-0"), cfg)
	var bases []int64
	for _, s := range probe.segments {
		bases = append(bases, s.base)
	}
	probe.Close()
	midSegment := bases[1] + 3 // the second batch of the second segment
	if midSegment >= bases[2] {
		t.Fatalf("segment bases %v leave no batch boundary inside a segment", bases)
	}

	tests := []struct {
		name      string
		prepare   func(t *testing.T, l *Log)
		offset    int64
		truncated bool
		fully     bool // the log restarts empty at offset
	}{
		{"at the log end", nil, 72, false, false},
		{"past the log end", nil, 100, false, false},
		{"mid segment", nil, midSegment, true, false},
		{"at a segment base", nil, bases[2], true, false},
		{"at the last segment base", nil, bases[len(bases)-1], true, false},
		{"at an epoch start", nil, 48, true, false},
		{"mid batch", nil, 50, true, false},
		{"to zero", nil, 0, true, false},
		{"below the log start", func(t *testing.T, l *Log) {
			if err := l.IncrementLogStartOffset(bases[2] + 3); err != nil {
				t.Fatal(err)
			}
			if _, err := l.DeleteOldSegments(); err != nil {
				t.Fatal(err)
			}
			if l.segments[0].base <= 5 {
				t.Fatalf("first segment still at %d", l.segments[0].base)
			}
		}, 5, true, true},
		{"below the log start within the first segment", func(t *testing.T, l *Log) {
			if err := l.IncrementLogStartOffset(bases[1] + 6); err != nil {
				t.Fatal(err)
			}
			if _, err := l.DeleteOldSegments(); err != nil {
				t.Fatal(err)
			}
		}, bases[1] + 3, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			l, orig := buildTruncLog(t, dir, cfg)
			defer func() { l.Close() }()
			if tc.prepare != nil {
				tc.prepare(t, l)
			}
			entriesBefore, leoBefore, startBefore := l.EpochEntries(), l.LogEndOffset(), l.LogStartOffset()
			segsAbove := 0
			for _, s := range l.segments {
				if s.base > tc.offset {
					segsAbove++
				}
			}

			truncated, err := l.TruncateTo(tc.offset)
			if err != nil || truncated != tc.truncated {
				t.Fatalf("TruncateTo(%d) = %v, %v", tc.offset, truncated, err)
			}
			wantLEO, wantEntries, wantStart := min(tc.offset, leoBefore), epochEntriesBelow(entriesBefore, tc.offset), min(startBefore, tc.offset)
			if tc.fully {
				wantEntries, wantStart = nil, tc.offset
			}
			if l.LogEndOffset() != wantLEO || l.HighWatermark() != wantLEO || l.LogStartOffset() != wantStart || l.RecoveryPoint() > wantLEO {
				t.Fatalf("LEO %d HW %d start %d recovery point %d, want LEO = HW = %d, start %d",
					l.LogEndOffset(), l.HighWatermark(), l.LogStartOffset(), l.RecoveryPoint(), wantLEO, wantStart)
			}
			if got := l.EpochEntries(); !slices.Equal(got, wantEntries) {
				t.Fatalf("entries %v, want %v", got, wantEntries)
			}
			if got := readCheckpoint(t, l); got != string(formatEpochCheckpoint(wantEntries)) {
				t.Fatalf("checkpoint %q, want entries %v", got, wantEntries)
			}
			if tc.fully {
				if l.NumSegments() != 1 || l.Size() != 0 {
					t.Fatalf("%d segments of %d bytes after a full truncation", l.NumSegments(), l.Size())
				}
			} else {
				checkServes(t, l, orig)
				checkMaxTimestamp(t, l, orig)
			}
			if segsAbove > 0 && tc.truncated {
				if left, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix+deletedSuffix)); len(left) == 0 {
					t.Fatal("no segment renamed .deleted")
				}
				waitNoDeletedFiles(t, dir)
			}

			// Appends continue at the new end, in a new epoch, into the
			// segment the cut left active if it has room.
			next := simpleBatch(t, 3, 100, fixedNow.UnixMilli())
			segs, room := l.NumSegments(), l.activeSegment().size.Load()+int64(len(next)) <= cfg.SegmentBytes
			info, err := l.AppendAsLeader(next, 7)
			if err != nil || info.FirstOffset != wantLEO || info.LastOffset != wantLEO+2 {
				t.Fatalf("append after truncation: %+v %v", info, err)
			}
			if room && l.NumSegments() != segs {
				t.Fatalf("append rolled from %d to %d segments although the active one had room", segs, l.NumSegments())
			}
			wantEntries = append(wantEntries, EpochEntry{7, wantLEO})
			if got := l.EpochEntries(); !slices.Equal(got, wantEntries) {
				t.Fatalf("entries after append %v, want %v", got, wantEntries)
			}
			appendEpochs(t, l, 7, 7, 7, 7, 7, 7, 7) // and roll on
			l.SetHighWatermark(l.LogEndOffset())
			want := stateOf(t, l)
			if got := splitBatches(t, want.data); got[len(got)-1].last != want.leo-1 {
				t.Fatalf("last batch ends at %d, LEO %d", got[len(got)-1].last, want.leo)
			}
			l = reopen(t, l, cfg, true)
			want.check(t, l, "clean reopen")
			l = reopen(t, l, cfg, false)
			want.check(t, l, "unclean reopen")
		})
	}
}

func TestTruncateFullyAndStartAt(t *testing.T) {
	cfg := truncConfig()
	for _, at := range []int64{0, 40, 1000} {
		dir := filepath.Join(t.TempDir(), "t-0")
		l, _ := buildTruncLog(t, dir, cfg)
		if err := l.TruncateFullyAndStartAt(at); err != nil {
			t.Fatal(err)
		}
		if l.LogEndOffset() != at || l.LogStartOffset() != at || l.HighWatermark() != at || l.RecoveryPoint() != at ||
			len(l.EpochEntries()) != 0 || l.NumSegments() != 1 {
			t.Fatalf("at %d: LEO %d start %d HW %d rp %d entries %v segments %d", at, l.LogEndOffset(), l.LogStartOffset(),
				l.HighWatermark(), l.RecoveryPoint(), l.EpochEntries(), l.NumSegments())
		}
		if _, err := l.Read(at-1, 100, at, true); at > 0 && !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("read below the new start: %v", err)
		}
		waitNoDeletedFiles(t, dir)
		info, err := l.AppendAsLeader(simpleBatch(t, 3, 100, fixedNow.UnixMilli()), 9)
		if err != nil || info.FirstOffset != at {
			t.Fatalf("append: %+v %v", info, err)
		}
		want := stateOf(t, l)
		if !slices.Equal(want.entries, ee(9, at)) {
			t.Fatalf("entries %v", want.entries)
		}
		l = reopen(t, l, cfg, true)
		want.check(t, l, "clean reopen")
		l = reopen(t, l, cfg, false)
		want.check(t, l, "unclean reopen")
		l.Close()
	}
}

// TestTruncateToNoOpStillCutsEpochs: a leader that assigned its epoch's
// start at its log end and wrote nothing leaves an entry there; becoming a
// follower, its truncation to the leader's end removes it even though no
// record goes (UnifiedLog.truncateTo).
func TestTruncateToNoOpStillCutsEpochs(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	appendEpochs(t, l, 1, 1)
	if err := l.AssignEpochStartOffset(4, l.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	truncated, err := l.TruncateTo(l.LogEndOffset())
	if err != nil || truncated {
		t.Fatalf("TruncateTo(LEO) = %v, %v", truncated, err)
	}
	if got := l.EpochEntries(); !slices.Equal(got, ee(1, 0)) {
		t.Fatalf("entries %v", got)
	}
	if _, err := l.TruncateTo(-1); err == nil {
		t.Fatal("negative offset accepted")
	}
}

// TestKIP101FollowerConverges replays the scenario leader epochs fix: A
// leads epoch 1 and writes past what F replicated; F becomes leader of
// epoch 2 and writes its own records at the same offsets; A comes back as
// follower, truncates to F's end of epoch 1 and fetches with a byte limit
// that tears batches. A must end byte-identical to F.
func TestKIP101FollowerConverges(t *testing.T) {
	cfg := truncConfig()
	a, f := newTestLog(t, cfg), newTestLog(t, cfg)
	replicate := func(to, from *Log, maxBytes int) {
		t.Helper()
		for to.LogEndOffset() < from.LogEndOffset() {
			ri, err := from.Read(to.LogEndOffset(), maxBytes, from.LogEndOffset(), true)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ri.AppendTo(nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := to.AppendAsFollower(b); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendEpochs(t, a, 0, 0, 0, 0, 1, 1, 1)
	replicate(f, a, 1000)
	appendEpochs(t, a, 1, 1, 1) // never replicated: A dies
	if err := f.AssignEpochStartOffset(2, f.LogEndOffset()); err != nil {
		t.Fatal(err)
	}
	appendEpochs(t, f, 2, 2, 2, 2, 2, 2)

	// A, as follower: F's end offset for A's latest epoch.
	latest, _ := a.LatestEpoch()
	epoch, end := f.EndOffsetForEpoch(latest)
	if epoch != 1 || end != 21 {
		t.Fatalf("leader's end for epoch %d: (%d, %d), want (1, 21)", latest, epoch, end)
	}
	if ownEpoch, ownEnd := a.EndOffsetForEpoch(epoch); ownEpoch != epoch {
		t.Fatalf("follower's own entry for epoch %d: (%d, %d)", epoch, ownEpoch, ownEnd)
	}
	if _, err := a.TruncateTo(min(end, a.LogEndOffset())); err != nil {
		t.Fatal(err)
	}
	replicate(a, f, 700) // ~1.5 batches per fetch: most fetches end torn
	if got, want := readAll(t, a), readAll(t, f); !bytes.Equal(got, want) {
		t.Fatalf("follower holds %d bytes, leader %d; they differ", len(got), len(want))
	}
	if got, want := a.EpochEntries(), f.EpochEntries(); !slices.Equal(got, want) || !slices.Equal(want, ee(0, 0, 1, 12, 2, 21)) {
		t.Fatalf("follower entries %v, leader %v", got, want)
	}
}

func TestAppendAsFollowerTornTail(t *testing.T) {
	src := newTestLog(t, DefaultConfig())
	appendEpochs(t, src, 3, 3, 4)
	all := readAll(t, src)
	bs := splitBatches(t, all)
	n0, n1 := len(bs[0].raw), len(bs[1].raw)
	tests := []struct {
		name        string
		in          []byte
		first, last int64
		records     int
		err         bool
	}{
		{"whole batches", all, 0, 8, 9, false},
		{"torn third batch", all[:len(all)-5], 0, 5, 6, false},
		{"torn inside the third header", all[:n0+n1+20], 0, 5, 6, false},
		{"torn before the length", all[:n0+n1+8], 0, 5, 6, false},
		{"only a torn batch", all[:n0-1], -1, -1, 0, false},
		{"a few bytes", all[:7], -1, -1, 0, false},
		{"nothing", nil, -1, -1, 0, false},
		{"corrupt length is not a tail", append(append([]byte(nil), all[:n0]...), 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 5), 0, 0, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newTestLog(t, DefaultConfig())
			info, err := l.AppendAsFollower(append([]byte(nil), tc.in...))
			if tc.err {
				if err == nil {
					t.Fatal("accepted")
				}
				if l.LogEndOffset() != 0 {
					t.Fatalf("LEO %d after a rejected append", l.LogEndOffset())
				}
				return
			}
			if err != nil || info.FirstOffset != tc.first || info.LastOffset != tc.last || info.NumRecords != tc.records {
				t.Fatalf("%+v %v; want first %d last %d records %d", info, err, tc.first, tc.last, tc.records)
			}
			if l.LogEndOffset() != tc.last+1 {
				t.Fatalf("LEO %d", l.LogEndOffset())
			}
			if tc.last >= 0 {
				if got := readAll(t, l); !bytes.Equal(got, all[:len(got)]) || len(splitBatches(t, got)) == 0 {
					t.Fatal("appended bytes differ from the source")
				}
			}
		})
	}
}

// TestReadDuringTruncation: reads racing with truncations and appends
// never panic, never return regions past the end they report, and fail
// only with the errors a moving log can give. Run with -race.
func TestReadDuringTruncation(t *testing.T) {
	cfg := truncConfig()
	l, _ := buildTruncLog(t, filepath.Join(t.TempDir(), "t-0"), cfg)
	defer l.Close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				leo := l.LogEndOffset()
				ri, err := l.Read(max(leo-20, 0), 4096, leo, true)
				if err != nil {
					continue // out of range after a truncation, or a file cut under the read
				}
				if ri.LogEndOffset < 0 || ri.HighWatermark > ri.LogEndOffset {
					t.Errorf("read info %+v", ri)
				}
				if _, err := ri.AppendTo(nil); err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
					t.Errorf("AppendTo: %v", err)
				}
			}
		}()
	}
	for i := range 30 {
		if _, err := l.TruncateTo(l.LogEndOffset() - int64(3*(1+i%4))); err != nil {
			t.Fatal(err)
		}
		l.SetHighWatermark(l.LogEndOffset())
		appendEpochs(t, l, 10+int32(i), 10+int32(i), 10+int32(i))
	}
	close(stop)
	wg.Wait()
	if l.HighWatermark() > l.LogEndOffset() {
		t.Fatalf("HW %d past LEO %d", l.HighWatermark(), l.LogEndOffset())
	}
}

// TestUnexpectedAppendOffset: a follower whose log starts inside the
// leader's first batch (DeleteRecords cut it) gets the typed error, and
// Kafka's remedy, restarting the log at the batch's base, lets it append.
func TestUnexpectedAppendOffset(t *testing.T) {
	src := newTestLog(t, DefaultConfig())
	appendEpochs(t, src, 1, 1)
	l := newTestLog(t, DefaultConfig())
	if err := l.TruncateFullyAndStartAt(4); err != nil {
		t.Fatal(err)
	}
	data := readAll(t, src)
	_, err := l.AppendAsFollower(append([]byte(nil), data...))
	var ue *UnexpectedAppendOffsetError
	if !errors.As(err, &ue) || !errors.Is(err, ErrInvalidRecord) || ue.FirstOffset != 0 || ue.LastOffset != 5 || ue.LogEndOffset != 4 {
		t.Fatalf("error %v (%+v)", err, ue)
	}
	if err := l.TruncateFullyAndStartAt(ue.FirstOffset); err != nil {
		t.Fatal(err)
	}
	if info, err := l.AppendAsFollower(data); err != nil || info.LastOffset != 5 || l.LogEndOffset() != 6 {
		t.Fatalf("append after restart: %+v %v", info, err)
	}
	if got := l.EpochEntries(); !slices.Equal(got, ee(1, 0)) {
		t.Fatalf("entries %v", got)
	}
}
