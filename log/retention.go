package log

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// Reasons for moving the log start (LogStartOffsetIncrementReason).
const (
	reasonClientRecordDeletion = "client delete records request"
	reasonSegmentDeletion      = "segment deletion"
)

const deletedSuffix = ".deleted"

// IncrementLogStartOffset moves the log start forward (DeleteRecords, and
// later a follower adopting its leader's start): offsets below it become
// unreadable at once, and the segments entirely below it are deleted by the
// next retention pass. An offset above the high watermark is
// ErrOffsetOutOfRange; one at or below the current start is a no-op. The
// new start reaches disk with the next log-start-offset-checkpoint.
func (l *Log) IncrementLogStartOffset(offset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	_, err := l.maybeIncrementLogStartOffsetLocked(offset, reasonClientRecordDeletion)
	return err
}

// maybeIncrementLogStartOffsetLocked is UnifiedLog.maybeIncrementLogStartOffset.
// Caller holds appendMu.
func (l *Log) maybeIncrementLogStartOffsetLocked(offset int64, reason string) (bool, error) {
	if hw := l.hw.Load(); offset > hw {
		return false, fmt.Errorf("%w: cannot increment the log start offset to %d of partition %s since it is larger than the high watermark %d",
			ErrOffsetOutOfRange, offset, l, hw)
	}
	if offset <= l.logStart.Load() {
		return false, nil
	}
	l.logStart.Store(offset)
	if l.hw.Load() < offset { // only if the HW moved since the check above
		l.hw.Store(offset)
	}
	// The recovery point never lies below the log start; under flushMu so a
	// background flush cannot store an older value over it.
	l.flushMu.Lock()
	if l.recoveryPoint.Load() < offset {
		l.recoveryPoint.Store(offset)
	}
	l.flushMu.Unlock()
	l.logger.Infof("Incremented log start offset to %d due to %s", offset, reason)
	l.onLogStartIncrementedLocked(offset)
	if l.epochs.truncateFromStart(offset) {
		if err := l.epochs.write(); err != nil {
			return true, err
		}
	}
	return true, nil
}

// DeleteOldSegments is UnifiedLog.deleteOldSegments: it deletes, oldest
// first, the segments entirely below the log start, then (when
// cleanup.policy contains "delete") those over retention.bytes and those
// whose largest timestamp is older than retention.ms. A segment is only
// deleted if it lies entirely below the high watermark, and an empty active
// segment never is; if every segment goes, a new active segment is rolled
// first. Deleted segments leave the list at once; their files are renamed
// .deleted and removed after file.delete.delay.ms, so reads that already
// located them finish. It returns the number of segments deleted.
func (l *Log) DeleteOldSegments() (int, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return 0, ErrLogClosed
	}
	total, err := l.deleteLogStartOffsetBreachedLocked()
	if err != nil || !l.cfg.deleteEnabled() {
		return total, err
	}
	n, err := l.deleteRetentionSizeBreachedLocked()
	total += n
	if err != nil {
		return total, err
	}
	n, err = l.deleteRetentionMsBreachedLocked()
	return total + n, err
}

func (l *Log) deleteLogStartOffsetBreachedLocked() (int, error) {
	start := l.logStart.Load()
	return l.deleteOldSegmentsLocked(func(_, next *segment) bool {
		return next != nil && next.base <= start
	}, func(segs []*segment) {
		l.logger.Infof("Deleting segments due to log start offset %d breach: %s", start, describeSegments(segs))
	})
}

func (l *Log) deleteRetentionSizeBreachedLocked() (int, error) {
	limit := l.cfg.RetentionBytes
	if limit < 0 {
		return 0, nil
	}
	size := l.sizeLocked()
	if size < limit {
		return 0, nil
	}
	diff := size - limit
	return l.deleteOldSegmentsLocked(func(s, _ *segment) bool {
		if n := s.size.Load(); diff-n >= 0 {
			diff -= n
			return true
		}
		return false
	}, func(segs []*segment) {
		after := size
		for _, s := range segs {
			after -= s.size.Load()
			l.logger.Infof("Deleting segment %s due to log retention size %d breach. Log size after deletion will be %d.",
				s.describe(), limit, after)
		}
	})
}

