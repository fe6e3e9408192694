package coordinator

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/internal/jhash"
)

// Lock order of the transaction coordinator (Kafka's TransactionStateManager locking notes):
//
//	TxnCoordinator.mu   (read) the partitions this coordinator owns or loads, and their ids; (write) to change them
//	txnMeta.mu          one transactional id's metadata
//
// TxnCoordinator.mu is never taken while a txnMeta.mu is held. Log.Append is called with TxnCoordinator.mu
// held for reading, so that no unload and reload can slip between the coordinator-epoch check and the
// append; it never calls done before it returns. MarkerWriter.WriteMarkers, ProducerIDs aside, and respond
// callbacks are called with no lock held.

// Error codes of the transaction coordinator.
var (
	errInvalidRequest            = kerr.InvalidRequest.Code
	errInvalidTransactionTimeout = kerr.InvalidTransactionTimeout.Code
	errConcurrentTransactions    = kerr.ConcurrentTransactions.Code
	errInvalidProducerIDMapping  = kerr.InvalidProducerIDMapping.Code
	errProducerFenced            = kerr.ProducerFenced.Code
	errInvalidProducerEpoch      = kerr.InvalidProducerEpoch.Code
	errInvalidTxnState           = kerr.InvalidTxnState.Code
	errTransactionalIDNotFound   = kerr.TransactionalIDNotFound.Code
	errOperationNotAttempted     = kerr.OperationNotAttempted.Code
)

// txnRetryBackoff is how long a failed marker write or completion append waits before it is retried
// (Kafka's marker sender thread retries on its next poll).
const txnRetryBackoff = 100 * time.Millisecond

// txnLogError is TransactionStateManager.appendTransactionToLog's mapping of a failed append.
func txnLogError(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code,
		kerr.RequestTimedOut.Code:
		// Retriable for the client: it retries with the same coordinator.
		return errCoordinatorNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return errNotCoordinator
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		return errUnknownServerError
	}
	return code
}

// txnPartition is the cache of one __transaction_state partition this coordinator leads.
type txnPartition struct {
	epoch int32
	ids   map[string]*txnMeta
}

// TxnCoordinator is the transaction coordinator of one broker: it owns the transactional ids of the
// __transaction_state partitions this broker leads, writes their state changes to that topic and has the
// partitions' leaders write the COMMIT/ABORT markers.
//
// Every method may be called from many goroutines at once; respond callbacks are called exactly once,
// possibly after the method returned (from the goroutine of a log append or marker completion).
type TxnCoordinator struct {
	cfg        TxnConfig
	log        Log
	ids        ProducerIDs
	markers    MarkerWriter
	logContext            // "[TransactionCoordinator id=N] "
	mgr        logContext // "[Transaction State Manager N]: "

	mu      sync.RWMutex
	active  bool
	loading map[int32]int32 // partition → leader epoch being loaded
	cache   map[int32]*txnPartition

	retryMu sync.Mutex
	retries []func()

	started      atomic.Bool
	shuttingDown atomic.Bool
	stop         chan struct{}
	wg           sync.WaitGroup
}

