package broker

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/log"
)

// ReplicaManager owns this broker's Partitions: it applies the controller's LeaderAndIsr and StopReplica, and
// serves appends and reads. Lock order: ReplicaManager.mu, then Partition.mu, then the log's own lock.
type ReplicaManager struct {
	brokerID  int32
	cfg       *Config
	logs      *log.LogManager
	logger    *logrus.Entry
	fetches   *purgatory // DelayedFetch, keyed by topicPartition
	produces  *purgatory // DelayedProduce, keyed by topicPartition
	deletes   *purgatory // DelayedDeleteRecords, keyed by topicPartition
	topicCfgs func(topic string) (map[string]string, error)
	alive     func(id int32) bool // the broker is in the metadata cache
	isr       *isrManager
	fetchers  *fetcherManager

	controllerEpoch atomic.Int32 // highest controller epoch seen in a control request

	stopping chan struct{}
	wg       sync.WaitGroup

	mu         sync.RWMutex
	partitions map[topicPartition]*Partition
}

func newReplicaManager(brokerID int32, cfg *Config, logs *log.LogManager, logger *logrus.Entry,
	topicCfgs func(string) (map[string]string, error), alive func(int32) bool, store isrStore,
	endpoint func(id int32) (string, bool)) *ReplicaManager {
	rm := &ReplicaManager{
		brokerID:   brokerID,
		cfg:        cfg,
		logs:       logs,
		logger:     logger,
		fetches:    newPurgatory(),
		produces:   newPurgatory(),
		deletes:    newPurgatory(),
		topicCfgs:  topicCfgs,
		alive:      alive,
		partitions: map[topicPartition]*Partition{},
		stopping:   make(chan struct{}),
	}
	rm.isr = newIsrManager(rm, store)
	rm.fetchers = newFetcherManager(rm, endpoint)
	return rm
}

// startup runs the ISR expiration and ISR change propagation tasks.
func (rm *ReplicaManager) startup() {
	rm.goAttach(func() {
		every := max(rm.cfg.ReplicaLagTimeMax/2, 10*time.Millisecond)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-rm.stopping:
				return
			case <-t.C:
				rm.maybeShrinkIsr()
			}
		}
	})
	rm.goAttach(func() {
		t := time.NewTicker(isrChangePropagationCheck)
		defer t.Stop()
		for {
			select {
			case <-rm.stopping:
				rm.isr.maybePropagate(true)
				return
			case <-t.C:
				rm.isr.maybePropagate(false)
			}
		}
	})
}

func (rm *ReplicaManager) goAttach(fn func()) {
	rm.wg.Add(1)
	go func() {
		defer rm.wg.Done()
		fn()
	}()
}

func (rm *ReplicaManager) allPartitions() []*Partition {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	out := make([]*Partition, 0, len(rm.partitions))
	for _, p := range rm.partitions {
		out = append(out, p)
	}
	return out
}

func (rm *ReplicaManager) partition(tp topicPartition) *Partition {
	rm.mu.RLock()
	defer rm.mu.RUnlock()
	return rm.partitions[tp]
}

// checkControllerEpoch rejects control requests from a deposed controller (STALE_CONTROLLER_EPOCH) and records
// the newest epoch seen.
func (rm *ReplicaManager) checkControllerEpoch(epoch int32) bool {
	for {
		cur := rm.controllerEpoch.Load()
		if epoch < cur {
			return false
		}
		if epoch == cur || rm.controllerEpoch.CompareAndSwap(cur, epoch) {
			return true
		}
	}
}

// leaderAndIsrState is one partition's state in a LeaderAndIsr request, independent of the request version.
type leaderAndIsrState struct {
	tp              topicPartition
	topicID         [16]byte
	controllerEpoch int32
	leader          int32
	leaderEpoch     int32
	isr             []int32
	partitionEpoch  int32
	replicas        []int32
	isNew           bool
}

