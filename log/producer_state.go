package log

import (
	"fmt"
	"math"
)

// Per-producer state and the validation of one producer's batches, after
// Kafka's ProducerStateEntry and ProducerAppendInfo. Everything here is pure:
// the Log decides when to commit a validated update (producer_append.go).

// numBatchesToRetain is ProducerStateEntry.NUM_BATCHES_TO_RETAIN: the
// client keeps at most five requests in flight per connection, so any
// retry is a duplicate of one of the last five batches.
const numBatchesToRetain = 5

// appendOrigin is Kafka's AppendOrigin: how much of a batch is checked.
type appendOrigin int

const (
	originClient      appendOrigin = iota // epochs and sequences checked
	originCoordinator                     // epochs checked, sequences not
	originReplication                     // nothing checked (the leader did)
)

const (
	noProducerEpoch = -1
	noSequence      = -1
)

// batchMeta is Kafka's BatchMetadata: what a retry is compared with.
type batchMeta struct {
	lastSeq     int32
	lastOffset  int64
	offsetDelta int32
	timestamp   int64
}

func (b batchMeta) firstSeq() int32    { return decrementSequence(b.lastSeq, b.offsetDelta) }
func (b batchMeta) firstOffset() int64 { return b.lastOffset - int64(b.offsetDelta) }

// incrementSequence and decrementSequence are DefaultRecordBatch's: sequences
// wrap from Int.MAX to 0.
func incrementSequence(seq, n int32) int32 {
	if seq > math.MaxInt32-n {
		return n - (math.MaxInt32 - seq) - 1
	}
	return seq + n
}

func decrementSequence(seq, n int32) int32 {
	if seq-n < 0 {
		return math.MaxInt32 - (n - seq) + 1
	}
	return seq - n
}

// producerEntry is Kafka's ProducerStateEntry. txnFirstOffset is -1 when
// the producer has no open transaction.
type producerEntry struct {
	producerID       int64
	epoch            int16
	batches          []batchMeta // oldest first, at most numBatchesToRetain
	coordinatorEpoch int32
	lastTimestamp    int64
	txnFirstOffset   int64
}

func emptyEntry(pid int64) *producerEntry {
	return &producerEntry{producerID: pid, epoch: noProducerEpoch, coordinatorEpoch: -1,
		lastTimestamp: noTimestamp, txnFirstOffset: -1}
}

func (e *producerEntry) lastSeq() int32 {
	if len(e.batches) == 0 {
		return noSequence
	}
	return e.batches[len(e.batches)-1].lastSeq
}

func (e *producerEntry) lastDataOffset() int64 {
	if len(e.batches) == 0 {
		return -1
	}
	return e.batches[len(e.batches)-1].lastOffset
}

func (e *producerEntry) lastOffsetDelta() int32 {
	if len(e.batches) == 0 {
		return 0
	}
	return e.batches[len(e.batches)-1].offsetDelta
}

// maybeUpdateEpoch forgets the batches of an older epoch: their sequences
// mean nothing to the new one.
func (e *producerEntry) maybeUpdateEpoch(epoch int16) {
	if e.epoch != epoch {
		e.batches = e.batches[:0]
		e.epoch = epoch
	}
}

func (e *producerEntry) addBatchMeta(b batchMeta) {
	if len(e.batches) == numBatchesToRetain {
		copy(e.batches, e.batches[1:])
		e.batches = e.batches[:numBatchesToRetain-1]
	}
	e.batches = append(e.batches, b)
}

func (e *producerEntry) addBatch(epoch int16, b batchMeta) {
	e.maybeUpdateEpoch(epoch)
	e.addBatchMeta(b)
	e.lastTimestamp = b.timestamp
}

// update applies a validated next state (ProducerStateEntry.update).
func (e *producerEntry) update(next *producerEntry) {
	e.maybeUpdateEpoch(next.epoch)
	for _, b := range next.batches {
		e.addBatchMeta(b)
	}
	e.coordinatorEpoch = next.coordinatorEpoch
	e.txnFirstOffset = next.txnFirstOffset
	e.lastTimestamp = next.lastTimestamp
}

// findDuplicate returns the retained batch with exactly the sequence range
// of a retry from the same epoch.
func (e *producerEntry) findDuplicate(epoch int16, firstSeq, lastSeq int32) (batchMeta, bool) {
	if epoch != e.epoch {
		return batchMeta{}, false
	}
	for _, b := range e.batches {
		if b.firstSeq() == firstSeq && b.lastSeq == lastSeq {
			return b, true
		}
	}
	return batchMeta{}, false
}

func (e *producerEntry) clone() *producerEntry {
	c := *e
	c.batches = append(make([]batchMeta, 0, numBatchesToRetain), e.batches...)
	return &c
}

// completedTxn is Kafka's CompletedTxn: a transaction closed by a marker.
type completedTxn struct {
	producerID              int64
	firstOffset, lastOffset int64
	aborted                 bool
}

