package log

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"

	"github.com/sirupsen/logrus"
)

// Loading and recovery, after Kafka's LogLoader and LogSegment.recover /
// sanityCheck. An index is never trusted when it could be wrong: a missing
// .index or .timeindex of a non-empty segment, a length that is not a whole
// number of entries, entries out of order or outside the segment, or a last
// entry that does not point at a plausible batch all make the segment
// rebuild its indexes by scanning (and validating) its batches. Kafka only
// rebuilds a missing offset index and treats a missing time index as empty.

// recoverBufferSize is the read-ahead of a recovery scan: large enough to
// hold a max.message.bytes batch, so most CRCs are computed in one pass.
const recoverBufferSize = 1 << 20

// openSegment opens the files of a segment; active segments get writable,
// preallocated indexes. nextBase is the base offset of the following segment
// (math.MaxInt64 for the last): no offset of this segment may reach it.
// Indexes that fail their sanity checks are rebuilt by recover.
func openSegment(dir string, base, nextBase int64, cfg Config, active bool, logger *logrus.Entry) (*segment, error) {
	s, _, _, err := loadSegment(dir, base, nextBase, cfg, active, logger)
	return s, err
}

// loadSegment is openSegment reporting whether the segment was recovered
// and how many bytes recover cut, for LogLoader's bookkeeping.
func loadSegment(dir string, base, nextBase int64, cfg Config, active bool, logger *logrus.Entry) (s *segment, recovered bool, cut int64, err error) {
	s, problem, err := openSegmentFiles(dir, base, nextBase, cfg, active)
	if err != nil {
		return nil, false, 0, err
	}
	if problem == nil {
		return s, false, 0, nil
	}
	if logger != nil {
		logger.Warnf("%v, recovering segment and rebuilding index files...", problem)
	}
	cut, invalid, err := s.recover(cfg, nextBase)
	if err == nil && !active {
		err = s.seal()
	}
	if err != nil {
		s.close()
		return nil, false, 0, err
	}
	logRecovered(logger, s, cut, invalid)
	return s, true, cut, nil
}

func logRecovered(logger *logrus.Entry, s *segment, cut int64, invalid error) {
	if logger == nil {
		return
	}
	if invalid != nil {
		logger.Warnf("Found invalid messages in log segment %s at byte offset %d: %v", s.log.Name(), s.size.Load(), invalid)
	}
	if cut > 0 {
		logger.Debugf("Truncated %d invalid bytes at the end of segment %s during recovery", cut, s.log.Name())
	}
}

// openSegmentFiles opens the .log and both indexes. problem, if not nil,
// says why the indexes cannot be trusted.
func openSegmentFiles(dir string, base, nextBase int64, cfg Config, active bool) (s *segment, problem, err error) {
	logPath := segmentPath(dir, base, logSuffix)
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	s = &segment{base: base, log: f, maxTimestamp: noTimestamp, offsetOfMaxTimestamp: base}
	s.size.Store(st.Size())
	// A missing index of a non-empty segment is not an empty index: the
	// segment was copied without it, or the crash came between creating
	// the .log and its indexes.
	if st.Size() > 0 {
		for _, idx := range []struct{ suffix, what string }{{indexSuffix, "offset"}, {timeIndexSuffix, "time"}} {
			if _, err := os.Stat(segmentPath(dir, base, idx.suffix)); errors.Is(err, os.ErrNotExist) {
				problem = fmt.Errorf("could not find %s index file corresponding to log file %s", idx.what, logPath)
				break
			}
		}
	}
	idxMax, timeMax := 0, 0
	if active {
		idxMax, timeMax = cfg.indexBytes(offsetIndexEntrySize), cfg.indexBytes(timeIndexEntrySize)
	}
	var p1, p2 error
	if s.index, p1, err = openIndex(segmentPath(dir, base, indexSuffix), offsetIndexEntrySize, base, idxMax); err != nil {
		f.Close()
		return nil, nil, err
	}
	if s.timeIndex, p2, err = openIndex(segmentPath(dir, base, timeIndexSuffix), timeIndexEntrySize, base, timeMax); err != nil {
		s.index.close()
		f.Close()
		return nil, nil, err
	}
	if s.txn, err = openTxnIndex(segmentPath(dir, base, txnIndexSuffix)); err != nil {
		s.index.close()
		s.timeIndex.close()
		f.Close()
		return nil, nil, err
	}
	for _, p := range []func() error{
		func() error { return p1 },
		func() error { return p2 },
		func() error { return s.index.checkOffsetIndex(s.size.Load(), nextBase) },
		func() error { return s.checkIndexEntries() },
		func() error { return s.checkEmptyIndexes() },
		func() error { return s.timeIndex.checkTimeIndex(nextBase) },
	} {
		if problem != nil {
			break
		}
		if problem = p(); problem != nil {
			problem = fmt.Errorf("found a corrupted index file corresponding to log file %s due to %w", logPath, problem)
		}
	}
	s.maxTimestamp, s.offsetOfMaxTimestamp = s.timeIndex.lastTime()
	return s, problem, nil
}

