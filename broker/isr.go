package broker

import (
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/zkafka/zkafka/zkutils"
)

// isrStore is what ISR changes need from ZooKeeper: the leader's conditional write of the partition state znode
// (classic ZooKeeper-mode Kafka, before AlterPartition), a read to check an ambiguous write, and the
// /isr_change_notification entries that make the controller send UpdateMetadata.
type isrStore interface {
	UpdatePartitionStateAsLeader(tp zkutils.TopicPartition, s zkutils.LeaderIsr) (int32, error)
	GetPartitionStates(tps []zkutils.TopicPartition) (map[zkutils.TopicPartition]zkutils.LeaderIsr, error)
	CreateIsrChangeNotification(tps []zkutils.TopicPartition) error
}

// Kafka's ReplicaManager.IsrChangePropagationBlackOut / Interval: ISR changes are announced in batches, once
// they have been quiet for 5 s or at least every 60 s, checked every 2.5 s.
const (
	isrChangePropagationBlackOut = 5 * time.Second
	isrChangePropagationInterval = 60 * time.Second
	isrChangePropagationCheck    = 2500 * time.Millisecond
	isrWriteRetryBackoff         = 500 * time.Millisecond
)

// isrManager submits ISR changes one at a time per partition and batches their notifications.
type isrManager struct {
	rm    *ReplicaManager
	store isrStore

	mu              sync.Mutex
	changed         map[topicPartition]struct{}
	lastChange      time.Time
	lastPropagation time.Time
}

func newIsrManager(rm *ReplicaManager, store isrStore) *isrManager {
	return &isrManager{rm: rm, store: store, changed: map[topicPartition]struct{}{}, lastPropagation: time.Now()}
}

// updateFollowerFetchState records a follower's fetch at fetchOffset (its LEO) on the leader, expands the ISR
// when the follower has caught up, and moves the HW. It reports whether the HW moved.
func (rm *ReplicaManager) updateFollowerFetchState(p *Partition, replicaID int32, fetchOffset, logStart int64) (hwMoved, startMoved bool, err error) {
	now := time.Now().UnixMilli()
	lag := rm.cfg.ReplicaLagTimeMax.Milliseconds()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.isLeaderLocked() || p.log == nil {
		return false, false, errNotLeader
	}
	f := p.followers[replicaID]
	if f == nil {
		return false, false, errNotLeader
	}
	startMoved = f.logStart != logStart
	leaderLEO := p.log.LogEndOffset()
	switch {
	case fetchOffset >= leaderLEO:
		f.lastCaughtUpTimeMs = max(f.lastCaughtUpTimeMs, now)
	case fetchOffset >= f.lastFetchLeaderLEO:
		f.lastCaughtUpTimeMs = max(f.lastCaughtUpTimeMs, f.lastFetchTimeMs)
	}
	f.leo, f.logStart = fetchOffset, logStart
	f.lastFetchLeaderLEO, f.lastFetchTimeMs = leaderLEO, now

	if p.pending == nil && !slices.Contains(p.isr, replicaID) && rm.alive(replicaID) &&
		f.leo >= p.log.HighWatermark() && f.leo >= p.leaderEpochStartOffset {
		newISR := append(slices.Clone(p.isr), replicaID)
		rm.logger.Infof("[Partition %s broker=%d] Expanding ISR from %v to %v", p.tp, rm.brokerID, p.isr, newISR)
		rm.isr.submitLocked(p, newISR, newISR)
	}
	return p.maybeIncrementHighWatermarkLocked(now, lag, rm.alive), startMoved, nil
}

// maybeShrinkIsr removes from each led partition's ISR the followers that have not caught up within
// replica.lag.time.max.ms (Kafka's isr-expiration task, run every half lag time).
func (rm *ReplicaManager) maybeShrinkIsr() {
	now := time.Now().UnixMilli()
	lag := rm.cfg.ReplicaLagTimeMax.Milliseconds()
	for _, p := range rm.allPartitions() {
		p.mu.Lock()
		if !p.isLeaderLocked() || p.log == nil || p.pending != nil {
			p.mu.Unlock()
			continue
		}
		leo := p.log.LogEndOffset()
		var out []int32
		for _, id := range p.isr {
			if f := p.followers[id]; id != rm.brokerID && f != nil && !f.isCaughtUp(leo, now, lag) {
				out = append(out, id)
			}
		}
		if len(out) > 0 {
			newISR := slices.DeleteFunc(slices.Clone(p.isr), func(id int32) bool { return slices.Contains(out, id) })
			for _, id := range out {
				f := p.followers[id]
				rm.logger.Infof("[Partition %s broker=%d] Shrinking ISR from %v to %v. Leader: (highWatermark: %d, endOffset: %d). Out of sync replicas: (brokerId: %d, endOffset: %d, lastCaughtUpTimeMs: %d).",
					p.tp, rm.brokerID, p.isr, newISR, p.log.HighWatermark(), leo, id, f.leo, f.lastCaughtUpTimeMs)
			}
			// A shrink keeps the old ISR as the maximal one until the znode says otherwise.
			rm.isr.submitLocked(p, newISR, slices.Clone(p.isr))
		}
		p.mu.Unlock()
	}
}