// NewTxn builds a transaction coordinator over l, a Log whose partitions are those of __transaction_state.
// Zero values in cfg take Kafka's defaults.
func NewTxn(cfg TxnConfig, l Log, ids ProducerIDs, markers MarkerWriter) *TxnCoordinator {
	if cfg.TxnLogPartitions <= 0 {
		cfg.TxnLogPartitions = 50
	}
	if cfg.TxnMaxTimeout <= 0 {
		cfg.TxnMaxTimeout = 15 * time.Minute
	}
	if cfg.AbortTimedOutInterval <= 0 {
		cfg.AbortTimedOutInterval = 10 * time.Second
	}
	if cfg.TransactionalIDExpiration <= 0 {
		cfg.TransactionalIDExpiration = 7 * 24 * time.Hour
	}
	if cfg.RemoveExpiredInterval <= 0 {
		cfg.RemoveExpiredInterval = time.Hour
	}
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	if cfg.GroupPartitionFor == nil {
		n := cfg.OffsetsTopicPartitions
		cfg.GroupPartitionFor = func(g string) int32 { return jhash.Abs(jhash.String(g)) % n }
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	entry := baseLogger(cfg.Logger).WithField("component", "transaction-coordinator")
	return &TxnCoordinator{
		cfg:        cfg,
		log:        l,
		ids:        ids,
		markers:    markers,
		logContext: newLogContext(entry, "[TransactionCoordinator id=%d] ", cfg.BrokerID),
		mgr:        newLogContext(entry, "[Transaction State Manager %d]: ", cfg.BrokerID),
		loading:    map[int32]int32{},
		cache:      map[int32]*txnPartition{},
		stop:       make(chan struct{}),
	}
}

func (t *TxnCoordinator) nowMs() int64 { return t.cfg.Now().UnixMilli() }

func txnTopicName(p int32) string { return fmt.Sprintf("%s-%d", TxnTopic, p) }

// Startup starts the background tasks: aborting timed-out transactions, expiring idle transactional ids and
// retrying failed marker and completion writes.
func (t *TxnCoordinator) Startup() {
	t.infof("Starting up.")
	if t.shuttingDown.Load() || t.started.Swap(true) {
		return
	}
	t.mu.Lock()
	t.active = true
	t.mu.Unlock()
	t.wg.Add(1)
	go t.background()
	t.infof("Startup complete.")
}

// Shutdown stops the background tasks, waits for running loads and drops every cached transaction.
func (t *TxnCoordinator) Shutdown() {
	t.infof("Shutting down.")
	if t.shuttingDown.Swap(true) {
		return
	}
	t.mu.Lock()
	t.active = false
	t.mu.Unlock()
	close(t.stop)
	t.wg.Wait()
	t.mu.Lock()
	t.loading = map[int32]int32{}
	t.cache = map[int32]*txnPartition{}
	t.mu.Unlock()
	t.retryMu.Lock()
	t.retries = nil
	t.retryMu.Unlock()
	t.infof("Shutdown complete.")
}

func (t *TxnCoordinator) background() {
	defer t.wg.Done()
	abort := time.NewTicker(t.cfg.AbortTimedOutInterval)
	defer abort.Stop()
	expire := time.NewTicker(t.cfg.RemoveExpiredInterval)
	defer expire.Stop()
	retry := time.NewTicker(txnRetryBackoff)
	defer retry.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-abort.C:
			t.abortTimedOutTransactions()
		case <-expire.C:
			t.removeExpiredTransactionalIDs()
		case <-retry.C:
			t.runRetries()
		}
	}
}

// retryLater queues fn for the next retry tick.
func (t *TxnCoordinator) retryLater(fn func()) {
	if t.shuttingDown.Load() {
		return
	}
	t.retryMu.Lock()
	t.retries = append(t.retries, fn)
	t.retryMu.Unlock()
}

func (t *TxnCoordinator) runRetries() {
	t.retryMu.Lock()
	fns := t.retries
	t.retries = nil
	t.retryMu.Unlock()
	for _, fn := range fns {
		fn()
	}
}

// PartitionFor is the __transaction_state partition of a transactional id:
// abs(javaHashCode(transactionalID)) % transaction.state.log.num.partitions.
func (t *TxnCoordinator) PartitionFor(transactionalID string) int32 {
	return jhash.Abs(jhash.String(transactionalID)) % t.cfg.TxnLogPartitions
}

// getStateLocked is getAndMaybeAddTransactionState's lookup; it needs t.mu (read).
func (t *TxnCoordinator) getStateLocked(id string) (int32, *txnMeta, int16) {
	p := t.PartitionFor(id)
	if _, ok := t.loading[p]; ok {
		return 0, nil, errCoordinatorLoadInProgress
	}
	e := t.cache[p]
	if e == nil {
		return 0, nil, errNotCoordinator
	}
	return e.epoch, e.ids[id], errNone
}

// getState returns the coordinator epoch of the id's partition and its metadata (nil if unknown), or
// COORDINATOR_LOAD_IN_PROGRESS / NOT_COORDINATOR.
func (t *TxnCoordinator) getState(id string) (int32, *txnMeta, int16) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.getStateLocked(id)
}

