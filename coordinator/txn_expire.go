package coordinator

import (
	"sort"
)

// abortTimedOutTransactions is TransactionCoordinator.abortTimedOutTransactions: every Ongoing transaction
// open longer than its timeout is aborted with a bumped epoch, which fences its producer.
func (t *TxnCoordinator) abortTimedOutTransactions() {
	now := t.nowMs()
	type timedOut struct {
		m     *txnMeta
		pid   int64
		epoch int16
	}
	var found []timedOut
	t.mu.RLock()
	for _, e := range t.cache {
		for _, m := range e.ids {
			m.mu.Lock()
			if !m.hasPending && m.state == txnOngoing && m.startTimestamp+int64(m.timeoutMs) < now {
				found = append(found, timedOut{m, m.producerID, m.producerEpoch})
			}
			m.mu.Unlock()
		}
	}
	t.mu.RUnlock()

	for _, to := range found {
		_, m, code := t.getState(to.m.id)
		if code != errNone || m != to.m {
			continue
		}
		m.mu.Lock()
		skip := m.producerID != to.pid
		if skip {
			t.errorf("Found incorrect producerId when expiring transactionalId: %s. Expected producerId: %d. Found producerId: %d", m.id, to.pid, m.producerID)
		}
		m.mu.Unlock()
		if skip {
			continue
		}
		id, pid, epoch := m.id, to.pid, to.epoch
		t.fenceAndAbort(m, func(code int16) {
			switch code {
			case errNone:
				t.infof("Completed rollback of ongoing transaction for transactionalId %s due to timeout", id)
			case errInvalidProducerIDMapping, errProducerFenced, errConcurrentTransactions:
				t.debugf("Rollback of ongoing transaction for transactionalId %s (producerId=%d, producerEpoch=%d) has been cancelled due to error %s", id, pid, epoch, errName(code))
			default:
				t.warnf("Rollback of ongoing transaction for transactionalId %s (producerId=%d, producerEpoch=%d) failed due to error %s", id, pid, epoch, errName(code))
			}
		})
	}
}

// expiredTxn is a transactional id being removed: its Dead transition is pending until the tombstone is on
// the log.
type expiredTxn struct {
	id         string
	coordEpoch int32
	tr         txnTransit
}

// removeExpiredTransactionalIDs is TransactionStateManager.removeExpiredTransactionalIds: ids idle (Empty or
// CompleteX) for transactional.id.expiration.ms get a tombstone, and leave the cache once it is written.
func (t *TxnCoordinator) removeExpiredTransactionalIDs() {
	now := t.nowMs()
	horizon := now - t.cfg.TransactionalIDExpiration.Milliseconds()
	t.mu.RLock()
	defer t.mu.RUnlock()
	ps := make([]int32, 0, len(t.cache))
	for p := range t.cache {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		e := t.cache[p]
		var expired []expiredTxn
		var recs []Record
		for _, m := range e.ids {
			m.mu.Lock()
			if !m.hasPending && m.state.expirationAllowed() && m.lastUpdateTimestamp <= horizon {
				if tr, err := m.prepareDeadLocked(); err != nil {
					t.errorf("%v", err)
				} else {
					expired = append(expired, expiredTxn{id: m.id, coordEpoch: e.epoch, tr: tr})
					recs = append(recs, Record{Key: txnRecordKey(m.id)})
				}
			}
			m.mu.Unlock()
		}
		if len(recs) == 0 {
			continue
		}
		p := p
		t.log.Append(p, recs, func(err error) { t.onTombstonesWritten(p, expired, err) })
	}
}

func (t *TxnCoordinator) onTombstonesWritten(p int32, expired []expiredTxn, err error) {
	code := errorCode(err)
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.cache[p]
	if e == nil {
		return
	}
	for _, x := range expired {
		m := e.ids[x.id]
		if m == nil {
			continue
		}
		m.mu.Lock()
		if e.epoch == x.coordEpoch && m.pendingIs(txnDead) && m.producerEpoch == x.tr.producerEpoch && code == errNone {
			delete(e.ids, x.id)
		} else {
			t.mgr.warnf("Failed to remove expired transactionalId: %s from cache. Tombstone append error code: %s, pendingState: %v, producerEpoch: %d, expected producerEpoch: %d, coordinatorEpoch: %d, expected coordinatorEpoch: %d",
				x.id, errName(code), m.pending, m.producerEpoch, x.tr.producerEpoch, e.epoch, x.coordEpoch)
			m.clearPendingLocked()
		}
		m.mu.Unlock()
	}
}
