package log

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fillUpdates appends batches of updates of nkeys keys and returns the
// expected latest record per key over offsets below upTo (all if -1).
func fillUpdates(t *testing.T, l *Log, codec, batches, nkeys int) {
	t.Helper()
	n := 0
	for i := 0; i < batches; i++ {
		var recs []kv
		for j := 0; j < 4; j++ {
			recs = append(recs, keyed(fmt.Sprintf("key-%03d", n%nkeys), fmt.Sprintf("value-%d-%s", n, strings.Repeat("x", n%13))))
			n++
		}
		appendKeyed(t, l, codec, fixedNow.UnixMilli()+int64(i), recs...)
	}
}

// latestBelow returns each key's last record among recs with offset < end.
func latestBelow(recs []readRecord, end int64) map[string]readRecord {
	out := map[string]readRecord{}
	for _, r := range recs {
		if r.offset < end {
			out[r.key] = r
		}
	}
	return out
}

func TestCleanerKeepsLatestValuePerKey(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec int
	}{{"none", codecNone}, {"gzip", codecGzip}, {"snappy", codecSnappy}, {"lz4", codecLZ4}, {"zstd", codecZstd}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			clock := newTestClock()
			m := newCleanerManager(t, dir, clock)
			l, err := m.GetOrCreateLog("c", 0, compactedConfig())
			if err != nil {
				t.Fatal(err)
			}
			fillUpdates(t, l, tc.codec, 300, 10)
			appendKeyed(t, l, tc.codec, fixedNow.UnixMilli(), keyed("key-000", "in-active"))
			l.SetHighWatermark(l.LogEndOffset())
			before := readRecords(t, l)
			segsBefore := l.NumSegments()
			activeBase := l.activeSegment().base
			activeBytes := readSegmentFile(t, l.activeSegment())

			c, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
			cleaned, err := c.cleanFilthiest(cl)
			if err != nil || !cleaned {
				t.Fatalf("cleanFilthiest = %v, %v", cleaned, err)
			}
			after := readRecords(t, l)
			checkCompacted(t, before, after, activeBase)
			// Groups are formed from the sizes before cleaning, as in
			// Kafka: the segments merge on the next pass.
			cleanNow(t, cl, l, clockMs(clock))
			if got := readRecords(t, l); !reflect.DeepEqual(got, after) {
				t.Errorf("second pass changed the content:\n%v\nwant\n%v", got, after)
			}
			if got := l.NumSegments(); got != 2 || segsBefore < 4 {
				t.Errorf("segments: %d before, %d after two passes, want 2", segsBefore, got)
			}
			if l.activeSegment().base != activeBase || !bytes.Equal(readSegmentFile(t, l.activeSegment()), activeBytes) {
				t.Error("the active segment changed")
			}
			checkLookups(t, l, after)
			if ck := m.CleanerCheckpoints()[TopicPartition{"c", 0}]; ck != activeBase {
				t.Errorf("checkpoint = %d, want %d", ck, activeBase)
			}
			got, err := ReadOffsetCheckpoint(filepath.Join(dir, CleanerOffsetCheckpointFile))
			if err != nil || got[TopicPartition{"c", 0}] != activeBase {
				t.Errorf("cleaner-offset-checkpoint = %v, %v", got, err)
			}

			// Reopen: same content, and the checkpoint is read back.
			if err := m.Shutdown(); err != nil {
				t.Fatal(err)
			}
			m2 := newCleanerManager(t, dir, clock)
			defer m2.Shutdown()
			attachCleaner(t, m2, CleanerConfig{DedupeBufferSize: 1 << 20})
			if got := readRecords(t, m2.GetLog("c", 0)); !reflect.DeepEqual(got, after) {
				t.Errorf("after reopen:\n%v\nwant\n%v", got, after)
			}
			if ck := m2.CleanerCheckpoints()[TopicPartition{"c", 0}]; ck != activeBase {
				t.Errorf("checkpoint after reopen = %d, want %d", ck, activeBase)
			}
		})
	}
}

// checkCompacted checks after against before: below cleanedTo, exactly the
// latest record of each key at its original offset; from there on, the
// same records.
func checkCompacted(t *testing.T, before, after []readRecord, cleanedTo int64) {
	t.Helper()
	want := latestBelow(before, cleanedTo)
	seen := map[string]bool{}
	var tail, wantTail []readRecord
	for _, r := range after {
		if r.offset >= cleanedTo {
			tail = append(tail, r)
			continue
		}
		if seen[r.key] {
			t.Errorf("key %s appears twice in the cleaned section (at %d)", r.key, r.offset)
		}
		seen[r.key] = true
		if w := want[r.key]; w != r {
			t.Errorf("cleaned section holds %v, want %v", r, w)
		}
	}
	if len(seen) != len(want) {
		t.Errorf("cleaned section has %d keys, want %d", len(seen), len(want))
	}
	for _, r := range before {
		if r.offset >= cleanedTo {
			wantTail = append(wantTail, r)
		}
	}
	if !reflect.DeepEqual(tail, wantTail) {
		t.Errorf("uncleaned section changed: %v, want %v", tail, wantTail)
	}
}

