package coordinator

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// txnState is a transaction's state; the values are the status ids of the transaction log.
type txnState int8

const (
	txnEmpty txnState = iota
	txnOngoing
	txnPrepareCommit
	txnPrepareAbort
	txnCompleteCommit
	txnCompleteAbort
	txnDead
	txnPrepareEpochFence
)

var txnStateNames = [...]string{"Empty", "Ongoing", "PrepareCommit", "PrepareAbort", "CompleteCommit", "CompleteAbort", "Dead", "PrepareEpochFence"}

// String is the state's name as DescribeTransactions and ListTransactions show it.
func (s txnState) String() string {
	if s >= 0 && int(s) < len(txnStateNames) {
		return txnStateNames[s]
	}
	return fmt.Sprintf("Unknown(%d)", int8(s))
}

func txnStateFromName(name string) (txnState, bool) {
	for i, n := range txnStateNames {
		if n == name {
			return txnState(i), true
		}
	}
	return 0, false
}

// validPrevious is TransactionState.validPreviousStates.
func (s txnState) validPrevious(from txnState) bool {
	switch s {
	case txnEmpty:
		return from == txnEmpty || from == txnCompleteCommit || from == txnCompleteAbort
	case txnOngoing:
		return from == txnOngoing || from == txnEmpty || from == txnCompleteCommit || from == txnCompleteAbort
	case txnPrepareCommit:
		return from == txnOngoing
	case txnPrepareAbort:
		return from == txnOngoing || from == txnPrepareEpochFence
	case txnCompleteCommit:
		return from == txnPrepareCommit
	case txnCompleteAbort:
		return from == txnPrepareAbort
	case txnDead:
		return from == txnEmpty || from == txnCompleteCommit || from == txnCompleteAbort
	case txnPrepareEpochFence:
		return from == txnOngoing
	}
	return false
}

// expirationAllowed: only ids without an open transaction may expire.
func (s txnState) expirationAllowed() bool {
	return s == txnEmpty || s == txnCompleteCommit || s == txnCompleteAbort
}

const (
	noProducerID    int64 = -1
	noProducerEpoch int16 = -1
)

// epochExhausted: the client never gets math.MaxInt16, so the coordinator can always fence one more time.
func epochExhausted(e int16) bool { return e >= math.MaxInt16-1 }

// txnMeta is one transactional id's TransactionMetadata. Everything in it is guarded by mu (Kafka's
// txnMetadata.inLock); pending is the state of the write in flight, if any: while it is set no other
// transition may start.
type txnMeta struct {
	mu sync.Mutex

	id                  string
	producerID          int64
	lastProducerID      int64
	producerEpoch       int16
	lastProducerEpoch   int16
	timeoutMs           int32
	state               txnState
	partitions          map[TopicPartition]bool
	startTimestamp      int64
	lastUpdateTimestamp int64
	pending             txnState
	hasPending          bool
	hasFailedEpochFence bool
}

// txnTransit is the target of a transition (TxnTransitMetadata): written to the log first, applied to the
// txnMeta once the write succeeded.
type txnTransit struct {
	producerID          int64
	lastProducerID      int64
	producerEpoch       int16
	lastProducerEpoch   int16
	timeoutMs           int32
	state               txnState
	partitions          []TopicPartition // sorted
	startTimestamp      int64
	lastUpdateTimestamp int64
}

func newTxnMeta(id string, pid int64, epoch int16, timeoutMs int32, state txnState, now int64) *txnMeta {
	return &txnMeta{
		id: id, producerID: pid, lastProducerID: noProducerID, producerEpoch: epoch, lastProducerEpoch: noProducerEpoch,
		timeoutMs: timeoutMs, state: state, partitions: map[TopicPartition]bool{},
		startTimestamp: -1, lastUpdateTimestamp: now,
	}
}

func sortedPartitions(set map[TopicPartition]bool) []TopicPartition {
	out := make([]TopicPartition, 0, len(set))
	for tp := range set {
		out = append(out, tp)
	}
	sortTopicPartitions(out)
	return out
}

