package log

import (
	"fmt"
)

// AppendInfo describes a successful append.
type AppendInfo struct {
	FirstOffset, LastOffset int64
	LogAppendTime           int64 // -1 unless the topic uses LogAppendTime
	LogStartOffset          int64
	NumRecords              int
	MaxTimestamp            int64
	// Duplicate: the batch repeats one of its producer's last five; nothing
	// was appended and the offsets are the original ones.
	Duplicate bool
}

// AppendAsLeader validates records (one or more concatenated magic-2 record
// batches exactly as received in a Produce request), assigns offsets in
// place starting at the log end, stamps partitionLeaderEpoch (outside the
// CRC) with leaderEpoch, and appends the bytes (large appends overlap
// the write with validation, see overlap.go). For
// LogAppendTime topics maxTimestamp and the timestamp-type bit are set and
// the CRC recomputed. Nothing is appended if any batch is invalid; the
// caller's slice may be modified in place either way.
//
// Batches of idempotent or transactional producers are checked against
// the producer state (producer_append.go); a retry of one of a producer's
// last five batches appends nothing and returns the original offsets with
// Duplicate set.
func (l *Log) AppendAsLeader(records []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(records, leaderEpoch, originClient)
}

func (l *Log) appendAsLeader(records []byte, leaderEpoch int32, origin appendOrigin) (AppendInfo, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrLogClosed
	}
	now := l.now().UnixMilli()
	opts := l.cfg.ValidateOptions(now)
	if info, ok, err := l.appendOverlappedLocked(records, leaderEpoch, opts, origin); ok {
		return info, err
	}
	sum, err := ValidateBatches(records, opts)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("append to %s: %w", l, err)
	}
	return l.appendValidLocked(records, leaderEpoch, origin, sum, now)
}

// appendValidLocked is the leader append after validation: offsets,
// leader epoch and LogAppendTime are stamped, the producer state is
// checked, the bytes written and the state committed. Caller holds
// appendMu.
func (l *Log) appendValidLocked(records []byte, leaderEpoch int32, origin appendOrigin, sum BatchesSummary, now int64) (AppendInfo, error) {
	cfg := l.cfg
	if int64(len(records)) > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("%w: append of %d bytes to %s exceeds segment.bytes %d",
			ErrRecordListTooLarge, len(records), l, cfg.SegmentBytes)
	}
	info := AppendInfo{FirstOffset: l.leo.Load(), LogAppendTime: -1, NumRecords: sum.NumRecords, MaxTimestamp: sum.MaxTimestamp}
	lat := cfg.logAppendTime()
	if lat {
		info.LogAppendTime, info.MaxTimestamp = now, now
	}
	next := info.FirstOffset
	for pos := 0; pos < len(records); {
		b := batchView(records[pos:])
		n := b.size()
		b = b[:n]
		b.setBaseOffset(next)
		b.setLeaderEpoch(leaderEpoch)
		if lat {
			b.setLogAppendTime(now)
		}
		next += int64(b.lastOffsetDelta()) + 1
		pos += n
	}
	info.LastOffset = next - 1
	upd, err := l.analyzeProducersLocked(records, -1, origin)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("append to %s: %w", l, err)
	}
	if upd.duplicate {
		return l.duplicateInfo(upd.dup), nil
	}
	if leaderEpoch >= 0 {
		// Before the write, as UnifiedLog.append: every batch carries
		// leaderEpoch, so the first one is the only candidate.
		if err := l.assignEpochLocked(leaderEpoch, info.FirstOffset); err != nil {
			return AppendInfo{}, err
		}
	}
	if err := l.appendLocked(records, info.FirstOffset, info.LastOffset, info.MaxTimestamp, now); err != nil {
		return AppendInfo{}, err
	}
	if err := l.commitProducersLocked(upd, info.LastOffset); err != nil {
		return AppendInfo{}, err
	}
	info.LogStartOffset = l.logStart.Load()
	return info, nil
}

