package log

import (
	"encoding/binary"
	"errors"
	"testing"
)

func testOpts() ValidateOptions {
	o := DefaultConfig().ValidateOptions(1_700_000_000_000)
	return o
}

func someRecords() []testRecord {
	return []testRecord{
		{key: []byte("k0"), value: []byte("hello"), tsDelta: 0},
		{key: nil, value: []byte("world"), tsDelta: 5, headers: [][2][]byte{{[]byte("h"), []byte("v")}, {[]byte("n"), nil}}},
		{key: []byte("k2"), value: nil, tsDelta: 3},
	}
}

func TestValidateBatchesAcceptsEveryCodec(t *testing.T) {
	big := make([]testRecord, 200)
	for i := range big {
		big[i] = testRecord{key: []byte("key"), value: []byte("a fairly compressible value, repeated"), tsDelta: int64(i)}
	}
	cases := []struct {
		name string
		spec batchSpec
	}{
		{"none", batchSpec{records: someRecords()}},
		{"gzip", batchSpec{records: someRecords(), codec: codecGzip}},
		{"snappy-xerial", batchSpec{records: big, codec: codecSnappy}},
		{"snappy-raw", batchSpec{records: someRecords(), codec: codecSnappy, rawSnappy: true}},
		{"lz4", batchSpec{records: big, codec: codecLZ4}},
		{"zstd", batchSpec{records: big, codec: codecZstd}},
		{"idempotent", batchSpec{records: someRecords(), producerID: 7, baseSeq: 0}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.spec.baseTs = 1_700_000_000_000
			b := buildBatch(t, tc.spec)
			sum, err := ValidateBatches(b, testOpts())
			if err != nil {
				t.Fatalf("valid batch rejected: %v", err)
			}
			if sum.NumRecords != len(tc.spec.records) || sum.Batches != 1 || sum.OffsetCount != int64(len(tc.spec.records)) {
				t.Fatalf("summary %+v", sum)
			}
		})
	}
}

