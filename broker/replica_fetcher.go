package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/jhash"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
)

// Versions the follower speaks to its leader: Fetch v12 carries LastFetchedEpoch and returns DivergingEpoch
// with topic names (no topic-id lookups); OffsetForLeaderEpoch v3 carries the replica id.
const (
	replicaFetchVersion          = 12
	replicaOffsetForEpochVersion = 3
	replicaListOffsetsVersion    = 4
)

// fetcherManager runs this broker's replica fetchers: num.replica.fetchers per source broker, each partition
// on fetcher abs(31*topic.hashCode()+partition) % num.replica.fetchers (Kafka's AbstractFetcherManager).
type fetcherManager struct {
	rm       *ReplicaManager
	endpoint func(id int32) (string, bool)

	mu       sync.Mutex
	fetchers map[fetcherKey]*replicaFetcher
	owner    map[topicPartition]*replicaFetcher
}

type fetcherKey struct {
	leader int32
	addr   string
	id     int
}

func newFetcherManager(rm *ReplicaManager, endpoint func(int32) (string, bool)) *fetcherManager {
	return &fetcherManager{rm: rm, endpoint: endpoint, fetchers: map[fetcherKey]*replicaFetcher{}, owner: map[topicPartition]*replicaFetcher{}}
}

func (m *fetcherManager) fetcherID(tp topicPartition) int {
	n := int32(max(m.rm.cfg.NumReplicaFetchers, 1))
	return int(jhash.Abs(31*jhash.String(tp.Topic)+tp.Partition) % n)
}

// add starts fetching tp from leader at addr. The partition first truncates by leader epoch.
func (m *fetcherManager) add(p *Partition, l *log.Log, leader int32, addr string, leaderEpoch int32) {
	if addr == "" {
		a, ok := m.endpoint(leader)
		if !ok {
			m.rm.logger.Warnf("[ReplicaFetcherManager broker=%d] No endpoint for leader %d of %s: not fetching until it registers",
				m.rm.brokerID, leader, p.tp)
			return
		}
		addr = a
	}
	key := fetcherKey{leader: leader, addr: addr, id: m.fetcherID(p.tp)}
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.fetchers[key]
	if f == nil {
		f = newReplicaFetcher(m.rm, key)
		m.fetchers[key] = f
		m.rm.goAttach(f.run)
	}
	m.owner[p.tp] = f
	f.addPartition(p.tp, &fetchState{p: p, l: l, leaderEpoch: leaderEpoch, offset: l.LogEndOffset(), truncating: true})
}

// remove stops fetching the partitions; it returns once no response for them is being applied.
func (m *fetcherManager) remove(tps ...topicPartition) {
	m.mu.Lock()
	byFetcher := map[*replicaFetcher][]topicPartition{}
	for _, tp := range tps {
		if f := m.owner[tp]; f != nil {
			byFetcher[f] = append(byFetcher[f], tp)
			delete(m.owner, tp)
		}
	}
	m.mu.Unlock()
	for f, tps := range byFetcher {
		if f.removePartitions(tps) == 0 {
			m.mu.Lock()
			if m.fetchers[f.key] == f && f.size() == 0 {
				delete(m.fetchers, f.key)
				f.shutdown()
			}
			m.mu.Unlock()
		}
	}
}

func (m *fetcherManager) shutdown() {
	m.mu.Lock()
	all := m.fetchers
	m.fetchers = map[fetcherKey]*replicaFetcher{}
	m.owner = map[topicPartition]*replicaFetcher{}
	m.mu.Unlock()
	for _, f := range all {
		f.shutdown()
	}
}

// fetchState is one partition on a fetcher.
type fetchState struct {
	p           *Partition
	l           *log.Log
	leaderEpoch int32
	offset      int64
	truncating  bool // must learn the leader's end offset for its epoch before fetching
	delayUntil  time.Time
}

// replicaFetcher is one fetcher thread: one connection to the leader and one request in flight at a time.
// mu is held while a response is applied, so remove() never races with an append for a removed partition.
type replicaFetcher struct {
	rm   *ReplicaManager
	key  fetcherKey
	name string

	mu    sync.Mutex
	parts map[topicPartition]*fetchState

	wake     chan struct{}
	stop     chan struct{}
	stopOnce sync.Once
	ctx      context.Context // cancelled by shutdown: aborts the request in flight
	cancel   context.CancelFunc
	client   *network.Client // used only by run's goroutine
}

