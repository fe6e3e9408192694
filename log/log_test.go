package log

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
)

func testLogger(t testing.TB) *logrus.Entry {
	l := logrus.New()
	l.Out = testWriter{t}
	l.Level = logrus.WarnLevel
	return logrus.NewEntry(l)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimSpace(p)))
	return len(p), nil
}

var fixedNow = time.UnixMilli(1_700_000_000_000)

func newTestLog(t testing.TB, cfg Config) *Log {
	t.Helper()
	l, err := openLog(filepath.Join(t.TempDir(), "t-0"), "t", 0, cfg,
		loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true},
		testLogger(t), func() time.Time { return fixedNow })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestAppendAsLeaderAssignsOffsetsInPlace(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	b1 := simpleBatch(t, 3, 10, fixedNow.UnixMilli())
	b2 := simpleBatch(t, 2, 10, fixedNow.UnixMilli())
	in := append(append([]byte(nil), b1...), b2...)
	info, err := l.AppendAsLeader(in, 7)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 0 || info.LastOffset != 4 || info.NumRecords != 5 || info.LogAppendTime != -1 {
		t.Fatalf("info %+v", info)
	}
	info, err = l.AppendAsLeader(simpleBatch(t, 4, 10, fixedNow.UnixMilli()), 8)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != 5 || info.LastOffset != 8 || l.LogEndOffset() != 9 {
		t.Fatalf("info %+v leo %d", info, l.LogEndOffset())
	}
	ri, err := l.Read(0, 1<<20, l.LogEndOffset(), false)
	if err != nil {
		t.Fatal(err)
	}
	got := splitBatches(t, regionBytes(t, ri))
	want := []struct {
		base, last int64
		epoch      int32
	}{{0, 2, 7}, {3, 4, 7}, {5, 8, 8}}
	if len(got) != len(want) {
		t.Fatalf("got %d batches", len(got))
	}
	for i, w := range want {
		ep := int32(batchView(got[i].raw)[offLeaderEpoch])<<24 | int32(got[i].raw[offLeaderEpoch+1])<<16 | int32(got[i].raw[offLeaderEpoch+2])<<8 | int32(got[i].raw[offLeaderEpoch+3])
		if got[i].base != w.base || got[i].last != w.last || ep != w.epoch {
			t.Fatalf("batch %d: [%d,%d] epoch %d, want %+v", i, got[i].base, got[i].last, ep, w)
		}
	}
	// Bytes other than baseOffset/epoch are stored exactly as received.
	if !bytes.Equal(got[0].raw[offMagic:], b1[offMagic:]) {
		t.Fatal("stored batch differs from the one sent")
	}
}

func TestAppendLogAppendTime(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MessageTimestampType = "LogAppendTime"
	l := newTestLog(t, cfg)
	info, err := l.AppendAsLeader(simpleBatch(t, 2, 10, 5), 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.LogAppendTime != fixedNow.UnixMilli() || info.MaxTimestamp != fixedNow.UnixMilli() {
		t.Fatalf("info %+v", info)
	}
	ri, _ := l.Read(0, 1<<20, 100, false)
	b := batchView(splitBatches(t, regionBytes(t, ri))[0].raw) // splitBatches checks the CRC
	if b.attributes()&attrLogAppendTime == 0 || b.maxTimestamp() != fixedNow.UnixMilli() {
		t.Fatalf("attributes %x maxTimestamp %d", b.attributes(), b.maxTimestamp())
	}
}

func TestAppendRejectsWithoutStoring(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4096
	l := newTestLog(t, cfg)
	if _, err := l.AppendAsLeader(simpleBatch(t, 1, 10, 1), 0); err != nil {
		t.Fatal(err)
	}
	good := simpleBatch(t, 2, 10, 1)
	bad := simpleBatch(t, 2, 10, 1)
	bad[len(bad)-1] ^= 0xff
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"corrupt second batch", append(append([]byte(nil), good...), bad...), ErrCorruptMessage},
		{"truncated", good[:len(good)-1], ErrInvalidRecord},
		{"larger than segment", simpleBatch(t, 40, 100, 1), ErrRecordListTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			size := l.Size()
			_, err := l.AppendAsLeader(tc.in, 0)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v want %v", err, tc.want)
			}
			if l.LogEndOffset() != 1 || l.Size() != size {
				t.Fatalf("log changed: leo %d size %d->%d", l.LogEndOffset(), size, l.Size())
			}
		})
	}
}

func TestHighWatermarkClamped(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	l.AppendAsLeader(simpleBatch(t, 3, 1, 1), 0)
	for _, tc := range []struct{ set, want int64 }{{2, 2}, {10, 3}, {-5, 0}} {
		l.SetHighWatermark(tc.set)
		if got := l.HighWatermark(); got != tc.want {
			t.Fatalf("SetHighWatermark(%d) -> %d, want %d", tc.set, got, tc.want)
		}
	}
}

