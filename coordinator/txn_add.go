package coordinator

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// AddPartitionsToTxn is Kafka's handleAddPartitionsToTransaction for v0–3 (one transaction) and v4+
// (batches of transactions from brokers, possibly VerifyOnly).
func (t *TxnCoordinator) AddPartitionsToTxn(req *kmsg.AddPartitionsToTxnRequest, respond func(*kmsg.AddPartitionsToTxnResponse)) {
	if req.Version < 4 {
		var parts []TopicPartition
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, TopicPartition{rt.Topic, p})
			}
		}
		t.addPartitionsForTxn(req.TransactionalID, req.ProducerID, req.ProducerEpoch, parts, false, req.Version, func(res map[TopicPartition]int16) {
			resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
			byTopic(parts, topicOfPartition, func(name string) {
				rt := kmsg.NewAddPartitionsToTxnResponseTopic()
				rt.Topic = name
				resp.Topics = append(resp.Topics, rt)
			}, func(tp TopicPartition) {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, res[tp]
				last := &resp.Topics[len(resp.Topics)-1]
				last.Partitions = append(last.Partitions, rp)
			})
			respond(resp)
		})
		return
	}

	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	resp.Transactions = make([]kmsg.AddPartitionsToTxnResponseTransaction, len(req.Transactions))
	if len(req.Transactions) == 0 {
		respond(resp)
		return
	}
	left := syncCounter{n: len(req.Transactions)}
	for i, tx := range req.Transactions {
		var parts []TopicPartition
		for _, rt := range tx.Topics {
			for _, p := range rt.Partitions {
				parts = append(parts, TopicPartition{rt.Topic, p})
			}
		}
		t.addPartitionsForTxn(tx.TransactionalID, tx.ProducerID, tx.ProducerEpoch, parts, tx.VerifyOnly, req.Version, func(res map[TopicPartition]int16) {
			out := kmsg.NewAddPartitionsToTxnResponseTransaction()
			out.TransactionalID = tx.TransactionalID
			byTopic(parts, topicOfPartition, func(name string) {
				rt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
				rt.Topic = name
				out.Topics = append(out.Topics, rt)
			}, func(tp TopicPartition) {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = tp.Partition, res[tp]
				last := &out.Topics[len(out.Topics)-1]
				last.Partitions = append(last.Partitions, rp)
			})
			if left.done(func() { resp.Transactions[i] = out }) {
				respond(resp)
			}
		})
	}
}

// addPartitionsForTxn handles one transaction of an AddPartitionsToTxn: every partition must exist (else
// the existing ones answer OPERATION_NOT_ATTEMPTED), then they are added (or, VerifyOnly, checked).
func (t *TxnCoordinator) addPartitionsForTxn(id string, pid int64, epoch int16, parts []TopicPartition, verifyOnly bool, version int16, cb func(map[TopicPartition]int16)) {
	all := func(code int16) {
		if version < 2 && code == errProducerFenced {
			code = errInvalidProducerEpoch
		}
		cb(sameCode(parts, code))
	}
	res := map[TopicPartition]int16{}
	missing := false
	exists := map[string]bool{}
	for _, tp := range parts {
		ok, seen := exists[tp.Topic]
		if !seen {
			ok = t.log.TopicExists(tp.Topic)
			exists[tp.Topic] = ok
		}
		if !ok {
			res[tp] = errUnknownTopicOrPartition
			missing = true
		}
	}
	if missing {
		for _, tp := range parts {
			if _, ok := res[tp]; !ok {
				res[tp] = errOperationNotAttempted
			}
		}
		cb(res)
		return
	}
	if verifyOnly {
		t.verifyPartitions(id, pid, epoch, parts, cb)
		return
	}
	t.addPartitions(id, pid, epoch, parts, all)
}

// addPartitions is TransactionCoordinator.handleAddPartitionsToTransaction (also AddOffsetsToTxn's).
func (t *TxnCoordinator) addPartitions(id string, pid int64, epoch int16, parts []TopicPartition, cb func(int16)) {
	coordEpoch, m, code := t.existingState(id)
	if code != errNone {
		cb(code)
		return
	}
	var tr txnTransit
	m.mu.Lock()
	switch {
	case m.producerID != pid:
		code = errInvalidProducerIDMapping
	case m.producerEpoch != epoch:
		code = errProducerFenced
	case m.hasPending, m.state == txnPrepareCommit, m.state == txnPrepareAbort:
		code = errConcurrentTransactions
	case m.state == txnOngoing && m.hasAll(parts):
		// Already in the transaction: nothing to write.
		m.mu.Unlock()
		cb(errNone)
		return
	default:
		var err error
		if tr, err = m.prepareAddPartitionsLocked(parts, t.nowMs()); err != nil {
			t.errorf("%v", err)
			code = errUnknownServerError
		}
	}
	m.mu.Unlock()
	if code != errNone {
		t.debugf("Returning %s error code to client for %s's AddPartitions request", errName(code), id)
		cb(code)
		return
	}
	t.appendTxn(id, coordEpoch, tr, nil, cb)
}

func topicOfPartition(tp TopicPartition) string { return tp.Topic }

// sameCode answers every partition with code.
func sameCode(parts []TopicPartition, code int16) map[TopicPartition]int16 {
	res := make(map[TopicPartition]int16, len(parts))
	for _, tp := range parts {
		res[tp] = code
	}
	return res
}

func (m *txnMeta) hasAll(parts []TopicPartition) bool {
	for _, tp := range parts {
		if !m.partitions[tp] {
			return false
		}
	}
	return true
}

// verifyPartitions is handleVerifyPartitionsInTransaction (AddPartitionsToTxn v4 VerifyOnly): which of the
// partitions are in the producer's open transaction.
func (t *TxnCoordinator) verifyPartitions(id string, pid int64, epoch int16, parts []TopicPartition, cb func(map[TopicPartition]int16)) {
	all := func(code int16) { cb(sameCode(parts, code)) }
	_, m, code := t.existingState(id)
	if code != errNone {
		all(code)
		return
	}
	res := map[TopicPartition]int16{}
	m.mu.Lock()
	switch {
	case m.producerID != pid:
		code = errInvalidProducerIDMapping
	case m.producerEpoch != epoch:
		code = errProducerFenced
	case m.state == txnPrepareCommit || m.state == txnPrepareAbort:
		code = errConcurrentTransactions
	default:
		for _, tp := range parts {
			if m.partitions[tp] {
				res[tp] = errNone
			} else {
				res[tp] = errInvalidTxnState
			}
		}
	}
	m.mu.Unlock()
	if code != errNone {
		all(code)
		return
	}
	cb(res)
}

// AddOffsetsToTxn adds the group's __consumer_offsets partition to the transaction, so that its
// TxnOffsetCommit gets a marker.
func (t *TxnCoordinator) AddOffsetsToTxn(req *kmsg.AddOffsetsToTxnRequest, respond func(*kmsg.AddOffsetsToTxnResponse)) {
	tp := TopicPartition{OffsetsTopic, t.cfg.GroupPartitionFor(req.Group)}
	t.addPartitions(req.TransactionalID, req.ProducerID, req.ProducerEpoch, []TopicPartition{tp}, func(code int16) {
		if req.Version < 2 && code == errProducerFenced {
			code = errInvalidProducerEpoch
		}
		resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
		resp.ErrorCode = code
		respond(resp)
	})
}

// syncCounter counts the outstanding parts of a batched answer.
type syncCounter struct {
	mu sync.Mutex
	n  int
}

// done runs f and tells whether it was the last part.
func (c *syncCounter) done(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	f()
	c.n--
	return c.n == 0
}