func sortTopicPartitions(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

var errIllegalTransition = errors.New("illegal transaction state transition")

// prepareTransitionLocked is TransactionMetadata.prepareTransitionTo: it checks the transition and marks it
// pending. lastProducerID of the target is always the current producer id, as Kafka records it.
func (m *txnMeta) prepareTransitionLocked(to txnState, pid int64, epoch, lastEpoch int16, timeoutMs int32,
	parts []TopicPartition, start, now int64) (txnTransit, error) {
	if m.hasPending {
		return txnTransit{}, fmt.Errorf("%w: preparing %v for %s while %v is pending", errIllegalTransition, to, m.id, m.pending)
	}
	if pid < 0 {
		return txnTransit{}, fmt.Errorf("%w: illegal new producer id %d", errIllegalTransition, pid)
	}
	if to != txnDead && epoch < 0 {
		return txnTransit{}, fmt.Errorf("%w: illegal new producer epoch %d", errIllegalTransition, epoch)
	}
	if !to.validPrevious(m.state) {
		return txnTransit{}, fmt.Errorf("%w: %s from %v to %v", errIllegalTransition, m.id, m.state, to)
	}
	m.pending, m.hasPending = to, true
	return txnTransit{
		producerID: pid, lastProducerID: m.producerID, producerEpoch: epoch, lastProducerEpoch: lastEpoch,
		timeoutMs: timeoutMs, state: to, partitions: parts, startTimestamp: start, lastUpdateTimestamp: now,
	}, nil
}

func (m *txnMeta) clearPendingLocked() { m.hasPending = false }

func (m *txnMeta) pendingIs(s txnState) bool { return m.hasPending && m.pending == s }

// prepareFenceEpochLocked bumps the epoch to fence the current producer (InitProducerId during a transaction,
// or its timeout); the epoch is not bumped again after a fence whose write failed, since that epoch was
// never handed out.
func (m *txnMeta) prepareFenceEpochLocked() (txnTransit, error) {
	if m.producerEpoch == math.MaxInt16 {
		return txnTransit{}, fmt.Errorf("%w: cannot fence producer with epoch %d", errIllegalTransition, m.producerEpoch)
	}
	epoch := m.producerEpoch
	if !m.hasFailedEpochFence {
		epoch++
	}
	return m.prepareTransitionLocked(txnPrepareEpochFence, m.producerID, epoch, noProducerEpoch, m.timeoutMs,
		sortedPartitions(m.partitions), m.startTimestamp, m.lastUpdateTimestamp)
}

// prepareIncrementEpochLocked is InitProducerId's epoch bump, with KIP-360's expected epoch: a retry of a
// bump the producer never saw the answer of gets the current epoch again; any other stale epoch is fenced.
func (m *txnMeta) prepareIncrementEpochLocked(timeoutMs int32, expected *int16, now int64) (txnTransit, int16, error) {
	if epochExhausted(m.producerEpoch) {
		return txnTransit{}, errNone, fmt.Errorf("%w: no more producer epochs for producer id %d", errIllegalTransition, m.producerID)
	}
	bumped := m.producerEpoch + 1
	next, last := bumped, noProducerEpoch
	if expected != nil {
		switch {
		case m.producerEpoch == noProducerEpoch || *expected == m.producerEpoch:
			next, last = bumped, m.producerEpoch
		case *expected == m.lastProducerEpoch:
			next, last = m.producerEpoch, m.lastProducerEpoch
		default:
			return txnTransit{}, errProducerFenced, nil
		}
	}
	tr, err := m.prepareTransitionLocked(txnEmpty, m.producerID, next, last, timeoutMs, nil, -1, now)
	return tr, errNone, err
}

// prepareProducerIDRotationLocked gives the id a new producer id with epoch 0 once its epochs are exhausted.
func (m *txnMeta) prepareProducerIDRotationLocked(newPID int64, timeoutMs int32, now int64, recordLastEpoch bool) (txnTransit, error) {
	if m.state == txnOngoing || m.state == txnPrepareAbort || m.state == txnPrepareCommit {
		return txnTransit{}, fmt.Errorf("%w: cannot rotate producer ids while a transaction is pending", errIllegalTransition)
	}
	last := noProducerEpoch
	if recordLastEpoch {
		last = m.producerEpoch
	}
	return m.prepareTransitionLocked(txnEmpty, newPID, 0, last, timeoutMs, nil, -1, now)
}

func (m *txnMeta) prepareAddPartitionsLocked(add []TopicPartition, now int64) (txnTransit, error) {
	start := m.startTimestamp
	switch m.state {
	case txnEmpty, txnCompleteAbort, txnCompleteCommit:
		start = now
	}
	set := map[TopicPartition]bool{}
	for tp := range m.partitions {
		set[tp] = true
	}
	for _, tp := range add {
		set[tp] = true
	}
	return m.prepareTransitionLocked(txnOngoing, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		sortedPartitions(set), start, now)
}

func (m *txnMeta) prepareAbortOrCommitLocked(to txnState, now int64) (txnTransit, error) {
	return m.prepareTransitionLocked(to, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		sortedPartitions(m.partitions), m.startTimestamp, now)
}

func (m *txnMeta) prepareCompleteLocked(now int64) (txnTransit, error) {
	to := txnCompleteAbort
	if m.state == txnPrepareCommit {
		to = txnCompleteCommit
	}
	// The PrepareX write succeeded, so any epoch fence it carried is on the log.
	m.hasFailedEpochFence = false
	return m.prepareTransitionLocked(to, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		[]TopicPartition{}, m.startTimestamp, now)
}

func (m *txnMeta) prepareDeadLocked() (txnTransit, error) {
	return m.prepareTransitionLocked(txnDead, m.producerID, m.producerEpoch, m.lastProducerEpoch, m.timeoutMs,
		[]TopicPartition{}, m.startTimestamp, m.lastUpdateTimestamp)
}

// completeTransitionLocked is TransactionMetadata.completeTransitionTo: it applies a transition whose record
// is on the log, after checking it is the one prepared.
func (m *txnMeta) completeTransitionLocked(tr txnTransit) error {
	fail := func() error {
		return fmt.Errorf("%w: %s (state %v, producer %d epoch %d) to %+v", errIllegalTransition, m.id, m.state, m.producerID, m.producerEpoch, tr)
	}
	if !m.hasPending || m.pending != tr.state {
		return fail()
	}
	sameEpoch := tr.producerEpoch == m.producerEpoch && tr.producerID == m.producerID
	switch tr.state {
	case txnEmpty:
		validBump := tr.producerEpoch == m.producerEpoch+1 || (tr.producerEpoch == 0 && tr.producerID != m.producerID)
		if (m.producerEpoch != tr.producerEpoch && !validBump) || len(tr.partitions) > 0 || tr.startTimestamp != -1 {
			return fail()
		}
		m.timeoutMs = tr.timeoutMs
		m.producerEpoch, m.lastProducerEpoch = tr.producerEpoch, tr.lastProducerEpoch
		m.producerID, m.lastProducerID = tr.producerID, tr.lastProducerID
	case txnOngoing:
		if !sameEpoch || m.timeoutMs != tr.timeoutMs {
			return fail()
		}
		in := map[TopicPartition]bool{}
		for _, tp := range tr.partitions {
			in[tp] = true
		}
		for tp := range m.partitions {
			if !in[tp] {
				return fail()
			}
		}
		m.startTimestamp = tr.startTimestamp
		m.partitions = in
	case txnPrepareAbort, txnPrepareCommit:
		if !sameEpoch || m.timeoutMs != tr.timeoutMs || m.startTimestamp != tr.startTimestamp || len(m.partitions) != len(tr.partitions) {
			return fail()
		}
	case txnCompleteAbort, txnCompleteCommit:
		if !sameEpoch || m.timeoutMs != tr.timeoutMs || tr.startTimestamp == -1 {
			return fail()
		}
		m.startTimestamp = tr.startTimestamp
		m.partitions = map[TopicPartition]bool{}
	default:
		// PrepareEpochFence turns into PrepareAbort before anything is written; Dead ends in removal.
		return fail()
	}
	m.lastUpdateTimestamp = tr.lastUpdateTimestamp
	m.hasPending = false
	m.state = tr.state
	return nil
}