// checkLookups reads from each surviving offset and expects the batch
// holding it first.
func checkLookups(t *testing.T, l *Log, recs []readRecord) {
	t.Helper()
	for _, r := range recs {
		ri, err := l.Read(r.offset, 1, l.LogEndOffset(), true)
		if err != nil {
			t.Fatalf("read at %d: %v", r.offset, err)
		}
		data, err := ri.AppendTo(nil)
		if err != nil || len(data) < batchHeaderSize {
			t.Fatalf("read at %d: %d bytes, %v", r.offset, len(data), err)
		}
		b := batchView(data)
		if b.baseOffset() > r.offset || b.lastOffset() < r.offset {
			t.Fatalf("read at %d returned batch [%d, %d]", r.offset, b.baseOffset(), b.lastOffset())
		}
	}
}

func readSegmentFile(t testing.TB, s *segment) []byte {
	t.Helper()
	b := make([]byte, s.size.Load())
	if _, err := s.log.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCleanerTombstonesKeptUntilDeleteHorizon(t *testing.T) {
	const retention = 10_000
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	cfg := compactedConfig()
	cfg.DeleteRetentionMs = retention
	l, err := m.GetOrCreateLog("c", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ts := fixedNow.UnixMilli()
	appendKeyed(t, l, codecNone, ts, keyed("a", "1"), keyed("b", "1"))
	appendKeyed(t, l, codecNone, ts, tombstone("a"), keyed("c", "1"))
	roll(t, l)
	appendKeyed(t, l, codecNone, ts, keyed("d", "1"))
	l.SetHighWatermark(l.LogEndOffset())
	_, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})

	t0 := clockMs(clock)
	for _, step := range []struct {
		now  int64
		want string
	}{
		// The first pass sees the tombstone and sets its delete horizon.
		{t0, "1:b=1 2:a=<nil> 3:c=1 4:d=1"},
		{t0 + retention - 1, "1:b=1 2:a=<nil> 3:c=1 4:d=1"},
		{t0 + retention, "1:b=1 3:c=1 4:d=1"},
	} {
		setClock(clock, step.now)
		cleanNow(t, cl, l, step.now)
		var got []string
		for _, r := range readRecords(t, l) {
			got = append(got, r.String())
		}
		if strings.Join(got, " ") != step.want {
			t.Errorf("at +%dms: %s, want %s", step.now-t0, strings.Join(got, " "), step.want)
		}
	}
}

func TestCleanerKeepsRecordTimestampsWhenSettingHorizon(t *testing.T) {
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	ts := fixedNow.UnixMilli() - 5000
	appendKeyed(t, l, codecGzip, ts, keyed("a", "1"), keyed("b", "1"), tombstone("x"))
	appendKeyed(t, l, codecGzip, ts+100, keyed("a", "2"))
	roll(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	before := readRecords(t, l)
	_, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	cleanNow(t, cl, l, clockMs(clock))
	after := readRecords(t, l)
	want := []readRecord{before[1], before[2], before[3]}
	if !reflect.DeepEqual(after, want) {
		t.Errorf("after cleaning: %v (ts %v), want %v", after, after, want)
	}
	data := readSegmentFile(t, l.segments[0])
	if b := batchView(data); b.attributes()&attrDeleteHorizon == 0 || b.baseTimestamp() != clockMs(clock)+compactedConfig().DeleteRetentionMs {
		t.Errorf("first batch: attributes %#x, base timestamp %d", b.attributes(), b.baseTimestamp())
	}
}

func TestCleanerLeavesNonCompactedLogsAndHonoursDirtyRatio(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy string
		ratio  float64
		want   bool
	}{
		{"delete policy", "delete", 0, false},
		{"ratio above", "compact", 0.1, true},
		{"ratio not above", "compact", 1, false}, // a never cleaned log is 100% dirty
		{"compact,delete", "compact,delete", 0.1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newTestClock()
			m := newCleanerManager(t, t.TempDir(), clock)
			defer m.Shutdown()
			cfg := compactedConfig()
			cfg.CleanupPolicy, cfg.MinCleanableDirtyRatio = tc.policy, tc.ratio
			cfg.RetentionMs = -1
			l, _ := m.GetOrCreateLog("c", 0, cfg)
			fillUpdates(t, l, codecNone, 100, 5)
			l.SetHighWatermark(l.LogEndOffset())
			files := dirListing(t, l.Dir())
			c, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
			cleaned, err := c.cleanFilthiest(cl)
			if err != nil {
				t.Fatal(err)
			}
			if cleaned != tc.want {
				t.Fatalf("cleaned = %v, want %v", cleaned, tc.want)
			}
			if !tc.want && !reflect.DeepEqual(dirListing(t, l.Dir()), files) {
				t.Error("files of an uncleaned log changed")
			}
		})
	}
}

