package log

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// testRecord is one record for buildBatch.
type testRecord struct {
	key, value []byte // nil = null
	headers    [][2][]byte
	tsDelta    int64
}

// batchSpec describes a magic-2 batch for buildBatch.
type batchSpec struct {
	records    []testRecord
	codec      int
	rawSnappy  bool // codec 2 without xerial framing
	baseTs     int64
	maxTs      int64 // 0 = baseTs + max tsDelta
	attrs      uint16
	producerID int64 // 0 means -1
	baseSeq    int32
	baseOffset int64
}

func putVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func putBytes(b, v []byte) []byte {
	if v == nil {
		return putVarint(b, -1)
	}
	b = putVarint(b, int64(len(v)))
	return append(b, v...)
}

// encodeRecords writes the records section (uncompressed).
func encodeRecords(recs []testRecord) []byte {
	var out []byte
	for i, r := range recs {
		var body []byte
		body = append(body, 0)
		body = putVarint(body, r.tsDelta)
		body = putVarint(body, int64(i))
		body = putBytes(body, r.key)
		body = putBytes(body, r.value)
		body = putVarint(body, int64(len(r.headers)))
		for _, h := range r.headers {
			body = putBytes(body, h[0])
			body = putBytes(body, h[1])
		}
		out = putVarint(out, int64(len(body)))
		out = append(out, body...)
	}
	return out
}

func compressFor(t testing.TB, codec int, raw bool, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch codec {
	case codecNone:
		return data
	case codecGzip:
		w := gzip.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case codecSnappy:
		if raw {
			return snappy.Encode(nil, data)
		}
		buf.Write(xerialMagic)
		binary.Write(&buf, binary.BigEndian, int32(1))
		binary.Write(&buf, binary.BigEndian, int32(1))
		// Two blocks, as snappy-java writes 32 KiB blocks for larger input.
		half := len(data) / 2
		for _, part := range [][]byte{data[:half], data[half:]} {
			blk := snappy.Encode(nil, part)
			binary.Write(&buf, binary.BigEndian, int32(len(blk)))
			buf.Write(blk)
		}
	case codecLZ4:
		w := lz4.NewWriter(&buf)
		w.Write(data)
		w.Close()
	case codecZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		defer enc.Close()
		return enc.EncodeAll(data, nil)
	default:
		t.Fatalf("codec %d", codec)
	}
	return buf.Bytes()
}

// buildBatch encodes a valid magic-2 batch with a correct CRC-32C.
func buildBatch(t testing.TB, s batchSpec) []byte {
	t.Helper()
	payload := compressFor(t, s.codec, s.rawSnappy, encodeRecords(s.records))
	b := make([]byte, batchHeaderSize, batchHeaderSize+len(payload))
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(s.baseOffset))
	be.PutUint32(b[offLength:], uint32(batchHeaderSize+len(payload)-logOverhead))
	be.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], s.attrs|uint16(s.codec))
	be.PutUint32(b[offLastOffsetDelt:], uint32(len(s.records)-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(s.baseTs))
	maxTs := s.maxTs
	if maxTs == 0 {
		maxTs = s.baseTs
		for _, r := range s.records {
			maxTs = max(maxTs, s.baseTs+r.tsDelta)
		}
	}
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTs))
	pid := s.producerID
	if pid == 0 {
		pid = -1
	}
	be.PutUint64(b[offProducerID:], uint64(pid))
	be.PutUint16(b[offProducerEpoch:], 0xffff)
	seq := s.baseSeq
	if pid == -1 {
		seq = -1
	}
	be.PutUint32(b[offBaseSequence:], uint32(seq))
	be.PutUint32(b[offRecordsCount:], uint32(len(s.records)))
	b = append(b, payload...)
	fixCRC(b)
	return b
}

func fixCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// simpleBatch is n records of valueSize bytes each, timestamp ts.
func simpleBatch(t testing.TB, n, valueSize int, ts int64) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		recs[i] = testRecord{key: []byte{byte(i)}, value: v, tsDelta: int64(i)}
	}
	return buildBatch(t, batchSpec{records: recs, baseTs: ts})
}

// parsedBatch is what tests read back from a Read.
type parsedBatch struct {
	base, last int64
	raw        []byte
}

func splitBatches(t testing.TB, b []byte) []parsedBatch {
	t.Helper()
	var out []parsedBatch
	for len(b) > 0 {
		if len(b) < logOverhead {
			t.Fatalf("torn batch: %d bytes", len(b))
		}
		v := batchView(b)
		n := v.size()
		if n > len(b) {
			t.Fatalf("torn batch: need %d have %d", n, len(b))
		}
		v = v[:n]
		if v.crc() != v.computeCRC() {
			t.Fatalf("batch at offset %d has a bad CRC", v.baseOffset())
		}
		out = append(out, parsedBatch{v.baseOffset(), v.lastOffset(), append([]byte(nil), v...)})
		b = b[n:]
	}
	return out
}