// indexSamples is how many offset-index entries a load checks against the
// log (besides the last): a pread each, so a few even for huge segments.
const indexSamples = 8

// checkIndexEntries reads the batch headers that the last offset-index
// entry and a few evenly spaced others point at: each must be a whole
// magic-2 batch of this segment whose offsets do not pass the entry's (the
// entry is the last offset of the appended chunk starting there). This
// catches an index that is well formed but belongs to other data, which
// Kafka's sanity check lets through.
func (s *segment) checkIndexEntries() error {
	n := s.index.entries.Load()
	if n == 0 {
		return nil
	}
	step := max(n/indexSamples, 1)
	for i := n - 1; i >= 0; i -= step {
		if err := s.checkIndexEntry(i); err != nil {
			return err
		}
	}
	return nil
}

func (s *segment) checkIndexEntry(i int64) error {
	rel, pos := s.index.offsetEntry(i)
	var hdr [batchHeaderSize]byte
	if int64(pos)+batchHeaderSize > s.size.Load() {
		return fmt.Errorf("index entry %d points at position %d of a %d-byte log", i, pos, s.size.Load())
	}
	if _, err := s.log.ReadAt(hdr[:], int64(pos)); err != nil {
		return err
	}
	b := batchView(hdr[:])
	entry := s.base + int64(rel)
	if b.magic() != 2 || b.size() < batchHeaderSize || int64(pos)+int64(b.size()) > s.size.Load() ||
		b.baseOffset() < s.base || b.lastOffsetDelta() < 0 || b.lastOffset() > entry {
		return fmt.Errorf("index entry %d (offset %d, position %d) does not point at a batch holding offsets up to it", i, entry, pos)
	}
	return nil
}