func TestCleanerDirtyRatioAfterPass(t *testing.T) {
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	fillUpdates(t, l, codecNone, 100, 400) // distinct keys: the clean section stays large
	roll(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	c, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	if ok, err := c.cleanFilthiest(cl); !ok || err != nil {
		t.Fatalf("first pass: %v %v", ok, err)
	}
	// Nothing new: nothing to clean.
	if ok, _ := c.cleanFilthiest(cl); ok {
		t.Fatal("a clean log was cleaned again")
	}
	// A little new data: below the 0.5 ratio.
	fillUpdates(t, l, codecNone, 1, 5)
	roll(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	if ok, _ := c.cleanFilthiest(cl); ok {
		t.Fatal("a log below min.cleanable.dirty.ratio was cleaned")
	}
	// Lots of new data: above it.
	fillUpdates(t, l, codecNone, 200, 5)
	l.SetHighWatermark(l.LogEndOffset())
	if ok, err := c.cleanFilthiest(cl); !ok || err != nil {
		t.Fatalf("dirty log not cleaned: %v %v", ok, err)
	}
}

func TestCleanerPauseAndResume(t *testing.T) {
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	fillUpdates(t, l, codecNone, 100, 5)
	l.SetHighWatermark(l.LogEndOffset())
	c, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	tp := TopicPartition{"c", 0}
	m.AbortAndPauseCleaning(tp)
	m.AbortAndPauseCleaning(tp)
	if ok, _ := c.cleanFilthiest(cl); ok {
		t.Fatal("a paused log was cleaned")
	}
	m.ResumeCleaning(tp)
	if ok, _ := c.cleanFilthiest(cl); ok {
		t.Fatal("a log paused twice and resumed once was cleaned")
	}
	m.ResumeCleaning(tp)
	if ok, err := c.cleanFilthiest(cl); !ok || err != nil {
		t.Fatalf("resumed log not cleaned: %v %v", ok, err)
	}
}

// A truncation while a pass runs makes the swap refuse: the log keeps its
// truncated content and no cleaner files are left.
func TestCleanerSwapRefusedAfterTruncation(t *testing.T) {
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	fillUpdates(t, l, codecNone, 200, 5)
	l.SetHighWatermark(l.LogEndOffset())
	c, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	cut := l.segments[1].base
	truncated := false
	cl.aborted = func() bool {
		if !truncated {
			truncated = true
			if _, err := l.TruncateTo(cut); err != nil {
				t.Error(err)
			}
		}
		return false
	}
	want := func() []readRecord {
		var out []readRecord
		for _, r := range readRecords(t, l) {
			if r.offset < cut {
				out = append(out, r)
			}
		}
		return out
	}()
	v, _ := l.cleanerView()
	ltc, _ := cleanableOffsets(v, -1, clockMs(clock))
	ltc.log = l
	if _, _, err := cl.clean(ltc, clockMs(clock)); err != errCleaningAborted {
		t.Fatalf("clean = %v, want errCleaningAborted", err)
	}
	if got := readRecords(t, l); !reflect.DeepEqual(got, want) {
		t.Errorf("log after refused swap: %v, want %v", got, want)
	}
	for _, f := range dirListing(t, l.Dir()) {
		if strings.HasSuffix(f, cleanedSuffix) || strings.HasSuffix(f, swapSuffix) {
			t.Errorf("leftover %s", f)
		}
	}
	_ = c
}

func dirListing(t testing.TB, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		info, err := e.Info()
		if err != nil || strings.HasSuffix(e.Name(), deletedSuffix) {
			continue // going away under a delayed delete
		}
		out = append(out, fmt.Sprintf("%s %d", e.Name(), info.Size()))
	}
	return out
}

func TestCleanerKeepsLastBatchOfProducerEmpty(t *testing.T) {
	clock := newTestClock()
	m := newCleanerManager(t, t.TempDir(), clock)
	defer m.Shutdown()
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	ts := fixedNow.UnixMilli()
	for i, spec := range []batchSpec{
		{records: []testRecord{{key: []byte("a"), value: []byte("p1")}}, producerID: 7, baseSeq: 0, baseTs: ts},
		{records: []testRecord{{key: []byte("a"), value: []byte("p2")}}, producerID: 7, baseSeq: 1, baseTs: ts},
		{records: []testRecord{{key: []byte("a"), value: []byte("x")}}, baseTs: ts},
	} {
		if _, err := l.AppendAsLeader(buildBatch(t, spec), 0); err != nil {
			t.Fatalf("batch %d: %v", i, err)
		}
	}
	roll(t, l)
	l.SetHighWatermark(l.LogEndOffset())
	_, cl := attachCleaner(t, m, CleanerConfig{DedupeBufferSize: 1 << 20})
	cleanNow(t, cl, l, clockMs(clock))
	var got []string
	for _, pb := range splitBatches(t, readSegmentFile(t, l.segments[0])) {
		b := batchView(pb.raw)
		got = append(got, fmt.Sprintf("[%d,%d] pid=%d seq=%d n=%d", b.baseOffset(), b.lastOffset(), b.producerID(), b.baseSequence(), b.recordsCount()))
	}
	want := []string{"[1,1] pid=7 seq=1 n=0", "[2,2] pid=-1 seq=-1 n=1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batches %v, want %v", got, want)
	}
}