// becomeLeaderOrFollower applies LeaderAndIsr partition states; it returns an error code per partition.
// leaderAddrs are the request's live leaders (id → host:port), where followers fetch from.
func (rm *ReplicaManager) becomeLeaderOrFollower(states []leaderAndIsrState, leaderAddrs map[int32]string) map[topicPartition]int16 {
	result := make(map[topicPartition]int16, len(states))
	var touched []topicPartition
	// A failover's LeaderAndIsr carries thousands of partitions of a few topics: read each topic's config from
	// ZooKeeper once per request, not once per partition (a round trip each was most of the broker's time).
	cfgs := map[string]map[string]string{}
	topicCfgs := func(topic string) (map[string]string, error) {
		if c, ok := cfgs[topic]; ok {
			return c, nil
		}
		c, err := rm.topicCfgs(topic)
		if err == nil {
			cfgs[topic] = c
		}
		return c, err
	}
	for _, st := range states {
		if !slices.Contains(st.replicas, rm.brokerID) {
			result[st.tp] = kerr.UnknownTopicOrPartition.Code
			continue
		}
		rm.mu.Lock()
		p := rm.partitions[st.tp]
		if p == nil {
			p = &Partition{tp: st.tp, brokerID: rm.brokerID, leader: -1, leaderEpoch: -1, partitionEpoch: -1}
			rm.partitions[st.tp] = p
		}
		rm.mu.Unlock()

		p.mu.RLock()
		newEpoch := st.leaderEpoch > p.leaderEpoch
		p.mu.RUnlock()
		if newEpoch {
			// Stop fetching before the role changes: remove waits for a response being applied.
			rm.fetchers.remove(st.tp)
		}
		code, follow := rm.applyState(p, st, topicCfgs)
		result[st.tp] = code
		if code == 0 {
			touched = append(touched, st.tp)
		}
		if follow != nil {
			rm.fetchers.add(p, follow, st.leader, leaderAddrs[st.leader], st.leaderEpoch)
		}
	}
	// Leadership changed: parked fetches and produces on these partitions must re-check (they may now fail).
	for _, tp := range touched {
		rm.fetches.checkAndComplete(tp)
		rm.produces.checkAndComplete(tp)
		rm.deletes.checkAndComplete(tp)
	}
	return result
}

// applyState is Partition.makeLeader / makeFollower. A newer leader epoch changes the role; the same epoch with
// a newer partition epoch (the state znode changed without a new leader) only updates replicas and ISR. It
// returns the log to fetch into when this broker must start following.
func (rm *ReplicaManager) applyState(p *Partition, st leaderAndIsrState, topicCfgs func(string) (map[string]string, error)) (int16, *log.Log) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.leaderEpoch < p.leaderEpoch || (st.leaderEpoch == p.leaderEpoch && st.partitionEpoch <= p.partitionEpoch) {
		if st.leaderEpoch == p.leaderEpoch {
			if p.topicID == ([16]byte{}) {
				p.topicID = st.topicID
			}
			return 0, nil // the same state again (a new controller resends everything)
		}
		// Per-partition lines are Kafka's state-change log, not server.log: debug, so a failover's thousands of
		// partitions do not queue behind the log writer.
		rm.logger.Debugf("[ReplicaManager broker=%d] Ignoring LeaderAndIsr for %s-%d: leader epoch %d is older than %d",
			rm.brokerID, st.tp.Topic, st.tp.Partition, st.leaderEpoch, p.leaderEpoch)
		return kerr.StaleControllerEpoch.Code, nil
	}
	overrides, err := topicCfgs(st.tp.Topic)
	if err != nil {
		rm.logger.Errorf("[ReplicaManager broker=%d] Cannot read config of topic %s: %v", rm.brokerID, st.tp.Topic, err)
		return kerr.UnknownServerError.Code, nil
	}
	if p.log == nil {
		l, err := rm.logs.GetOrCreateLog(st.tp.Topic, st.tp.Partition, rm.cfg.logConfig(overrides))
		if err != nil {
			rm.logger.Errorf("[ReplicaManager broker=%d] Cannot create log for %s-%d: %v", rm.brokerID, st.tp.Topic, st.tp.Partition, err)
			return kerr.KafkaStorageError.Code, nil
		}
		p.log = l
	} else {
		p.log.UpdateConfig(rm.cfg.logConfig(overrides))
	}
	wasLeader := p.isLeaderLocked()
	newEpoch := st.leaderEpoch > p.leaderEpoch
	p.topicID = st.topicID
	p.leader = st.leader
	p.leaderEpoch = st.leaderEpoch
	p.isr = slices.Clone(st.isr)
	p.replicas = slices.Clone(st.replicas)
	p.partitionEpoch = st.partitionEpoch
	p.controllerEpoch = st.controllerEpoch
	p.minISR = rm.cfg.minInsyncReplicas(overrides)
	p.pending = nil
	if !p.isLeaderLocked() {
		p.followers = nil
		p.leaderEpochStartOffset = -1
		if !newEpoch {
			return 0, nil
		}
		rm.logger.Debugf("[Partition %s-%d broker=%d] Follower of leader %d with leader epoch %d, end offset %d",
			st.tp.Topic, st.tp.Partition, rm.brokerID, st.leader, st.leaderEpoch, p.log.LogEndOffset())
		if st.leader < 0 {
			return 0, nil
		}
		return 0, p.log
	}
	now := time.Now().UnixMilli()
	leo := p.log.LogEndOffset()
	if newEpoch {
		// Followers whose logs hold later epochs than this leader's truncate to where this epoch starts.
		if err := p.log.AssignEpochStartOffset(st.leaderEpoch, leo); err != nil {
			rm.logger.Errorf("[Partition %s-%d broker=%d] Cannot record leader epoch %d: %v", st.tp.Topic, st.tp.Partition, rm.brokerID, st.leaderEpoch, err)
			return kerr.KafkaStorageError.Code, nil
		}
		p.leaderEpochStartOffset = leo
	}
	old := p.followers
	p.followers = make(map[int32]*followerState, len(st.replicas))
	for _, id := range st.replicas {
		if id == rm.brokerID {
			continue
		}
		f := &followerState{leo: -1, logStart: -1, lastFetchLeaderLEO: -1}
		if prev, ok := old[id]; ok && wasLeader {
			// Still the leader (a new epoch or assignment): what the follower last told us still holds.
			f.leo, f.logStart, f.lastFetchLeaderLEO, f.lastFetchTimeMs = prev.leo, prev.logStart, leo, now
		}
		if slices.Contains(st.isr, id) {
			f.lastCaughtUpTimeMs = now
		}
		p.followers[id] = f
	}
	if !wasLeader {
		rm.logger.Debugf("[Partition %s-%d broker=%d] Leader with leader epoch %d, ISR %v, start offset %d, end offset %d",
			st.tp.Topic, st.tp.Partition, rm.brokerID, st.leaderEpoch, st.isr, p.log.LogStartOffset(), leo)
	}
	p.maybeIncrementHighWatermarkLocked(now, rm.cfg.ReplicaLagTimeMax.Milliseconds(), rm.alive)
	return 0, nil
}

