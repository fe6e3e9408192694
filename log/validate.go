package log

import (
	"encoding/binary"
	"fmt"
)

// BatchesSummary describes a validated set of batches.
type BatchesSummary struct {
	Batches      int
	NumRecords   int
	OffsetCount  int64 // sum over batches of lastOffsetDelta+1
	MaxTimestamp int64 // max batch maxTimestamp (-1 if none)
	Size         int
}

// ValidateOptions are the inputs of ValidateBatches besides the bytes.
type ValidateOptions struct {
	MaxMessageBytes int
	// LogAppendTime is message.timestamp.type=LogAppendTime.
	LogAppendTime bool
	// Now is the broker's clock in ms, for the CreateTime window check.
	Now                         int64
	TimestampBeforeMaxMs        int64
	TimestampAfterMaxMs         int64
	Compacted                   bool
	CompressionType             string // compression.type; "" = "producer"
	AllowNonZeroBaseOffset      bool   // for appends that do not come from clients
	AllowControlBatches         bool   // for the broker's own transaction markers (later)
	SkipRecordLevelValidation   bool   // followers: framing and CRC only
	RequireIncreasingBaseOffset bool   // followers: offsets must grow
}

// ValidateOptions derives validator options from a log Config.
func (c Config) ValidateOptions(nowMs int64) ValidateOptions {
	return ValidateOptions{
		MaxMessageBytes:      c.MaxMessageBytes,
		LogAppendTime:        c.logAppendTime(),
		Now:                  nowMs,
		TimestampBeforeMaxMs: c.MessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:  c.MessageTimestampAfterMaxMs,
		Compacted:            c.compacted(),
		CompressionType:      c.CompressionType,
	}
}

