package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
)

const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
)

// segmentPath names a segment file: base offset zero-padded to 20 digits.
func segmentPath(dir string, base int64, suffix string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, suffix))
}

// segment is one .log file with its offset and time indexes (LogSegment).
// Its transaction index (txn_index.go) exists as a file only once an
// aborted transaction's marker lands in it.
//
// size is published after each append so readers can bound their reads
// without a lock; the other mutable fields belong to the append path.
type segment struct {
	base      int64
	log       *os.File
	size      atomic.Int64
	index     *mmapIndex
	timeIndex *mmapIndex
	txn       *txnIndex

	bytesSinceLastIndexEntry int
	// maxTimestamp / offsetOfMaxTimestamp: the largest batch timestamp seen
	// so far and the offset recorded with it in the time index. Retention by
	// time and segment.ms rolling will read them.
	maxTimestamp         int64
	offsetOfMaxTimestamp int64

	// created and rollJitterMs are LogSegment's: set by the log when the
	// segment is created or loaded, read by shouldRoll for segment.ms.
	created      int64
	rollJitterMs int64
	// firstBatchTs caches the first batch's max timestamp (LogSegment's
	// rollingBasedTimestamp); valid while firstBatchTsKnown and the
	// segment is non-empty. Append path only.
	firstBatchTs      int64
	firstBatchTsKnown bool
	// deletePaths are the files remove deletes once retention renamed
	// them to .deleted; nil means the usual names.
	deletePaths []string
}

// createSegment makes a new empty active segment. An existing non-empty
// .log at that base is an error: it would mean overwriting data.
func createSegment(dir string, base int64, cfg Config) (*segment, error) {
	path := segmentPath(dir, base, logSuffix)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil, fmt.Errorf("log: segment %s already exists with %d bytes", path, st.Size())
	}
	// Stale index files from a removed segment would be read as ours.
	for _, sfx := range []string{indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := os.Remove(segmentPath(dir, base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return openSegment(dir, base, math.MaxInt64, cfg, true, nil)
}

// shouldRoll is LogSegment.shouldRoll: roll when n more bytes would pass
// segment.bytes, when a non-empty segment has waited segment.ms (less its
// jitter), when an index is full, or when lastOffset does not fit a
// relative offset. maxTimestamp is the largest timestamp of the batches
// about to be appended, nowMs the broker's clock.
func (s *segment) shouldRoll(cfg Config, n int, lastOffset, maxTimestamp, nowMs int64) bool {
	size := s.size.Load()
	if size == 0 {
		s.firstBatchTsKnown = false // emptied by a truncation: a new first batch comes
	}
	return size > cfg.SegmentBytes-int64(n) ||
		(size > 0 && s.timeWaitedForRoll(nowMs, maxTimestamp) > cfg.SegmentMs-s.rollJitterMs) ||
		s.index.isFull() || s.timeIndex.timeIndexFull() ||
		lastOffset-s.base > math.MaxInt32
}

// append writes whole batches with one pwrite and publishes them.
func (s *segment) append(records []byte, lastOffset, maxTimestamp int64, indexInterval int) error {
	pos := s.size.Load()
	if _, err := s.log.WriteAt(records, pos); err != nil {
		// Bytes past size are invisible to readers and overwritten by the
		// next append, but a clean reopen takes the file's length as the
		// size, so a torn write is cut off now (recovery would after a crash).
		return s.unwrite(pos, fmt.Errorf("log: write %s: %w", s.log.Name(), err))
	}
	return s.publish(pos, len(records), lastOffset, maxTimestamp, indexInterval)
}

// publish makes n bytes written at pos (the size) part of the segment.
// Index entries follow Kafka's sparse rule: the entry is (last offset of
// the chunk, position of its start), added before the chunk's bytes count
// toward the interval. size is stored last: a reader that sees it also
// sees the bytes and the index entries.
func (s *segment) publish(pos int64, n int, lastOffset, maxTimestamp int64, indexInterval int) error {
	if maxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTimestamp = maxTimestamp, lastOffset
	}
	if s.bytesSinceLastIndexEntry > indexInterval {
		if err := s.index.appendOffset(lastOffset, pos); err != nil {
			return err
		}
		if err := s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, false); err != nil {
			return err
		}
		s.bytesSinceLastIndexEntry = 0
	}
	s.bytesSinceLastIndexEntry += n
	s.size.Store(pos + int64(n))
	return nil
}

