package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// The cleaner's own view of batches and records: it reads sealed segments
// chunk by chunk (like Kafka's cleaner with its read buffer) and walks the
// records of each batch to decide which stay.

// attrDeleteHorizon is DefaultRecordBatch.DELETE_HORIZON_FLAG_MASK (KIP-534):
// the batch's baseTimestamp holds the time after which the cleaner may drop
// its tombstones.
const attrDeleteHorizon = 0x40

// batchReader hands out the whole batches of a segment file in [0, limit),
// reading ahead in chunks of at least bufSize bytes. A batch larger than the
// buffer grows it to fit (Kafka's growBuffers): the segment's own limit
// bounds it.
type batchReader struct {
	f        *os.File
	limit    int64
	buf      []byte
	bufPos   int64 // file position of buf[0]
	off, end int   // unread window buf[off:end]
}

func newBatchReader(f *os.File, limit int64, bufSize int, buf []byte) *batchReader {
	if cap(buf) < bufSize {
		buf = make([]byte, bufSize)
	}
	return &batchReader{f: f, limit: limit, buf: buf[:cap(buf)]}
}

// next returns the next batch and its file position, or nil at the end. A
// partial batch at limit is the end (nothing of a sealed segment is torn;
// the active one is never cleaned). The batch aliases the read buffer and
// is valid until the next call.
func (r *batchReader) next() (batchView, int64, error) {
	pos := r.bufPos + int64(r.off)
	if pos+logOverhead > r.limit {
		return nil, pos, nil
	}
	if r.end-r.off < logOverhead {
		if err := r.fill(pos, logOverhead); err != nil {
			return nil, pos, err
		}
	}
	n := batchView(r.buf[r.off:r.end]).size()
	if n < batchHeaderSize {
		return nil, pos, fmt.Errorf("%w: batch at position %d of %s has size %d", ErrCorruptMessage, pos, r.f.Name(), n)
	}
	if pos+int64(n) > r.limit {
		return nil, pos, nil
	}
	if r.end-r.off < n {
		if err := r.fill(pos, n); err != nil {
			return nil, pos, err
		}
	}
	b := batchView(r.buf[r.off : r.off+n])
	if b.magic() != 2 {
		return nil, pos, fmt.Errorf("%w: batch at position %d of %s has magic %d", ErrCorruptMessage, pos, r.f.Name(), b.magic())
	}
	r.off += n
	return b, pos, nil
}

// fill reads from pos so that at least need bytes are buffered.
func (r *batchReader) fill(pos int64, need int) error {
	if need > len(r.buf) {
		r.buf = make([]byte, max(need, 2*len(r.buf)))
	}
	want := int(min(int64(len(r.buf)), r.limit-pos))
	n, err := r.f.ReadAt(r.buf[:want], pos)
	if err != nil && !(errors.Is(err, io.EOF) && n >= need) {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %s is shorter than expected at position %d", ErrCorruptMessage, r.f.Name(), pos)
		}
		return err
	}
	r.bufPos, r.off, r.end = pos, 0, n
	return nil
}

// cleanerRecord is one record of a batch, split into what the cleaner looks
// at and what it copies unchanged.
type cleanerRecord struct {
	attrs      byte
	tsDelta    int64
	offDelta   int64
	key        []byte // nil for a null key
	nullKey    bool
	nullValue  bool
	keyOnwards []byte // keyLength through the headers, copied verbatim
}

// recordsOf returns the records section of b, decompressed into *scratch
// when the batch is compressed.
func recordsOf(b batchView, scratch *[]byte) ([]byte, error) {
	payload := b[batchHeaderSize:]
	if b.codec() == codecNone {
		return payload, nil
	}
	out, err := decompress(b.codec(), payload, *scratch)
	*scratch = out[:0]
	if err != nil {
		return nil, fmt.Errorf("%w: decompress batch at offset %d: %v", ErrCorruptMessage, b.baseOffset(), err)
	}
	return out, nil
}

// eachRecord calls fn for each of the count records in p; fn returning
// false stops the walk.
func eachRecord(p []byte, count int, fn func(r *cleanerRecord) bool) error {
	var r cleanerRecord
	for i := 0; i < count; i++ {
		length, n := binary.Varint(p)
		if n <= 0 || length < 0 || int64(len(p)-n) < length {
			return fmt.Errorf("%w: record %d is torn or has a bad length", ErrCorruptMessage, i)
		}
		body := p[n : n+int(length)]
		p = p[n+int(length):]
		if err := parseRecord(body, &r); err != nil {
			return fmt.Errorf("%w: record %d: %v", ErrCorruptMessage, i, err)
		}
		if !fn(&r) {
			return nil
		}
	}
	return nil
}

func parseRecord(body []byte, r *cleanerRecord) error {
	if len(body) < 1 {
		return errors.New("empty record")
	}
	r.attrs = body[0]
	i := 1
	var n int
	if r.tsDelta, n = binary.Varint(body[i:]); n <= 0 {
		return errors.New("bad timestamp delta")
	}
	i += n
	if r.offDelta, n = binary.Varint(body[i:]); n <= 0 {
		return errors.New("bad offset delta")
	}
	i += n
	r.keyOnwards = body[i:]
	keyLen, n := binary.Varint(body[i:])
	if n <= 0 || keyLen < -1 || int64(len(body)-i-n) < max(keyLen, 0) {
		return errors.New("bad key length")
	}
	i += n
	r.nullKey, r.key = keyLen < 0, nil
	if !r.nullKey {
		r.key = body[i : i+int(keyLen)]
		i += int(keyLen)
	}
	valueLen, n := binary.Varint(body[i:])
	if n <= 0 || valueLen < -1 {
		return errors.New("bad value length")
	}
	r.nullValue = valueLen < 0
	return nil
}

// appendRecord re-encodes r with a new timestamp delta; the offset delta
// stays, since a cleaned batch keeps its base offset.
func appendRecord(dst []byte, r *cleanerRecord, tsDelta int64) []byte {
	var hdr [1 + 2*binary.MaxVarintLen64]byte
	hdr[0] = r.attrs
	n := 1 + binary.PutVarint(hdr[1:], tsDelta)
	n += binary.PutVarint(hdr[n:], r.offDelta)
	dst = binary.AppendVarint(dst, int64(n+len(r.keyOnwards)))
	dst = append(dst, hdr[:n]...)
	return append(dst, r.keyOnwards...)
}