// stopReplica stops serving a partition and, when asked, deletes its log (topic deletion).
func (rm *ReplicaManager) stopReplica(tp topicPartition, leaderEpoch int32, deletePartition bool) int16 {
	rm.mu.Lock()
	p := rm.partitions[tp]
	if p != nil {
		p.mu.RLock()
		cur := p.leaderEpoch
		p.mu.RUnlock()
		if leaderEpoch >= 0 && leaderEpoch < cur {
			rm.mu.Unlock()
			return kerr.FencedLeaderEpoch.Code
		}
		if deletePartition {
			delete(rm.partitions, tp)
		}
	}
	rm.mu.Unlock()
	rm.fetchers.remove(tp)
	if p != nil {
		p.mu.Lock()
		p.leader = -1
		p.followers, p.pending = nil, nil
		if deletePartition {
			p.log = nil
		}
		p.mu.Unlock()
		rm.fetches.checkAndComplete(tp)
		rm.produces.checkAndComplete(tp)
	}
	if deletePartition && rm.logs.GetLog(tp.Topic, tp.Partition) != nil {
		if err := rm.logs.DeleteLog(tp.Topic, tp.Partition); err != nil {
			rm.logger.Errorf("[ReplicaManager broker=%d] Cannot delete log of %s-%d: %v", rm.brokerID, tp.Topic, tp.Partition, err)
			return kerr.KafkaStorageError.Code
		}
		rm.logger.Infof("[ReplicaManager broker=%d] Deleted log of %s-%d", rm.brokerID, tp.Topic, tp.Partition)
	}
	return 0
}

// appendResult is one partition's outcome of a leader append.
type appendResult struct {
	info log.AppendInfo
	err  error
}

// appendOrigin is Kafka's AppendOrigin: who asks for a leader append.
type appendOrigin int

const (
	appendFromClient      appendOrigin = iota // a producer: sequences and epochs are validated
	appendFromCoordinator                     // a coordinator's own batch or a marker: epochs only
)

// appendRecords appends a client's records to the leader's log. requiredAcks -1 enforces min.insync.replicas
// before appending.
func (rm *ReplicaManager) appendRecords(tp topicPartition, records []byte, requiredAcks int16) appendResult {
	return rm.appendRecordsFrom(tp, records, requiredAcks, appendFromClient)
}

