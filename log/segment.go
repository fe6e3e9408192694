package log

import (
	"errors"
	"fmt"
	"io"
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
// The transaction index and producer snapshots join it in a later issue.
//
// size is published after each append so readers can bound their reads
// without a lock; the other mutable fields belong to the append path.
type segment struct {
	base      int64
	log       *os.File
	size      atomic.Int64
	index     *mmapIndex
	timeIndex *mmapIndex

	bytesSinceLastIndexEntry int
	// maxTimestamp / offsetOfMaxTimestamp: the largest batch timestamp seen
	// so far and the offset recorded with it in the time index. Retention by
	// time and segment.ms rolling will read them.
	maxTimestamp         int64
	offsetOfMaxTimestamp int64
}

// createSegment makes a new empty active segment. An existing non-empty
// .log at that base is an error: it would mean overwriting data.
func createSegment(dir string, base int64, cfg Config) (*segment, error) {
	path := segmentPath(dir, base, logSuffix)
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return nil, fmt.Errorf("log: segment %s already exists with %d bytes", path, st.Size())
	}
	// Stale index files from a removed segment would be read as ours.
	for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
		if err := os.Remove(segmentPath(dir, base, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	return openSegment(dir, base, cfg, true)
}

// openSegment opens the files of a segment; active segments get writable,
// preallocated indexes. needsRebuild reports an index that failed its
// sanity check, which the caller fixes with recover.
func openSegment(dir string, base int64, cfg Config, active bool) (*segment, error) {
	s, corrupt, err := openSegmentFiles(dir, base, cfg, active)
	if err != nil {
		return nil, err
	}
	if corrupt {
		if _, err := s.recover(cfg); err != nil {
			s.close()
			return nil, err
		}
		if !active {
			if err := s.seal(); err != nil {
				s.close()
				return nil, err
			}
		}
	}
	return s, nil
}

func openSegmentFiles(dir string, base int64, cfg Config, active bool) (s *segment, corrupt bool, err error) {
	f, err := os.OpenFile(segmentPath(dir, base, logSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, err
	}
	s = &segment{base: base, log: f, maxTimestamp: noTimestamp, offsetOfMaxTimestamp: base}
	s.size.Store(st.Size())
	idxMax, timeMax := 0, 0
	if active {
		idxMax, timeMax = cfg.indexBytes(offsetIndexEntrySize), cfg.indexBytes(timeIndexEntrySize)
	}
	var c1, c2 bool
	if s.index, c1, err = openIndex(segmentPath(dir, base, indexSuffix), offsetIndexEntrySize, base, idxMax); err != nil {
		f.Close()
		return nil, false, err
	}
	if s.timeIndex, c2, err = openIndex(segmentPath(dir, base, timeIndexSuffix), timeIndexEntrySize, base, timeMax); err != nil {
		s.index.close()
		f.Close()
		return nil, false, err
	}
	corrupt = c1 || c2 || s.index.checkOffsetIndex(s.size.Load()) != nil || s.timeIndex.checkTimeIndex() != nil
	s.maxTimestamp, s.offsetOfMaxTimestamp = s.timeIndex.lastTime()
	return s, corrupt, nil
}

// shouldRoll is LogSegment.shouldRoll without the segment.ms rule, which
// comes with retention: roll when n more bytes would pass segment.bytes,
// when an index is full, or when lastOffset does not fit a relative offset.
func (s *segment) shouldRoll(cfg Config, n int, lastOffset int64) bool {
	return s.size.Load() > cfg.SegmentBytes-int64(n) ||
		s.index.isFull() || s.timeIndex.timeIndexFull() ||
		lastOffset-s.base > math.MaxInt32
}

// append writes whole batches with one pwrite and adds index entries with
// Kafka's sparse rule: the entry is (last offset of the chunk, position of
// its start), added before the chunk's bytes count toward the interval.
func (s *segment) append(records []byte, lastOffset, maxTimestamp int64, indexInterval int) error {
	pos := s.size.Load()
	if _, err := s.log.WriteAt(records, pos); err != nil {
		// Bytes past size are invisible to readers and overwritten by the
		// next append; recovery truncates them after a crash.
		return fmt.Errorf("log: write %s: %w", s.log.Name(), err)
	}
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
	s.bytesSinceLastIndexEntry += len(records)
	s.size.Store(pos + int64(len(records)))
	return nil
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
	return s.timeIndex.sync()
}

func (s *segment) close() error {
	var errs []error
	if s.timeIndex.writable {
		errs = append(errs, s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, true))
	}
	errs = append(errs, s.index.close(), s.timeIndex.close(), s.log.Close())
	return errors.Join(errs...)
}

// remove closes the segment and deletes its files.
func (s *segment) remove() error {
	err := s.close()
	for _, p := range []string{s.log.Name(), s.index.path, s.timeIndex.path} {
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

// nextOffset scans from the last index entry to the end and returns the
// offset after the last batch (base if the segment is empty) and where the
// last whole batch ends.
func (s *segment) nextOffset() (next, end int64, err error) {
	start := int64(0)
	if n := s.index.entries.Load(); n > 0 {
		_, p := s.index.offsetEntry(n - 1)
		start = int64(p)
	}
	var buf [headerScanSize]byte
	next, limit := s.base, s.size.Load()
	for pos := start; ; {
		h, ok, err := s.readHeader(pos, limit, &buf)
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return next, pos, nil
		}
		next = h.lastOffset + 1
		pos += int64(h.size)
	}
}

// truncateBytes cuts the .log file at size (a torn tail).
func (s *segment) truncateBytes(size int64) error {
	if err := s.log.Truncate(size); err != nil {
		return err
	}
	s.size.Store(size)
	return nil
}

// recover rebuilds both indexes by scanning every batch, and truncates the
// file at the first torn or invalid batch (bad length, magic, CRC or
// offsets). It returns the number of bytes cut.
func (s *segment) recover(cfg Config) (truncated int64, err error) {
	if err := s.index.reset(cfg.indexBytes(offsetIndexEntrySize)); err != nil {
		return 0, err
	}
	if err := s.timeIndex.reset(cfg.indexBytes(timeIndexEntrySize)); err != nil {
		return 0, err
	}
	s.maxTimestamp, s.offsetOfMaxTimestamp = noTimestamp, s.base
	size := s.size.Load()
	var valid, lastIndexed int64
	next := s.base
	buf := getBuf()
	defer putBuf(buf)
	for valid < size {
		var hdr [logOverhead]byte
		if _, err := s.log.ReadAt(hdr[:], valid); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, err
		}
		n := batchView(hdr[:]).size()
		if n < batchHeaderSize || valid+int64(n) > size {
			break
		}
		if cap(*buf) < n {
			*buf = make([]byte, n)
		}
		b := batchView((*buf)[:n])
		if _, err := s.log.ReadAt(b, valid); err != nil {
			return 0, err
		}
		if b.magic() != 2 || b.crc() != b.computeCRC() || b.baseOffset() < next ||
			b.lastOffsetDelta() < 0 || b.lastOffset()-s.base > math.MaxInt32 {
			break
		}
		if ts := b.maxTimestamp(); ts > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTimestamp = ts, b.lastOffset()
		}
		if valid-lastIndexed > int64(cfg.IndexIntervalBytes) {
			if err := s.index.appendOffset(b.lastOffset(), valid); err != nil {
				return 0, err
			}
			if err := s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, false); err != nil {
				return 0, err
			}
			lastIndexed = valid
		}
		next = b.lastOffset() + 1
		valid += int64(n)
	}
	s.bytesSinceLastIndexEntry = int(valid - lastIndexed)
	if valid < size {
		if err := s.truncateBytes(valid); err != nil {
			return 0, err
		}
	}
	return size - valid, nil
}