// unwrite cuts the file back to pos, the published size, after a failed
// or rejected write, and returns cause (joined with a failure to cut).
func (s *segment) unwrite(pos int64, cause error) error {
	if err := s.log.Truncate(pos); err != nil {
		return errors.Join(cause, fmt.Errorf("log: cut %s back to %d bytes: %w", s.log.Name(), pos, err))
	}
	return cause
}

// seal is onBecomeInactiveSegment: the final time-index entry, then both
// indexes trimmed to their entries. Caller holds the log's write lock.
func (s *segment) seal() error {
	if err := s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, true); err != nil {
		return err
	}
	if err := s.index.trim(); err != nil {
		return err
	}
	return s.timeIndex.trim()
}

func (s *segment) flush() error {
	if err := s.log.Sync(); err != nil {
		return err
	}
	if err := s.index.sync(); err != nil {
		return err
	}
	if err := s.txn.sync(); err != nil {
		return err
	}
	return s.timeIndex.sync()
}

func (s *segment) close() error {
	var errs []error
	if s.timeIndex.writable {
		errs = append(errs, s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, true))
	}
	errs = append(errs, s.index.close(), s.timeIndex.close(), s.txn.close(), s.log.Close())
	return errors.Join(errs...)
}

// remove closes the segment and deletes its files (under their .deleted
// names once retention or truncation renamed them). Nothing is trimmed or
// finished first: the files are going, and a .deleted name may by now
// belong to a later segment with the same base (truncated, rewritten and
// truncated again within file.delete.delay.ms), whose files must not be
// touched through it; unlinking them is harmless, as both are doomed and
// open descriptors and mappings outlive the names.
func (s *segment) remove() error {
	err := errors.Join(s.index.unmap(), s.timeIndex.unmap(), s.txn.close(), s.log.Close())
	paths := s.deletePaths
	if paths == nil {
		paths = s.filePaths()
	}
	for _, p := range paths {
		if e := os.Remove(p); e != nil && !errors.Is(e, os.ErrNotExist) && err == nil {
			err = e
		}
	}
	return err
}

// batchHeader is the part of a batch header a scan needs.
type batchHeader struct {
	baseOffset int64
	size       int
	lastOffset int64
}

// headerScanSize covers baseOffset..lastOffsetDelta.
const headerScanSize = offBaseTimestamp

// readHeader reads the header of the batch at pos; ok is false at the end
// of the data (limit) or at a torn header.
func (s *segment) readHeader(pos, limit int64, buf *[headerScanSize]byte) (h batchHeader, ok bool, err error) {
	if pos+headerScanSize > limit {
		return h, false, nil
	}
	if _, err := s.log.ReadAt(buf[:], pos); err != nil {
		return h, false, err
	}
	b := batchView(buf[:])
	h = batchHeader{baseOffset: b.baseOffset(), size: b.size(), lastOffset: b.lastOffset()}
	if h.size < batchHeaderSize || pos+int64(h.size) > limit {
		return h, false, nil
	}
	return h, true, nil
}

// translate finds the batch whose last offset is >= target, scanning from
// startPos (an index lookup). found is false if the segment has none below
// limit.
func (s *segment) translate(target, startPos, limit int64) (pos int64, h batchHeader, found bool, err error) {
	var buf [headerScanSize]byte
	for pos = startPos; ; pos += int64(h.size) {
		var ok bool
		h, ok, err = s.readHeader(pos, limit, &buf)
		if err != nil || !ok {
			return pos, h, false, err
		}
		if h.lastOffset >= target {
			return pos, h, true, nil
		}
	}
}