// appendRecordsFrom is appendRecords with the origin of the append (Kafka's appendRecords(origin = ...)).
func (rm *ReplicaManager) appendRecordsFrom(tp topicPartition, records []byte, requiredAcks int16, origin appendOrigin) appendResult {
	return rm.appendToLeader(tp, requiredAcks, func(l *log.Log, epoch int32) (log.AppendInfo, error) {
		if origin == appendFromCoordinator {
			return l.AppendAsCoordinator(records, epoch)
		}
		return l.AppendAsLeader(records, epoch)
	})
}

// appendMarker writes a transaction marker (a control batch) as the leader, with acks=all's min.insync.replicas
// check, as WriteTxnMarkers appends with requiredAcks -1.
func (rm *ReplicaManager) appendMarker(tp topicPartition, m log.Marker) appendResult {
	return rm.appendToLeader(tp, -1, func(l *log.Log, epoch int32) (log.AppendInfo, error) {
		return l.AppendMarker(m, epoch)
	})
}

func (rm *ReplicaManager) appendToLeader(tp topicPartition, requiredAcks int16, appendFn func(*log.Log, int32) (log.AppendInfo, error)) appendResult {
	p := rm.partition(tp)
	if p == nil {
		return appendResult{err: errUnknownPartition}
	}
	l, epoch, err := p.leaderLog(-1)
	if err != nil {
		return appendResult{err: err}
	}
	if requiredAcks == -1 {
		// Kafka checks the committed ISR here and the maximal one after the append.
		p.mu.RLock()
		short := len(p.isr) < min(p.minISR, max(len(p.replicas), 1))
		p.mu.RUnlock()
		if short {
			return appendResult{err: errNotEnoughReplicas}
		}
	}
	info, err := appendFn(l, epoch)
	if err != nil {
		return appendResult{err: err}
	}
	if info.Duplicate {
		// Nothing was written: no HW to move and nobody to wake.
		return appendResult{info: info}
	}
	// The write lock: two appends computing the HW at once must not store it out of order.
	p.mu.Lock()
	p.maybeIncrementHighWatermarkLocked(time.Now().UnixMilli(), rm.cfg.ReplicaLagTimeMax.Milliseconds(), rm.alive)
	p.mu.Unlock()
	// New data and (maybe) a new HW or LSO: wake parked fetches and acks=all produces.
	rm.fetches.checkAndComplete(tp)
	rm.produces.checkAndComplete(tp)
	return appendResult{info: info}
}

// readResult is one partition's outcome of a fetch read.
type readResult struct {
	info log.ReadInfo
	lso  int64
	// aborted is set for read_committed reads only (empty, not nil, when none): Kafka answers null for
	// read_uncommitted and a list for read_committed.
	aborted []log.AbortedTxn
	err     error
}

// fetchIsolation is Kafka's FetchIsolation: how far a read may go.
type fetchIsolation int

const (
	fetchLogEnd        fetchIsolation = iota // followers: up to the log end offset
	fetchHighWatermark                       // read_uncommitted consumers
	fetchTxnCommitted                        // read_committed consumers: up to the last stable offset
)

// fetchIsolationOf maps a Fetch request to its isolation (FetchIsolation.of).
func fetchIsolationOf(isFollower bool, isolationLevel int8) fetchIsolation {
	switch {
	case isFollower:
		return fetchLogEnd
	case isolationLevel == 1:
		return fetchTxnCommitted
	default:
		return fetchHighWatermark
	}
}

// fetchEnd is the offset a read under isolation stops at.
func fetchEnd(l *log.Log, isolation fetchIsolation) int64 {
	switch isolation {
	case fetchLogEnd:
		return l.LogEndOffset()
	case fetchTxnCommitted:
		return l.LastStableOffset()
	default:
		return l.HighWatermark()
	}
}

