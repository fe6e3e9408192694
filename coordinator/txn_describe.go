package coordinator

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeTransactions is Kafka's handleDescribeTransactions for each requested id.
func (t *TxnCoordinator) DescribeTransactions(req *kmsg.DescribeTransactionsRequest) *kmsg.DescribeTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		resp.TransactionStates = append(resp.TransactionStates, t.describe(id))
	}
	return resp
}

func (t *TxnCoordinator) describe(id string) kmsg.DescribeTransactionsResponseTransactionState {
	s := kmsg.NewDescribeTransactionsResponseTransactionState()
	s.TransactionalID = id
	t.mu.RLock()
	active := t.active
	t.mu.RUnlock()
	if !active {
		s.ErrorCode = errCoordinatorNotAvailable
		return s
	}
	if id == "" {
		s.ErrorCode = errInvalidRequest
		return s
	}
	_, m, code := t.getState(id)
	switch {
	case code != errNone:
		s.ErrorCode = code
		return s
	case m == nil:
		s.ErrorCode = errTransactionalIDNotFound
		return s
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.state == txnDead {
		// Being expired.
		s.ErrorCode = errTransactionalIDNotFound
		return s
	}
	byTopic(sortedPartitions(m.partitions), topicOfPartition, func(name string) {
		rt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
		rt.Topic = name
		s.Topics = append(s.Topics, rt)
	}, func(tp TopicPartition) {
		last := &s.Topics[len(s.Topics)-1]
		last.Partitions = append(last.Partitions, tp.Partition)
	})
	s.ProducerID = m.producerID
	s.ProducerEpoch = m.producerEpoch
	s.State = m.state.String()
	s.TimeoutMillis = m.timeoutMs
	s.StartTimestamp = m.startTimestamp
	return s
}

// ListTransactions is Kafka's handleListTransactions (v0: state and producer id filters; unknown state
// names are echoed in UnknownStateFilters). Ids are listed by partition, then id.
func (t *TxnCoordinator) ListTransactions(req *kmsg.ListTransactionsRequest) *kmsg.ListTransactionsResponse {
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	t.mu.RLock()
	defer t.mu.RUnlock()
	if !t.active {
		resp.ErrorCode = errCoordinatorNotAvailable
		return resp
	}
	if len(t.loading) > 0 {
		resp.ErrorCode = errCoordinatorLoadInProgress
		return resp
	}
	states := map[txnState]bool{}
	for _, name := range req.StateFilters {
		if s, ok := txnStateFromName(name); ok {
			states[s] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	pids := map[int64]bool{}
	for _, pid := range req.ProducerIDFilters {
		pids[pid] = true
	}
	ps := make([]int32, 0, len(t.cache))
	for p := range t.cache {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	for _, p := range ps {
		e := t.cache[p]
		ids := make([]string, 0, len(e.ids))
		for id := range e.ids {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			m := e.ids[id]
			m.mu.Lock()
			include := m.state != txnDead &&
				(len(pids) == 0 || pids[m.producerID]) &&
				(len(req.StateFilters) == 0 || states[m.state])
			if include {
				ts := kmsg.NewListTransactionsResponseTransactionState()
				ts.TransactionalID = id
				ts.ProducerID = m.producerID
				ts.TransactionState = m.state.String()
				resp.TransactionStates = append(resp.TransactionStates, ts)
			}
			m.mu.Unlock()
		}
	}
	return resp
}