// TestIndexLookupMatchesLinearScan appends random batches across many
// segment rolls and checks that Read starts at the batch holding each
// offset, against a linear scan of what was appended.
func TestIndexLookupMatchesLinearScan(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	cfg.IndexIntervalBytes = 512
	cfg.SegmentIndexBytes = 10 * offsetIndexEntrySize // small: index-full rolls too
	l := newTestLog(t, cfg)
	rng := rand.New(rand.NewSource(1))
	type span struct{ base, last int64 }
	var all []span
	for i := 0; i < 400; i++ {
		n := 1 + rng.Intn(8)
		info, err := l.AppendAsLeader(simpleBatch(t, n, rng.Intn(300), 1), 0)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, span{info.FirstOffset, info.LastOffset})
	}
	if l.NumSegments() < 5 {
		t.Fatalf("only %d segments; the test wants several rolls", l.NumSegments())
	}
	leo := l.LogEndOffset()
	for i := 0; i < 500; i++ {
		off := rng.Int63n(leo)
		var want span
		for _, s := range all {
			if s.last >= off {
				want = s
				break
			}
		}
		ri, err := l.Read(off, 1, leo, true)
		if err != nil {
			t.Fatal(err)
		}
		got := splitBatches(t, regionBytes(t, ri))
		if len(got) != 1 || got[0].base != want.base || got[0].last != want.last {
			t.Fatalf("Read(%d) got %+v want %+v", off, got, want)
		}
	}
	// A large read crosses segment boundaries and returns everything in order.
	ri, err := l.Read(0, 1<<30, leo, false)
	if err != nil {
		t.Fatal(err)
	}
	got := splitBatches(t, regionBytes(t, ri))
	if len(got) != len(all) {
		t.Fatalf("full read: %d batches, want %d", len(got), len(all))
	}
	for i := range got {
		if got[i].base != all[i].base {
			t.Fatalf("batch %d base %d want %d", i, got[i].base, all[i].base)
		}
	}
}

func TestIndexFilesTrimmedAndSparse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 1000
	l := newTestLog(t, cfg)
	for i := 0; i < 60; i++ {
		if _, err := l.AppendAsLeader(simpleBatch(t, 3, 200, int64(1000+i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	dir := l.Dir()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var logs int
	for _, e := range entries {
		name := e.Name()
		info, _ := e.Info()
		switch filepath.Ext(name) {
		case ".log":
			logs++
		case ".index":
			if info.Size()%8 != 0 || info.Size() == 0 || info.Size() >= int64(cfg.SegmentIndexBytes) {
				t.Fatalf("%s has %d bytes", name, info.Size())
			}
		case ".timeindex":
			if info.Size()%12 != 0 || info.Size() == 0 || info.Size() >= int64(cfg.SegmentIndexBytes) {
				t.Fatalf("%s has %d bytes", name, info.Size())
			}
		}
	}
	if logs < 2 {
		t.Fatalf("%d segments", logs)
	}
	// Every index entry points at the start of a batch whose last offset is
	// the entry's offset.
	seg0 := segmentPath(dir, 0, indexSuffix)
	idx, _ := os.ReadFile(seg0)
	data, _ := os.ReadFile(segmentPath(dir, 0, logSuffix))
	for i := 0; i+8 <= len(idx); i += 8 {
		rel := int64(idx[i])<<24 | int64(idx[i+1])<<16 | int64(idx[i+2])<<8 | int64(idx[i+3])
		pos := int(idx[i+4])<<24 | int(idx[i+5])<<16 | int(idx[i+6])<<8 | int(idx[i+7])
		if b := batchView(data[pos:]); b.lastOffset() != rel {
			t.Fatalf("entry %d: offset %d but batch at %d ends at %d", i/8, rel, pos, b.lastOffset())
		}
	}
}

func TestAppendAsFollower(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	b := simpleBatch(t, 3, 10, 1)
	batchView(b).setBaseOffset(0)
	if _, err := l.AppendAsFollower(b); err != nil {
		t.Fatal(err)
	}
	c := simpleBatch(t, 2, 10, 1)
	batchView(c).setBaseOffset(10) // gaps are allowed (compacted leaders)
	info, err := l.AppendAsFollower(c)
	if err != nil || info.FirstOffset != 10 || l.LogEndOffset() != 12 {
		t.Fatalf("info %+v err %v leo %d", info, err, l.LogEndOffset())
	}
	d := simpleBatch(t, 1, 10, 1)
	batchView(d).setBaseOffset(11)
	if _, err := l.AppendAsFollower(d); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("append below LEO: %v", err)
	}
}
