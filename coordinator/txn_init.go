package coordinator

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// InitProducerID is Kafka's handleInitProducerId (with KafkaApis' checks): a null transactional id gets a
// fresh producer id with epoch 0; a transactional id gets its producer id with a bumped epoch, written to
// the transaction log first. An open transaction of the id is aborted with a bumped epoch (fencing the old
// producer) and CONCURRENT_TRANSACTIONS answered, so the client retries.
func (t *TxnCoordinator) InitProducerID(req *kmsg.InitProducerIDRequest, respond func(*kmsg.InitProducerIDResponse)) {
	answer := func(pid int64, epoch int16, code int16) {
		resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
		if req.Version < 4 && code == errProducerFenced {
			// Clients before KIP-588 do not know PRODUCER_FENCED.
			code = errInvalidProducerEpoch
		}
		if code != errNone {
			pid, epoch = noProducerID, noProducerEpoch
		}
		resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode = pid, epoch, code
		respond(resp)
	}
	fail := func(code int16) { answer(noProducerID, noProducerEpoch, code) }

	var expected *producerIDAndEpoch
	if req.Version >= 3 {
		switch {
		case req.ProducerID == noProducerID && req.ProducerEpoch == noProducerEpoch:
		case req.ProducerID == noProducerID || req.ProducerEpoch == noProducerEpoch:
			fail(errInvalidRequest)
			return
		default:
			expected = &producerIDAndEpoch{req.ProducerID, req.ProducerEpoch}
		}
	}

	if req.TransactionalID == nil {
		pid, err := t.ids.NextProducerID()
		if err != nil {
			fail(errorCode(err))
			return
		}
		answer(pid, 0, errNone)
		return
	}
	id := *req.TransactionalID
	switch {
	case id == "":
		fail(errInvalidRequest)
		return
	case !t.validTimeout(req.TransactionTimeoutMillis):
		fail(errInvalidTransactionTimeout)
		return
	}

	coordEpoch, m, code := t.getState(id)
	if code != errNone {
		fail(code)
		return
	}
	if m == nil {
		pid, err := t.ids.NextProducerID()
		if err != nil {
			fail(errorCode(err))
			return
		}
		created := newTxnMeta(id, pid, noProducerEpoch, req.TransactionTimeoutMillis, txnEmpty, t.nowMs())
		if coordEpoch, m, code = t.putStateIfNotExists(created); code != errNone {
			fail(code)
			return
		}
	}

	m.mu.Lock()
	tr, code := t.prepareInitProducerIDLocked(m, req.TransactionTimeoutMillis, expected)
	m.mu.Unlock()
	if code != errNone {
		fail(code)
		return
	}
	if tr.state == txnPrepareEpochFence {
		t.endTransaction(id, tr.producerID, tr.producerEpoch, false, false, func(code int16) {
			if code == errNone {
				// The epoch of the fence is never handed out: the client retries and gets another bump.
				code = errConcurrentTransactions
			}
			fail(code)
		})
		return
	}
	t.appendTxn(id, coordEpoch, tr, nil, func(code int16) {
		if code != errNone {
			t.infof("Returning %s error code to client for %s's InitProducerId request", errName(code), id)
			fail(code)
			return
		}
		t.infof("Initialized transactionalId %s with producerId %d and producer epoch %d on partition %s", id, tr.producerID, tr.producerEpoch, txnTopicName(t.PartitionFor(id)))
		answer(tr.producerID, tr.producerEpoch, errNone)
	})
}

type producerIDAndEpoch struct {
	id    int64
	epoch int16
}

func (t *TxnCoordinator) validTimeout(ms int32) bool {
	return ms > 0 && int64(ms) <= t.cfg.TxnMaxTimeout.Milliseconds()
}

// prepareInitProducerIDLocked is TransactionCoordinator.prepareInitProducerIdTransit.
func (t *TxnCoordinator) prepareInitProducerIDLocked(m *txnMeta, timeoutMs int32, expected *producerIDAndEpoch) (txnTransit, int16) {
	validPID := func(e producerIDAndEpoch) bool {
		// A new id (epoch -1), the current producer id, or a retry of a bump that rotated the producer id.
		return m.producerEpoch == noProducerEpoch || e.id == m.producerID ||
			(e.id == m.lastProducerID && epochExhausted(e.epoch))
	}
	switch {
	case m.hasPending:
		return txnTransit{}, errConcurrentTransactions
	case expected != nil && !validPID(*expected):
		return txnTransit{}, errProducerFenced
	}
	switch m.state {
	case txnPrepareAbort, txnPrepareCommit:
		return txnTransit{}, errConcurrentTransactions
	case txnCompleteAbort, txnCompleteCommit, txnEmpty:
		if epochExhausted(m.producerEpoch) && (expected == nil || expected.epoch == m.producerEpoch) {
			pid, err := t.ids.NextProducerID()
			if err != nil {
				return txnTransit{}, errorCode(err)
			}
			tr, err := m.prepareProducerIDRotationLocked(pid, timeoutMs, t.nowMs(), expected != nil)
			if err != nil {
				t.errorf("%v", err)
				return txnTransit{}, errUnknownServerError
			}
			return tr, errNone
		}
		var exp *int16
		if expected != nil {
			exp = &expected.epoch
		}
		tr, code, err := m.prepareIncrementEpochLocked(timeoutMs, exp, t.nowMs())
		if err != nil {
			t.errorf("%v", err)
			return txnTransit{}, errUnknownServerError
		}
		if code != errNone {
			t.infof("Expected producer epoch %d does not match current producer epoch %d or previous producer epoch %d", *exp, m.producerEpoch, m.lastProducerEpoch)
		}
		return tr, code
	case txnOngoing:
		// Abort the open transaction first; this epoch is never returned to the client, whose retry bumps
		// the epoch again (and rotates the producer id if the fence exhausted the epochs).
		tr, err := m.prepareFenceEpochLocked()
		if err != nil {
			t.errorf("%v", err)
			return txnTransit{}, errUnknownServerError
		}
		return tr, errNone
	}
	t.errorf("Found transactionalId %s with state %v. This is illegal as we should never have transitioned to this state.", m.id, m.state)
	return txnTransit{}, errUnknownServerError
}