func (l *Log) deleteRetentionMsBreachedLocked() (int, error) {
	retention := l.cfg.RetentionMs
	if retention < 0 {
		return 0, nil
	}
	startMs := l.now().UnixMilli()
	return l.deleteOldSegmentsLocked(func(s, _ *segment) bool {
		return startMs-s.largestTimestamp() > retention
	}, func(segs []*segment) {
		for _, s := range segs {
			basis := "largest record timestamp in the segment"
			if s.maxTimestamp < 0 {
				basis = "last modified time of the segment"
			}
			l.logger.Infof("Deleting segment %s due to log retention time %dms breach based on the %s", s.describe(), retention, basis)
		}
	})
}

func (l *Log) sizeLocked() int64 {
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// deleteOldSegmentsLocked deletes the oldest segments while pred(segment,
// next segment or nil) holds (UnifiedLog.deletableSegments and
// deleteSegments). Caller holds appendMu, which is what keeps the segment
// list and the segments' timestamps still here.
func (l *Log) deleteOldSegmentsLocked(pred func(s, next *segment) bool, logReason func([]*segment)) (int, error) {
	n := countDeletable(l.segments, l.hw.Load(), l.leo.Load(), pred)
	if n == 0 {
		return 0, nil
	}
	toDelete := append([]*segment(nil), l.segments[:n]...)
	if n == len(l.segments) {
		// A log always keeps one segment: roll a new active one first. It
		// cannot share the old active's base: that one is non-empty.
		if _, err := l.rollLocked(l.leo.Load()); err != nil {
			return 0, err
		}
	}
	logReason(toDelete)
	l.mu.Lock()
	l.segments = append([]*segment(nil), l.segments[n:]...)
	l.mu.Unlock()
	var errs []error
	for _, s := range toDelete {
		errs = append(errs, s.renameDeleted())
	}
	errs = append(errs, l.markSegmentSnapshotsDeletedLocked(toDelete))
	l.scheduleDelete(toDelete)
	if _, err := l.maybeIncrementLogStartOffsetLocked(l.segments[0].base, reasonSegmentDeletion); err != nil {
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}

// countDeletable returns how many of the oldest segments may go: the
// predicate must hold, the segment must end at or below the high watermark
// (so the log start never passes it), and an empty last segment stays.
func countDeletable(segs []*segment, hw, leo int64, pred func(s, next *segment) bool) int {
	for i, s := range segs {
		var next *segment
		upper := leo
		if i+1 < len(segs) {
			next = segs[i+1]
			upper = next.base
		}
		ok := hw >= upper && pred(s, next)
		if !ok || (next == nil && s.size.Load() == 0) {
			return i
		}
	}
	return len(segs)
}

// initSegment gives a created or loaded segment its creation time and
// segment.jitter.ms share, as LogSegment's constructor does.
func (l *Log) initSegment(s *segment) {
	s.created = l.now().UnixMilli()
	s.rollJitterMs = l.cfg.randomSegmentJitter()
}

// timeWaitedForRoll is LogSegment.timeWaitedForRoll: measured from the
// first batch's max timestamp when it has one, else from the creation
// time. Append path only (appendMu).
func (s *segment) timeWaitedForRoll(nowMs, messageTimestamp int64) int64 {
	if !s.firstBatchTsKnown {
		var hdr [offProducerID]byte
		if _, err := s.log.ReadAt(hdr[:], 0); err == nil && batchView(hdr[:]).magic() == 2 {
			s.firstBatchTs, s.firstBatchTsKnown = batchView(hdr[:]).maxTimestamp(), true
		}
	}
	if s.firstBatchTsKnown && s.firstBatchTs >= 0 {
		return messageTimestamp - s.firstBatchTs
	}
	return nowMs - s.created
}

// largestTimestamp is LogSegment.largestTimestamp: the largest record
// timestamp, or the .log file's modification time if there is none.
// Caller holds appendMu.
func (s *segment) largestTimestamp() int64 {
	if s.maxTimestamp >= 0 {
		return s.maxTimestamp
	}
	return s.lastModified()
}

func (s *segment) lastModified() int64 {
	st, err := s.log.Stat()
	if err != nil {
		return 0
	}
	return st.ModTime().UnixMilli()
}

// filePaths are the segment's files under their usual names.
func (s *segment) filePaths() []string {
	paths := []string{s.log.Name(), s.index.path, s.timeIndex.path}
	if s.txn != nil {
		paths = append(paths, s.txn.currentPath())
	}
	return paths
}

// renameDeleted renames the segment's files with the .deleted suffix
// (changeFileSuffixes); open descriptors and mappings stay valid, and the
// indexes, which reopen their files by name, learn the new one. A file
// that cannot be renamed is later removed under its own name.
func (s *segment) renameDeleted() error {
	var errs []error
	s.deletePaths = nil
	logName := s.log.Name()
	files := []struct {
		path   string
		rename func(to string) error
	}{
		{logName, func(to string) error { return os.Rename(logName, to) }},
		{s.index.path, s.index.rename},
		{s.timeIndex.path, s.timeIndex.rename},
	}
	if s.txn != nil {
		files = append(files, struct {
			path   string
			rename func(to string) error
		}{s.txn.currentPath(), s.txn.rename})
	}
	for _, f := range files {
		to := f.path + deletedSuffix
		if err := f.rename(to); err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, err)
			}
			to = f.path
		}
		s.deletePaths = append(s.deletePaths, to)
	}
	return errors.Join(errs...)
}