// read serves a consumer (up to the HW, or the LSO for read_committed) or a follower (up to the LEO) from the
// leader's log. A read_committed read also collects the aborted transactions overlapping what it returns.
func (rm *ReplicaManager) read(tp topicPartition, offset int64, maxBytes int, currentLeaderEpoch int32,
	isolation fetchIsolation, minOneMessage bool) readResult {
	p := rm.partition(tp)
	if p == nil {
		return readResult{lso: -1, err: errUnknownPartition}
	}
	l, _, err := p.leaderLog(currentLeaderEpoch)
	if err != nil {
		return readResult{lso: -1, err: err}
	}
	lso := l.LastStableOffset()
	maxOffset := fetchEnd(l, isolation)
	info, err := l.Read(offset, maxBytes, maxOffset, minOneMessage)
	if err != nil {
		if errors.Is(err, log.ErrOffsetOutOfRange) {
			info.HighWatermark, info.LogStartOffset = l.HighWatermark(), l.LogStartOffset()
		}
		return readResult{info: info, lso: lso, err: err}
	}
	res := readResult{info: info, lso: lso}
	if isolation == fetchTxnCommitted {
		res.aborted = []log.AbortedTxn{}
		if info.Size > 0 {
			// Kafka bounds the search by the end of the fetched data; the read does not tell where that is, so
			// the bound is where the read could have stopped. Clients ignore aborted transactions beyond the
			// batches they got.
			res.aborted = append(res.aborted, l.CollectAbortedTransactions(offset, maxOffset)...)
		}
	}
	return res
}

// shutdown stops the fetchers and background tasks and completes all parked requests.
func (rm *ReplicaManager) shutdown() {
	close(rm.stopping)
	rm.fetchers.shutdown()
	rm.wg.Wait()
	rm.fetches.shutdown()
	rm.produces.shutdown()
	rm.deletes.shutdown()
}

// followerFetches is the leader's side of a follower's Fetch (Partition.fetchRecords for a follower): per
// partition, the fence and replica checks, the divergence check against the follower's last fetched epoch, and
// the follower's new position. Errors and divergences are keyed by the partition's index in parts.
func (rm *ReplicaManager) followerFetches(replicaID int32, parts []fetchPartition) (map[int]error, map[int]kmsg.FetchResponseTopicPartitionDivergingEpoch) {
	var errs map[int]error
	var divs map[int]kmsg.FetchResponseTopicPartitionDivergingEpoch
	for i, fp := range parts {
		if fp.err != 0 {
			continue
		}
		div, diverged, err := rm.followerFetch(replicaID, fp)
		switch {
		case err != nil:
			if errs == nil {
				errs = map[int]error{}
			}
			errs[i] = err
		case diverged:
			if divs == nil {
				divs = map[int]kmsg.FetchResponseTopicPartitionDivergingEpoch{}
			}
			divs[i] = div
		}
	}
	return errs, divs
}

func (rm *ReplicaManager) followerFetch(replicaID int32, fp fetchPartition) (kmsg.FetchResponseTopicPartitionDivergingEpoch, bool, error) {
	div := kmsg.NewFetchResponseTopicPartitionDivergingEpoch()
	p := rm.partition(fp.tp)
	if p == nil {
		return div, false, errUnknownPartition
	}
	l, _, err := p.leaderLog(fp.leaderEpoch)
	if err != nil {
		return div, false, err
	}
	p.mu.RLock()
	_, known := p.followers[replicaID]
	p.mu.RUnlock()
	if !known {
		if fp.leaderEpoch >= 0 {
			return div, false, errUnknownLeaderEpoch
		}
		return div, false, errNotLeader
	}
	if fp.lastEpoch >= 0 {
		epoch, end := l.EndOffsetForEpoch(fp.lastEpoch)
		if epoch < fp.lastEpoch || end < fp.offset {
			div.Epoch, div.EndOffset = epoch, end
			return div, true, nil
		}
	}
	if fp.offset < l.LogStartOffset() || fp.offset > l.LogEndOffset() {
		return div, false, nil // the read answers OFFSET_OUT_OF_RANGE
	}
	moved, startMoved, err := rm.updateFollowerFetchState(p, replicaID, fp.offset, fp.logStart)
	if err != nil {
		return div, false, err
	}
	if startMoved {
		rm.deletes.checkAndComplete(fp.tp)
	}
	if moved {
		// Committed data: acks=all producers and consumers waiting for it may finish.
		rm.produces.checkAndComplete(fp.tp)
		rm.fetches.checkAndComplete(fp.tp)
	}
	return div, false, nil
}

// lastOffsetForLeaderEpoch answers OffsetForLeaderEpoch: the leader's end offset for an epoch.
func (rm *ReplicaManager) lastOffsetForLeaderEpoch(tp topicPartition, currentLeaderEpoch, epoch int32) (int32, int64, error) {
	p := rm.partition(tp)
	if p == nil {
		return -1, -1, errUnknownPartition
	}
	l, _, err := p.leaderLog(currentLeaderEpoch)
	if err != nil {
		return -1, -1, err
	}
	e, end := l.EndOffsetForEpoch(epoch)
	return e, end, nil
}
