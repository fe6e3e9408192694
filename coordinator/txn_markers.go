package coordinator

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// sendMarkers is TransactionMarkerChannelManager.addTxnMarkersToSend: the COMMIT/ABORT markers of a
// transaction in PrepareX (complete pending) go to its partitions' leaders; once every partition has its
// marker the CompleteX record is written.
func (t *TxnCoordinator) sendMarkers(coordEpoch int32, commit bool, m *txnMeta, complete txnTransit) {
	m.mu.Lock()
	mk := TxnMarker{
		ProducerID:       m.producerID,
		ProducerEpoch:    m.producerEpoch,
		Commit:           commit,
		CoordinatorEpoch: coordEpoch,
		Partitions:       sortedPartitions(m.partitions),
	}
	m.mu.Unlock()
	if len(mk.Partitions) == 0 {
		t.writeCompletion(m.id, coordEpoch, complete)
		return
	}
	t.writeMarkers(m.id, mk, complete)
}

func (t *TxnCoordinator) writeMarkers(id string, mk TxnMarker, complete txnTransit) {
	t.markers.WriteMarkers(mk, func(errs map[TopicPartition]error) {
		t.onMarkersWritten(id, mk, complete, errs)
	})
}

// onMarkersWritten is TransactionMarkerRequestCompletionHandler: written partitions leave the transaction,
// failed ones are retried, and the transaction is completed once none is left.
func (t *TxnCoordinator) onMarkersWritten(id string, mk TxnMarker, complete txnTransit, errs map[TopicPartition]error) {
	epoch, m, code := t.getState(id)
	switch {
	case code != errNone:
		t.infof("Got %s for %s; cancel sending transaction markers %+v to the brokers", errName(code), id, mk)
		return
	case m == nil:
		t.errorf("The coordinator still owns the transaction partition for %s, but there is no metadata in the cache; this is not expected", id)
		return
	case epoch != mk.CoordinatorEpoch:
		t.infof("Transaction coordinator epoch for %s has changed from %d to %d; cancel sending transaction markers %+v to the brokers", id, mk.CoordinatorEpoch, epoch, mk)
		return
	}
	var retry []TopicPartition
	abandon := false
	m.mu.Lock()
	for _, tp := range mk.Partitions {
		err, ok := errs[tp]
		if !ok {
			t.warnf("No result for %s's transaction marker for partition %s-%d; retrying", id, tp.Topic, tp.Partition)
			retry = append(retry, tp)
			continue
		}
		switch c := errorCode(err); c {
		case errNone:
			delete(m.partitions, tp)
		case kerr.UnknownTopicOrPartition.Code, kerr.UnsupportedForMessageFormat.Code, kerr.UnsupportedVersion.Code:
			// The MarkerWriter retried until the partition was gone (deleted): the producer cannot have data
			// left there, so it leaves the set waiting for markers.
			t.infof("Sending %s's transaction marker for partition %s-%d has failed with %s. This partition will be removed from the set of partitions waiting for completion", id, tp.Topic, tp.Partition, errName(c))
			delete(m.partitions, tp)
		case kerr.InvalidProducerEpoch.Code, kerr.TransactionCoordinatorFenced.Code:
			// A newer producer epoch or coordinator owns this transaction now.
			t.infof("Sending %s's transaction marker for partition %s-%d has permanently failed with error %s with the current coordinator epoch %d; cancel sending any more transaction markers %+v to the brokers", id, tp.Topic, tp.Partition, errName(c), epoch, mk)
			abandon = true
		default:
			t.infof("Sending %s's transaction marker for partition %s-%d has failed with error %s, retrying with current coordinator epoch %d", id, tp.Topic, tp.Partition, errName(c), epoch)
			retry = append(retry, tp)
		}
	}
	left := len(m.partitions)
	m.mu.Unlock()
	switch {
	case abandon:
	case len(retry) > 0:
		again := mk
		again.Partitions = retry
		t.retryLater(func() {
			if e, cur, code := t.getState(id); code == errNone && cur == m && e == mk.CoordinatorEpoch {
				t.writeMarkers(id, again, complete)
			}
		})
	case left == 0:
		t.writeCompletion(id, mk.CoordinatorEpoch, complete)
	}
}

// writeCompletion appends CompleteCommit/CompleteAbort once every marker is written, retrying while the
// transaction log is unavailable (the prepared transition stays pending meanwhile, so the producer gets
// CONCURRENT_TRANSACTIONS until it is done).
func (t *TxnCoordinator) writeCompletion(id string, coordEpoch int32, complete txnTransit) {
	epoch, m, code := t.getState(id)
	switch {
	case code == errCoordinatorLoadInProgress:
		t.infof("Loading the transaction partition that contains %s while my current coordinator epoch is %d; so cancel appending %v to transaction log since the loading process will continue the remaining work", id, coordEpoch, complete.state)
		return
	case code != errNone, m == nil:
		t.infof("No longer the coordinator for %s with coordinator epoch %d; cancel appending %v to transaction log", id, coordEpoch, complete.state)
		return
	case epoch != coordEpoch:
		t.infof("The cached metadata for %s has changed to coordinator epoch %d (old %d) since preparing to send markers; cancel appending %v to transaction log", id, epoch, coordEpoch, complete.state)
		return
	}
	retriable := func(code int16) bool { return code != errNotCoordinator && code != errCoordinatorLoadInProgress }
	t.appendTxn(id, coordEpoch, complete, retriable, func(code int16) {
		switch {
		case code == errNone:
			t.debugf("Completed transaction for %s with coordinator epoch %d, final state %v", id, coordEpoch, complete.state)
		case code == errNotCoordinator:
			t.infof("No longer the coordinator for transactionalId: %s while trying to append to transaction log, skip writing to transaction log", id)
		case code == errCoordinatorLoadInProgress:
			t.infof("Coordinator is loading the partition %d and hence cannot complete append of %s; skip writing to transaction log as the loading process should complete it", t.PartitionFor(id), id)
		default:
			t.infof("Not available to append %v for %s (%s); retry appending", complete.state, id, errName(code))
			t.retryLater(func() { t.writeCompletion(id, coordEpoch, complete) })
		}
	})
}
