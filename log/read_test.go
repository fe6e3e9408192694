package log

import (
	"bytes"
	"errors"
	"math/rand"
	"sync"
	"testing"
	"time"
)

// regionBytes copies what a Read returned, checking Size against the regions.
func regionBytes(t testing.TB, ri ReadInfo) []byte {
	t.Helper()
	var sum int64
	for _, r := range ri.Regions {
		if r.Len <= 0 {
			t.Fatalf("empty region %+v", r)
		}
		sum += r.Len
	}
	if sum != ri.Size {
		t.Fatalf("Size %d but regions hold %d bytes", ri.Size, sum)
	}
	b, err := ri.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != ri.Size {
		t.Fatalf("AppendTo gave %d bytes, Size is %d", len(b), ri.Size)
	}
	return b
}

// splitTail splits b into whole batches (CRC-checked) and the partial batch
// a maxBytes cut may leave at the end, as a client does.
func splitTail(t testing.TB, b []byte) ([]parsedBatch, []byte) {
	t.Helper()
	n := 0
	for n+logOverhead <= len(b) {
		size := batchView(b[n:]).size()
		if n+size > len(b) {
			break
		}
		n += size
	}
	return splitBatches(t, b[:n]), b[n:]
}

func appendN(t testing.TB, l *Log, n, recsPerBatch, valueSize int) []int {
	t.Helper()
	var sizes []int
	for i := 0; i < n; i++ {
		b := simpleBatch(t, recsPerBatch, valueSize, 1)
		sizes = append(sizes, len(b))
		if _, err := l.AppendAsLeader(b, 0); err != nil {
			t.Fatal(err)
		}
	}
	return sizes
}

func TestReadSemantics(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	sizes := appendN(t, l, 5, 2, 100) // batches [0,1] [2,3] [4,5] [6,7] [8,9]
	cases := []struct {
		name      string
		start     int64
		maxBytes  int
		maxOffset int64
		minOne    bool
		wantBases []int64
		wantTail  int // bytes of a batch cut by maxBytes
		wantErr   error
	}{
		{"all", 0, 1 << 20, 10, false, []int64{0, 2, 4, 6, 8}, 0, nil},
		{"mid batch", 3, 1 << 20, 10, false, []int64{2, 4, 6, 8}, 0, nil},
		{"bounded by maxOffset", 0, 1 << 20, 4, false, []int64{0, 2}, 0, nil},
		{"maxOffset inside batch", 0, 1 << 20, 5, false, []int64{0, 2, 4}, 0, nil},
		{"maxBytes cuts inside the third batch", 0, sizes[0] + sizes[1] + 10, 10, false, []int64{0, 2}, 10, nil},
		{"maxBytes exactly two batches", 0, sizes[0] + sizes[1], 10, false, []int64{0, 2}, 0, nil},
		{"maxBytes cut stops at maxOffset", 0, 1 << 20, 6, false, []int64{0, 2, 4}, 0, nil},
		{"first batch larger than maxBytes", 0, 10, 10, false, nil, 0, nil},
		{"minOneMessage returns the first batch whole", 4, 10, 10, true, []int64{4}, 0, nil},
		{"minOneMessage with room keeps filling", 4, sizes[0] + 7, 10, true, []int64{4}, 7, nil},
		{"zero maxBytes", 0, 0, 10, false, nil, 0, nil},
		{"at LEO", 10, 100, 10, false, nil, 0, nil},
		{"start at maxOffset", 4, 100, 4, false, nil, 0, nil},
		{"past LEO", 11, 100, 11, false, nil, 0, ErrOffsetOutOfRange},
		{"negative", -1, 100, 10, false, nil, 0, ErrOffsetOutOfRange},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ri, err := l.Read(tc.start, tc.maxBytes, tc.maxOffset, tc.minOne)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err %v want %v", err, tc.wantErr)
			}
			got, tail := splitTail(t, regionBytes(t, ri))
			var bases []int64
			for _, b := range got {
				bases = append(bases, b.base)
			}
			if len(bases) != len(tc.wantBases) || len(tail) != tc.wantTail {
				t.Fatalf("bases %v tail %d, want %v tail %d", bases, len(tail), tc.wantBases, tc.wantTail)
			}
			for i := range bases {
				if bases[i] != tc.wantBases[i] {
					t.Fatalf("bases %v want %v", bases, tc.wantBases)
				}
			}
			if int64(tc.maxBytes) < ri.Size && !(tc.minOne && len(got) == 1 && len(tail) == 0) {
				t.Fatalf("%d bytes returned for maxBytes %d", ri.Size, tc.maxBytes)
			}
			if err == nil && ri.LogEndOffset != 10 {
				t.Fatalf("LEO %d", ri.LogEndOffset)
			}
		})
	}
}

