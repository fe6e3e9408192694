package log

import (
	"sort"
	"sync"
	"sync/atomic"
)

// producerState is one partition's Kafka ProducerStateManager: the
// producers' entries, the open transactions, the transactions whose
// markers are not yet below the high watermark, and the snapshot files.
//
// Locking: every change happens on the append path (the Log's appendMu
// held) and takes mu as well, a leaf lock, so that LastStableOffset and
// ActiveProducers can read from other goroutines.
type producerState struct {
	mu        sync.Mutex
	producers map[int64]*producerEntry
	// ongoing maps the first offset of each open transaction to its
	// producer; unreplicated holds closed transactions until the high
	// watermark passes their marker (both: Kafka's TreeMaps).
	ongoing      map[int64]int64
	unreplicated map[int64]txnSpan
	// txnCount mirrors len(ongoing)+len(unreplicated), so the LSO of a
	// partition without transactions costs one atomic load.
	txnCount atomic.Int64

	// mapEnd is Kafka's lastMapOffset (the offset the state is complete
	// up to, exclusive); lastSnap the offset of the last snapshot written.
	// Append path only.
	mapEnd, lastSnap int64
	snapshots        []int64 // offsets of the .snapshot files, ascending; append path only
}

type txnSpan struct {
	producerID, lastOffset int64
}

func newProducerState() *producerState {
	return &producerState{producers: map[int64]*producerEntry{}, ongoing: map[int64]int64{},
		unreplicated: map[int64]txnSpan{}}
}

func (p *producerState) countTxnsLocked() {
	p.txnCount.Store(int64(len(p.ongoing) + len(p.unreplicated)))
}

// entry returns the producer's entry or nil. Caller holds the Log's appendMu.
func (p *producerState) entry(pid int64) *producerEntry { return p.producers[pid] }

func (p *producerState) isEmpty() bool {
	return len(p.producers) == 0 && len(p.unreplicated) == 0
}

// commit applies a validated append (ProducerStateManager.update).
func (p *producerState) commit(a *producerAppend) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := p.producers[a.pid]; cur != nil {
		cur.update(a.updated)
	} else {
		p.producers[a.pid] = a.updated
	}
	for _, first := range a.started {
		p.ongoing[first] = a.pid
	}
	p.countTxnsLocked()
}

// lastStableOffsetOf is ProducerStateManager.lastStableOffset(completedTxn):
// the LSO written to the transaction index with an aborted transaction —
// the first offset of the oldest transaction of another producer still
// open, or the offset after the marker.
func (p *producerState) lastStableOffsetOf(t completedTxn) int64 {
	best := int64(-1)
	for first, pid := range p.ongoing {
		if pid != t.producerID && (best < 0 || first < best) {
			best = first
		}
	}
	if best < 0 {
		return t.lastOffset + 1
	}
	return best
}

// completeTxn moves a closed transaction to the unreplicated set, where it
// holds the LSO until the high watermark passes its marker.
func (p *producerState) completeTxn(t completedTxn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.ongoing, t.firstOffset)
	p.unreplicated[t.firstOffset] = txnSpan{producerID: t.producerID, lastOffset: t.lastOffset}
	p.countTxnsLocked()
}

// pruneReplicated forgets closed transactions whose marker is below hw
// (onHighWatermarkUpdated); also used with the log start.
func (p *producerState) pruneReplicated(hw int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for first, t := range p.unreplicated {
		if t.lastOffset < hw {
			delete(p.unreplicated, first)
		}
	}
	p.countTxnsLocked()
}

// firstUnstableOffset is the first offset of the oldest transaction either
// open or closed by a marker at or above hw; -1 if none.
func (p *producerState) firstUnstableOffset(hw int64) int64 {
	if p.txnCount.Load() == 0 {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	best := int64(-1)
	for first := range p.ongoing {
		if best < 0 || first < best {
			best = first
		}
	}
	for first, t := range p.unreplicated {
		if t.lastOffset >= hw && (best < 0 || first < best) {
			best = first
		}
	}
	return best
}

// clear forgets every producer and transaction.
func (p *producerState) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.producers = map[int64]*producerEntry{}
	p.ongoing = map[int64]int64{}
	p.unreplicated = map[int64]txnSpan{}
	p.countTxnsLocked()
}

// load adds an entry read from a snapshot (loadProducerEntry).
func (p *producerState) load(e *producerEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.producers[e.producerID] = e
	if e.txnFirstOffset >= 0 {
		p.ongoing[e.txnFirstOffset] = e.producerID
	}
	p.countTxnsLocked()
}

func isProducerExpired(nowMs, expirationMs int64, e *producerEntry) bool {
	return e.txnFirstOffset < 0 && nowMs-e.lastTimestamp >= expirationMs
}

// removeExpired drops producers idle for expirationMs
// (producer.id.expiration.ms) without an open transaction; it returns how
// many.
func (p *producerState) removeExpired(nowMs, expirationMs int64) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for pid, e := range p.producers {
		if isProducerExpired(nowMs, expirationMs, e) {
			delete(p.producers, pid)
			n++
		}
	}
	return n
}

// sortedEntries returns copies of the entries by producer id.
func (p *producerState) sortedEntries() []*producerEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*producerEntry, 0, len(p.producers))
	for _, e := range p.producers {
		out = append(out, e.clone())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].producerID < out[j].producerID })
	return out
}
