package broker

import (
	"slices"
	"sync"

	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/zkutils"
)

type topicPartition = zkutils.TopicPartition

// Partition is this broker's replica of one partition: its log and the leadership the controller gave it. As
// leader it tracks every follower's fetch state, the ISR and the high watermark (Kafka's Partition).
// Lock order: Partition.mu before log's internal lock; never hold Partition.mu while completing delayed ops.
type Partition struct {
	tp       topicPartition
	brokerID int32

	mu              sync.RWMutex
	topicID         [16]byte
	log             *log.Log
	leader          int32
	leaderEpoch     int32
	isr             []int32 // committed: the state znode holds it at partitionEpoch
	replicas        []int32
	partitionEpoch  int32 // zkVersion of the state znode
	controllerEpoch int32
	minISR          int

	// Leader only.
	followers              map[int32]*followerState
	leaderEpochStartOffset int64 // the LEO when this epoch began: followers below it cannot join the ISR
	pending                *isrChange
}

// followerState is what the leader knows of one follower from its fetches (Kafka's Replica).
type followerState struct {
	leo                int64 // -1 until the follower fetched under this leadership
	logStart           int64
	lastFetchLeaderLEO int64
	lastFetchTimeMs    int64
	lastCaughtUpTimeMs int64
}

// isrChange is an ISR update on its way to ZooKeeper; while it is in flight the maximal ISR (old ∪ new) counts
// for the high watermark and acks=all, as in Kafka, so neither can get ahead of what the znode will say.
type isrChange struct {
	isr            []int32
	maximal        []int32
	leaderEpoch    int32
	partitionEpoch int32
}

func (p *Partition) isLeaderLocked() bool { return p.leader == p.brokerID }

// leaderLog returns the log if this broker leads the partition at the given epoch (-1 = any epoch).
func (p *Partition) leaderLog(epoch int32) (*log.Log, int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeaderLocked() || p.log == nil {
		return nil, 0, errNotLeader
	}
	if err := p.checkEpochLocked(epoch); err != nil {
		return nil, 0, err
	}
	return p.log, p.leaderEpoch, nil
}

// checkEpochLocked applies Kafka's current-leader-epoch fence: older → FENCED_LEADER_EPOCH, newer →
// UNKNOWN_LEADER_EPOCH, -1 = not checked.
func (p *Partition) checkEpochLocked(epoch int32) error {
	switch {
	case epoch < 0 || epoch == p.leaderEpoch:
		return nil
	case epoch < p.leaderEpoch:
		return errFencedLeaderEpoch
	default:
		return errUnknownLeaderEpoch
	}
}

// maximalISRLocked is the ISR the leader must honour: the committed one, widened by an expansion in flight.
func (p *Partition) maximalISRLocked() []int32 {
	if p.pending != nil {
		return p.pending.maximal
	}
	return p.isr
}

// isCaughtUp is Kafka's Replica.isCaughtUp: at the leader's end, or caught up within the lag time.
func (f *followerState) isCaughtUp(leaderLEO, nowMs, lagMs int64) bool {
	return f.leo == leaderLEO || nowMs-f.lastCaughtUpTimeMs <= lagMs
}

// maybeIncrementHighWatermarkLocked moves the HW to the smallest LEO among the leader and the followers that
// are in the maximal ISR, or caught up and eligible to join it (so a joining follower is never below the HW it
// joins at). The HW only moves forward. Like Kafka up to 3.6, it advances even while the ISR is smaller than
// min.insync.replicas: acks=all producers learn of that from NOT_ENOUGH_REPLICAS(_AFTER_APPEND).
func (p *Partition) maybeIncrementHighWatermarkLocked(nowMs, lagMs int64, alive func(int32) bool) bool {
	if !p.isLeaderLocked() || p.log == nil {
		return false
	}
	leo := p.log.LogEndOffset()
	hw := leo
	maximal := p.maximalISRLocked()
	for id, f := range p.followers {
		inISR := slices.Contains(maximal, id)
		if !inISR && !(alive(id) && f.isCaughtUp(leo, nowMs, lagMs)) {
			continue
		}
		if f.leo < hw {
			hw = f.leo
		}
	}
	if hw > p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		return true
	}
	return false
}

// inSyncReplicas returns the maximal ISR (for acks=all) and min.insync.replicas capped at the replication
// factor, as Kafka's effective min ISR.
func (p *Partition) inSyncReplicas() (isr []int32, minISR int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.maximalISRLocked()), min(p.minISR, max(len(p.replicas), 1))
}
