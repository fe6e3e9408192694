package log

import (
	"errors"
	"fmt"
	"os"
)

// The Log's side of the leader-epoch cache (epoch.go): the exported API the
// replication code calls, the append-path hook, and loading.

// LatestEpoch returns the latest cached leader epoch; false if the cache is
// empty.
func (l *Log) LatestEpoch() (int32, bool) {
	e, ok := l.epochs.latest()
	return e.Epoch, ok
}

// EpochEntries returns a copy of the cache, oldest first.
func (l *Log) EpochEntries() []EpochEntry { return l.epochs.snapshot() }

// EndOffsetForEpoch is LeaderEpochFileCache.endOffsetFor with the log end
// offset: it answers OffsetsForLeaderEpoch and the leader's divergence
// check. (-1, -1) when unknown (UndefinedEpoch, UndefinedEpochOffset).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// AssignEpochStartOffset records that epoch starts at startOffset (a new
// leader calls it with its LEO, so that followers with divergent later
// epochs truncate correctly). Entries with an epoch or start offset not
// below the new one are removed first, as Kafka does. A negative epoch or
// offset is an error (Kafka's IllegalArgumentException).
func (l *Log) AssignEpochStartOffset(epoch int32, startOffset int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	return l.assignEpochLocked(epoch, startOffset)
}

// assignEpochLocked assigns and persists. Caller holds appendMu.
func (l *Log) assignEpochLocked(epoch int32, startOffset int64) error {
	changed, err := l.epochs.assign(EpochEntry{Epoch: epoch, StartOffset: startOffset})
	if err != nil {
		return fmt.Errorf("log: %s: %w", l, err)
	}
	if !changed {
		return nil
	}
	return l.epochs.write()
}

// assignBatchEpochsLocked assigns (partitionLeaderEpoch, baseOffset) of
// every batch in records (whole, validated batches) whose epoch is set, as
// UnifiedLog.append does for followers, and writes the file once if
// anything changed. A batch of the latest epoch costs one comparison.
// Caller holds appendMu.
func (l *Log) assignBatchEpochsLocked(records []byte) error {
	changed := false
	for pos := 0; pos < len(records); {
		b := batchView(records[pos:])
		e := EpochEntry{Epoch: leaderEpochOf(b), StartOffset: b.baseOffset()}
		pos += b.size()
		if e.Epoch < 0 || !l.epochs.updateNeeded(e) {
			continue
		}
		c, err := l.epochs.assign(e)
		if err != nil {
			return fmt.Errorf("log: %s: %w", l, err)
		}
		changed = changed || c
	}
	if !changed {
		return nil
	}
	return l.epochs.write()
}

// loadEpochCache is the cache's part of UnifiedLog/LogLoader start-up,
// called once the segments are loaded and recovered and the log end and
// start are known. The checkpoint is read; after an unclean shutdown the
// batches from the recovery point on add the epochs they carry (as
// LogSegment.recover does), and a missing, empty or unreadable checkpoint
// of a non-empty log is rebuilt from every batch header. Then entries at or
// past the log end go and the first is moved up to the log start. restarted
// says restartAt emptied the log, which clears the cache, as Kafka does.
func (l *Log) loadEpochCache(opts loadOptions, restarted bool) error {
	c := l.epochs
	entries, rerr := readEpochCheckpoint(c.path)
	missing := rerr != nil
	changed := false
	for _, e := range entries {
		if _, err := c.assign(e); err != nil {
			// A negative value in the file: as unreadable as garbage.
			rerr, missing = err, true
			c.clear()
			break
		}
	}
	nonEmpty := l.leo.Load() > l.segments[0].base
	switch {
	case rerr != nil && !nonEmpty && !errors.Is(rerr, os.ErrNotExist) && !errors.Is(rerr, errEmptyCheckpoint):
		l.logger.Warnf("Replacing unreadable leader epoch checkpoint of an empty log: %v", rerr)
	case restarted:
		changed = len(c.entries) > 0
		c.clear()
	case missing && nonEmpty:
		l.logger.Warnf("Leader epoch checkpoint %s is missing or unreadable (%v), rebuilding it from the batch headers of the log", c.path, rerr)
		c.clear()
		n, err := l.scanEpochsLocked(0)
		if err != nil {
			return err
		}
		changed = n > 0
	case !opts.cleanShutdown && nonEmpty:
		n, err := l.scanEpochsLocked(max(l.segmentFor(max(opts.recoveryPoint, 0)), 0))
		if err != nil {
			return err
		}
		changed = n > 0
	}
	if c.truncateFromEnd(l.leo.Load()) {
		changed = true
	}
	if c.truncateFromStart(l.logStart.Load()) {
		changed = true
	}
	notExist := errors.Is(rerr, os.ErrNotExist)
	switch {
	case changed:
		return c.write()
	case rerr == nil, errors.Is(rerr, errEmptyCheckpoint) && len(c.entries) == 0:
		return nil
	case notExist && len(c.entries) == 0:
		// Kafka's CheckpointFile creates the file empty when it opens it.
		return writeFileAtomic(c.path, nil)
	default:
		return c.write() // replaces an unreadable file
	}
}

// scanEpochsLocked assigns the epoch of every batch, from the segment at
// index first on, that is newer than the latest cached one (the rule of
// LogSegment.recover), reading one header per batch. It returns how many
// entries it added. Caller holds appendMu or is loading the log.
func (l *Log) scanEpochsLocked(first int) (int, error) {
	added := 0
	var hdr [headerScanSize]byte
	for _, s := range l.segments[first:] {
		limit := s.size.Load()
		for pos := int64(0); pos+headerScanSize <= limit; {
			if _, err := s.log.ReadAt(hdr[:], pos); err != nil {
				return added, fmt.Errorf("log: scan epochs of segment %d of %s: %w", s.base, l, err)
			}
			b := batchView(hdr[:])
			if b.size() < batchHeaderSize || pos+int64(b.size()) > limit {
				break
			}
			pos += int64(b.size())
			epoch := leaderEpochOf(b)
			if last, ok := l.epochs.latestLocked(); epoch < 0 || (ok && epoch <= last.Epoch) {
				continue
			}
			if _, err := l.epochs.assign(EpochEntry{Epoch: epoch, StartOffset: b.baseOffset()}); err != nil {
				return added, err
			}
			added++
		}
	}
	return added, nil
}
