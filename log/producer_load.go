package log

import (
	"errors"
	"fmt"
	"math"
	"os"
)

// Building the producer state from snapshots and the log, after
// UnifiedLog.rebuildProducerState, ProducerStateManager.truncateAndReload
// and LogSegment.recover's producer part.

// loadProducerStateLocked is the producer part of opening a log, once the
// segments are loaded and recovered and the log start and end are known.
// After an unclean shutdown, recoveredFrom is the base offset of the first
// segment recovery scanned: the state is rebuilt up to it from the newest
// snapshot at or below it, and the scanned segments are replayed with their
// transaction indexes rebuilt, as Kafka's LogSegment.recover does
// (math.MaxInt64 after a clean shutdown). Stray snapshots go first.
func (l *Log) loadProducerStateLocked(recoveredFrom int64) error {
	snaps, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	l.ps.snapshots = snaps
	if err := l.ps.removeStraySnapshots(l.dir, segmentBases(l.segments)); err != nil {
		return err
	}
	return l.rebuildProducerStateLocked(l.leo.Load(), recoveredFrom)
}

// rebuildProducerStateLocked makes the state describe the log up to
// lastOffset (exclusive): snapshots above it (or above rewriteFrom) and at
// or below the log start are deleted, the newest remaining one is loaded
// unless the state already ends at lastOffset, the batches after it are
// replayed, and a snapshot is written at lastOffset. Unlike Kafka, a log
// without any snapshot is always replayed from its start, even after a
// clean shutdown: the state is then right whatever wrote the log. Caller
// holds appendMu or is opening the log.
func (l *Log) rebuildProducerStateLocked(lastOffset, rewriteFrom int64) error {
	ps := l.ps
	logStart := l.logStart.Load()
	reloadAt := min(lastOffset, rewriteFrom)
	skipReplay := ps.isEmpty() && ps.mapEnd >= lastOffset && rewriteFrom >= lastOffset
	if err := ps.deleteSnapshotsWhere(l.dir, func(off int64) bool { return off > reloadAt || off <= logStart }); err != nil {
		return err
	}
	if reloadAt != ps.mapEnd {
		ps.clear()
		l.loadNewestSnapshotLocked(logStart)
	} else {
		l.onLogStartIncrementedLocked(logStart)
	}
	if lastOffset > ps.mapEnd && !skipReplay {
		if err := l.replayProducersLocked(ps.mapEnd, lastOffset, rewriteFrom); err != nil {
			return err
		}
	}
	ps.mapEnd = lastOffset
	_, err := ps.takeSnapshot(l.dir, true)
	return err
}

// loadNewestSnapshotLocked is loadFromSnapshot: the newest readable
// snapshot is loaded (producers already expired left out); unreadable
// ones are deleted. Without one the state starts empty at logStart.
func (l *Log) loadNewestSnapshotLocked(logStart int64) {
	ps := l.ps
	now, exp := l.now().UnixMilli(), l.cfg.producerIDExpirationMs()
	for {
		off, ok := ps.latestSnapshot()
		if !ok {
			ps.lastSnap, ps.mapEnd = logStart, logStart
			return
		}
		entries, err := readSnapshotFile(l.dir, off)
		if err != nil {
			l.logger.Warnf("Failed to load producer snapshot from '%s': %v", snapshotPath(l.dir, off), err)
			if err := ps.deleteSnapshotsWhere(l.dir, func(o int64) bool { return o == off }); err != nil {
				l.logger.WithError(err).Warn("Failed to delete producer snapshot")
				ps.snapshots = ps.snapshots[:len(ps.snapshots)-1]
			}
			continue
		}
		l.logger.Infof("Loading producer state from snapshot file '%s'", snapshotPath(l.dir, off))
		for _, e := range entries {
			if !isProducerExpired(now, exp, e) {
				ps.load(e)
			}
		}
		ps.lastSnap, ps.mapEnd = off, off
		return
	}
}

// onLogStartIncrementedLocked is ProducerStateManager.onLogStartOffsetIncremented.
func (l *Log) onLogStartIncrementedLocked(logStart int64) {
	ps := l.ps
	if ps.txnCount.Load() > 0 {
		ps.pruneReplicated(logStart)
	}
	ps.mapEnd = max(ps.mapEnd, logStart)
	if off, ok := ps.latestSnapshot(); ok {
		ps.lastSnap = off
	} else {
		ps.lastSnap = logStart
	}
}

