package coordinator

import (
	"errors"
	"fmt"
)

var errLoadAbandoned = errors.New("transaction log load abandoned")

// OnElection is called when this broker becomes leader of __transaction_state partition p with leader epoch
// epoch (the coordinator epoch of its transactions): the partition is loaded in the background, its ids
// answered COORDINATOR_LOAD_IN_PROGRESS until then; transactions found in PrepareCommit/PrepareAbort get
// their markers written and are completed.
func (t *TxnCoordinator) OnElection(p, epoch int32) {
	t.infof("Elected as the txn coordinator for partition %d at epoch %d", p, epoch)
	if t.shuttingDown.Load() {
		return
	}
	t.mu.Lock()
	t.loading[p] = epoch
	t.mu.Unlock()
	start := t.nowMs()
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.loadPartition(p, epoch, start)
	}()
}

// OnResignation is called when this broker stops leading partition p (epoch -1 when unknown, e.g. on
// StopReplica): its transactions are dropped; requests for them get NOT_COORDINATOR, and marker writes in
// flight are ignored when they complete.
func (t *TxnCoordinator) OnResignation(p, epoch int32) {
	t.infof("Resigned as the txn coordinator for partition %d at epoch %s", p, epochString(epoch))
	t.mu.Lock()
	// A resignation in a newer leader epoch than the load's cancels it too (Kafka only matches the exact
	// epoch, which lets a load started before a quick leader change install a stale cache).
	if cur, ok := t.loading[p]; ok && (epoch < 0 || cur <= epoch) {
		delete(t.loading, p)
	}
	e := t.cache[p]
	delete(t.cache, p)
	t.mu.Unlock()
	if e != nil {
		t.mgr.infof("Unloaded transaction metadata TxnMetadataCacheEntry(coordinatorEpoch=%d, numTransactionalEntries=%d) for %s on become-follower transition",
			e.epoch, len(e.ids), txnTopicName(p))
	} else {
		t.mgr.infof("No cached transaction metadata found for %s during become-follower transition", txnTopicName(p))
	}
}

// stillLoading tells whether the load of p in epoch is still wanted.
func (t *TxnCoordinator) stillLoading(p, epoch int32) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	cur, ok := t.loading[p]
	return ok && cur == epoch
}

// pendingCompletion is a transaction loaded in PrepareX whose markers must still be written.
type pendingCompletion struct {
	m        *txnMeta
	commit   bool
	complete txnTransit
}

func (t *TxnCoordinator) loadPartition(p, epoch int32, startMs int64) {
	t.mgr.infof("Loading transaction metadata from %s at epoch %d", txnTopicName(p), epoch)
	loaded := map[string]*txnMeta{}
	err := t.log.Load(p, func(b Batch) error {
		if t.shuttingDown.Load() || !t.stillLoading(p, epoch) {
			return errLoadAbandoned
		}
		if b.Control {
			return nil
		}
		for _, r := range b.Records {
			if r.Key == nil {
				return fmt.Errorf("transaction state log's key should not be null (offset %d)", r.Offset)
			}
			id, version, known, err := readTxnKey(r.Key)
			if err != nil {
				return fmt.Errorf("record at offset %d: %w", r.Offset, err)
			}
			if !known {
				t.mgr.warnf("Unknown message key with version %d while loading transaction state from %s. Ignoring it. It could be a left over from an aborted upgrade.", version, txnTopicName(p))
				continue
			}
			if r.Value == nil {
				delete(loaded, id)
				continue
			}
			m, err := readTxnValue(id, r.Value)
			if err != nil {
				return fmt.Errorf("record at offset %d: %w", r.Offset, err)
			}
			loaded[id] = m
		}
		return nil
	})
	if err != nil && !errors.Is(err, errLoadAbandoned) {
		t.mgr.errorf("Error loading transactions from transaction log %s: %v", txnTopicName(p), err)
	}
	t.mgr.infof("Finished loading %d transaction metadata from %s in %d milliseconds", len(loaded), txnTopicName(p), t.nowMs()-startMs)
	if t.shuttingDown.Load() {
		return
	}

	var completions []pendingCompletion
	var fences []*txnMeta
	now := t.nowMs()
	t.mu.Lock()
	if cur, ok := t.loading[p]; !ok || cur != epoch {
		t.mu.Unlock()
		return
	}
	if prev := t.cache[p]; prev != nil {
		t.mgr.warnf("Unloaded transaction metadata TxnMetadataCacheEntry(coordinatorEpoch=%d, numTransactionalEntries=%d) from %d as part of loading metadata at epoch %d",
			prev.epoch, len(prev.ids), p, epoch)
	}
	t.cache[p] = &txnPartition{epoch: epoch, ids: loaded}
	for _, m := range loaded {
		m.mu.Lock()
		switch m.state {
		case txnPrepareCommit, txnPrepareAbort:
			commit := m.state == txnPrepareCommit
			if tr, err := m.prepareCompleteLocked(now); err != nil {
				t.mgr.errorf("%v", err)
			} else {
				completions = append(completions, pendingCompletion{m: m, commit: commit, complete: tr})
			}
		case txnPrepareEpochFence:
			// Kafka never writes this state, but a log that has it means an Ongoing transaction whose
			// producer was being fenced: finish the job.
			m.state = txnOngoing
			fences = append(fences, m)
		}
		m.mu.Unlock()
	}
	// Loading is over before the markers go out, so that their completion appends are not refused with
	// COORDINATOR_LOAD_IN_PROGRESS.
	delete(t.loading, p)
	t.mu.Unlock()
	t.mgr.infof("Completed loading transaction metadata from %s for coordinator epoch %d", txnTopicName(p), epoch)

	for _, c := range completions {
		t.sendMarkers(epoch, c.commit, c.m, c.complete)
	}
	for _, m := range fences {
		t.fenceAndAbort(m, func(code int16) {
			if code != errNone {
				t.warnf("Rollback of transaction for transactionalId %s found in PrepareEpochFence failed due to %s", m.id, errName(code))
			}
		})
	}
}
