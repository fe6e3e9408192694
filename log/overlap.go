package log

import (
	"fmt"
	"os"
	"runtime"
	"sync"
)

// An append of a large request overlaps its pwrite with its validation:
// the write goes to a helper goroutine while the appending goroutine
// checks CRCs and walks the records, so on two cores the append costs
// about the write alone. It is safe because nothing written past the
// segment's published size is visible: readers stop at the size, a
// rejected append cuts the file back to it (so a clean reopen, which takes
// the file length as the size, does not see the bytes either), and the
// first batch's header is written only once validation passed, so a crash
// in between leaves no batch that recovery would keep.

// overlapMinBytes is the smallest append that is overlapped: below it,
// waking a second goroutine costs about what the overlap saves (a 16 KiB
// batch validates in ~3 µs and writes in ~5 µs).
const overlapMinBytes = 128 << 10

// withheldBytes of the first batch (base offset, length, leader epoch,
// magic and CRC) are written after validation. Until then the file holds
// a hole or older bytes there, which recovery does not take for the
// header of the batch behind them (the stored CRC is among them).
const withheldBytes = offAttributes

// asyncWrite is one pwrite run by a helper goroutine. They are pooled so
// that an append allocates nothing.
type asyncWrite struct {
	f    *os.File
	b    []byte
	off  int64
	err  error
	done chan struct{}
}

var asyncWrites = sync.Pool{New: func() any { return &asyncWrite{done: make(chan struct{}, 1)} }}

// startedWrites hands each asyncWrite to the goroutine started for it.
// Passing it as an argument instead would allocate a closure per append;
// a helper may take another append's write, which is as good. A sender
// never waits long: every write in the channel has its goroutine coming.
var startedWrites = make(chan *asyncWrite, 64)

// start runs the write on a new goroutine; the caller owns that goroutine
// and must receive from done before it reuses or returns w.
func (w *asyncWrite) start() {
	startedWrites <- w
	go runStartedWrite()
}

func runStartedWrite() {
	w := <-startedWrites
	_, w.err = w.f.WriteAt(w.b, w.off)
	w.done <- struct{}{}
}

// appendOverlappedLocked is AppendAsLeader's path for large appends; ok is
// false, with nothing changed, when the append does not qualify: the
// sequential path then validates, rolls and writes as usual. It qualifies
// when it needs no roll and no change to the bytes inside the CRC
// (LogAppendTime rewrites them), and when a pre-scan finds whole batches
// whose base offsets are all 0: then assigning offsets before validation
// changes nothing the validator would report. Caller holds appendMu.
//
// Producer batches are checked against the producer state before the write
// starts; a batch that fails the check, or a duplicate, leaves the append
// to the sequential path, so that a corrupt batch is reported as Kafka
// reports it (validation comes first there).
func (l *Log) appendOverlappedLocked(records []byte, leaderEpoch int32, opts ValidateOptions, origin appendOrigin) (info AppendInfo, ok bool, err error) {
	cfg := l.cfg
	if len(records) < overlapMinBytes || opts.LogAppendTime || int64(len(records)) > cfg.SegmentBytes ||
		runtime.GOMAXPROCS(0) < 2 {
		return info, false, nil
	}
	first := l.leo.Load()
	next, maxTs := first, int64(noTimestamp)
	for pos := 0; pos < len(records); {
		n, err := frameBatch(records[pos:], pos == 0)
		if err != nil || n < batchHeaderSize {
			return info, false, nil
		}
		b := batchView(records[pos : pos+n])
		if b.baseOffset() != 0 || b.lastOffsetDelta() < 0 {
			return info, false, nil
		}
		next += int64(b.lastOffsetDelta()) + 1
		maxTs = max(maxTs, b.maxTimestamp())
		pos += n
	}
	last := next - 1
	seg := l.activeSegment()
	if seg.shouldRoll(cfg, len(records), last, maxTs, opts.Now) {
		return info, false, nil
	}
	upd, perr := l.analyzeProducersLocked(records, first, origin)
	if perr != nil || upd.duplicate {
		return info, false, nil
	}

	next = first
	for pos := 0; pos < len(records); {
		b := batchView(records[pos:])
		n := b.size()
		b = b[:n]
		b.setBaseOffset(next)
		b.setLeaderEpoch(leaderEpoch)
		next += int64(b.lastOffsetDelta()) + 1
		pos += n
	}
	pos := seg.size.Load()
	w := asyncWrites.Get().(*asyncWrite)
	w.f, w.b, w.off, w.err = seg.log, records[withheldBytes:], pos+withheldBytes, nil
	w.start()
	// The validator reads neither the base offsets nor the leader epochs
	// just written, except to check that base offsets are 0, which the
	// pre-scan did.
	vopts := opts
	vopts.AllowNonZeroBaseOffset = true
	sum, verr := ValidateBatches(records, vopts)
	<-w.done
	werr := w.err
	w.f, w.b = nil, nil
	asyncWrites.Put(w)
	if verr == nil && werr == nil {
		_, werr = seg.log.WriteAt(records[:withheldBytes], pos)
	}
	switch {
	case verr != nil:
		return info, true, seg.unwrite(pos, fmt.Errorf("append to %s: %w", l, verr))
	case werr != nil:
		return info, true, seg.unwrite(pos, fmt.Errorf("log: write %s: %w", seg.log.Name(), werr))
	}
	if leaderEpoch >= 0 {
		if err := l.assignEpochLocked(leaderEpoch, first); err != nil {
			return info, true, seg.unwrite(pos, err)
		}
	}
	info = AppendInfo{FirstOffset: first, LastOffset: last, LogAppendTime: -1, NumRecords: sum.NumRecords, MaxTimestamp: sum.MaxTimestamp}
	if err := seg.publish(pos, len(records), last, sum.MaxTimestamp, cfg.IndexIntervalBytes); err != nil {
		return AppendInfo{}, true, err
	}
	if err := l.publishLocked(last, opts.Now); err != nil {
		return AppendInfo{}, true, err
	}
	if err := l.commitProducersLocked(upd, last); err != nil {
		return AppendInfo{}, true, err
	}
	info.LogStartOffset = l.logStart.Load()
	return info, true, nil
}