func newReplicaFetcher(rm *ReplicaManager, key fetcherKey) *replicaFetcher {
	ctx, cancel := context.WithCancel(context.Background())
	return &replicaFetcher{rm: rm, key: key, name: fmt.Sprintf("ReplicaFetcherThread-%d-%d", key.id, key.leader),
		parts: map[topicPartition]*fetchState{}, wake: make(chan struct{}, 1), stop: make(chan struct{}), ctx: ctx, cancel: cancel}
}

func (f *replicaFetcher) addPartition(tp topicPartition, st *fetchState) {
	f.mu.Lock()
	f.parts[tp] = st
	f.mu.Unlock()
	f.signal()
}

func (f *replicaFetcher) removePartitions(tps []topicPartition) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, tp := range tps {
		delete(f.parts, tp)
	}
	return len(f.parts)
}

func (f *replicaFetcher) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.parts)
}

func (f *replicaFetcher) signal() {
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

func (f *replicaFetcher) shutdown() {
	f.stopOnce.Do(func() {
		close(f.stop)
		f.cancel()
	})
}

func (f *replicaFetcher) logf(level string, format string, args ...any) {
	msg := fmt.Sprintf("[%s broker=%d] ", f.name, f.rm.brokerID) + fmt.Sprintf(format, args...)
	switch level {
	case "warn":
		f.rm.logger.Warn(msg)
	case "debug":
		f.rm.logger.Debug(msg)
	default:
		f.rm.logger.Info(msg)
	}
}

func (f *replicaFetcher) run() {
	defer func() {
		if f.client != nil {
			f.client.Close()
		}
	}()
	f.logf("info", "Starting")
	for {
		select {
		case <-f.stop:
			f.logf("info", "Stopped")
			return
		case <-f.rm.stopping:
			return
		default:
		}
		if f.hasTruncating() {
			if err := f.truncateByEpoch(); err != nil {
				f.connectionFailed(err)
				continue
			}
		}
		req, wait := f.buildFetch()
		if req == nil {
			f.sleep(wait)
			continue
		}
		resp, err := f.request(req, f.rm.cfg.ReplicaFetchWaitMax)
		if err != nil {
			f.connectionFailed(err)
			continue
		}
		f.processFetch(req, resp.(*kmsg.FetchResponse))
	}
}

// sleep waits for d, a new partition, or shutdown.
func (f *replicaFetcher) sleep(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.wake:
	case <-f.stop:
	case <-f.rm.stopping:
	}
}

// connectionFailed drops the connection and backs every partition off (replica.fetch.backoff.ms).
func (f *replicaFetcher) connectionFailed(err error) {
	if f.client != nil {
		f.client.Close()
		f.client = nil
	}
	if f.ctx.Err() != nil {
		return // stopped: the partitions moved elsewhere
	}
	f.logf("warn", "Error in response for fetch request to broker %d at %s: %v", f.key.leader, f.key.addr, err)
	f.sleep(f.rm.cfg.ReplicaFetchBackoff)
}

func (f *replicaFetcher) request(req kmsg.Request, extra time.Duration) (kmsg.Response, error) {
	ctx, cancel := context.WithTimeout(f.ctx, f.rm.cfg.ReplicaSocketTimeout+extra)
	defer cancel()
	if f.client == nil {
		c, err := network.Dial(ctx, f.key.addr, fmt.Sprintf("broker-%d-fetcher-%d", f.rm.brokerID, f.key.id))
		if err != nil {
			return nil, err
		}
		f.client = c
	}
	return f.client.Request(ctx, req)
}

func (f *replicaFetcher) hasTruncating() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	for _, st := range f.parts {
		if st.truncating && !now.Before(st.delayUntil) {
			return true
		}
	}
	return false
}