// replayProducersLocked applies the producer batches and markers in
// [from, to) without checks. Segments based at or above rewriteFrom get
// their transaction index rebuilt on the way. Snapshots are taken at the
// start of the last two segments, as Kafka does, so a later truncation
// finds one close by.
func (l *Log) replayProducersLocked(from, to, rewriteFrom int64) error {
	ps := l.ps
	logStart := l.logStart.Load()
	segs := l.segments
	snapAt := map[int64]bool{segs[len(segs)-1].base: true}
	if len(segs) > 1 {
		snapAt[segs[len(segs)-2].base] = true
	}
	var hdr [batchHeaderSize]byte
	for i, s := range segs {
		end := int64(math.MaxInt64)
		if i+1 < len(segs) {
			end = segs[i+1].base
		}
		if end <= from {
			continue
		}
		if s.base >= to {
			break
		}
		start := max(s.base, ps.mapEnd, logStart)
		ps.mapEnd = start
		if snapAt[s.base] {
			if _, err := ps.takeSnapshot(l.dir, false); err != nil {
				return err
			}
		}
		rewrite := s.base >= rewriteFrom
		if rewrite {
			if err := s.txn.reset(); err != nil {
				return err
			}
		}
		limit := s.size.Load()
		pos, _, found, err := s.translate(start, s.index.lookup(start), limit)
		if err != nil {
			return fmt.Errorf("log: replay producers of segment %d of %s: %w", s.base, l, err)
		}
		for found && pos+batchHeaderSize <= limit {
			if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
				return fmt.Errorf("log: replay producers of segment %d of %s: %w", s.base, l, err)
			}
			b := batchView(hdr[:])
			n := int64(b.size())
			if n < batchHeaderSize || pos+n > limit || b.lastOffset() >= to {
				break
			}
			if b.producerID() >= 0 {
				if err := l.replayBatchLocked(s, pos, n, b, rewrite); err != nil {
					return err
				}
			}
			ps.mapEnd = b.lastOffset() + 1
			pos += n
		}
	}
	return nil
}

// replayBatchLocked applies one producer batch found at pos in s (header
// in hdr), reading the whole batch only for a control batch.
func (l *Log) replayBatchLocked(s *segment, pos, n int64, hdr batchView, rewrite bool) error {
	b := hdr
	if hdr.attributes()&attrControl != 0 {
		full := make([]byte, n)
		if _, err := s.log.ReadAt(full, pos); err != nil {
			return fmt.Errorf("log: replay producers of segment %d of %s: %w", s.base, l, err)
		}
		b = full
	}
	var upd producerUpdate
	if err := l.analyzeBatchLocked(&upd, b, hdr.baseOffset(), hdr.lastOffset(), originReplication); err != nil {
		l.logger.Warnf("Skipping batch at offset %d while loading producer state: %v", hdr.baseOffset(), err)
		return nil
	}
	for _, a := range upd.appends {
		l.ps.commit(a)
	}
	for _, t := range upd.completed {
		if t.aborted && rewrite {
			e := abortedTxnEntry{producerID: t.producerID, firstOffset: t.firstOffset, lastOffset: t.lastOffset,
				lastStableOffset: l.ps.lastStableOffsetOf(t)}
			if err := s.txn.append(e); err != nil {
				return err
			}
		}
		l.ps.completeTxn(t)
	}
	return nil
}

// truncateFullyProducersLocked is ProducerStateManager.truncateFullyAndStartAt
// followed by the rebuild Kafka runs after it: no producers, no snapshots.
func (l *Log) truncateFullyProducersLocked(offset int64) error {
	ps := l.ps
	ps.clear()
	err := ps.deleteSnapshotsWhere(l.dir, func(int64) bool { return true })
	ps.lastSnap, ps.mapEnd = 0, offset
	return errors.Join(err, l.rebuildProducerStateLocked(offset, math.MaxInt64))
}

// markSegmentSnapshotsDeletedLocked renames the snapshots at the bases of
// segments retention removes to .deleted and adds them to the segments'
// files to delete after file.delete.delay.ms (deleteProducerSnapshots).
func (l *Log) markSegmentSnapshotsDeletedLocked(segs []*segment) error {
	var errs []error
	for _, s := range segs {
		p, err := l.ps.markSnapshotForDeletion(l.dir, s.base)
		errs = append(errs, err)
		if p != "" {
			if s.deletePaths == nil {
				s.deletePaths = s.filePaths()
			}
			s.deletePaths = append(s.deletePaths, p)
		}
	}
	return errors.Join(errs...)
}

// snapshotAtRollLocked takes the snapshot at a new segment's base (roll),
// unsynced; the returned path, if any, is synced with the segment flush.
func (l *Log) snapshotAtRollLocked(newBase int64) string {
	l.ps.mapEnd = newBase
	path, err := l.ps.takeSnapshot(l.dir, false)
	if err != nil {
		// Only an optimization for the next load or truncation.
		l.logger.WithError(err).Warn("Failed to write producer snapshot at roll")
	}
	return path
}

func syncSnapshotIfAny(path string) error {
	if path == "" {
		return nil
	}
	if err := syncFile(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// adoptTxnIndexes gives a segment the cleaner wrote the aborted
// transactions of the segments it replaces (their files renamed .deleted
// by now), so read_committed fetches still skip aborted data the cleaner
// kept. Caller holds appendMu.
func (s *segment) adoptTxnIndexes(dir string, old []*segment) error {
	x, err := openTxnIndex(segmentPath(dir, s.base, txnIndexSuffix))
	if err != nil {
		return err
	}
	s.txn = x
	if err := x.reset(); err != nil {
		return err
	}
	for _, o := range old {
		for _, e := range o.txn.all() {
			if err := x.append(e); err != nil {
				return err
			}
		}
	}
	return nil
}

// expireProducers runs removeExpiredProducers over every log.
func (m *LogManager) expireProducers() error {
	now := m.now().UnixMilli()
	var errs []error
	for _, l := range m.AllLogs() {
		if err := l.removeExpiredProducers(now); err != nil && !errors.Is(err, ErrLogClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
