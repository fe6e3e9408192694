package log

import (
	"encoding/binary"
	"fmt"
)

// BatchInfo is the header of one magic-2 record batch, as DecodeBatches
// reads it.
type BatchInfo struct {
	BaseOffset, LastOffset      int64
	PartitionLeaderEpoch        int32
	Attributes                  int16
	Compression                 int // 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd
	LogAppendTime               bool
	Transactional, Control      bool
	BaseTimestamp, MaxTimestamp int64
	ProducerID                  int64
	ProducerEpoch               int16
	BaseSequence                int32
	NumRecords                  int32
	SizeInBytes                 int // the whole batch, log overhead included
}

// Record is one record of a batch with its absolute offset and timestamp.
// A nil Key or Value is a null one (length -1 on the wire); an empty one
// is non-nil.
type Record struct {
	Offset     int64
	Timestamp  int64
	Key, Value []byte
	Headers    []RecordHeader
}

// RecordHeader is a record header; a nil Value is a null one.
type RecordHeader struct {
	Key   string
	Value []byte
}

// DecodeBatches decodes the whole magic-2 batches at the start of buf, as a
// Read returns them, and calls fn for each with its records (compressed
// batches are decompressed). It returns how many bytes of whole batches it
// consumed: a torn last batch (a read cut at its size limit) is left for
// the next read and is not an error. It stops at the first error fn
// returns and returns it. A bad CRC is ErrCorruptMessage; an older magic or
// a malformed record is ErrInvalidRecord.
//
// Keys, values and header values alias buf, or for a compressed batch a
// buffer allocated for that batch alone: they stay valid for as long as
// the caller leaves buf unchanged, so fn may keep them.
func DecodeBatches(buf []byte, fn func(BatchInfo, []Record) error) (int, error) {
	n := 0
	for len(buf)-n >= logOverhead {
		b := batchView(buf[n:])
		size := b.size()
		if b.length() < legacyRecordOverheadV0 {
			return n, fmt.Errorf("%w: batch at byte %d has length %d", ErrCorruptMessage, n, b.length())
		}
		if size > len(buf)-n {
			break // torn tail
		}
		b = b[:size]
		if size < batchHeaderSize || b.magic() != 2 {
			return n, fmt.Errorf("%w: batch at offset %d has magic %d, only magic 2 is decoded", ErrInvalidRecord, b.baseOffset(), b.magic())
		}
		if b.crc() != b.computeCRC() {
			return n, fmt.Errorf("%w: batch at offset %d has CRC %d, computed %d", ErrCorruptMessage, b.baseOffset(), b.crc(), b.computeCRC())
		}
		info, records, err := decodeBatch(b)
		if err != nil {
			return n, err
		}
		if err := fn(info, records); err != nil {
			return n, err
		}
		n += size
	}
	return n, nil
}

func decodeBatch(b batchView) (BatchInfo, []Record, error) {
	attrs := b.attributes()
	info := BatchInfo{
		BaseOffset:           b.baseOffset(),
		LastOffset:           b.lastOffset(),
		PartitionLeaderEpoch: int32(binary.BigEndian.Uint32(b[offLeaderEpoch:])),
		Attributes:           int16(attrs),
		Compression:          b.codec(),
		LogAppendTime:        attrs&attrLogAppendTime != 0,
		Transactional:        attrs&attrTransactional != 0,
		Control:              attrs&attrControl != 0,
		BaseTimestamp:        b.baseTimestamp(),
		MaxTimestamp:         b.maxTimestamp(),
		ProducerID:           b.producerID(),
		ProducerEpoch:        int16(binary.BigEndian.Uint16(b[offProducerEpoch:])),
		BaseSequence:         b.baseSequence(),
		NumRecords:           b.recordsCount(),
		SizeInBytes:          len(b),
	}
	payload := []byte(b[batchHeaderSize:])
	if info.Compression != codecNone {
		// A fresh buffer per batch: the records' slices point into it and
		// the caller may keep them.
		var err error
		if payload, err = decompress(info.Compression, payload, nil); err != nil {
			return info, nil, fmt.Errorf("%w: batch at offset %d: %v", ErrCorruptMessage, info.BaseOffset, err)
		}
	}
	if info.NumRecords < 0 {
		return info, nil, fmt.Errorf("%w: batch at offset %d has %d records", ErrInvalidRecord, info.BaseOffset, info.NumRecords)
	}
	// Each record takes at least 7 bytes, so a count past that is a lie
	// that must not size an allocation.
	records := make([]Record, 0, min(int(info.NumRecords), len(payload)/7+1))
	r := recordDecoder{b: payload}
	for i := int32(0); i < info.NumRecords; i++ {
		rec, ok := r.record(info)
		if !ok {
			return info, nil, fmt.Errorf("%w: batch at offset %d: record %d is malformed", ErrInvalidRecord, info.BaseOffset, i)
		}
		records = append(records, rec)
	}
	if len(r.b) != 0 {
		return info, nil, fmt.Errorf("%w: batch at offset %d: %d bytes left after %d records", ErrInvalidRecord, info.BaseOffset, len(r.b), info.NumRecords)
	}
	return info, records, nil
}

// recordDecoder reads v2 records (varint-framed) from b.
type recordDecoder struct{ b []byte }

func (r *recordDecoder) varint(p []byte) (int64, []byte, bool) {
	v, j := varlongSlow(p, 0)
	if j < 0 {
		return 0, p, false
	}
	return v, p[j:], true
}

// bytes reads a varint-length-prefixed field; any negative length is null.
func (r *recordDecoder) bytes(p []byte) ([]byte, []byte, bool) {
	n, p, ok := r.varint(p)
	switch {
	case !ok:
		return nil, p, false
	case n < 0:
		return nil, p, true
	case n > int64(len(p)):
		return nil, p, false
	}
	return p[:n:n], p[n:], true
}

func (r *recordDecoder) record(info BatchInfo) (Record, bool) {
	length, rest, ok := r.varint(r.b)
	if !ok || length < 0 || length > int64(len(rest)) {
		return Record{}, false
	}
	p := rest[:length]
	r.b = rest[length:]
	if len(p) < 1 {
		return Record{}, false
	}
	p = p[1:] // attributes, unused in v2
	var rec Record
	tsDelta, p, ok := r.varint(p)
	if !ok {
		return rec, false
	}
	offDelta, p, ok := r.varint(p)
	if !ok {
		return rec, false
	}
	rec.Offset = info.BaseOffset + offDelta
	rec.Timestamp = info.BaseTimestamp + tsDelta
	if info.LogAppendTime {
		rec.Timestamp = info.MaxTimestamp
	}
	if rec.Key, p, ok = r.bytes(p); !ok {
		return rec, false
	}
	if rec.Value, p, ok = r.bytes(p); !ok {
		return rec, false
	}
	headers, p, ok := r.varint(p)
	if !ok || headers < 0 || headers > int64(len(p)) {
		return rec, false
	}
	for i := int64(0); i < headers; i++ {
		var k, v []byte
		if k, p, ok = r.bytes(p); !ok || k == nil {
			return rec, false
		}
		if v, p, ok = r.bytes(p); !ok {
			return rec, false
		}
		rec.Headers = append(rec.Headers, RecordHeader{Key: string(k), Value: v})
	}
	return rec, len(p) == 0
}