// checkEmptyIndexes rejects an empty time index of a non-empty segment:
// sealing or closing a segment always leaves an entry for its largest
// timestamp, and without it time lookups and time retention would skip the
// segment. An empty offset index is only slow (lookups scan from the start
// of the segment), and whether it is legitimate depends on the topic's
// index.interval.bytes, which a load may not know: it is trusted, as Kafka
// does. A segment of batches without timestamps (-1) is rescanned on every
// load.
func (s *segment) checkEmptyIndexes() error {
	if size := s.size.Load(); size > 0 && s.timeIndex.entries.Load() == 0 {
		return fmt.Errorf("time index file %s is empty for a log of %d bytes", s.timeIndex.path, size)
	}
	return nil
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
// file at the first torn or invalid batch. A batch is valid as in Kafka's
// LogSegment.recover (framing, magic, CRC-32C, offsets fitting the index)
// and, beyond it, only if its offsets grow and stay below nextBase, so a
// flipped bit in baseOffset (outside the CRC) cannot pass unnoticed.
// truncated is the number of bytes cut; invalid says why, or is nil when
// the scan simply ran out of whole batches (a torn tail).
func (s *segment) recover(cfg Config, nextBase int64) (truncated int64, invalid error, err error) {
	size := s.size.Load()
	// Room for every entry the scan could add, even if segment.index.bytes
	// shrank since the segment was written.
	need := int((size/int64(max(cfg.IndexIntervalBytes, 1)) + 2) * timeIndexEntrySize)
	if err := s.index.reset(max(cfg.indexBytes(offsetIndexEntrySize), need)); err != nil {
		return 0, nil, err
	}
	if err := s.timeIndex.reset(max(cfg.indexBytes(timeIndexEntrySize), need)); err != nil {
		return 0, nil, err
	}
	s.maxTimestamp, s.offsetOfMaxTimestamp = noTimestamp, s.base
	var valid, lastIndexed int64
	next := s.base
	r := bufio.NewReaderSize(io.NewSectionReader(s.log, 0, size), recoverBufferSize)
	for valid < size {
		hdr, err := r.Peek(batchHeaderSize)
		if err != nil {
			if len(hdr) >= logOverhead && batchView(hdr).size() < legacyRecordOverheadV0+logOverhead {
				invalid = fmt.Errorf("record size %d is less than the minimum record overhead (%d)", batchView(hdr).length(), legacyRecordOverheadV0)
			}
			if errors.Is(err, io.EOF) {
				break
			}
			return 0, nil, err
		}
		b := batchView(hdr)
		n, base, last := b.size(), b.baseOffset(), b.lastOffset()
		if invalid = checkBatchHeader(b, size-valid, next, s.base, nextBase); invalid != nil {
			break
		}
		if n > int(size-valid) {
			break // torn: the batch runs past the end of the file
		}
		stored, maxTs := b.crc(), b.maxTimestamp()
		crc, err := crcStream(r, n)
		if err != nil {
			return 0, nil, err
		}
		if crc != stored {
			invalid = fmt.Errorf("record batch at offset %d is corrupt (stored crc = %d, computed crc = %d)", base, stored, crc)
			break
		}
		if maxTs > s.maxTimestamp {
			s.maxTimestamp, s.offsetOfMaxTimestamp = maxTs, last
		}
		if valid-lastIndexed > int64(cfg.IndexIntervalBytes) {
			if err := s.index.appendOffset(last, valid); err != nil {
				return 0, nil, err
			}
			if err := s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, false); err != nil {
				return 0, nil, err
			}
			lastIndexed = valid
		}
		next = last + 1
		valid += int64(n)
	}
	s.bytesSinceLastIndexEntry = int(valid - lastIndexed)
	if valid < size {
		if err := s.truncateBytes(valid); err != nil {
			return 0, nil, err
		}
	}
	return size - valid, invalid, nil
}

// checkBatchHeader validates what the header of a batch can show: its
// size, magic and offsets, given left bytes remaining in the file, the
// offset the batch must not go below and the segment's offset range.
// A batch longer than left is a torn tail, not an error.
func checkBatchHeader(b batchView, left, next, base, nextBase int64) error {
	switch {
	case b.length() < legacyRecordOverheadV0:
		return fmt.Errorf("record size %d is less than the minimum record overhead (%d)", b.length(), legacyRecordOverheadV0)
	case b.magic() != 2:
		return fmt.Errorf("invalid magic found in record: %d", b.magic())
	case b.size() < batchHeaderSize:
		return fmt.Errorf("record batch is corrupt (the size %d is smaller than the minimum allowed overhead %d)", b.size(), batchHeaderSize)
	case int64(b.size()) > left:
		return nil
	case b.lastOffsetDelta() < 0:
		return fmt.Errorf("record batch at offset %d has a negative lastOffsetDelta %d", b.baseOffset(), b.lastOffsetDelta())
	case b.baseOffset() < next:
		return fmt.Errorf("record batch at offset %d is below the previous batch's end %d", b.baseOffset(), next)
	case b.lastOffset() >= nextBase || b.lastOffset() < b.baseOffset():
		return fmt.Errorf("record batch [%d, %d] reaches the next segment's base offset %d", b.baseOffset(), b.lastOffset(), nextBase)
	case b.lastOffset()-base > math.MaxInt32:
		return fmt.Errorf("record batch [%d, %d] overflows the index of segment %d", b.baseOffset(), b.lastOffset(), base)
	}
	return nil
}

// crcStream consumes one batch of n bytes from r (its header still
// buffered) and returns the CRC-32C of bytes [attributes, end).
func crcStream(r *bufio.Reader, n int) (uint32, error) {
	if _, err := r.Discard(offAttributes); err != nil {
		return 0, err
	}
	var crc uint32
	for left := n - offAttributes; left > 0; {
		chunk, err := r.Peek(min(left, r.Size()))
		if len(chunk) == 0 && err != nil {
			return 0, err
		}
		crc = crc32.Update(crc, castagnoli, chunk)
		r.Discard(len(chunk))
		left -= len(chunk)
	}
	return crc, nil
}

