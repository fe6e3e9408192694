package log

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Truncation, after UnifiedLog.truncateTo / truncateFullyAndStartAt,
// LocalLog.truncateTo and LogSegment.truncateTo: a follower whose log
// diverged from its leader's cuts it back to where they agree.
//
// Truncation is an append-side operation: it holds appendMu throughout,
// and mu exclusively while the segment list, the log end and the indexes
// change, so a Read sees either the log before or the log after. A Read
// that located its regions before may still send bytes that were cut or
// overwritten since; Kafka has the same window, and the network layer
// closes the connection when a region runs past its file's end.

// TruncateTo removes every record at or above offset (whole batches: the
// cut is at the first batch whose last offset is >= offset, as
// LogSegment.truncateTo), their index entries, and the epoch entries
// starting at or above it; the log end becomes offset, and the high
// watermark, log start and recovery point are clamped to it. If offset is
// at or past the log end nothing is removed and it returns false, but the
// epoch cache is still cut at the log end (a leader that assigned its
// epoch's start and wrote nothing before losing leadership leaves an entry
// there). If offset is below the first segment's base the log is truncated
// fully (TruncateFullyAndStartAt). Segments wholly above offset are
// renamed .deleted and deleted after file.delete.delay.ms, like retention,
// so reads in flight finish.
func (l *Log) TruncateTo(offset int64) (bool, error) {
	if offset < 0 {
		return false, fmt.Errorf("log: cannot truncate partition %s to a negative offset (%d)", l, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return false, ErrLogClosed
	}
	if leo := l.leo.Load(); offset >= leo {
		l.logger.Infof("Truncating to %d has no effect as the largest offset in the log is %d", offset, leo-1)
		return false, l.truncateEpochsFromEndLocked(leo)
	}
	l.logger.Infof("Truncating to offset %d", offset)
	// A rolled segment's background flush would otherwise move the
	// recovery point to that segment's base, past the new log end.
	l.bg.Wait()
	if l.segments[0].base > offset {
		return true, l.truncateFullyLocked(offset)
	}
	return true, l.truncateToLocked(offset)
}

// TruncateFullyAndStartAt deletes every segment and starts an empty log at
// offset (log start = log end = high watermark = offset), clearing the
// epoch cache: a follower far behind its leader's log start.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log: cannot start partition %s at a negative offset (%d)", l, offset)
	}
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	l.bg.Wait()
	return l.truncateFullyLocked(offset)
}

func (l *Log) truncateEpochsFromEndLocked(end int64) error {
	if l.epochs.truncateFromEnd(end) {
		return l.epochs.write()
	}
	return nil
}

// truncateToLocked cuts the segment holding offset and drops the ones
// after it. The first segment's base is <= offset < log end. Caller holds
// appendMu, and no background flush runs.
func (l *Log) truncateToLocked(offset int64) error {
	i := l.segmentFor(offset)
	keep := l.segments[i]
	doomed := append([]*segment(nil), l.segments[i+1:]...)
	size := keep.size.Load()
	cut, _, found, err := keep.translate(offset, keep.index.lookup(offset), size)
	if err != nil {
		return fmt.Errorf("log: truncate %s to %d: %w", l, offset, err)
	}
	if !found {
		cut = size // offset lies past the segment's last batch
	}

	l.mu.Lock()
	l.segments = append([]*segment(nil), l.segments[:i+1]...)
	l.leo.Store(offset)
	l.hw.Store(min(l.hw.Load(), offset))
	l.logStart.Store(min(l.logStart.Load(), offset))
	err = keep.truncateTo(offset, cut, len(doomed) > 0, l.cfg, l.now().UnixMilli())
	l.mu.Unlock()

	l.flushMu.Lock()
	if l.recoveryPoint.Load() > offset {
		l.recoveryPoint.Store(offset)
	}
	l.flushMu.Unlock()

	errs := []error{err}
	if len(doomed) > 0 {
		l.logger.Infof("Deleting segments as part of log truncation: %s", describeSegments(doomed))
		for _, s := range doomed {
			errs = append(errs, s.renameDeleted())
		}
		l.scheduleDelete(doomed)
	}
	errs = append(errs, l.truncateEpochsFromEndLocked(offset))
	// The state is rebuilt from the newest snapshot at or below offset;
	// the ones above it (with the doomed segments') are deleted.
	errs = append(errs, l.rebuildProducerStateLocked(offset, math.MaxInt64))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: truncate %s to %d: %w", l, offset, err)
	}
	return nil
}