func TestValidateBatchesRejects(t *testing.T) {
	const now = 1_700_000_000_000
	good := func() []byte { return buildBatch(t, batchSpec{records: someRecords(), baseTs: now}) }
	mutate := func(f func(b []byte) []byte) func() []byte {
		return func() []byte { return f(good()) }
	}
	be := binary.BigEndian
	cases := []struct {
		name  string
		input func() []byte
		opts  func(*ValidateOptions)
		want  error
	}{
		{"empty", func() []byte { return nil }, nil, ErrInvalidRecord},
		{"bad crc", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), nil, ErrCorruptMessage},
		{"truncated single batch", mutate(func(b []byte) []byte { return b[:len(b)-3] }), nil, ErrInvalidRecord},
		{"truncated second batch", func() []byte { g := good(); return append(g, g[:20]...) }, nil, ErrCorruptMessage},
		{"length below minimum", mutate(func(b []byte) []byte { be.PutUint32(b[offLength:], 5); return b }), nil, ErrCorruptMessage},
		{"length below v2 header", mutate(func(b []byte) []byte { be.PutUint32(b[offLength:], 30); return b }), nil, ErrCorruptMessage},
		{"magic 3", mutate(func(b []byte) []byte { b[offMagic] = 3; return b }), nil, ErrCorruptMessage},
		{"magic 1", mutate(func(b []byte) []byte { b[offMagic] = 1; return b }), nil, ErrInvalidRecord},
		{"too large", good, func(o *ValidateOptions) { o.MaxMessageBytes = 20 + batchHeaderSize }, ErrMessageTooLarge},
		{"non-zero base offset", mutate(func(b []byte) []byte { be.PutUint64(b, 5); return b }), nil, ErrInvalidRecord},
		{"control batch", mutate(func(b []byte) []byte {
			be.PutUint16(b[offAttributes:], attrControl|attrTransactional)
			fixCRC(b)
			return b
		}), nil, ErrInvalidRecord},
		{"count mismatch", mutate(func(b []byte) []byte { be.PutUint32(b[offRecordsCount:], 2); fixCRC(b); return b }), nil, ErrInvalidRecord},
		{"lastOffsetDelta mismatch", mutate(func(b []byte) []byte { be.PutUint32(b[offLastOffsetDelt:], 5); fixCRC(b); return b }), nil, ErrInvalidRecord},
		{"zero records", func() []byte {
			b := good()[:batchHeaderSize]
			be.PutUint32(b[offLength:], batchHeaderSize-logOverhead)
			be.PutUint32(b[offRecordsCount:], 0)
			be.PutUint32(b[offLastOffsetDelt:], 0xffffffff)
			fixCRC(b)
			return b
		}, nil, ErrInvalidRecord},
		{"more records than declared", func() []byte {
			b := buildBatch(t, batchSpec{records: someRecords(), baseTs: now})
			be.PutUint32(b[offRecordsCount:], 2)
			be.PutUint32(b[offLastOffsetDelt:], 1)
			fixCRC(b)
			return b
		}, nil, ErrInvalidRecord},
		{"bad offset delta", func() []byte {
			// swap so that deltas are 1,0,2
			recs := someRecords()
			b := buildBatch(t, batchSpec{records: recs, baseTs: now})
			// record 0's offsetDelta byte sits after length(1) attr(1) tsDelta(1).
			b[batchHeaderSize+3] = byte(binary.AppendVarint(nil, 1)[0])
			fixCRC(b)
			return b
		}, nil, ErrInvalidRecord},
		{"record length too long", func() []byte {
			b := good()
			b[batchHeaderSize] += 2
			fixCRC(b)
			return b
		}, nil, ErrInvalidRecord},
		{"producer without sequence", mutate(func(b []byte) []byte {
			be.PutUint64(b[offProducerID:], 9)
			fixCRC(b)
			return b
		}), nil, ErrInvalidRecord},
		{"client sets LogAppendTime", mutate(func(b []byte) []byte {
			be.PutUint16(b[offAttributes:], attrLogAppendTime)
			be.PutUint64(b[offMaxTimestamp:], uint64(now))
			fixCRC(b)
			return b
		}), func(o *ValidateOptions) { o.LogAppendTime = true }, ErrInvalidTimestamp},
		{"timestamp too old", good, func(o *ValidateOptions) { o.Now = now + 1000; o.TimestampBeforeMaxMs = 10 }, ErrInvalidTimestamp},
		{"timestamp in future", good, func(o *ValidateOptions) { o.Now = now - 1000; o.TimestampAfterMaxMs = 10 }, ErrInvalidTimestamp},
		{"compacted without key", good, func(o *ValidateOptions) { o.Compacted = true }, ErrInvalidRecord},
		{"unknown codec", mutate(func(b []byte) []byte { be.PutUint16(b[offAttributes:], 6); fixCRC(b); return b }), nil, ErrUnsupportedCompressionType},
		{"garbage gzip", mutate(func(b []byte) []byte { be.PutUint16(b[offAttributes:], codecGzip); fixCRC(b); return b }), nil, ErrCorruptMessage},
		{"broker recompression", good, func(o *ValidateOptions) { o.CompressionType = "gzip" }, ErrUnsupportedCompressionType},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOpts()
			opts.Now = now
			if tc.opts != nil {
				tc.opts(&opts)
			}
			in := tc.input()
			orig := append([]byte(nil), in...)
			_, err := ValidateBatches(in, opts)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if string(orig) != string(in) {
				t.Fatal("ValidateBatches modified its input")
			}
		})
	}
}

func TestValidateTimestampWindowAcceptsInside(t *testing.T) {
	const now = 1_700_000_000_000
	b := buildBatch(t, batchSpec{records: someRecords(), baseTs: now - 5})
	opts := testOpts()
	opts.Now, opts.TimestampBeforeMaxMs, opts.TimestampAfterMaxMs = now, 100, 100
	if _, err := ValidateBatches(b, opts); err != nil {
		t.Fatal(err)
	}
	opts.Now = now + 200 // 205 ms old: outside the window
	if _, err := ValidateBatches(b, opts); !errors.Is(err, ErrInvalidTimestamp) {
		t.Fatalf("got %v", err)
	}
}