// submitLocked marks the change in flight and writes it in the background. Caller holds p.mu.
func (m *isrManager) submitLocked(p *Partition, newISR, maximal []int32) {
	ch := &isrChange{isr: newISR, maximal: maximal, leaderEpoch: p.leaderEpoch, partitionEpoch: p.partitionEpoch}
	p.pending = ch
	state := zkutils.LeaderIsr{Leader: p.brokerID, LeaderEpoch: p.leaderEpoch, ISR: newISR,
		ControllerEpoch: p.controllerEpoch, ZkVersion: p.partitionEpoch}
	m.rm.goAttach(func() { m.write(p, ch, state) })
}

// write performs the conditional update. A BadVersion may hide our own write that succeeded before a
// connection loss, so the znode is read back (Kafka's checkLeaderAndIsrZkData); any other mismatch drops the
// change (the controller changed the partition; its LeaderAndIsr will follow). Other errors retry while the
// change is still current.
func (m *isrManager) write(p *Partition, ch *isrChange, state zkutils.LeaderIsr) {
	for {
		version, err := m.store.UpdatePartitionStateAsLeader(p.tp, state)
		if errors.Is(err, zkutils.ErrBadVersion) {
			if cur, rerr := m.store.GetPartitionStates([]topicPartition{p.tp}); rerr == nil {
				if s, ok := cur[p.tp]; ok && s.Leader == state.Leader && s.LeaderEpoch == state.LeaderEpoch &&
					slices.Equal(s.ISR, state.ISR) && s.ControllerEpoch == state.ControllerEpoch {
					version, err = s.ZkVersion, nil
				}
			}
		}
		if err == nil {
			m.committed(p, ch, version)
			return
		}
		if errors.Is(err, zkutils.ErrBadVersion) || errors.Is(err, zkutils.ErrNoNode) {
			m.rm.logger.Infof("[Partition %s broker=%d] Failed to update ISR to %v since the partition state changed in ZooKeeper (expected zkVersion %d); waiting for the controller",
				p.tp, m.rm.brokerID, state.ISR, state.ZkVersion)
			m.abandon(p, ch)
			return
		}
		m.rm.logger.Warnf("[Partition %s broker=%d] Failed to update ISR to %v: %v; retrying", p.tp, m.rm.brokerID, state.ISR, err)
		select {
		case <-m.rm.stopping:
			m.abandon(p, ch)
			return
		case <-time.After(isrWriteRetryBackoff):
		}
		p.mu.RLock()
		current := p.pending == ch
		p.mu.RUnlock()
		if !current {
			return
		}
	}
}

func (m *isrManager) committed(p *Partition, ch *isrChange, version int32) {
	p.mu.Lock()
	if p.pending != ch || p.leaderEpoch != ch.leaderEpoch {
		p.mu.Unlock() // a LeaderAndIsr replaced the state meanwhile
		return
	}
	p.pending = nil
	p.isr = ch.isr
	p.partitionEpoch = version
	moved := p.maybeIncrementHighWatermarkLocked(time.Now().UnixMilli(), m.rm.cfg.ReplicaLagTimeMax.Milliseconds(), m.rm.alive)
	p.mu.Unlock()
	m.rm.logger.Infof("[Partition %s broker=%d] ISR updated to %v and version updated to %d", p.tp, m.rm.brokerID, ch.isr, version)
	m.mu.Lock()
	m.changed[p.tp] = struct{}{}
	m.lastChange = time.Now()
	m.mu.Unlock()
	// A shrink may let acks=all produces finish (or fail with NOT_ENOUGH_REPLICAS_AFTER_APPEND); a moved HW
	// wakes consumers.
	m.rm.produces.checkAndComplete(p.tp)
	if moved {
		m.rm.fetches.checkAndComplete(p.tp)
	}
}

func (m *isrManager) abandon(p *Partition, ch *isrChange) {
	p.mu.Lock()
	if p.pending == ch {
		p.pending = nil
	}
	p.mu.Unlock()
	m.rm.produces.checkAndComplete(p.tp)
}

// maybePropagate writes one /isr_change_notification for the changes batched so far (Kafka's
// maybePropagateIsrChanges).
func (m *isrManager) maybePropagate(force bool) {
	now := time.Now()
	m.mu.Lock()
	if len(m.changed) == 0 || !(force || now.Sub(m.lastChange) > isrChangePropagationBlackOut ||
		now.Sub(m.lastPropagation) > isrChangePropagationInterval) {
		m.mu.Unlock()
		return
	}
	tps := make([]topicPartition, 0, len(m.changed))
	for tp := range m.changed {
		tps = append(tps, tp)
	}
	m.changed = map[topicPartition]struct{}{}
	m.lastPropagation = now
	m.mu.Unlock()
	slices.SortFunc(tps, func(a, b topicPartition) int {
		if a.Topic != b.Topic {
			if a.Topic < b.Topic {
				return -1
			}
			return 1
		}
		return int(a.Partition - b.Partition)
	})
	if err := m.store.CreateIsrChangeNotification(tps); err != nil {
		m.rm.logger.Errorf("Failed to write ISR change notification for %d partitions: %v", len(tps), err)
		m.mu.Lock()
		for _, tp := range tps {
			m.changed[tp] = struct{}{}
		}
		m.mu.Unlock()
	}
}
