package log

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// fuzzSeedBatches are valid batches of every codec and shape, for seeds.
func fuzzSeedBatches(f *testing.F) [][]byte {
	big := make([]testRecord, 50)
	for i := range big {
		big[i] = testRecord{key: []byte("key"), value: []byte("a compressible value, repeated"), tsDelta: int64(i)}
	}
	var out [][]byte
	for _, c := range []int{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		out = append(out,
			buildBatch(f, batchSpec{records: someRecords(), codec: c, baseTs: 1}),
			buildBatch(f, batchSpec{records: big, codec: c, baseTs: 1}))
	}
	out = append(out,
		buildBatch(f, batchSpec{records: someRecords(), codec: codecSnappy, rawSnappy: true}),
		buildBatch(f, batchSpec{records: someRecords(), producerID: 7, baseSeq: 3, baseTs: 1}),
		buildBatch(f, batchSpec{records: someRecords(), attrs: attrTransactional, producerID: 7, baseTs: 1}))
	return out
}

// damaged returns b truncated and with bits flipped in the header, the CRC
// and the records, so the fuzzer starts next to every check.
func damaged(b []byte) [][]byte {
	var out [][]byte
	for _, n := range []int{logOverhead - 1, offMagic + 1, batchHeaderSize - 1, batchHeaderSize, len(b) - 1} {
		if n > 0 && n < len(b) {
			out = append(out, append([]byte(nil), b[:n]...))
		}
	}
	for _, at := range []int{offLength + 3, offMagic, offCRC, offAttributes + 1, offLastOffsetDelt + 3, offRecordsCount + 3, batchHeaderSize, len(b) - 1} {
		if at < len(b) {
			c := append([]byte(nil), b...)
			c[at] ^= 0x04
			out = append(out, c)
		}
	}
	return out
}

func FuzzValidateBatches(f *testing.F) {
	maxDecompressedBytes = 8 << 20 // keep the fuzzer's memory bounded
	for _, b := range fuzzSeedBatches(f) {
		f.Add(b)
		f.Add(append(append([]byte(nil), b...), b...))
		for _, d := range damaged(b) {
			f.Add(d)
		}
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		opts := testOpts()
		opts.Compacted = len(in)%2 == 0
		orig := string(in)
		sum, err := ValidateBatches(in, opts)
		if err == nil && (sum.Batches == 0 || sum.Size != len(in)) {
			t.Fatalf("accepted %d bytes with summary %+v", len(in), sum)
		}
		if err == nil {
			// Whatever the validator accepts is whole batches with good CRCs.
			splitBatches(t, in)
		}
		if len(in) >= batchHeaderSize {
			// Any bytes after a header, as the records of an uncompressed batch.
			b := batchView(in)
			fast, ref := validateRecords(b, in[batchHeaderSize:], opts), refValidateRecords(b, in[batchHeaderSize:], opts)
			if (fast == nil) != (ref == nil) || (fast != nil && fast.Error() != ref.Error()) {
				t.Fatalf("validateRecords: %v, reference: %v", fast, ref)
			}
		}
		opts.SkipRecordLevelValidation, opts.AllowNonZeroBaseOffset, opts.RequireIncreasingBaseOffset = true, true, true
		ValidateBatches(in, opts)
		if string(in) != orig {
			t.Fatal("ValidateBatches modified its input")
		}
	})
}