// ValidateBatches checks one or more concatenated magic-2 batches exactly as
// a client sent them, in the order Kafka 3.7 does (UnifiedLog.
// analyzeAndValidateRecords for every batch's framing, size and CRC, then
// LogValidator for offsets, control bits, records and timestamps), so the
// first error is the one Kafka would report. It does not modify records.
func ValidateBatches(records []byte, opts ValidateOptions) (BatchesSummary, error) {
	sum := BatchesSummary{MaxTimestamp: noTimestamp, Size: len(records)}
	if len(records) == 0 {
		return sum, fmt.Errorf("%w: no record batch", ErrInvalidRecord)
	}
	prevLast := int64(-1)
	for pos := 0; pos < len(records); {
		n, err := frameBatch(records[pos:], sum.Batches == 0)
		if err != nil {
			return sum, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		b := batchView(records[pos : pos+n])
		if b.magic() < 2 {
			// ProduceRequest.validateRecords (v3+): INVALID_RECORD.
			return sum, fmt.Errorf("%w: batch at byte %d has magic %d, only magic 2 is accepted", ErrInvalidRecord, pos, b.magic())
		}
		if !opts.AllowNonZeroBaseOffset && b.baseOffset() != 0 {
			return sum, fmt.Errorf("%w: batch baseOffset should be 0 but is %d", ErrInvalidRecord, b.baseOffset())
		}
		if opts.MaxMessageBytes > 0 && n > opts.MaxMessageBytes {
			return sum, fmt.Errorf("%w: batch of %d bytes exceeds max.message.bytes %d", ErrMessageTooLarge, n, opts.MaxMessageBytes)
		}
		if n < batchHeaderSize {
			return sum, fmt.Errorf("%w: batch size %d is below the %d-byte overhead", ErrCorruptMessage, n, batchHeaderSize)
		}
		if got, want := b.crc(), b.computeCRC(); got != want {
			return sum, fmt.Errorf("%w: stored crc %d, computed %d", ErrCorruptMessage, got, want)
		}
		if opts.RequireIncreasingBaseOffset {
			if b.baseOffset() <= prevLast || b.lastOffsetDelta() < 0 {
				return sum, fmt.Errorf("%w: offsets out of order: batch [%d,%d] after %d", ErrInvalidRecord, b.baseOffset(), b.lastOffset(), prevLast)
			}
			prevLast = b.lastOffset()
		}
		if ts := b.maxTimestamp(); ts > sum.MaxTimestamp {
			sum.MaxTimestamp = ts
		}
		sum.Batches++
		sum.OffsetCount += int64(b.lastOffsetDelta()) + 1
		pos += n
	}
	var scratch *[]byte
	defer func() {
		if scratch != nil {
			putBuf(scratch)
		}
	}()
	for pos := 0; pos < len(records); {
		b := batchView(records[pos : pos+batchView(records[pos:]).size()])
		pos += len(b)
		if err := validateBatchHeader(b, opts); err != nil {
			return sum, err
		}
		sum.NumRecords += int(b.recordsCount())
		if opts.SkipRecordLevelValidation {
			continue
		}
		payload := []byte(b[batchHeaderSize:])
		if c := b.codec(); c != codecNone {
			if scratch == nil {
				scratch = getBuf()
			}
			out, err := decompress(c, payload, *scratch)
			*scratch = out[:0]
			if err != nil {
				return sum, fmt.Errorf("%w: codec %d: %v", ErrCorruptMessage, c, err)
			}
			payload = out
		}
		if err := validateRecords(b, payload, opts); err != nil {
			return sum, err
		}
	}
	return sum, nil
}

// frameBatch returns the size of the batch at the start of b, checking what
// Kafka's ByteBufferLogInputStream checks before it hands out a batch.
func frameBatch(b []byte, first bool) (int, error) {
	if len(b) < logOverhead {
		return 0, truncated(first, len(b))
	}
	length := batchView(b).length()
	if length < legacyRecordOverheadV0 {
		return 0, fmt.Errorf("%w: record size %d is less than the minimum record overhead (%d)", ErrCorruptMessage, length, legacyRecordOverheadV0)
	}
	if len(b) <= offMagic {
		return 0, truncated(first, len(b))
	}
	if m := batchView(b).magic(); m < 0 || m > 2 {
		return 0, fmt.Errorf("%w: invalid magic found in record: %d", ErrCorruptMessage, m)
	}
	n := int(length) + logOverhead
	if n > len(b) {
		return 0, truncated(first, len(b))
	}
	return n, nil
}

// truncated: with no complete batch Kafka answers INVALID_RECORD ("must have
// at least one record batch"); Kafka silently trims a torn tail after whole
// batches, which we reject instead so a damaged request is never half stored.
func truncated(first bool, have int) error {
	if first {
		return fmt.Errorf("%w: no complete record batch in %d bytes", ErrInvalidRecord, have)
	}
	return fmt.Errorf("%w: truncated record batch (%d bytes left)", ErrCorruptMessage, have)
}

// validateBatchHeader is LogValidator.validateBatch for a client append.
func validateBatchHeader(b batchView, opts ValidateOptions) error {
	if _, err := (Config{CompressionType: opts.CompressionType}).targetCodec(b.codec()); err != nil {
		return err
	}
	if b.codec() > codecZstd {
		return fmt.Errorf("%w: unknown compression type id %d", ErrUnsupportedCompressionType, b.codec())
	}
	if opts.SkipRecordLevelValidation {
		return nil
	}
	count := b.recordsCount()
	fromOffsets := int64(b.lastOffsetDelta()) + 1
	switch {
	case fromOffsets <= 0:
		return fmt.Errorf("%w: batch has an invalid offset range: lastOffsetDelta %d", ErrInvalidRecord, b.lastOffsetDelta())
	case count <= 0:
		return fmt.Errorf("%w: invalid reported count for record batch: %d", ErrInvalidRecord, count)
	case fromOffsets != int64(count):
		return fmt.Errorf("%w: inconsistent batch offset range (lastOffsetDelta %d) and count of records %d", ErrInvalidRecord, b.lastOffsetDelta(), count)
	}
	if b.attributes()&attrControl != 0 && !opts.AllowControlBatches {
		return fmt.Errorf("%w: clients are not allowed to write control records", ErrInvalidRecord)
	}
	if b.producerID() > -1 && b.baseSequence() < 0 {
		return fmt.Errorf("%w: invalid sequence number %d in record batch with producerId %d", ErrInvalidRecord, b.baseSequence(), b.producerID())
	}
	return nil
}

// validateRecords walks the records of one batch without allocating. It is
// the append path's hottest loop (every record of every produced batch, as
// Kafka's LogValidator iterates them: about 9k records per MiB of 100-byte
// values). Each record is first tried by fastRecord, which reads the
// common shape from a few 8-byte loads; anything else (long varints,
// headers, tiny values, damage) is walked field by field by walkRecord,
// which also words the errors.
func validateRecords(b batchView, p []byte, opts ValidateOptions) error {
	count := int(b.recordsCount())
	lat := b.attributes()&attrLogAppendTime != 0
	base := b.baseTimestamp()
	i := 0
	for rec := 0; rec < count; rec++ {
		f, ok := fastRecord(p, i)
		if !ok {
			var err error
			if f, err = walkRecord(p, i, rec); err != nil {
				return err
			}
		}
		i = f.end
		if int(f.offDelta) != rec {
			return fmt.Errorf("%w: record %d has offsetDelta %d, offsets must be incremental", ErrInvalidRecord, rec, f.offDelta)
		}
		if opts.Compacted && f.keyLen < 0 {
			return fmt.Errorf("%w: compacted topic cannot accept message without key", ErrInvalidRecord)
		}
		ts := base + f.tsDelta
		if lat {
			ts = b.maxTimestamp()
		}
		if !opts.LogAppendTime && ts != noTimestamp {
			diff := opts.Now - ts
			if diff > opts.TimestampBeforeMaxMs || -diff > opts.TimestampAfterMaxMs {
				return fmt.Errorf("%w: timestamp %d of record %d is out of range (now %d)", ErrInvalidTimestamp, ts, rec, opts.Now)
			}
		} else if lat {
			return fmt.Errorf("%w: producer should not set timestamp type to LogAppendTime", ErrInvalidTimestamp)
		}
	}
	if i != len(p) {
		return fmt.Errorf("%w: incorrect declared batch size, %d bytes still remaining after %d records", ErrInvalidRecord, len(p)-i, count)
	}
	return nil
}

// recordFields is what the checks after the walk need of one record.
type recordFields struct {
	end      int // index in the payload after the record
	tsDelta  int64
	offDelta int32
	keyLen   int32 // negative: a null key
}

// fastRecord decodes the record at p[i:] when it has the common shape:
// every varint one or two bytes, a value of at least five bytes, no
// headers. It reads the length and the fields before the key from two
// 8-byte loads and the value's length from a third, so the whole record
// costs a few bounds checks, and the branches on varint widths, which are
// predictable within a batch, let the CPU run ahead instead of waiting
// for each decode. ok is false for any other record, valid or not; it
// never accepts what walkRecord rejects.
func fastRecord(p []byte, i int) (f recordFields, ok bool) {
	if i < 0 || i > len(p)-8 {
		return f, false
	}
	length, x, w := varint2Of(binary.LittleEndian.Uint64(p[i:]))
	j := i + w
	if w == 0 || length < 8 || int(length) > len(p)-j {
		return f, false
	}
	r := p[j : j+int(length)]
	// The attributes byte, then three fields of at most two bytes each
	// fit in the seven bytes left.
	ts, x, w1 := varint2Of(binary.LittleEndian.Uint64(r) >> 8)
	off, x, w2 := varint2Of(x)
	keyLen, _, w3 := varint2Of(x)
	if w1 == 0 || w2 == 0 || w3 == 0 {
		return f, false
	}
	k := 1 + w1 + w2 + w3
	if keyLen > 0 {
		if int(keyLen) > len(r)-k {
			return f, false
		}
		k += int(keyLen)
	}
	if k > len(r)-8 {
		return f, false
	}
	valueLen, _, w4 := varint2Of(binary.LittleEndian.Uint64(r[k:]))
	k += w4
	if w4 == 0 || int(valueLen) > len(r)-k {
		return f, false
	}
	if valueLen > 0 {
		k += int(valueLen)
	}
	// A header count of zero is the record's last byte.
	if k != len(r)-1 || r[k] != 0 {
		return f, false
	}
	return recordFields{end: j + len(r), tsDelta: int64(ts), offDelta: off, keyLen: keyLen}, true
}

// varint2Of decodes the zig-zag varint in the low bytes of x (loaded
// little-endian) if it is one or two bytes long, and returns x past it
// and its width; width 0 means longer.
func varint2Of(x uint64) (int32, uint64, int) {
	if x&0x80 == 0 {
		u := int32(x & 0x7f)
		return u>>1 ^ -(u & 1), x >> 8, 1
	}
	if x&0x8000 == 0 {
		u := int32(x&0x7f | x>>1&0x3f80)
		return u>>1 ^ -(u & 1), x >> 16, 2
	}
	return 0, 0, 0
}

// walkRecord decodes the record at p[i:] field by field, accepting every
// shape Kafka accepts, and returns the errors Kafka's DefaultRecord.
// readFrom raises for it. Each varint is tried as one or two bytes by the
// inlined varint2; only longer or torn ones take a call. The record is
// re-sliced once so its fields cannot be read past its declared length.
func walkRecord(p []byte, i, rec int) (recordFields, error) {
	length, n := varint2(p, i)
	if n > 0 {
		i += n
	} else if length, i = varintSlow(p, i); i < 0 {
		return recordFields{}, prematureEOF(rec)
	}
	if length < 0 || int(length) > len(p)-i {
		return recordFields{}, prematureEOF(rec)
	}
	r := p[i : i+int(length)]
	f := recordFields{end: i + int(length)}
	k := 1 // attributes, unused in v2

	ts32, n := varint2(r, k)
	f.tsDelta = int64(ts32) // one or two bytes read the same as a varlong
	if n > 0 {
		k += n
	} else if f.tsDelta, k = varlongSlow(r, k); k < 0 {
		return f, recordSizeErr(rec, length)
	}
	if f.offDelta, n = varint2(r, k); n > 0 {
		k += n
	} else if f.offDelta, k = varintSlow(r, k); k < 0 {
		return f, recordSizeErr(rec, length)
	}
	if f.keyLen, n = varint2(r, k); n > 0 {
		k += n
	} else if f.keyLen, k = varintSlow(r, k); k < 0 {
		return f, recordSizeErr(rec, length)
	}
	if f.keyLen > 0 { // any negative length is a null key
		if int(f.keyLen) > len(r)-k {
			return f, recordSizeErr(rec, length)
		}
		k += int(f.keyLen)
	}
	valueLen, n := varint2(r, k)
	if n > 0 {
		k += n
	} else if valueLen, k = varintSlow(r, k); k < 0 {
		return f, recordSizeErr(rec, length)
	}
	if valueLen > 0 { // negative: a tombstone
		if int(valueLen) > len(r)-k {
			return f, recordSizeErr(rec, length)
		}
		k += int(valueLen)
	}
	headers, n := varint2(r, k)
	if n > 0 {
		k += n
	} else if headers, k = varintSlow(r, k); k < 0 {
		return f, recordSizeErr(rec, length)
	}
	if headers < 0 {
		return f, fmt.Errorf("%w: record %d: invalid negative header count %d", ErrInvalidRecord, rec, headers)
	}
	if headers > 0 {
		if k = skipHeaders(r, k, headers); k < 0 {
			return f, recordSizeErr(rec, length)
		}
	}
	if k != len(r) {
		return f, recordSizeErr(rec, length)
	}
	return f, nil
}

func prematureEOF(rec int) error {
	return fmt.Errorf("%w: record %d: incorrect declared batch size, premature EOF reached", ErrInvalidRecord, rec)
}

func recordSizeErr(rec int, length int32) error {
	return fmt.Errorf("%w: record %d: invalid record size: expected %d bytes in record payload", ErrInvalidRecord, rec, length)
}

// varint2 decodes the zig-zag varint at p[i:] when it is one or two bytes
// long, and returns it with its width; width 0 means longer or torn, for
// varintSlow to decide. It fits the inliner's budget, which a decoder of
// every width does not, and one or two bytes is nearly every field of a
// record (values in [-8192, 8191]).
func varint2(p []byte, i int) (int32, int) {
	if uint(i) < uint(len(p)) {
		c := uint32(p[i])
		if c < 0x80 {
			return int32(c>>1) ^ -int32(c&1), 1
		}
		if uint(i+1) < uint(len(p)) && p[i+1] < 0x80 {
			c = c&0x7f | uint32(p[i+1])<<7
			return int32(c>>1) ^ -int32(c&1), 2
		}
	}
	return 0, 0
}

// skipHeaders skips n record headers (a non-nullable key, a nullable
// value) from r[k:] and returns the index after them, or -1. Headers are
// rarer than the other fields, so they take a call.
func skipHeaders(r []byte, k int, n int32) int {
	for ; n > 0; n-- {
		for _, nullable := range [2]bool{false, true} {
			l, w := varint2(r, k)
			if w > 0 {
				k += w
			} else if l, k = varintSlow(r, k); k < 0 {
				return -1
			}
			switch {
			case l < 0:
				if !nullable {
					return -1
				}
			case int(l) > len(r)-k:
				return -1
			default:
				k += int(l)
			}
		}
	}
	return k
}

//go:noinline
func varintSlow(p []byte, i int) (int32, int) {
	u, j := uvarintSlow(p, i, 5)
	return int32(uint32(u)>>1) ^ -int32(u&1), j
}

//go:noinline
func varlongSlow(p []byte, i int) (int64, int) {
	u, j := uvarintSlow(p, i, 10)
	return int64(u>>1) ^ -int64(u&1), j
}

func uvarintSlow(p []byte, i, maxBytes int) (uint64, int) {
	if i < 0 {
		return 0, -1
	}
	var v uint64
	for k := 0; k < maxBytes; k++ {
		if i+k >= len(p) {
			return 0, -1
		}
		c := p[i+k]
		v |= uint64(c&0x7f) << (7 * k)
		if c < 0x80 {
			return v, i + k + 1
		}
	}
	return 0, -1
}

// recordReader decodes Kafka's zig-zag varints; any error sticks in err.
type recordReader struct {
	b   []byte
	err bool
}

func (r *recordReader) byte() {
	if len(r.b) == 0 {
		r.err = true
		return
	}
	r.b = r.b[1:]
}

func (r *recordReader) uvarint(maxBytes int) uint64 {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		if i >= len(r.b) {
			r.err = true
			return 0
		}
		c := r.b[i]
		v |= uint64(c&0x7f) << (7 * i)
		if c < 0x80 {
			r.b = r.b[i+1:]
			return v
		}
	}
	r.err = true // varint too long
	return 0
}

func (r *recordReader) varint() int32 {
	u := uint32(r.uvarint(5))
	return int32(u>>1) ^ -int32(u&1)
}

func (r *recordReader) varlong() int64 {
	u := r.uvarint(10)
	return int64(u>>1) ^ -int64(u&1)
}

// skipBytes skips a varint-length-prefixed field and returns its length;
// a negative length (null) is allowed only if nullable.
func (r *recordReader) skipBytes(nullable bool) int32 {
	n := r.varint()
	if r.err {
		return 0
	}
	if n < 0 { // Kafka reads any negative length as null
		if !nullable {
			r.err = true
		}
		return n
	}
	if int(n) > len(r.b) {
		r.err = true
		return 0
	}
	r.b = r.b[n:]
	return n
}
