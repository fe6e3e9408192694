package coordinator

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EndTxn is Kafka's handleEndTransaction: PrepareCommit/PrepareAbort is written, the client answered, and
// then the markers are written and CompleteCommit/CompleteAbort appended.
func (t *TxnCoordinator) EndTxn(req *kmsg.EndTxnRequest, respond func(*kmsg.EndTxnResponse)) {
	t.endTransaction(req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit, true, func(code int16) {
		if req.Version < 2 && code == errProducerFenced {
			code = errInvalidProducerEpoch
		}
		resp := req.ResponseKind().(*kmsg.EndTxnResponse)
		resp.ErrorCode = code
		respond(resp)
	})
}

// endTransaction is TransactionCoordinator.endTransaction. fromClient is false for the coordinator's own
// aborts (fencing, timeouts), whose producer epoch is the bumped one of a pending PrepareEpochFence.
func (t *TxnCoordinator) endTransaction(id string, pid int64, epoch int16, commit, fromClient bool, cb func(int16)) {
	coordEpoch, m, code := t.existingState(id)
	if code != errNone {
		cb(code)
		return
	}
	isEpochFence := false
	var tr txnTransit
	invalid := func() int16 {
		t.debugf("TransactionalId: %s's state is %v, but received transaction marker result to send: %s", id, m.state, resultName(commit))
		return errInvalidTxnState
	}
	m.mu.Lock()
	switch {
	case m.producerID != pid:
		code = errInvalidProducerIDMapping
	case (fromClient && epoch != m.producerEpoch) || epoch < m.producerEpoch:
		// Clients never bump the epoch themselves: theirs must match exactly.
		code = errProducerFenced
	case m.hasPending && (fromClient || m.pending != txnPrepareEpochFence):
		// A client's EndTxn racing the coordinator's own fence waits for it, as any other pending write.
		code = errConcurrentTransactions
	default:
		switch m.state {
		case txnOngoing:
			next := txnPrepareAbort
			if commit {
				next = txnPrepareCommit
			}
			if next == txnPrepareAbort && m.pendingIs(txnPrepareEpochFence) {
				// The fence becomes this abort: its bumped epoch is applied now and written with PrepareAbort.
				isEpochFence = true
				m.clearPendingLocked()
				m.producerEpoch = epoch
				m.lastProducerEpoch = noProducerEpoch
			}
			var err error
			if tr, err = m.prepareAbortOrCommitLocked(next, t.nowMs()); err != nil {
				t.errorf("%v", err)
				code = errUnknownServerError
			}
		case txnCompleteCommit:
			if commit {
				code = errNone
				m.mu.Unlock()
				cb(errNone) // a retry of a finished commit
				return
			}
			code = invalid()
		case txnCompleteAbort:
			if !commit {
				m.mu.Unlock()
				cb(errNone)
				return
			}
			code = invalid()
		case txnPrepareCommit:
			if commit {
				code = errConcurrentTransactions
			} else {
				code = invalid()
			}
		case txnPrepareAbort:
			if !commit {
				code = errConcurrentTransactions
			} else {
				code = invalid()
			}
		case txnEmpty:
			code = invalid()
		default:
			t.errorf("Found transactionalId %s with state %v. This is illegal as we should never have transitioned to this state.", id, m.state)
			code = errUnknownServerError
		}
	}
	m.mu.Unlock()
	if code != errNone {
		t.debugf("Aborting append of %s to transaction log with coordinator and returning %s error to client for %s's EndTransaction request", resultName(commit), errName(code), id)
		cb(code)
		return
	}

	t.appendTxn(id, coordEpoch, tr, nil, func(code int16) {
		if code != errNone {
			t.infof("Aborting sending of transaction markers and returning %s error to client for %s's EndTransaction request of %s, since appending %v to transaction log with coordinator epoch %d failed",
				errName(code), id, resultName(commit), tr.state, coordEpoch)
			if isEpochFence {
				if e, cur, c := t.getState(id); c == errNone && cur != nil && e == coordEpoch {
					cur.mu.Lock()
					// The bumped epoch stays (it was never handed out); the next fence does not bump again.
					cur.hasFailedEpochFence = true
					cur.mu.Unlock()
					t.warnf("The coordinator failed to write an epoch fence transition for producer %s to the transaction log with error %s. The epoch was increased to %d but not returned to the client", id, errName(code), tr.producerEpoch)
				}
			}
			cb(code)
			return
		}
		t.afterPrepareWritten(id, pid, epoch, commit, coordEpoch, cb)
	})
}

// afterPrepareWritten answers the EndTxn once PrepareX is on the log and starts the markers.
func (t *TxnCoordinator) afterPrepareWritten(id string, pid int64, epoch int16, commit bool, coordEpoch int32, cb func(int16)) {
	e, m, code := t.getState(id)
	switch {
	case code != errNone:
		cb(code)
		return
	case m == nil:
		cb(errNotCoordinator)
		return
	case e != coordEpoch:
		t.debugf("The transaction coordinator epoch has changed to %d after %s was successfully appended to the log for %s with old epoch %d", e, resultName(commit), id, coordEpoch)
		cb(errNotCoordinator)
		return
	}
	var complete txnTransit
	m.mu.Lock()
	want := txnPrepareAbort
	if commit {
		want = txnPrepareCommit
	}
	switch {
	case m.producerID != pid:
		code = errInvalidProducerIDMapping
	case m.producerEpoch != epoch:
		code = errProducerFenced
	case m.hasPending:
		code = errConcurrentTransactions
	case m.state != want:
		code = errInvalidTxnState
	default:
		var err error
		if complete, err = m.prepareCompleteLocked(t.nowMs()); err != nil {
			t.errorf("%v", err)
			code = errUnknownServerError
		}
	}
	m.mu.Unlock()
	if code != errNone {
		t.infof("Aborting sending of transaction markers after appended %s to transaction log and returning %s error to client for %s's EndTransaction request", resultName(commit), errName(code), id)
		cb(code)
		return
	}
	// The client may go on as soon as PrepareX is durable: the markers follow.
	cb(errNone)
	t.sendMarkers(coordEpoch, commit, m, complete)
}

// fenceAndAbort bumps the producer epoch of m's open transaction and aborts it (a timeout, or a
// PrepareEpochFence found on load).
func (t *TxnCoordinator) fenceAndAbort(m *txnMeta, cb func(int16)) {
	m.mu.Lock()
	if m.hasPending || m.state != txnOngoing {
		m.mu.Unlock()
		cb(errConcurrentTransactions)
		return
	}
	tr, err := m.prepareFenceEpochLocked()
	m.mu.Unlock()
	if err != nil {
		t.errorf("%v", err)
		cb(errUnknownServerError)
		return
	}
	t.endTransaction(m.id, tr.producerID, tr.producerEpoch, false, false, cb)
}

func resultName(commit bool) string {
	if commit {
		return "COMMIT"
	}
	return "ABORT"
}
