package log

import (
	"sync"
	"testing"
)

// batch16K is an uncompressed batch of 100-byte records, about 16 KiB.
func batch16K(b testing.TB) []byte {
	return simpleBatch(b, 140, 100, fixedNow.UnixMilli())
}

func BenchmarkAppend(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20 // several rolls per run
	l := newTestLog(b, cfg)
	src := batch16K(b)
	buf := make([]byte, len(src))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(buf, src) // the caller's slice is rewritten in place
		if _, err := l.AppendAsLeader(buf, 1); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateBatches(b *testing.B) {
	src := batch16K(b)
	opts := DefaultConfig().ValidateOptions(fixedNow.UnixMilli())
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := ValidateBatches(src, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead reads 1 MiB fetches at random positions of a 64 MiB log.
func BenchmarkRead(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l := newTestLog(b, cfg)
	src := batch16K(b)
	buf := make([]byte, len(src))
	for l.Size() < 64<<20 {
		copy(buf, src)
		if _, err := l.AppendAsLeader(buf, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	b.ReportAllocs()
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		off := int64(i*7919) % leo
		ri, err := l.Read(off, 1<<20, leo, true)
		if err != nil {
			b.Fatal(err)
		}
		n += int64(len(ri.Records))
	}
	b.SetBytes(n / int64(b.N))
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
				bs := splitBatches(t, ri.Records)
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
