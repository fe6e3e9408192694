package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"
)

func TestDecodeBatches(t *testing.T) {
	recs := []testRecord{
		{key: []byte("k0"), value: []byte("v0")},
		{key: []byte("k1"), value: nil, tsDelta: 5},                                        // tombstone
		{key: nil, value: []byte{}, tsDelta: 7},                                            // null key, empty value
		{key: []byte("k3"), value: []byte("v3"), headers: [][2][]byte{{[]byte("h"), nil}}}, // null header value
	}
	tests := []struct {
		name  string
		spec  batchSpec
		check func(t *testing.T, b BatchInfo)
	}{
		{name: "uncompressed", spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40}},
		{name: "gzip", spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40, codec: codecGzip}},
		{name: "snappy", spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40, codec: codecSnappy}},
		{name: "lz4", spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40, codec: codecLZ4}},
		{name: "zstd", spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40, codec: codecZstd}},
		{
			name: "transactional control",
			spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40, attrs: attrTransactional | attrControl, producerID: 77},
			check: func(t *testing.T, b BatchInfo) {
				if !b.Control || !b.Transactional || b.ProducerID != 77 || b.ProducerEpoch != -1 {
					t.Fatalf("flags: %+v", b)
				}
			},
		},
		{
			name: "plain batch has no flags",
			spec: batchSpec{records: recs, baseTs: 1000, baseOffset: 40},
			check: func(t *testing.T, b BatchInfo) {
				if b.Control || b.Transactional || b.ProducerID != -1 || b.LogAppendTime {
					t.Fatalf("flags: %+v", b)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			raw := buildBatch(t, tc.spec)
			var got []Record
			var infos []BatchInfo
			n, err := DecodeBatches(raw, func(b BatchInfo, rs []Record) error {
				infos = append(infos, b)
				got = append(got, rs...)
				return nil
			})
			if err != nil || n != len(raw) {
				t.Fatalf("DecodeBatches = %d, %v; want %d, nil", n, err, len(raw))
			}
			if len(infos) != 1 {
				t.Fatalf("%d batches", len(infos))
			}
			b := infos[0]
			if b.BaseOffset != 40 || b.LastOffset != 43 || b.NumRecords != 4 || b.Compression != tc.spec.codec || b.SizeInBytes != len(raw) {
				t.Fatalf("batch info %+v", b)
			}
			if tc.check != nil {
				tc.check(t, b)
			}
			if len(got) != len(recs) {
				t.Fatalf("%d records, want %d", len(got), len(recs))
			}
			for i, r := range got {
				want := recs[i]
				if r.Offset != 40+int64(i) || r.Timestamp != 1000+want.tsDelta {
					t.Fatalf("record %d: offset %d ts %d", i, r.Offset, r.Timestamp)
				}
				if (r.Key == nil) != (want.key == nil) || !bytes.Equal(r.Key, want.key) {
					t.Fatalf("record %d: key %q (nil %v), want %q (nil %v)", i, r.Key, r.Key == nil, want.key, want.key == nil)
				}
				if (r.Value == nil) != (want.value == nil) || !bytes.Equal(r.Value, want.value) {
					t.Fatalf("record %d: value %q (nil %v), want %q (nil %v)", i, r.Value, r.Value == nil, want.value, want.value == nil)
				}
				if len(r.Headers) != len(want.headers) {
					t.Fatalf("record %d: %d headers", i, len(r.Headers))
				}
				for j, h := range r.Headers {
					if h.Key != string(want.headers[j][0]) || h.Value != nil {
						t.Fatalf("record %d header %d: %+v", i, j, h)
					}
				}
			}
		})
	}
}

func TestDecodeBatchesBoundaries(t *testing.T) {
	one := buildBatch(t, batchSpec{records: []testRecord{{key: []byte("a"), value: []byte("1")}}, baseTs: 1, baseOffset: 0})
	two := buildBatch(t, batchSpec{records: []testRecord{{key: []byte("b"), value: []byte("2")}}, baseTs: 1, baseOffset: 1})
	badCRC := append([]byte(nil), two...)
	badCRC[len(badCRC)-1] ^= 0xff
	oldMagic := append([]byte(nil), two...)
	oldMagic[offMagic] = 1
	stop := errors.New("stop")
	tests := []struct {
		name    string
		buf     []byte
		fnErr   error
		wantN   int
		wantErr error
		batches int
	}{
		{name: "two whole batches", buf: cat(one, two), wantN: len(one) + len(two), batches: 2},
		{name: "torn tail is left", buf: cat(one, two[:len(two)-3]), wantN: len(one), batches: 1},
		{name: "torn header is left", buf: cat(one, two[:8]), wantN: len(one), batches: 1},
		{name: "empty", buf: nil, wantN: 0},
		{name: "bad crc", buf: cat(one, badCRC), wantN: len(one), wantErr: ErrCorruptMessage, batches: 1},
		{name: "old magic", buf: cat(one, oldMagic), wantN: len(one), wantErr: ErrInvalidRecord, batches: 1},
		{name: "fn error stops", buf: cat(one, two), fnErr: stop, wantN: 0, wantErr: stop, batches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			n, err := DecodeBatches(tc.buf, func(BatchInfo, []Record) error {
				calls++
				return tc.fnErr
			})
			if n != tc.wantN || !errors.Is(err, tc.wantErr) || calls != tc.batches {
				t.Fatalf("DecodeBatches = %d, %v after %d calls; want %d, %v after %d", n, err, calls, tc.wantN, tc.wantErr, tc.batches)
			}
		})
	}
}

// A batch whose record count disagrees with its records is refused, not read past.
func TestDecodeBatchesRecordCountMismatch(t *testing.T) {
	for _, delta := range []int32{-1, 1, 1 << 30} {
		t.Run(fmt.Sprint(delta), func(t *testing.T) {
			b := buildBatch(t, batchSpec{records: []testRecord{{key: []byte("a")}, {key: []byte("b")}}, baseTs: 1})
			binary.BigEndian.PutUint32(b[offRecordsCount:], uint32(2+delta))
			fixCRC(b)
			if _, err := DecodeBatches(b, func(BatchInfo, []Record) error { return nil }); !errors.Is(err, ErrInvalidRecord) {
				t.Fatalf("err = %v, want ErrInvalidRecord", err)
			}
		})
	}
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}
