package log

import (
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
// Kafka's LogValidator iterates them), so fields are decoded by index with
// a one-byte fast path; positions go to -1 on the first error and stay
// there.
func validateRecords(b batchView, p []byte, opts ValidateOptions) error {
	count := int(b.recordsCount())
	lat := b.attributes()&attrLogAppendTime != 0
	base := b.baseTimestamp()
	i := 0
	for rec := 0; rec < count; rec++ {
		length, j := varintAt(p, i)
		if j < 0 || length < 0 || int(length) > len(p)-j {
			return fmt.Errorf("%w: record %d: incorrect declared batch size, premature EOF reached", ErrInvalidRecord, rec)
		}
		end := j + int(length)
		r := p[:end]
		j++ // attributes, unused in v2
		if j > end {
			j = -1
		}
		tsDelta, j := varlongAt(r, j)
		offDelta, j := varintAt(r, j)
		keyLen, j := skipBytesAt(r, j, true)
		_, j = skipBytesAt(r, j, true) // value; -1 is a tombstone
		h, j := varintAt(r, j)
		if j >= 0 && h < 0 {
			return fmt.Errorf("%w: record %d: invalid negative header count %d", ErrInvalidRecord, rec, h)
		}
		for k := int32(0); k < h && j >= 0; k++ {
			_, j = skipBytesAt(r, j, false)
			_, j = skipBytesAt(r, j, true)
		}
		if j != end {
			return fmt.Errorf("%w: record %d: invalid record size: expected %d bytes in record payload", ErrInvalidRecord, rec, length)
		}
		if int(offDelta) != rec {
			return fmt.Errorf("%w: record %d has offsetDelta %d, offsets must be incremental", ErrInvalidRecord, rec, offDelta)
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
				return fmt.Errorf("%w: timestamp %d of record %d is out of range (now %d)", ErrInvalidTimestamp, ts, rec, opts.Now)
			}
		} else if lat {
			return fmt.Errorf("%w: producer should not set timestamp type to LogAppendTime", ErrInvalidTimestamp)
		}
		i = end
	}
	if i != len(p) {
		return fmt.Errorf("%w: incorrect declared batch size, %d bytes still remaining after %d records", ErrInvalidRecord, len(p)-i, count)
	}
	return nil
}

// varintAt decodes a zig-zag int32 varint (at most 5 bytes) at p[i:] and
// returns it with the index after it, or -1 if i is -1 or the varint is
// torn or too long. The one-byte case (values in [-64, 63]) is kept small
// enough to be inlined; longer ones take a call.
func varintAt(p []byte, i int) (int32, int) {
	if uint(i) < uint(len(p)) && p[i] < 0x80 {
		c := int32(p[i])
		return c>>1 ^ -(c & 1), i + 1
	}
	return varintSlow(p, i)
}

//go:noinline
func varintSlow(p []byte, i int) (int32, int) {
	u, j := uvarintSlow(p, i, 5)
	return int32(uint32(u)>>1) ^ -int32(u&1), j
}

// varlongAt is varintAt for a zig-zag int64 (at most 10 bytes).
func varlongAt(p []byte, i int) (int64, int) {
	if uint(i) < uint(len(p)) && p[i] < 0x80 {
		c := int64(p[i])
		return c>>1 ^ -(c & 1), i + 1
	}
	return varlongSlow(p, i)
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

// skipBytesAt skips a varint-length-prefixed field and returns its length;
// a negative length (null, as Kafka reads any negative length) is allowed
// only if nullable.
func skipBytesAt(p []byte, i int, nullable bool) (int32, int) {
	n, j := varintAt(p, i)
	switch {
	case j < 0:
		return 0, -1
	case n < 0:
		if !nullable {
			return n, -1
		}
		return n, j
	case int(n) > len(p)-j:
		return 0, -1
	}
	return n, j + int(n)
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
