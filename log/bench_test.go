package log

import (
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
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

// BenchmarkValidateParts splits validating a 1 MiB batch of 100-byte
// records into its CRC and its record walk, with the walk's cost per record.
func BenchmarkValidateParts(b *testing.B) {
	src := batchView(batch1M(b))
	opts := DefaultConfig().ValidateOptions(fixedNow.UnixMilli())
	records := float64(src.recordsCount())
	b.Run("crc", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		for i := 0; i < b.N; i++ {
			if src.computeCRC() != src.crc() {
				b.Fatal("bad CRC")
			}
		}
	})
	b.Run("records", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if err := validateRecords(src, src[batchHeaderSize:], opts); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/records, "ns/record")
	})
	b.Run("all", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, err := ValidateBatches(src, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
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
		n += ri.Size
	}
	b.SetBytes(n / int64(b.N))
}

// batch1M is an uncompressed batch of 100-byte records, as close to 1 MiB
// as max.message.bytes allows.
func batch1M(b testing.TB) []byte {
	for n := (1 << 20) / 100; ; n -= 50 {
		if out := simpleBatch(b, n, 100, fixedNow.UnixMilli()); len(out) <= 1<<20 {
			return out
		}
	}
}

// resetForAppend undoes what AppendAsLeader wrote into the batch (its base
// offset; the leader epoch lies outside the CRC and may stay).
func resetForAppend(buf []byte) { batchView(buf).setBaseOffset(0) }

// BenchmarkAppendVsFile compares appending 1 MiB batches to a log with
// writing the same bytes to a plain file; neither fsyncs.
func BenchmarkAppendVsFile(b *testing.B) {
	src := batch1M(b)
	b.Run("log", func(b *testing.B) {
		l := newTestLog(b, DefaultConfig())
		buf := append([]byte(nil), src...)
		b.SetBytes(int64(len(buf)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			resetForAppend(buf)
			if _, err := l.AppendAsLeader(buf, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		f, err := os.Create(filepath.Join(b.TempDir(), "plain"))
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, err := f.Write(src); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkReadVsFile reads a 256 MiB log sequentially from the page cache
// with Read + AppendTo into a reused buffer, against ReadAt of the same
// bytes from the segment files.
func BenchmarkReadVsFile(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := newTestLog(b, cfg)
	src := batch1M(b)
	buf := append([]byte(nil), src...)
	for l.Size() < 256<<20 {
		resetForAppend(buf)
		if _, err := l.AppendAsLeader(buf, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo := l.LogEndOffset()
	out := make([]byte, 0, 2<<20)
	readAll := func() int64 { // also warms the page cache
		var n int64
		for off := int64(0); off < leo; {
			ri, err := l.Read(off, len(src), leo, true)
			if err != nil {
				b.Fatal(err)
			}
			n += ri.Size
			off += int64(batchView(src).lastOffsetDelta()) + 1
		}
		return n
	}
	if readAll() != l.Size() {
		b.Fatal("a full read did not return the whole log")
	}
	b.Run("log", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		off := int64(0)
		for i := 0; i < b.N; i++ {
			ri, err := l.Read(off, len(src), leo, true)
			if err != nil {
				b.Fatal(err)
			}
			if out, err = ri.AppendTo(out[:0]); err != nil {
				b.Fatal(err)
			}
			if off = batchView(out).lastOffset() + 1; off >= leo {
				off = 0
			}
		}
	})
	b.Run("file", func(b *testing.B) {
		l.mu.RLock()
		files := make([]*os.File, len(l.segments))
		for i, s := range l.segments {
			files[i] = s.log
		}
		l.mu.RUnlock()
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		out = out[:len(src)]
		seg, pos := 0, int64(0)
		for i := 0; i < b.N; i++ {
			n, err := files[seg].ReadAt(out, pos)
			if n < len(out) {
				if err != io.EOF {
					b.Fatal(err)
				}
				seg, pos = (seg+1)%len(files), 0
				continue
			}
			pos += int64(n)
		}
	})
}

// BenchmarkRecovery opens 1 GiB of segments (1 MiB batches, 128 MiB
// segments) after an unclean stop (no marker, recovery point 0: every
// batch is read and CRC-checked, every index rebuilt) and after a clean
// one. It is a benchmark so that plain `go test` never builds the gigabyte.
func BenchmarkRecovery(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 128 << 20
	dir := filepath.Join(b.TempDir(), "t-0")
	l := openTestLogAt(b, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	buf := batch1M(b)
	for l.Size() < 1<<30 {
		resetForAppend(buf)
		if _, err := l.AppendAsLeader(buf, 1); err != nil {
			b.Fatal(err)
		}
	}
	leo, size := l.LogEndOffset(), l.Size()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		clean bool
	}{{"unclean", false}, {"clean", true}} {
		b.Run(tc.name, func(b *testing.B) {
			opts := uncleanOpts
			opts.cleanShutdown = tc.clean
			b.SetBytes(size)
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				l := openTestLogAt(b, dir, cfg, opts)
				if l.LogEndOffset() != leo {
					b.Fatalf("LEO %d after open, want %d", l.LogEndOffset(), leo)
				}
				b.StopTimer()
				l.Close()
				b.StartTimer()
			}
			b.ReportMetric(time.Since(start).Seconds()/float64(b.N), "s/open")
		})
	}
}

// BenchmarkSegmentMemory reports the heap an open sealed segment costs
// (the mmapped indexes are not heap and not counted).
func BenchmarkSegmentMemory(b *testing.B) {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 8 << 10
	dir := filepath.Join(b.TempDir(), "t-0")
	l := openTestLogAt(b, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	src := simpleBatch(b, 20, 100, fixedNow.UnixMilli())
	for l.NumSegments() < 1000 {
		resetForAppend(src)
		if _, err := l.AppendAsLeader(src, 1); err != nil {
			b.Fatal(err)
		}
	}
	n := l.NumSegments()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	opts := loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true}
	var perSegment float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		l := openTestLogAt(b, dir, cfg, opts)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perSegment = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
		b.StopTimer()
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(perSegment, "B/segment")
}