// truncateFullyLocked is truncateFullyAndStartAt: the segments leave the
// list and are deleted after the delay; a new empty one starts at offset.
// Caller holds appendMu, and no background flush runs.
func (l *Log) truncateFullyLocked(offset int64) error {
	l.logger.Debugf("Truncate and start at offset %d", offset)
	old := l.segments
	var errs []error
	// Renamed first: a segment of the old log may have offset as its base.
	for _, s := range old {
		errs = append(errs, s.renameDeleted())
	}
	s, err := createSegment(l.dir, offset, l.cfg)
	if err != nil {
		return fmt.Errorf("log: truncate %s fully at %d: %w", l, offset, errors.Join(append(errs, err)...))
	}
	l.initSegment(s)
	l.mu.Lock()
	l.segments = []*segment{s}
	l.leo.Store(offset)
	l.logStart.Store(offset)
	l.hw.Store(offset)
	l.mu.Unlock()
	l.flushMu.Lock()
	l.recoveryPoint.Store(offset)
	l.flushMu.Unlock()
	l.scheduleDelete(old)
	l.epochs.clear()
	errs = append(errs, l.epochs.write(), l.truncateFullyProducersLocked(offset))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: truncate %s fully at %d: %w", l, offset, err)
	}
	return nil
}

// truncateTo is LogSegment.truncateTo: index entries for offsets at or
// above offset go, the .log is cut at cut (the position of the first batch
// whose last offset is >= offset), and a sealed segment becomes the active
// one again with writable, preallocated indexes. Caller holds the log's
// appendMu and mu.
func (s *segment) truncateTo(offset, cut int64, reactivate bool, cfg Config, nowMs int64) error {
	rel := offset - s.base
	keepOffsets := sort.Search(int(s.index.entries.Load()), func(i int) bool {
		r, _ := s.index.offsetEntry(int64(i))
		return int64(r) >= rel
	})
	keepTimes := sort.Search(int(s.timeIndex.entries.Load()), func(i int) bool {
		_, r := s.timeIndex.timeEntry(int64(i))
		return int64(r) >= rel
	})
	if reactivate {
		if err := s.reopenActive(cfg); err != nil {
			return err
		}
	}
	s.index.truncateEntries(int64(keepOffsets))
	s.timeIndex.truncateEntries(int64(keepTimes))
	if err := s.txn.truncateTo(offset); err != nil {
		return err
	}
	if cut < s.size.Load() {
		if err := s.truncateBytes(cut); err != nil {
			return err
		}
	}
	if s.size.Load() == 0 {
		s.created = nowMs
		s.firstBatchTsKnown = false
	}
	s.bytesSinceLastIndexEntry = 0
	var err error
	s.maxTimestamp, s.offsetOfMaxTimestamp, err = s.readLargestTimestamp()
	return err
}

// truncateEntries drops the entries from n on. A writable index also zeroes
// their bytes, so a crash cannot leave stale entries that look valid past
// the live ones. Caller holds the log's mu exclusively.
func (x *mmapIndex) truncateEntries(n int64) {
	old := x.entries.Load()
	if n >= old {
		return
	}
	x.entries.Store(n)
	if x.writable && x.mm != nil {
		clear(x.mm[int(n)*x.entrySize : int(old)*x.entrySize])
	}
}

// readLargestTimestamp is LogSegment.readLargestTimestamp: the last time
// index entry, unless a batch after the position it indexes has a larger
// timestamp (then that and the batch's last offset).
func (s *segment) readLargestTimestamp() (ts, offset int64, err error) {
	ts, offset = s.timeIndex.lastTime()
	bestTs, bestOffset := int64(noTimestamp), int64(-1)
	var hdr [offProducerID]byte
	limit := s.size.Load()
	for pos := s.index.lookup(offset); pos+batchHeaderSize <= limit; {
		if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
			return 0, 0, err
		}
		b := batchView(hdr[:])
		if b.size() < batchHeaderSize {
			break
		}
		if b.maxTimestamp() > bestTs {
			bestTs, bestOffset = b.maxTimestamp(), b.lastOffset()
		}
		pos += int64(b.size())
	}
	if bestTs > ts {
		return bestTs, bestOffset, nil
	}
	return ts, offset, nil
}