// producerAppend is Kafka's ProducerAppendInfo: the pending change of one
// producer across the batches of one append. updated starts with the
// current entry's epoch and transaction but no batches, so that sequences
// are checked against the batches of this append once there are some.
type producerAppend struct {
	pid     int64
	origin  appendOrigin
	current *producerEntry // never nil: an empty entry for a new producer
	updated *producerEntry // points at entry
	started []int64        // first offsets of the transactions this append opened
	// entry and buf back updated, so that an append allocates once.
	entry producerEntry
	buf   [numBatchesToRetain]batchMeta
}

func newProducerAppend(pid int64, current *producerEntry, origin appendOrigin) *producerAppend {
	a := &producerAppend{pid: pid, origin: origin, current: current, entry: *current}
	a.entry.batches = a.buf[:0]
	a.updated = &a.entry
	return a
}

func (a *producerAppend) checkEpoch(epoch int16, offset int64) error {
	if epoch < a.updated.epoch && a.origin != originReplication {
		return fmt.Errorf("%w: epoch of producer %d at offset %d is %d, which is smaller than the last seen epoch %d",
			ErrInvalidProducerEpoch, a.pid, offset, epoch, a.updated.epoch)
	}
	return nil
}

// checkSequence is ProducerAppendInfo.checkSequence. A producer the
// partition has no epoch for (new, or expired, or its data deleted by
// retention) may start at any sequence: Kafka 3.x accepts it rather than
// answering UNKNOWN_PRODUCER_ID.
func (a *producerAppend) checkSequence(epoch int16, firstSeq int32, offset int64) error {
	if epoch != a.updated.epoch {
		if firstSeq != 0 && a.updated.epoch != noProducerEpoch {
			return fmt.Errorf("%w: invalid sequence number for new epoch of producer %d at offset %d: %d (request epoch), %d (seq. number), %d (current producer epoch)",
				ErrOutOfOrderSequence, a.pid, offset, epoch, firstSeq, a.updated.epoch)
		}
		return nil
	}
	var last int32
	switch {
	case len(a.updated.batches) > 0:
		last = a.updated.lastSeq()
	case epoch == a.current.epoch:
		last = a.current.lastSeq()
	default:
		last = noSequence
	}
	if a.current.epoch == noProducerEpoch || inSequence(last, firstSeq) {
		return nil
	}
	return fmt.Errorf("%w: out of order sequence number for producer %d at offset %d: %d (incoming seq. number), %d (current end sequence number)",
		ErrOutOfOrderSequence, a.pid, offset, firstSeq, last)
}

func inSequence(last, next int32) bool {
	return int64(next) == int64(last)+1 || (next == 0 && last == math.MaxInt32)
}

// appendData is ProducerAppendInfo.appendDataBatch.
func (a *producerAppend) appendData(epoch int16, firstSeq, lastSeq int32, maxTimestamp, firstOffset, lastOffset int64, transactional bool) error {
	if err := a.checkEpoch(epoch, firstOffset); err != nil {
		return err
	}
	if a.origin == originClient {
		if err := a.checkSequence(epoch, firstSeq, firstOffset); err != nil {
			return err
		}
	}
	a.updated.addBatch(epoch, batchMeta{lastSeq: lastSeq, lastOffset: lastOffset,
		offsetDelta: int32(lastOffset - firstOffset), timestamp: maxTimestamp})
	switch open := a.updated.txnFirstOffset >= 0; {
	case open && !transactional:
		// Replicas apply what the leader accepted; Kafka throws here for
		// every origin, which cannot happen on a replica of a valid log.
		if a.origin != originReplication {
			return fmt.Errorf("%w: expected transactional write from producer %d at offset %d",
				ErrInvalidTxnState, a.pid, firstOffset)
		}
	case !open && transactional:
		a.updated.txnFirstOffset = firstOffset
		a.started = append(a.started, firstOffset)
	}
	return nil
}

// appendMarker is ProducerAppendInfo.appendEndTxnMarker. It returns the
// transaction the marker closes, if the producer had one open.
func (a *producerAppend) appendMarker(epoch int16, coordinatorEpoch int32, commit bool, offset, timestamp int64) (completedTxn, bool, error) {
	if err := a.checkEpoch(epoch, offset); err != nil {
		return completedTxn{}, false, err
	}
	if a.updated.coordinatorEpoch > coordinatorEpoch && a.origin != originReplication {
		return completedTxn{}, false, fmt.Errorf("%w: invalid coordinator epoch for producer %d at offset %d: %d (zombie), %d (current)",
			ErrTransactionCoordinatorFenced, a.pid, offset, coordinatorEpoch, a.updated.coordinatorEpoch)
	}
	var txn completedTxn
	ok := a.updated.txnFirstOffset >= 0
	if ok {
		txn = completedTxn{producerID: a.pid, firstOffset: a.updated.txnFirstOffset, lastOffset: offset, aborted: !commit}
	}
	a.updated.maybeUpdateEpoch(epoch)
	a.updated.coordinatorEpoch = coordinatorEpoch
	a.updated.txnFirstOffset = -1
	a.updated.lastTimestamp = timestamp
	return txn, ok, nil
}
