package broker

import (
	"slices"
	"sync"

	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/zkutils"
)

type topicPartition = zkutils.TopicPartition

// Partition is this broker's replica of one partition: its log and the leadership the controller gave it.
// Lock order: Partition.mu before log's internal lock; never hold Partition.mu while completing delayed ops.
type Partition struct {
	tp       topicPartition
	brokerID int32

	mu              sync.RWMutex
	topicID         [16]byte
	log             *log.Log
	leader          int32
	leaderEpoch     int32
	isr             []int32
	replicas        []int32
	partitionEpoch  int32
	controllerEpoch int32
	minISR          int
}

func (p *Partition) isLeaderLocked() bool { return p.leader == p.brokerID }

// leaderLog returns the log if this broker leads the partition at the given epoch (-1 = any epoch).
func (p *Partition) leaderLog(epoch int32) (*log.Log, int32, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeaderLocked() || p.log == nil {
		return nil, 0, errNotLeader
	}
	if epoch >= 0 && epoch != p.leaderEpoch {
		if epoch < p.leaderEpoch {
			return nil, 0, errFencedLeaderEpoch
		}
		return nil, 0, errUnknownLeaderEpoch
	}
	return p.log, p.leaderEpoch, nil
}

// maybeIncrementHighWatermark moves the HW to the minimum log end offset of the ISR. Until followers replicate,
// only the leader's own LEO is known, so the HW moves only when the ISR is the leader alone.
func (p *Partition) maybeIncrementHighWatermark() bool {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if !p.isLeaderLocked() || p.log == nil {
		return false
	}
	if len(p.isr) == 1 && p.isr[0] == p.brokerID {
		leo := p.log.LogEndOffset()
		if leo > p.log.HighWatermark() {
			p.log.SetHighWatermark(leo)
			return true
		}
	}
	return false
}

func (p *Partition) inSyncReplicas() (isr []int32, minISR int) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.isr), p.minISR
}
