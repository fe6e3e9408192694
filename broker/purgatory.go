package broker

import (
	"sync"
	"sync/atomic"
	"time"
)

// delayedOp is a request parked until its condition holds or it expires (Kafka's DelayedOperation).
// tryComplete checks the condition and, when it holds, completes the operation; it must be cheap and must not
// block. Completion happens exactly once: whoever wins the CAS on done builds and sends the response.
type delayedOp struct {
	done     atomic.Bool
	check    func() bool // condition; called with no purgatory lock held
	complete func()      // builds and sends the response
	timer    *time.Timer
}

// forceComplete completes the op if nobody did yet; it reports whether this call completed it.
func (op *delayedOp) forceComplete() bool {
	if !op.done.CompareAndSwap(false, true) {
		return false
	}
	if op.timer != nil {
		op.timer.Stop()
	}
	op.complete()
	return true
}

func (op *delayedOp) tryComplete() bool {
	if op.done.Load() {
		return true
	}
	if op.check() {
		return op.forceComplete() || true
	}
	return false
}

// purgatory holds delayed operations watched by keys (partitions). Completion is attempted when a key is touched
// (new data, HW moved, leadership changed) and on expiry. No goroutine waits per operation: expiry is a timer.
// Lock order: purgatory.mu is a leaf; check/complete run without it (STYLE habit 6).
type purgatory struct {
	mu       sync.Mutex
	watchers map[any][]*delayedOp
}

func newPurgatory() *purgatory {
	return &purgatory{watchers: map[any][]*delayedOp{}}
}

// tryCompleteElseWatch tries the op once; if not completable it is watched under keys and expires after timeout.
// A second try after watching closes the race with a key touched between the first try and the watch.
func (p *purgatory) tryCompleteElseWatch(op *delayedOp, timeout time.Duration, keys []any) {
	if op.tryComplete() {
		return
	}
	p.mu.Lock()
	for _, k := range keys {
		p.watchers[k] = append(p.watchers[k], op)
	}
	p.mu.Unlock()
	op.timer = time.AfterFunc(timeout, func() {
		op.forceComplete()
	})
	if op.done.Load() { // completed before the timer was set
		op.timer.Stop()
	}
	op.tryComplete()
}

// checkAndComplete tries every op watching key; completed ops are dropped from the watch list.
// Call with no partition lock held.
func (p *purgatory) checkAndComplete(key any) int {
	p.mu.Lock()
	ops := p.watchers[key]
	if len(ops) == 0 {
		p.mu.Unlock()
		return 0
	}
	snapshot := append([]*delayedOp(nil), ops...)
	p.mu.Unlock()
	completed := 0
	for _, op := range snapshot {
		if op.tryComplete() {
			completed++
		}
	}
	p.purge(key)
	return completed
}

// purge drops completed ops from a key's watch list.
func (p *purgatory) purge(key any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.watchers[key]
	kept := ops[:0]
	for _, op := range ops {
		if !op.done.Load() {
			kept = append(kept, op)
		}
	}
	for i := len(kept); i < len(ops); i++ {
		ops[i] = nil
	}
	if len(kept) == 0 {
		delete(p.watchers, key)
	} else {
		p.watchers[key] = kept
	}
}

// sweep removes completed (e.g. expired) ops from all watch lists; run periodically.
func (p *purgatory) sweep() {
	p.mu.Lock()
	keys := make([]any, 0, len(p.watchers))
	for k := range p.watchers {
		keys = append(keys, k)
	}
	p.mu.Unlock()
	for _, k := range keys {
		p.purge(k)
	}
}

// shutdown completes every parked op (their responses are sent or dropped by the closing network).
func (p *purgatory) shutdown() {
	p.mu.Lock()
	var all []*delayedOp
	for _, ops := range p.watchers {
		all = append(all, ops...)
	}
	p.watchers = map[any][]*delayedOp{}
	p.mu.Unlock()
	for _, op := range all {
		op.forceComplete()
	}
}

// watchAll parks an operation over several partitions (DelayedProduce, DelayedDeleteRecords): it completes once
// done(i) holds for every partition i, or at the timeout; complete then builds the response.
func (p *purgatory) watchAll(tps []topicPartition, timeout time.Duration, done func(i int) bool, complete func()) {
	keys := make([]any, len(tps))
	for i, tp := range tps {
		keys[i] = tp
	}
	op := &delayedOp{complete: complete}
	op.check = func() bool {
		for i := range tps {
			if !done(i) {
				return false
			}
		}
		return true
	}
	p.tryCompleteElseWatch(op, timeout, keys)
}
