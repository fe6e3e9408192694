package broker

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"

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
	topicCfgs func(topic string) (map[string]string, error)

	controllerEpoch atomic.Int32 // highest controller epoch seen in a control request

	mu         sync.RWMutex
	partitions map[topicPartition]*Partition
}

func newReplicaManager(brokerID int32, cfg *Config, logs *log.LogManager, logger *logrus.Entry,
	topicCfgs func(string) (map[string]string, error)) *ReplicaManager {
	return &ReplicaManager{
		brokerID:   brokerID,
		cfg:        cfg,
		logs:       logs,
		logger:     logger,
		fetches:    newPurgatory(),
		produces:   newPurgatory(),
		topicCfgs:  topicCfgs,
		partitions: map[topicPartition]*Partition{},
	}
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
func (rm *ReplicaManager) becomeLeaderOrFollower(states []leaderAndIsrState) map[topicPartition]int16 {
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
			p = &Partition{tp: st.tp, brokerID: rm.brokerID, leader: -1, leaderEpoch: -1}
			rm.partitions[st.tp] = p
		}
		rm.mu.Unlock()

		code := rm.applyState(p, st, topicCfgs)
		result[st.tp] = code
		if code == 0 {
			touched = append(touched, st.tp)
		}
	}
	// Leadership changed: parked fetches and produces on these partitions must re-check (they may now fail).
	for _, tp := range touched {
		rm.fetches.checkAndComplete(tp)
		rm.produces.checkAndComplete(tp)
	}
	return result
}

func (rm *ReplicaManager) applyState(p *Partition, st leaderAndIsrState, topicCfgs func(string) (map[string]string, error)) int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st.leaderEpoch <= p.leaderEpoch {
		if st.leaderEpoch == p.leaderEpoch && p.topicID == ([16]byte{}) {
			p.topicID = st.topicID
		}
		// Per-partition lines are Kafka's state-change log, not server.log: debug, so a failover's thousands of
		// partitions do not queue behind the log writer.
		rm.logger.Debugf("[ReplicaManager broker=%d] Ignoring LeaderAndIsr for %s-%d: leader epoch %d is not newer than %d",
			rm.brokerID, st.tp.Topic, st.tp.Partition, st.leaderEpoch, p.leaderEpoch)
		return kerr.StaleControllerEpoch.Code
	}
	overrides, err := topicCfgs(st.tp.Topic)
	if err != nil {
		rm.logger.Errorf("[ReplicaManager broker=%d] Cannot read config of topic %s: %v", rm.brokerID, st.tp.Topic, err)
		return kerr.UnknownServerError.Code
	}
	if p.log == nil {
		l, err := rm.logs.GetOrCreateLog(st.tp.Topic, st.tp.Partition, rm.cfg.logConfig(overrides))
		if err != nil {
			rm.logger.Errorf("[ReplicaManager broker=%d] Cannot create log for %s-%d: %v", rm.brokerID, st.tp.Topic, st.tp.Partition, err)
			return kerr.KafkaStorageError.Code
		}
		p.log = l
	} else {
		p.log.UpdateConfig(rm.cfg.logConfig(overrides))
	}
	wasLeader := p.isLeaderLocked()
	p.topicID = st.topicID
	p.leader = st.leader
	p.leaderEpoch = st.leaderEpoch
	p.isr = slices.Clone(st.isr)
	p.replicas = slices.Clone(st.replicas)
	p.partitionEpoch = st.partitionEpoch
	p.controllerEpoch = st.controllerEpoch
	p.minISR = rm.cfg.minInsyncReplicas(overrides)
	if p.isLeaderLocked() {
		if !wasLeader {
			rm.logger.Debugf("[Partition %s-%d broker=%d] Leader with leader epoch %d, ISR %v, start offset %d, end offset %d",
				st.tp.Topic, st.tp.Partition, rm.brokerID, st.leaderEpoch, st.isr, p.log.LogStartOffset(), p.log.LogEndOffset())
		}
		if len(p.isr) == 1 && p.isr[0] == rm.brokerID {
			p.log.SetHighWatermark(p.log.LogEndOffset())
		}
	} else {
		rm.logger.Debugf("[Partition %s-%d broker=%d] Follower of leader %d with leader epoch %d",
			st.tp.Topic, st.tp.Partition, rm.brokerID, st.leader, st.leaderEpoch)
	}
	return 0
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
	if p != nil {
		p.mu.Lock()
		p.leader = -1
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

// appendRecords appends to the leader's log. requiredAcks -1 enforces min.insync.replicas before appending.
func (rm *ReplicaManager) appendRecords(tp topicPartition, records []byte, requiredAcks int16) appendResult {
	p := rm.partition(tp)
	if p == nil {
		return appendResult{err: errUnknownPartition}
	}
	l, epoch, err := p.leaderLog(-1)
	if err != nil {
		return appendResult{err: err}
	}
	if requiredAcks == -1 {
		isr, minISR := p.inSyncReplicas()
		if len(isr) < minISR {
			return appendResult{err: errNotEnoughReplicas}
		}
	}
	info, err := l.AppendAsLeader(records, epoch)
	if err != nil {
		return appendResult{err: err}
	}
	p.maybeIncrementHighWatermark()
	// New data and (maybe) a new HW: wake parked fetches and acks=all produces.
	rm.fetches.checkAndComplete(tp)
	rm.produces.checkAndComplete(tp)
	return appendResult{info: info}
}

// readResult is one partition's outcome of a fetch read.
type readResult struct {
	info log.ReadInfo
	err  error
}

// read serves a consumer (up to the HW) or a follower (up to the LEO) from the leader's log.
func (rm *ReplicaManager) read(tp topicPartition, offset int64, maxBytes int, currentLeaderEpoch int32,
	isFollower, minOneMessage bool) readResult {
	p := rm.partition(tp)
	if p == nil {
		return readResult{err: errUnknownPartition}
	}
	l, _, err := p.leaderLog(currentLeaderEpoch)
	if err != nil {
		return readResult{err: err}
	}
	maxOffset := l.HighWatermark()
	if isFollower {
		maxOffset = l.LogEndOffset()
	}
	info, err := l.Read(offset, maxBytes, maxOffset, minOneMessage)
	if err != nil {
		if errors.Is(err, log.ErrOffsetOutOfRange) {
			info.HighWatermark, info.LogStartOffset = l.HighWatermark(), l.LogStartOffset()
		}
		return readResult{info: info, err: err}
	}
	return readResult{info: info}
}

// shutdown completes all parked requests.
func (rm *ReplicaManager) shutdown() {
	rm.fetches.shutdown()
	rm.produces.shutdown()
}