// buildFetch builds a Fetch for every partition ready to fetch, or returns how long to wait for one.
func (f *replicaFetcher) buildFetch() (*kmsg.FetchRequest, time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg := f.rm.cfg
	now := time.Now()
	wait := cfg.ReplicaFetchBackoff
	req := kmsg.NewPtrFetchRequest()
	req.Version = replicaFetchVersion
	req.ReplicaID = f.rm.brokerID
	req.MaxWaitMillis = int32(cfg.ReplicaFetchWaitMax.Milliseconds())
	req.MinBytes = cfg.ReplicaFetchMinBytes
	req.MaxBytes = cfg.ReplicaFetchResponseMaxBytes
	req.SessionID, req.SessionEpoch = 0, -1 // sessionless full fetches
	topics := map[string]int{}
	for tp, st := range f.parts {
		if st.truncating {
			continue
		}
		if now.Before(st.delayUntil) {
			wait = min(wait, st.delayUntil.Sub(now))
			continue
		}
		i := topicIndex(topics, &req.Topics, tp.Topic, func() kmsg.FetchRequestTopic {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = tp.Topic
			return t
		})
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = st.leaderEpoch
		rp.FetchOffset = st.offset
		rp.LastFetchedEpoch = -1
		if e, ok := st.l.LatestEpoch(); ok {
			rp.LastFetchedEpoch = e
		}
		rp.LogStartOffset = st.l.LogStartOffset()
		rp.PartitionMaxBytes = cfg.ReplicaFetchMaxBytes
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	if len(req.Topics) == 0 {
		return nil, max(wait, time.Millisecond)
	}
	return req, 0
}

// current returns the partition's state if the request's view of it (offset, epoch) still holds. Caller holds mu.
func (f *replicaFetcher) current(tp topicPartition, offset int64, epoch int32) *fetchState {
	st := f.parts[tp]
	if st == nil || st.offset != offset || st.leaderEpoch != epoch || st.truncating {
		return nil
	}
	return st
}

func (f *replicaFetcher) backoff(st *fetchState) {
	st.delayUntil = time.Now().Add(f.rm.cfg.ReplicaFetchBackoff)
}

// processFetch applies a fetch response (Kafka's processFetchRequest + ReplicaFetcherThread.processPartitionData).
func (f *replicaFetcher) processFetch(req *kmsg.FetchRequest, resp *kmsg.FetchResponse) {
	type sent struct {
		offset int64
		epoch  int32
	}
	asked := map[topicPartition]sent{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			asked[topicPartition{Topic: t.Topic, Partition: p.Partition}] = sent{p.FetchOffset, p.CurrentLeaderEpoch}
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if resp.ErrorCode != 0 {
		f.logf("warn", "Fetch from broker %d failed: %s", f.key.leader, kerr.ErrorForCode(resp.ErrorCode))
		for tp, a := range asked {
			if st := f.current(tp, a.offset, a.epoch); st != nil {
				f.backoff(st)
			}
		}
		return
	}
	var outOfRange []topicPartition
	for _, t := range resp.Topics {
		for i := range t.Partitions {
			rp := &t.Partitions[i]
			tp := topicPartition{Topic: t.Topic, Partition: rp.Partition}
			a, ok := asked[tp]
			if !ok {
				continue
			}
			st := f.current(tp, a.offset, a.epoch)
			if st == nil {
				continue
			}
			switch rp.ErrorCode {
			case 0:
				f.processPartitionData(tp, st, rp)
			case kerr.OffsetOutOfRange.Code:
				outOfRange = append(outOfRange, tp)
			case kerr.FencedLeaderEpoch.Code:
				// This follower's epoch is older than the leader's: a LeaderAndIsr is on its way.
				f.logf("info", "Partition %s has an older epoch (%d) than the current leader; waiting for the new state", tp, st.leaderEpoch)
				f.backoff(st)
			default:
				f.logf("debug", "Error for partition %s at offset %d: %s", tp, st.offset, kerr.ErrorForCode(rp.ErrorCode))
				f.backoff(st)
			}
		}
	}
	for _, tp := range outOfRange {
		if st := f.parts[tp]; st != nil {
			f.handleOutOfRange(tp, st)
		}
	}
}

func (f *replicaFetcher) processPartitionData(tp topicPartition, st *fetchState, rp *kmsg.FetchResponseTopicPartition) {
	if rp.DivergingEpoch.Epoch >= 0 || rp.DivergingEpoch.EndOffset >= 0 {
		f.logf("info", "Truncating partition %s with DivergingEpoch(epoch=%d, endOffset=%d)", tp, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset)
		if _, err := f.truncateOnLeaderEpoch(tp, st, rp.DivergingEpoch.Epoch, rp.DivergingEpoch.EndOffset); err != nil {
			f.logf("warn", "Truncation of %s failed: %v", tp, err)
			f.backoff(st)
		}
		return
	}
	if len(rp.RecordBatches) > 0 {
		if err := f.appendAsFollower(st, rp.RecordBatches); err != nil {
			f.logf("warn", "Error appending to the log of %s at offset %d: %v", tp, st.offset, err)
			f.backoff(st)
			return
		}
	}
	l := st.l
	if hw := min(rp.HighWatermark, l.LogEndOffset()); hw > l.HighWatermark() {
		l.SetHighWatermark(hw)
	}
	if ls := min(rp.LogStartOffset, l.HighWatermark()); ls > l.LogStartOffset() {
		if err := l.IncrementLogStartOffset(ls); err != nil {
			f.logf("warn", "Cannot move the log start offset of %s to the leader's %d: %v", tp, ls, err)
		}
	}
}

// appendAsFollower appends under the partition's read lock after checking it still follows this leader at this
// epoch: a LeaderAndIsr that changed the role waits for the append (it takes the write lock).
func (f *replicaFetcher) appendAsFollower(st *fetchState, records []byte) error {
	p := st.p
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != f.key.leader || p.leaderEpoch != st.leaderEpoch || p.log != st.l {
		return errNotLeader
	}
	if st.l.LogEndOffset() != st.offset {
		return fmt.Errorf("log end offset %d differs from the fetch offset %d", st.l.LogEndOffset(), st.offset)
	}
	_, err := st.l.AppendAsFollower(records)
	var unexpected *log.UnexpectedAppendOffsetError
	if errors.As(err, &unexpected) {
		// The leader's log start lies inside its first batch (DeleteRecords cut it) and this log holds nothing:
		// restart at the batch, as Kafka's Partition does.
		l := st.l
		if l.LogEndOffset() == l.LogStartOffset() && unexpected.FirstOffset < l.LogEndOffset() && unexpected.LastOffset >= l.LogEndOffset() {
			if err = f.rm.logs.TruncateFullyAndStartAt(l, unexpected.FirstOffset); err == nil {
				_, err = l.AppendAsFollower(records)
			}
		}
	}
	if err != nil {
		return err
	}
	st.offset = st.l.LogEndOffset()
	return nil
}

// truncateByEpoch sends OffsetForLeaderEpoch for the partitions that must truncate before fetching (a new
// follower, a restarted broker: KIP-101) and truncates them.
func (f *replicaFetcher) truncateByEpoch() error {
	f.mu.Lock()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = replicaOffsetForEpochVersion
	req.ReplicaID = f.rm.brokerID
	topics := map[string]int{}
	now := time.Now()
	for tp, st := range f.parts {
		if !st.truncating || now.Before(st.delayUntil) {
			continue
		}
		latest, ok := st.l.LatestEpoch()
		if !ok {
			// No epochs (an empty log): all that can be known is the HW.
			if err := f.truncateTo(tp, st, st.l.HighWatermark()); err != nil {
				f.logf("warn", "Truncation of %s failed: %v", tp, err)
				f.backoff(st)
				continue
			}
			st.truncating = false
			continue
		}
		i := topicIndex(topics, &req.Topics, tp.Topic, func() kmsg.OffsetForLeaderEpochRequestTopic {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = tp.Topic
			return t
		})
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition = tp.Partition
		rp.CurrentLeaderEpoch = st.leaderEpoch
		rp.LeaderEpoch = latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
	}
	f.mu.Unlock()
	if len(req.Topics) == 0 {
		return nil
	}
	resp, err := f.request(req, 0)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range resp.(*kmsg.OffsetForLeaderEpochResponse).Topics {
		for _, rp := range t.Partitions {
			tp := topicPartition{Topic: t.Topic, Partition: rp.Partition}
			st := f.parts[tp]
			if st == nil || !st.truncating {
				continue
			}
			if rp.ErrorCode != 0 {
				f.logf("debug", "OffsetForLeaderEpoch for %s: %s", tp, kerr.ErrorForCode(rp.ErrorCode))
				f.backoff(st)
				continue
			}
			done, err := f.truncateOnLeaderEpoch(tp, st, rp.LeaderEpoch, rp.EndOffset)
			if err != nil {
				f.logf("warn", "Truncation of %s failed: %v", tp, err)
				f.backoff(st)
				continue
			}
			st.truncating = !done
		}
	}
	return nil
}

// truncateOnLeaderEpoch is AbstractFetcherThread.getOffsetTruncationState followed by the truncation: given the
// leader's end offset for an epoch, cut this replica's log where the two logs stop agreeing. It reports whether
// truncation is complete (false: this replica did not know the leader's epoch, so it asks again with its own
// earlier epoch). Caller holds f.mu.
func (f *replicaFetcher) truncateOnLeaderEpoch(tp topicPartition, st *fetchState, leaderEpoch int32, leaderEnd int64) (bool, error) {
	l := st.l
	leo := l.LogEndOffset()
	target, done := leo, true
	switch {
	case leaderEnd < 0:
		// The leader does not know the epoch: only what is below the HW is known to be shared.
		target = min(l.HighWatermark(), leo)
	case leaderEpoch < 0:
		target = min(leaderEnd, leo)
	default:
		epoch, end := l.EndOffsetForEpoch(leaderEpoch)
		switch {
		case end < 0:
			target = min(leaderEnd, leo)
		case epoch != leaderEpoch:
			target, done = min(end, leo), false
		default:
			target = min(end, leaderEnd, leo)
		}
	}
	return done, f.truncateTo(tp, st, target)
}

func (f *replicaFetcher) truncateTo(tp topicPartition, st *fetchState, offset int64) error {
	p := st.p
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.leader != f.key.leader || p.leaderEpoch != st.leaderEpoch {
		return errNotLeader
	}
	if offset < st.l.LogEndOffset() {
		f.logf("info", "Truncating partition %s from log end offset %d to offset %d", tp, st.l.LogEndOffset(), offset)
		// Through the LogManager: cleaning of the log pauses and its cleaner checkpoint moves back with it.
		if _, err := f.rm.logs.TruncateTo(st.l, offset); err != nil {
			return err
		}
	}
	st.offset = st.l.LogEndOffset()
	return nil
}

// handleOutOfRange is Kafka's fetchOffsetAndTruncate: the leader's log end is below ours (an unclean election)
// → truncate to it; our end is below the leader's log start → start over at its log start.
func (f *replicaFetcher) handleOutOfRange(tp topicPartition, st *fetchState) {
	offsets := func(ts int64) (int64, error) {
		req := kmsg.NewPtrListOffsetsRequest()
		req.Version = replicaListOffsetsVersion
		req.ReplicaID = f.rm.brokerID
		t := kmsg.NewListOffsetsRequestTopic()
		t.Topic = tp.Topic
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition, p.Timestamp, p.CurrentLeaderEpoch = tp.Partition, ts, st.leaderEpoch
		t.Partitions = append(t.Partitions, p)
		req.Topics = append(req.Topics, t)
		f.mu.Unlock()
		resp, err := f.request(req, 0)
		f.mu.Lock()
		if err != nil {
			return 0, err
		}
		for _, rt := range resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, rp := range rt.Partitions {
				if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
					return 0, err
				}
				return rp.Offset, nil
			}
		}
		return 0, fmt.Errorf("no answer for %s", tp)
	}
	offset, epoch := st.offset, st.leaderEpoch
	leaderEnd, err := offsets(-1)
	if err == nil && f.current(tp, offset, epoch) == nil {
		return // removed or changed while unlocked
	}
	if err != nil {
		f.logf("warn", "Cannot learn the leader's end offset of %s: %v", tp, err)
		f.backoff(st)
		return
	}
	leo := st.l.LogEndOffset()
	if leaderEnd < leo {
		f.logf("warn", "Reset fetch offset for partition %s from %d to current leader %d's latest offset %d", tp, leo, f.key.leader, leaderEnd)
		if err := f.truncateTo(tp, st, leaderEnd); err != nil {
			f.backoff(st)
		}
		return
	}
	leaderStart, err := offsets(-2)
	if err == nil && f.current(tp, offset, epoch) == nil {
		return
	}
	if err != nil {
		f.logf("warn", "Cannot learn the leader's start offset of %s: %v", tp, err)
		f.backoff(st)
		return
	}
	if leo < leaderStart {
		f.logf("warn", "Reset fetch offset for partition %s from %d to current leader %d's start offset %d", tp, leo, f.key.leader, leaderStart)
		p := st.p
		p.mu.RLock()
		if p.leader == f.key.leader && p.leaderEpoch == st.leaderEpoch {
			err = f.rm.logs.TruncateFullyAndStartAt(st.l, leaderStart)
		} else {
			err = errNotLeader
		}
		p.mu.RUnlock()
		if err != nil {
			f.backoff(st)
			return
		}
	}
	st.offset = st.l.LogEndOffset()
}

// topicIndex is the position of topic's entry in a request's topic list, appending a new one (made by mk) the
// first time the topic is seen; index remembers the positions.
func topicIndex[T any](index map[string]int, list *[]T, topic string, mk func() T) int {
	if i, ok := index[topic]; ok {
		return i
	}
	*list = append(*list, mk())
	index[topic] = len(*list) - 1
	return len(*list) - 1
}