// TestReadNeverPastMaxOffset checks, for every start and maxOffset of a
// multi-segment log, that regions end exactly before the first batch whose
// base offset is >= maxOffset, span at most one region per segment and
// are consecutive.
func TestReadNeverPastMaxOffset(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 4 << 10
	cfg.IndexIntervalBytes = 300
	l := newTestLog(t, cfg)
	rng := rand.New(rand.NewSource(3))
	type span struct{ base, last int64 }
	var all []span
	var whole []byte
	for i := 0; i < 120; i++ {
		b := simpleBatch(t, 1+rng.Intn(4), rng.Intn(200), 1)
		info, err := l.AppendAsLeader(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, span{info.FirstOffset, info.LastOffset})
		whole = append(whole, b...)
	}
	if l.NumSegments() < 4 {
		t.Fatalf("%d segments, want several", l.NumSegments())
	}
	leo := l.LogEndOffset()
	for trial := 0; trial < 400; trial++ {
		start := rng.Int63n(leo)
		maxOffset := start + 1 + rng.Int63n(leo-start)
		ri, err := l.Read(start, 1<<30, maxOffset, false)
		if err != nil {
			t.Fatal(err)
		}
		// Expected: from the batch holding start to the last batch whose
		// base is below maxOffset, taken from what was appended.
		var from, to int
		pos := 0
		for _, s := range all {
			size := batchView(whole[pos:]).size()
			if s.last < start {
				from = pos + size
			}
			if s.base < maxOffset {
				to = pos + size
			}
			pos += size
		}
		if got := regionBytes(t, ri); !bytes.Equal(got, whole[from:to]) {
			t.Fatalf("Read(%d, maxOffset %d): %d bytes, want bytes [%d,%d)", start, maxOffset, len(got), from, to)
		}
		seen := map[string]bool{}
		for k, r := range ri.Regions {
			if seen[r.File.Name()] {
				t.Fatalf("two regions in %s", r.File.Name())
			}
			seen[r.File.Name()] = true
			if k > 0 && r.Pos != 0 {
				t.Fatalf("region %d starts at %d, not at its segment's start", k, r.Pos)
			}
		}
	}
}

// TestReadCutInsideBatchAcrossSegments: a maxBytes cut may fall inside a
// later segment's batch; the bytes up to it are the log's bytes.
func TestReadCutInsideBatchAcrossSegments(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 2 << 10
	l := newTestLog(t, cfg)
	appendN(t, l, 20, 3, 150)
	leo := l.LogEndOffset()
	whole := regionBytes(t, mustRead(t, l, 0, 1<<30, leo, false))
	for _, maxBytes := range []int{2100, 3333, 5000} {
		ri := mustRead(t, l, 0, maxBytes, leo, false)
		if len(ri.Regions) < 2 {
			t.Fatalf("maxBytes %d: %d regions, want a read across segments", maxBytes, len(ri.Regions))
		}
		got := regionBytes(t, ri)
		if len(got) != maxBytes || !bytes.Equal(got, whole[:maxBytes]) {
			t.Fatalf("maxBytes %d: got %d bytes, not the log's prefix", maxBytes, len(got))
		}
		if _, tail := splitTail(t, got); len(tail) == 0 {
			t.Fatalf("maxBytes %d: expected the cut inside a batch", maxBytes)
		}
	}
}

func mustRead(t testing.TB, l *Log, start int64, maxBytes int, maxOffset int64, minOne bool) ReadInfo {
	t.Helper()
	ri, err := l.Read(start, maxBytes, maxOffset, minOne)
	if err != nil {
		t.Fatal(err)
	}
	return ri
}

// TestReadDoesNotTakeAppendMu: a read must not wait for an append in
// progress (one holding appendMu through a slow fsync, say).
func TestReadDoesNotTakeAppendMu(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	appendN(t, l, 3, 2, 10)
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	done := make(chan error, 1)
	go func() {
		ri, err := l.Read(0, 1<<20, l.LogEndOffset(), false)
		if err == nil && ri.Size == 0 {
			err = errors.New("empty read")
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read blocked on appendMu")
	}
}

func TestReadAfterCloseFails(t *testing.T) {
	l := newTestLog(t, DefaultConfig())
	appendN(t, l, 2, 2, 10)
	ri := mustRead(t, l, 0, 1<<20, 4, false)
	l.Close()
	if _, err := l.Read(0, 1<<20, 4, false); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("Read after Close: %v", err)
	}
	if _, err := ri.AppendTo(nil); !errors.Is(err, ErrLogClosed) {
		t.Fatalf("AppendTo after Close: %v", err)
	}
}

func TestConcurrentAppendAndRead(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 32 << 10
	cfg.IndexIntervalBytes = 512
	l := newTestLog(t, cfg)
	const appends = 300
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 2; r++ {
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
				if leo == 0 {
					continue
				}
				ri, err := l.Read(leo/2, 64<<10, leo, true)
				if err != nil {
					t.Error(err)
					return
				}
				bs, _ := splitTail(t, regionBytes(t, ri))
				if len(bs) == 0 || bs[0].base > leo/2 || bs[0].last < leo/2 || bs[len(bs)-1].last >= leo {
					t.Errorf("read at %d of LEO %d returned %d batches", leo/2, leo, len(bs))
					return
				}
			}
		}()
	}
	for i := 0; i < appends; i++ {
		if _, err := l.AppendAsLeader(simpleBatch(t, 1+i%7, 100, 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
}