// existingState is getState for requests about a transaction that must exist already: an empty id is
// INVALID_REQUEST and an unknown one INVALID_PRODUCER_ID_MAPPING.
func (t *TxnCoordinator) existingState(id string) (int32, *txnMeta, int16) {
	if id == "" {
		return 0, nil, errInvalidRequest
	}
	coordEpoch, m, code := t.getState(id)
	switch {
	case code != errNone:
		return 0, nil, code
	case m == nil:
		return 0, nil, errInvalidProducerIDMapping
	}
	return coordEpoch, m, errNone
}

// putStateIfNotExists adds m unless the id has metadata already, and returns the metadata in the cache.
func (t *TxnCoordinator) putStateIfNotExists(m *txnMeta) (int32, *txnMeta, int16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	epoch, cur, code := t.getStateLocked(m.id)
	if code != errNone {
		return 0, nil, code
	}
	if cur != nil {
		return epoch, cur, errNone
	}
	t.cache[t.PartitionFor(m.id)].ids[m.id] = m
	return epoch, m, errNone
}

// appendTxn is TransactionStateManager.appendTransactionToLog: tr is written with acks=all; once it is
// on the log it is applied to the id's metadata (if the coordinator epoch did not change meanwhile). cb gets
// the mapped error. On an error the pending transition is dropped unless retryOnError says the caller will
// retry it.
func (t *TxnCoordinator) appendTxn(id string, coordEpoch int32, tr txnTransit, retryOnError func(int16) bool, cb func(int16)) {
	rec := Record{Key: txnRecordKey(id), Value: txnRecordValue(tr)}
	p := t.PartitionFor(id)

	t.mu.RLock()
	epoch, m, code := t.getStateLocked(id)
	switch {
	case code != errNone:
	case m == nil:
		code = errNotCoordinator
	case epoch != coordEpoch:
		code = errNotCoordinator
	default:
		t.log.Append(p, []Record{rec}, func(err error) { t.onTxnAppended(id, coordEpoch, tr, retryOnError, cb, err) })
		t.mu.RUnlock()
		return
	}
	t.mu.RUnlock()
	cb(code)
}

func (t *TxnCoordinator) onTxnAppended(id string, coordEpoch int32, tr txnTransit, retryOnError func(int16) bool, cb func(int16), err error) {
	code := errNone
	if err != nil {
		code = txnLogError(errorCode(err))
		t.debugf("Appending %s's new metadata %+v failed due to %s", id, tr, errName(errorCode(err)))
	}
	epoch, m, gcode := t.getState(id)
	if code == errNone {
		switch {
		case gcode != errNone:
			t.mgr.infof("Accessing the cached transaction metadata for %s returns %s error; aborting transition to the new metadata and setting the error in the callback", id, errName(gcode))
			code = gcode
		case m == nil:
			t.mgr.infof("The cached coordinator metadata does not exist in the cache anymore for %s after appended its new metadata to the transaction log (txn topic partition %d) while it was %d before appending; aborting transition to the new metadata and returning NOT_COORDINATOR in the callback", id, t.PartitionFor(id), coordEpoch)
			code = errNotCoordinator
		default:
			m.mu.Lock()
			if epoch != coordEpoch {
				t.mgr.infof("The cached coordinator epoch for %s has changed to %d after appended its new metadata to the transaction log (txn topic partition %d) while it was %d before appending; aborting transition to the new metadata and returning NOT_COORDINATOR in the callback", id, epoch, t.PartitionFor(id), coordEpoch)
				code = errNotCoordinator
			} else if err := m.completeTransitionLocked(tr); err != nil {
				t.mgr.errorf("%v", err)
				m.clearPendingLocked()
				code = errUnknownServerError
			}
			m.mu.Unlock()
		}
	} else if gcode == errNone && m != nil {
		m.mu.Lock()
		if epoch == coordEpoch {
			if retryOnError != nil && retryOnError(code) {
				t.mgr.infof("TransactionalId %s append transaction log for %v transition failed due to %s, not resetting pending state but just returning the error in the callback to let the caller retry", id, tr.state, errName(code))
			} else {
				t.mgr.infof("TransactionalId %s append transaction log for %v transition failed due to %s, resetting pending state, aborting state transition and returning %s in the callback", id, tr.state, errName(code), errName(code))
				m.clearPendingLocked()
			}
		}
		m.mu.Unlock()
	}
	cb(code)
}