// describe is LogSegment.toString, for log lines.
func (s *segment) describe() string {
	return fmt.Sprintf("LogSegment(baseOffset=%d, size=%d, lastModifiedTime=%d, largestRecordTimestamp=%d)",
		s.base, s.size.Load(), s.lastModified(), s.maxTimestamp)
}

func describeSegments(segs []*segment) string {
	parts := make([]string, len(segs))
	for i, s := range segs {
		parts[i] = s.describe()
	}
	return strings.Join(parts, ",")
}

// pendingDelete is one retention pass's segments waiting out
// file.delete.delay.ms.
type pendingDelete struct {
	segs  []*segment
	timer *time.Timer
	once  sync.Once
}

// scheduleDelete closes and removes segs after file.delete.delay.ms
// (LocalLog.deleteSegmentFiles with asyncDelete); Close does it at once.
func (l *Log) scheduleDelete(segs []*segment) {
	p := &pendingDelete{segs: segs}
	delay := time.Duration(max(l.cfg.FileDeleteDelayMs, 0)) * time.Millisecond
	l.delMu.Lock()
	defer l.delMu.Unlock()
	l.pendingDeletes = append(l.pendingDeletes, p)
	p.timer = time.AfterFunc(delay, func() { l.runDelete(p) })
}

// runDelete deletes p's files once, whoever calls first (the timer or
// Close); a second caller waits until the first is done.
func (l *Log) runDelete(p *pendingDelete) {
	p.once.Do(func() {
		l.logger.Infof("Deleting segment files %s", describeSegments(p.segs))
		// flushMu: a flush of a just-rolled segment may still hold these
		// segments; it must finish before their files close.
		l.flushMu.Lock()
		for _, s := range p.segs {
			if err := s.remove(); err != nil {
				l.logger.WithError(err).Errorf("Error deleting segment %d", s.base)
			}
		}
		l.flushMu.Unlock()
	})
	l.delMu.Lock()
	defer l.delMu.Unlock()
	for i, q := range l.pendingDeletes {
		if q == p {
			l.pendingDeletes = append(l.pendingDeletes[:i], l.pendingDeletes[i+1:]...)
			break
		}
	}
}

// finishPendingDeletes removes every scheduled segment now, for Close.
func (l *Log) finishPendingDeletes() {
	l.delMu.Lock()
	ps := append([]*pendingDelete(nil), l.pendingDeletes...)
	l.delMu.Unlock()
	for _, p := range ps {
		p.timer.Stop()
		l.runDelete(p)
	}
}
