package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
)

// Special targets of FetchOffsetByTimestamp (ListOffsetsRequest).
const (
	LatestTimestamp        int64 = -1
	EarliestTimestamp      int64 = -2
	MaxTimestamp           int64 = -3
	EarliestLocalTimestamp int64 = -4 // same as earliest without tiered storage
)

// noLeaderEpoch is RecordBatch.NO_PARTITION_LEADER_EPOCH.
const noLeaderEpoch = -1

// TimestampOffset answers a ListOffsets lookup: the first record at or after
// a timestamp, or one of the special targets (-1 latest, -2 earliest,
// -3 max timestamp).
type TimestampOffset struct {
	Timestamp   int64
	Offset      int64
	LeaderEpoch int32
}

// FetchOffsetByTimestamp is UnifiedLog.fetchOffsetByTimestamp; ok is false
// when no record has a timestamp at or after ts.
//
//   - EarliestTimestamp (and EarliestLocalTimestamp): {-1, log start, the
//     first cached leader epoch if it starts at or below the log start}.
//   - LatestTimestamp: {-1, log end, the latest cached leader epoch}.
//   - MaxTimestamp: the largest timestamp of the log with the offset Kafka
//     3.7.0 records beside it (the last offset of the append that brought
//     it, not necessarily the record carrying it), and the latest cached
//     epoch, as 3.7 answers. An empty log answers {-1, base offset of the
//     first segment}.
//   - ts >= 0: in the first segment whose largest timestamp is >= ts, the
//     first record at or after the log start whose timestamp is >= ts.
//
// Epochs are -1 where the cache (or, for ts >= 0, the batch) has none. Like Kafka's log, this does not
// bound the answer by the high watermark: the broker drops answers whose
// offset is not below the last fetchable offset (Partition.
// fetchOffsetForTimestamp), except for the earliest.
func (l *Log) FetchOffsetByTimestamp(ts int64) (TimestampOffset, bool, error) {
	switch ts {
	case EarliestTimestamp, EarliestLocalTimestamp:
		// The first cached epoch, if it covers the log start (Kafka checks,
		// as data written before epochs existed has none).
		start := l.logStart.Load()
		epoch := int32(noLeaderEpoch)
		if es := l.epochs.snapshot(); len(es) > 0 && es[0].StartOffset <= start {
			epoch = es[0].Epoch
		}
		return TimestampOffset{Timestamp: noTimestamp, Offset: start, LeaderEpoch: epoch}, true, nil
	case LatestTimestamp:
		return TimestampOffset{Timestamp: noTimestamp, Offset: l.leo.Load(), LeaderEpoch: l.latestEpochOrNone()}, true, nil
	case MaxTimestamp:
		return l.maxTimestampOffset()
	}
	return l.searchTimestamp(ts)
}

// maxTimestampOffset answers MaxTimestamp: the first segment holding the
// largest maxTimestamp wins ties, as Scala's maxBy.
func (l *Log) maxTimestampOffset() (TimestampOffset, bool, error) {
	l.appendMu.Lock()
	if l.closed {
		l.appendMu.Unlock()
		return TimestampOffset{}, false, ErrLogClosed
	}
	best := l.segments[0]
	for _, s := range l.segments[1:] {
		if s.maxTimestamp > best.maxTimestamp {
			best = s
		}
	}
	res := TimestampOffset{Timestamp: best.maxTimestamp, Offset: best.offsetOfMaxTimestamp}
	l.appendMu.Unlock()
	res.LeaderEpoch = l.latestEpochOrNone()
	return res, true, nil
}

// latestEpochOrNone is the latest cached epoch, or -1: what ListOffsets
// answers beside the latest offset and the max timestamp.
func (l *Log) latestEpochOrNone() int32 {
	if e, ok := l.epochs.latest(); ok {
		return e.Epoch
	}
	return noLeaderEpoch
}