// recoverFrom is LogLoader.recoverLog for an unclean shutdown: every
// segment from the one holding the recovery point is rescanned (or was,
// while loading, in which case cuts holds its result), and at the first
// segment cut short the later ones are deleted, since nothing after a
// torn or corrupt batch can be trusted.
func (l *Log) recoverFrom(recoveryPoint int64, cuts map[int64]int64) error {
	first := max(l.segmentFor(recoveryPoint), 0)
	unflushed := len(l.segments) - first
	for i := first; i < len(l.segments); i++ {
		s := l.segments[i]
		last := i == len(l.segments)-1
		cut, done := cuts[s.base]
		if !done {
			l.logger.Infof("Recovering unflushed segment %d. %d/%d recovered for %s.", s.base, i-first, unflushed, l)
			nextBase := int64(math.MaxInt64)
			if !last {
				nextBase = l.segments[i+1].base
			}
			var invalid error
			var err error
			if cut, invalid, err = s.recover(l.cfg, nextBase); err != nil {
				return fmt.Errorf("log: recover segment %d of %s: %w", s.base, l, err)
			}
			logRecovered(l.logger, s, cut, invalid)
			if !last {
				if err := s.seal(); err != nil {
					return err
				}
			}
		}
		if cut == 0 || last {
			continue
		}
		next, _, err := s.nextOffset()
		if err != nil {
			return err
		}
		l.logger.Warnf("Corruption found in segment %d, truncating to offset %d", s.base, next)
		l.logger.Infof("Deleting segments as part of log recovery: %v", segmentBases(l.segments[i+1:]))
		for _, later := range l.segments[i+1:] {
			if err := later.remove(); err != nil {
				return err
			}
		}
		l.segments = l.segments[:i+1]
		if err := s.reopenActive(l.cfg); err != nil {
			return err
		}
		break
	}
	return l.flushSegments(l.segments[first:])
}

func segmentBases(segs []*segment) []int64 {
	out := make([]int64, len(segs))
	for i, s := range segs {
		out[i] = s.base
	}
	return out
}

// reopenActive maps a sealed segment's indexes writable again.
func (s *segment) reopenActive(cfg Config) error {
	for _, x := range []*mmapIndex{s.index, s.timeIndex} {
		if err := x.unmap(); err != nil {
			return err
		}
		if err := x.mapFile(cfg.indexBytes(x.entrySize)); err != nil {
			return err
		}
	}
	return nil
}

// loadLogEnd returns the log end read from the active segment. Its tail
// must parse from the last index entry exactly to the end of the file; a
// clean shutdown or a recovery never leaves anything else, so if it does
// not, the index or the marker lied and the segment is recovered (validated
// batch by batch) rather than cut at a position nothing vouches for.
func (l *Log) loadLogEnd() (int64, error) {
	active := l.activeSegment()
	leo, end, err := active.nextOffset()
	if err != nil || end == active.size.Load() {
		return leo, err
	}
	l.logger.Warnf("Segment %s does not end with a whole batch (%d of %d bytes parse), recovering segment and rebuilding index files...",
		active.log.Name(), end, active.size.Load())
	cut, invalid, err := active.recover(l.cfg, math.MaxInt64)
	if err != nil {
		return 0, err
	}
	logRecovered(l.logger, active, cut, invalid)
	leo, _, err = active.nextOffset()
	return leo, err
}

// restartAt is LogLoader's deleteSegmentsIfLogStartGreaterThanLogEnd: a
// checkpointed log start beyond the data means segment files went missing;
// the log restarts empty at the log start.
func (l *Log) restartAt(leo, logStart int64) (int64, error) {
	l.logger.Warnf("Deleting all segments because logEndOffset (%d) is smaller than logStartOffset %d. "+
		"This could happen if segment files were deleted from the file system.", leo, logStart)
	for i, s := range l.segments {
		if err := s.remove(); err != nil {
			l.segments = l.segments[i+1:]
			return 0, err
		}
	}
	l.segments = nil
	s, err := createSegment(l.dir, logStart, l.cfg)
	if err != nil {
		return 0, err
	}
	l.initSegment(s)
	l.segments = []*segment{s}
	return logStart, nil
}
