package log

import (
	"errors"
	"fmt"
)

// Errors of idempotent and transactional appends; the broker maps them to
// Kafka error codes with errors.Is.
var (
	// ErrOutOfOrderSequence: a sequence gap, or a new epoch not starting at
	// sequence 0 (OUT_OF_ORDER_SEQUENCE_NUMBER, 45).
	ErrOutOfOrderSequence = errors.New("out of order sequence number")
	// ErrInvalidProducerEpoch: a batch or marker older than the producer's
	// current epoch (INVALID_PRODUCER_EPOCH, 47).
	ErrInvalidProducerEpoch = errors.New("invalid producer epoch")
	// ErrUnknownProducerID (UNKNOWN_PRODUCER_ID, 59). Kafka 3.x no longer
	// returns it for appends: ProducerAppendInfo.checkSequence accepts any
	// sequence from a producer the partition has no state for (new,
	// expired, or whose batches retention deleted). Kept for the broker's
	// error table; the log never returns it.
	ErrUnknownProducerID = errors.New("unknown producer id")
	// ErrInvalidTxnState: a non-transactional batch while the producer has
	// a transaction open (INVALID_TXN_STATE, 48).
	ErrInvalidTxnState = errors.New("invalid transaction state")
	// ErrTransactionCoordinatorFenced: a marker from a coordinator epoch
	// older than the one of the producer's last marker
	// (TRANSACTION_COORDINATOR_FENCED, 52).
	ErrTransactionCoordinatorFenced = errors.New("transaction coordinator fenced")
)

// Marker is a transaction marker (WriteTxnMarkers) to be written as a
// control batch.
type Marker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
}

// AbortedTxn is one aborted transaction a read_committed fetch must skip
// (FetchResponse AbortedTransactions).
type AbortedTxn struct {
	ProducerID, FirstOffset int64
}

// ProducerInfo is one active producer of the partition (DescribeProducers).
type ProducerInfo struct {
	ProducerID            int64
	ProducerEpoch         int16
	LastSequence          int32 // -1 if the producer wrote only markers
	LastTimestamp         int64
	CoordinatorEpoch      int32
	CurrentTxnStartOffset int64 // -1 if none
}

// AppendAsCoordinator is AppendAsLeader for Kafka's AppendOrigin.COORDINATOR
// (the group coordinator's transactional offset commits): producer epochs
// are checked and the state updated, sequences are not, and duplicates are
// not looked for.
func (l *Log) AppendAsCoordinator(records []byte, leaderEpoch int32) (AppendInfo, error) {
	return l.appendAsLeader(records, leaderEpoch, originCoordinator)
}

// AppendMarker appends m as a control batch (one COMMIT or ABORT record,
// with the broker's clock as its timestamp), checked as Kafka checks a
// coordinator's marker: an epoch below the producer's is
// ErrInvalidProducerEpoch, a coordinator epoch below the last marker's is
// ErrTransactionCoordinatorFenced. An ABORT closing an open transaction
// adds an entry to the transaction index of the segment holding it.
func (l *Log) AppendMarker(m Marker, leaderEpoch int32) (AppendInfo, error) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return AppendInfo{}, ErrLogClosed
	}
	if m.ProducerID < 0 {
		return AppendInfo{}, fmt.Errorf("%w: transaction marker without a producer id", ErrInvalidRecord)
	}
	now := l.now().UnixMilli()
	records := buildMarkerBatch(m, now)
	sum := BatchesSummary{Batches: 1, NumRecords: 1, OffsetCount: 1, MaxTimestamp: now, Size: len(records)}
	return l.appendValidLocked(records, leaderEpoch, originCoordinator, sum, now)
}

// LastStableOffset is the offset below which every transaction is decided
// and its marker replicated: the first offset of the oldest transaction
// that is open or whose marker is not yet below the high watermark, or
// the high watermark if that is lower (UnifiedLog.lastStableOffset).
func (l *Log) LastStableOffset() int64 {
	hw := l.hw.Load()
	fu := l.ps.firstUnstableOffset(hw)
	if fu < 0 {
		return hw
	}
	return min(max(fu, l.logStart.Load()), hw)
}

// CollectAbortedTransactions returns the aborted transactions overlapping
// [startOffset, upperBoundOffset): those whose ABORT marker is at or after
// startOffset and whose first offset is below upperBoundOffset, read from
// the transaction indexes of the segment holding startOffset and the ones
// after it, until an entry's LSO shows no later one can qualify.
func (l *Log) CollectAbortedTransactions(startOffset, upperBoundOffset int64) []AbortedTxn {
	l.mu.RLock()
	i := l.segmentFor(startOffset)
	if i < 0 {
		i = 0
	}
	segs := append([]*segment(nil), l.segments[i:]...)
	l.mu.RUnlock()
	var out []AbortedTxn
	for _, s := range segs {
		var complete bool
		if out, complete = s.txn.collect(startOffset, upperBoundOffset, out); complete {
			break
		}
	}
	return out
}

// ActiveProducers lists the partition's producers by id (DescribeProducers).
func (l *Log) ActiveProducers() []ProducerInfo {
	entries := l.ps.sortedEntries()
	out := make([]ProducerInfo, len(entries))
	for i, e := range entries {
		out[i] = ProducerInfo{ProducerID: e.producerID, ProducerEpoch: e.epoch, LastSequence: e.lastSeq(),
			LastTimestamp: e.lastTimestamp, CoordinatorEpoch: e.coordinatorEpoch, CurrentTxnStartOffset: e.txnFirstOffset}
	}
	return out
}

// removeExpiredProducers is UnifiedLog.removeExpiredProducers, run by the
// LogManager every producer.id.expiration.check.interval.ms.
func (l *Log) removeExpiredProducers(nowMs int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	if n := l.ps.removeExpired(nowMs, l.cfg.producerIDExpirationMs()); n > 0 {
		l.logger.Debugf("Expired %d producer ids", n)
	}
	return nil
}