// AppendAsFollower appends batches that already carry offsets, as fetched
// from the leader: framing, magic and CRC are checked, offsets must
// increase and start at or after the log end. Sizes are not limited by
// max.message.bytes, as in Kafka, since the leader accepted them. A torn
// last batch (a leader's read cut at maxBytes, as FileRecords.slice does)
// is dropped and the whole batches before it are appended; records holding
// no whole batch append nothing and return FirstOffset = LastOffset = -1.
// Each batch's partitionLeaderEpoch enters the leader-epoch cache, and
// producer batches and transaction markers update the producer state
// without being checked.
func (l *Log) AppendAsFollower(records []byte) (AppendInfo, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrLogClosed
	}
	cfg := l.cfg
	records = records[:wholeBatchesPrefix(records)]
	if len(records) == 0 {
		return AppendInfo{FirstOffset: -1, LastOffset: -1, LogAppendTime: -1, MaxTimestamp: noTimestamp,
			LogStartOffset: l.logStart.Load()}, nil
	}
	sum, err := ValidateBatches(records, ValidateOptions{
		AllowNonZeroBaseOffset:      true,
		AllowControlBatches:         true,
		SkipRecordLevelValidation:   true,
		RequireIncreasingBaseOffset: true,
	})
	if err != nil {
		return AppendInfo{}, fmt.Errorf("follower append to %s: %w", l, err)
	}
	if int64(len(records)) > cfg.SegmentBytes {
		return AppendInfo{}, fmt.Errorf("%w: append of %d bytes to %s exceeds segment.bytes %d",
			ErrRecordListTooLarge, len(records), l, cfg.SegmentBytes)
	}
	first := batchView(records).baseOffset()
	var last int64
	for pos := 0; pos < len(records); {
		b := batchView(records[pos:])
		last = b.lastOffset()
		pos += b.size()
	}
	if leo := l.leo.Load(); first < leo {
		return AppendInfo{}, &UnexpectedAppendOffsetError{Partition: l.String(), FirstOffset: first, LastOffset: last, LogEndOffset: leo}
	}
	info := AppendInfo{FirstOffset: first, LastOffset: last, LogAppendTime: -1, NumRecords: sum.NumRecords, MaxTimestamp: sum.MaxTimestamp}
	upd, err := l.analyzeProducersLocked(records, -1, originReplication)
	if err != nil {
		return AppendInfo{}, fmt.Errorf("follower append to %s: %w", l, err)
	}
	if err := l.assignBatchEpochsLocked(records); err != nil {
		return AppendInfo{}, err
	}
	if err := l.appendLocked(records, first, last, sum.MaxTimestamp, l.now().UnixMilli()); err != nil {
		return AppendInfo{}, err
	}
	if err := l.commitProducersLocked(upd, last); err != nil {
		return AppendInfo{}, err
	}
	info.LogStartOffset = l.logStart.Load()
	return info, nil
}

// appendLocked rolls if needed, writes and publishes. Caller holds
// appendMu.
func (l *Log) appendLocked(records []byte, first, last, maxTimestamp, nowMs int64) error {
	seg := l.activeSegment()
	if seg.shouldRoll(l.cfg, len(records), last, maxTimestamp, nowMs) {
		var err error
		if seg, err = l.rollLocked(max(first, l.leo.Load())); err != nil {
			return err
		}
	}
	if err := seg.append(records, last, maxTimestamp, l.cfg.IndexIntervalBytes); err != nil {
		return err
	}
	return l.publishLocked(last, nowMs)
}

// publishLocked moves the log end past last, whose bytes the active
// segment has published, and applies flush.messages / flush.ms. Caller
// holds appendMu.
func (l *Log) publishLocked(last, nowMs int64) error {
	// The segment stored its size before leo is stored here: a reader that
	// sees the new log end also sees the bytes.
	l.leo.Store(last + 1)
	if l.leo.Load()-l.recoveryPoint.Load() >= l.cfg.FlushMessages ||
		(l.cfg.FlushMs < 1<<62 && nowMs-l.lastFlushMs >= l.cfg.FlushMs) {
		l.lastFlushMs = nowMs
		return l.flushUpTo(l.leo.Load())
	}
	return nil
}

// rollLocked seals the active segment and starts a new one at newBase. The
// sealed segment is fsynced in the background, as Kafka schedules it, and
// the recovery point follows. Caller holds appendMu.
func (l *Log) rollLocked(newBase int64) (*segment, error) {
	old := l.activeSegment()
	if old.size.Load() == 0 {
		// An empty active segment is replaced rather than sealed, so two
		// segments never share a base or leave an empty one behind.
		l.mu.Lock()
		defer l.mu.Unlock()
		if err := old.remove(); err != nil {
			return nil, err
		}
		s, err := createSegment(l.dir, newBase, l.cfg)
		if err != nil {
			return nil, err
		}
		l.initSegment(s)
		l.segments[len(l.segments)-1] = s
		l.snapshotAtRollLocked(newBase)
		return s, nil
	}
	s, err := createSegment(l.dir, newBase, l.cfg)
	if err != nil {
		return nil, err
	}
	l.initSegment(s)
	l.mu.Lock()
	err = old.seal()
	l.segments = append(l.segments, s)
	l.mu.Unlock()
	if err != nil {
		return nil, err
	}
	l.logger.Debugf("Rolled new log segment at offset %d", newBase)
	// Taken before the append that caused the roll changes the state, so
	// the snapshot describes exactly the offsets below newBase.
	snap := l.snapshotAtRollLocked(newBase)
	l.bg.Add(1)
	go func() {
		defer l.bg.Done()
		if err := syncSnapshotIfAny(snap); err != nil {
			l.logger.WithError(err).Error("Error flushing producer snapshot")
		}
		if err := l.flushUpTo(newBase); err != nil {
			l.logger.WithError(err).Error("Error flushing rolled segment")
		}
	}()
	return s, nil
}

// wholeBatchesPrefix returns the length of the whole batches at the start
// of records, stopping where Kafka's ByteBufferLogInputStream stops
// handing out batches: fewer bytes left than the offset and length
// prefix, or than the declared batch size. A length below the minimum is
// corruption, not a torn tail: everything is kept for the validator to
// reject.
func wholeBatchesPrefix(records []byte) int {
	pos := 0
	for {
		left := len(records) - pos
		if left < logOverhead {
			return pos
		}
		length := batchView(records[pos:]).length()
		if length < legacyRecordOverheadV0 {
			return len(records)
		}
		if int64(left) < int64(length)+logOverhead {
			return pos
		}
		pos += int(length) + logOverhead
	}
}