// fuzzSegment is a valid segment with its indexes, as a closed log leaves it.
func fuzzSegment(f *testing.F, cfg Config) (data, index, timeIndex []byte) {
	dir := filepath.Join(f.TempDir(), "t-0")
	l := openTestLogAt(f, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	for i, b := range fuzzSeedBatches(f)[:8] {
		if _, err := l.AppendAsLeader(b, int32(i)); err != nil {
			f.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		f.Fatal(err)
	}
	read := func(sfx string) []byte {
		b, err := os.ReadFile(segmentPath(dir, 0, sfx))
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	return read(logSuffix), read(indexSuffix), read(timeIndexSuffix)
}

func fuzzOpenConfig() Config {
	cfg := DefaultConfig()
	cfg.IndexIntervalBytes = 100
	cfg.SegmentIndexBytes = 1024
	cfg.SegmentBytes = 64 << 10
	return cfg
}

// FuzzOpenSegment writes arbitrary bytes as a segment (with arbitrary index
// files, or none) and opens the log. Unclean, everything served must be
// whole batches with good CRCs and growing offsets, and appends continue at
// the log end; clean (nothing is validated, as in Kafka), opening and
// reading must at least not panic or fail.
func FuzzOpenSegment(f *testing.F) {
	cfg := fuzzOpenConfig()
	data, index, timeIndex := fuzzSegment(f, cfg)
	const (
		withIndex = 1 << iota
		withTimeIndex
		clean
	)
	for _, flags := range []byte{0, withIndex | withTimeIndex, withIndex | withTimeIndex | clean, withIndex, clean} {
		f.Add(data, index, timeIndex, flags)
		f.Add(data[:len(data)-7], index, timeIndex, flags)
		f.Add(data, index[:len(index)-3], timeIndex[:4], flags)
	}
	for _, d := range damaged(data) {
		f.Add(d, index, timeIndex, byte(withIndex|withTimeIndex))
	}
	shifted := append([]byte(nil), index...)
	for i := 4; i+4 <= len(shifted); i += 8 {
		binary.BigEndian.PutUint32(shifted[i:], binary.BigEndian.Uint32(shifted[i:])+5)
	}
	f.Add(data, shifted, timeIndex, byte(withIndex|withTimeIndex|clean))
	f.Add([]byte{}, []byte{}, []byte{}, byte(withIndex|withTimeIndex))
	f.Fuzz(func(t *testing.T, data, index, timeIndex []byte, flags byte) {
		dir := filepath.Join(t.TempDir(), "t-0")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		write := func(sfx string, b []byte) {
			if err := os.WriteFile(segmentPath(dir, 0, sfx), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		write(logSuffix, data)
		if flags&withIndex != 0 {
			write(indexSuffix, index)
		}
		if flags&withTimeIndex != 0 {
			write(timeIndexSuffix, timeIndex)
		}
		opts := uncleanOpts
		opts.cleanShutdown = flags&clean != 0
		l, err := openLog(dir, "t", 0, cfg, opts, testLogger(t), func() time.Time { return fixedNow })
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		defer l.Close()
		ri, err := l.Read(l.LogStartOffset(), 1<<30, l.LogEndOffset(), false)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		all, err := ri.AppendTo(nil)
		if err != nil {
			t.Fatal(err)
		}
		if opts.cleanShutdown {
			return
		}
		served := splitBatches(t, all)
		prev := int64(-1)
		for _, b := range served {
			if b.base <= prev || b.last < b.base {
				t.Fatalf("batch [%d,%d] after offset %d", b.base, b.last, prev)
			}
			prev = b.last
			got := splitBatches(t, regionBytes(t, mustRead(t, l, b.last, 1, l.LogEndOffset(), true)))
			if len(got) != 1 || got[0].base != b.base {
				t.Fatalf("Read(%d) did not start at batch [%d,%d]", b.last, b.base, b.last)
			}
		}
		leo := l.LogEndOffset()
		if leo != prev+1 && len(served) > 0 {
			t.Fatalf("LEO %d after a last batch ending at %d", leo, prev)
		}
		info, err := l.AppendAsLeader(numberedBatch(t, leo, 2, 3), 0)
		if err != nil || info.FirstOffset != leo {
			t.Fatalf("append at %d: %+v %v", leo, info, err)
		}
	})
}

// refValidateRecords is the straightforward record walk on recordReader
// that validateRecords replaced for speed; the fuzzer checks they agree.
func refValidateRecords(b batchView, p []byte, opts ValidateOptions) error {
	count := int(b.recordsCount())
	lat := b.attributes()&attrLogAppendTime != 0
	base := b.baseTimestamp()
	for i := 0; i < count; i++ {
		r := recordReader{b: p}
		length := r.varint()
		if r.err || length < 0 || int(length) > len(r.b) {
			return fmt.Errorf("%w: record %d: incorrect declared batch size, premature EOF reached", ErrInvalidRecord, i)
		}
		rest := r.b[length:]
		r.b = r.b[:length]
		r.byte() // attributes, unused in v2
		tsDelta := r.varlong()
		offDelta := r.varint()
		keyLen := r.skipBytes(true)
		r.skipBytes(true) // value; -1 is a tombstone
		if h := r.varint(); h < 0 && !r.err {
			return fmt.Errorf("%w: record %d: invalid negative header count %d", ErrInvalidRecord, i, h)
		} else {
			for j := int32(0); j < h && !r.err; j++ {
				r.skipBytes(false)
				r.skipBytes(true)
			}
		}
		if r.err || len(r.b) != 0 {
			return fmt.Errorf("%w: record %d: invalid record size: expected %d bytes in record payload", ErrInvalidRecord, i, length)
		}
		if int(offDelta) != i {
			return fmt.Errorf("%w: record %d has offsetDelta %d, offsets must be incremental", ErrInvalidRecord, i, offDelta)
		}
		if opts.Compacted && keyLen < 0 {
			return fmt.Errorf("%w: compacted topic cannot accept message without key", ErrInvalidRecord)
		}
		ts := base + tsDelta
		if lat {
			ts = b.maxTimestamp()
		}
		if !opts.LogAppendTime && ts != noTimestamp {
			diff := opts.Now - ts
			if diff > opts.TimestampBeforeMaxMs || -diff > opts.TimestampAfterMaxMs {
				return fmt.Errorf("%w: timestamp %d of record %d is out of range (now %d)", ErrInvalidTimestamp, ts, i, opts.Now)
			}
		} else if lat {
			return fmt.Errorf("%w: producer should not set timestamp type to LogAppendTime", ErrInvalidTimestamp)
		}
		p = rest
	}
	if len(p) != 0 {
		return fmt.Errorf("%w: incorrect declared batch size, %d bytes still remaining after %d records", ErrInvalidRecord, len(p), count)
	}
	return nil
}