// searchTimestamp is searchOffsetInLocalLog and LogSegment.
// findOffsetByTimestamp: the time index gives the last entry at or below
// ts, the offset index where its batch starts, and the batches from there
// are scanned. appendMu is held while choosing the segment because the
// segments' max timestamps belong to the append path; the scan runs
// without locks on a size read under them.
func (l *Log) searchTimestamp(ts int64) (TimestampOffset, bool, error) {
	l.appendMu.Lock()
	if l.closed {
		l.appendMu.Unlock()
		return TimestampOffset{}, false, ErrLogClosed
	}
	var target *segment
	for _, s := range l.segments {
		if s.largestTimestamp() >= ts {
			target = s
			break
		}
	}
	if target == nil {
		l.appendMu.Unlock()
		return TimestampOffset{}, false, nil
	}
	start := l.logStart.Load()
	// Indexes are remapped only under mu's write lock (seal, delete).
	l.mu.RLock()
	_, indexed := target.timeIndex.lookupTime(ts)
	pos := target.index.lookup(max(indexed, start))
	limit := target.size.Load()
	l.mu.RUnlock()
	l.appendMu.Unlock()

	res, ok, err := target.searchForTimestamp(ts, pos, limit, start)
	if errors.Is(err, os.ErrClosed) {
		err = ErrLogClosed
	}
	if err != nil {
		return TimestampOffset{}, false, fmt.Errorf("search %s for timestamp %d: %w", l, ts, err)
	}
	return res, ok, nil
}

// lookupTime returns the last time-index entry whose timestamp is <= target,
// or (-1, base offset) if there is none (TimeIndex.lookup).
func (x *mmapIndex) lookupTime(target int64) (ts, offset int64) {
	ts, offset = noTimestamp, x.baseOffset
	lo, hi := int64(0), x.entries.Load()-1
	for lo <= hi {
		mid := (lo + hi) / 2
		t, rel := x.timeEntry(mid)
		if t <= target {
			ts, offset = t, x.baseOffset+int64(rel)
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	return ts, offset
}

// searchForTimestamp is FileRecords.searchForTimestamp: scanning whole
// batches from pos up to limit, the first record of a batch whose max
// timestamp is >= target that has a timestamp >= target and an offset >=
// startingOffset. Records of LogAppendTime batches carry the batch's max
// timestamp.
func (s *segment) searchForTimestamp(target, pos, limit, startingOffset int64) (TimestampOffset, bool, error) {
	var hdr [batchHeaderSize]byte
	buf, scratch := getBuf(), getBuf()
	defer putBuf(buf)
	defer putBuf(scratch)
	for pos+batchHeaderSize <= limit {
		if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
			return TimestampOffset{}, false, err
		}
		h := batchView(hdr[:])
		n := int64(h.size())
		if n < batchHeaderSize || pos+n > limit || h.magic() != 2 {
			break // torn or foreign bytes end the scan, as a failed read would
		}
		if h.maxTimestamp() >= target && h.lastOffset() >= startingOffset {
			if int64(cap(*buf)) < n {
				*buf = make([]byte, n)
			}
			b := batchView((*buf)[:n])
			if _, err := s.log.ReadAt(b, pos); err != nil {
				return TimestampOffset{}, false, err
			}
			res, ok, err := findInBatch(b, target, startingOffset, scratch)
			if err != nil || ok {
				return res, ok, err
			}
		}
		pos += n
	}
	return TimestampOffset{}, false, nil
}

// findInBatch walks the records of one whole batch.
func findInBatch(b batchView, target, startingOffset int64, scratch *[]byte) (TimestampOffset, bool, error) {
	payload := []byte(b[batchHeaderSize:])
	if c := b.codec(); c != codecNone {
		out, err := decompress(c, payload, *scratch)
		*scratch = out[:0]
		if err != nil {
			return TimestampOffset{}, false, fmt.Errorf("%w: batch at offset %d: codec %d: %v", ErrCorruptMessage, b.baseOffset(), c, err)
		}
		payload = out
	}
	lat := b.attributes()&attrLogAppendTime != 0
	for i := int32(0); i < b.recordsCount(); i++ {
		r := recordReader{b: payload}
		length := r.varint()
		if r.err || length < 0 || int(length) > len(r.b) {
			return TimestampOffset{}, false, fmt.Errorf("%w: batch at offset %d: bad record %d", ErrCorruptMessage, b.baseOffset(), i)
		}
		payload = r.b[length:]
		r.b = r.b[:length]
		r.byte() // attributes
		tsDelta := r.varlong()
		offDelta := r.varint()
		if r.err {
			return TimestampOffset{}, false, fmt.Errorf("%w: batch at offset %d: bad record %d", ErrCorruptMessage, b.baseOffset(), i)
		}
		ts := b.baseTimestamp() + tsDelta
		if lat {
			ts = b.maxTimestamp()
		}
		if off := b.baseOffset() + int64(offDelta); ts >= target && off >= startingOffset {
			return TimestampOffset{Timestamp: ts, Offset: off, LeaderEpoch: leaderEpochOf(b)}, true, nil
		}
	}
	return TimestampOffset{}, false, nil
}

func leaderEpochOf(b batchView) int32 {
	e := int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	if e < 0 {
		return noLeaderEpoch
	}
	return e
}
