package log

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/sirupsen/logrus"
)

// The log cleaner (compaction), after Kafka 3.7's LogCleaner.Cleaner: one
// pass over one compacted log maps the dirty section (key → latest
// offset), then recopies the log from its start through the mapped range
// in groups of segments, keeping the latest record of each key, and swaps
// each group's replacement in (cleaner_swap.go). Which log to clean and
// when is cleaner_manager.go.
//
// A pass reads sealed segments without the log's locks: only truncation,
// retention and Close change or remove them, and the swap, under appendMu,
// refuses to go ahead if any segment the pass read has moved
// (checkUnchangedLocked), so a racing change drops the pass instead of
// corrupting the log.

// errCleaningAborted is LogCleaningAbortedException: a pause, a deletion or
// shutdown asked the pass to stop.
var errCleaningAborted = errors.New("log cleaning aborted")

// logToClean is Kafka's LogToClean: a compacted log with its dirty range.
type logToClean struct {
	log                          *Log
	firstDirty, firstUncleanable int64
	cleanBytes, cleanableBytes   int64
	needCompactionNow            bool
}

func (c logToClean) totalBytes() int64 { return c.cleanBytes + c.cleanableBytes }

func (c logToClean) cleanableRatio() float64 {
	if c.totalBytes() == 0 {
		return 0
	}
	return float64(c.cleanableBytes) / float64(c.totalBytes())
}

// cleanerStats is CleanerStats, for the summary line.
type cleanerStats struct {
	mapRecords, mapBytes          int64
	recsRead, recsKept            int64
	bytesRead, bytesKept          int64
	start, mapDone, end           time.Time
	bufferUtilization             float64
	firstDirty, endOffset, groups int64
}

// cleaner is one cleaner thread's state (Kafka's Cleaner): its offset map
// and buffers, reused across passes.
type cleaner struct {
	id      int
	cfg     CleanerConfig
	m       *offsetMap
	readBuf []byte
	logger  *logrus.Entry
	// aborted reports whether the pass must stop (checkDone).
	aborted func() bool
}

func newCleaner(id int, cfg CleanerConfig, logger *logrus.Entry, aborted func() bool) *cleaner {
	return &cleaner{id: id, cfg: cfg, logger: logger.WithField("cleaner", id), aborted: aborted,
		m: newOffsetMap(cfg.mapSlotsPerThread(), cfg.DedupeBufferLoadFactor)}
}

// logView is what a pass reads of the log at its start.
type logView struct {
	segs     []segmentSnapshot // all segments, the active one last
	cfg      Config
	logStart int64
	leo, hw  int64
}

func (l *Log) cleanerView() (logView, error) {
	cfg := l.Config()
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return logView{}, ErrLogClosed
	}
	v := logView{cfg: cfg, logStart: l.logStart.Load(), leo: l.leo.Load(), hw: l.hw.Load()}
	for _, s := range l.segments {
		v.segs = append(v.segs, segmentSnapshot{s, s.size.Load()})
	}
	return v, nil
}

// overlapping returns the non-active segments holding offsets in [from,
// to) (Kafka's logSegments(from, to) without the active one).
func (v logView) overlapping(from, to int64) []segmentSnapshot {
	sealed := v.segs[:len(v.segs)-1]
	i := max(v.segmentFor(from), 0)
	var out []segmentSnapshot
	for ; i < len(sealed) && sealed[i].seg.base < to; i++ {
		out = append(out, sealed[i])
	}
	return out
}

func (v logView) segmentFor(offset int64) int {
	i := 0
	for i < len(v.segs) && v.segs[i].seg.base <= offset {
		i++
	}
	return i - 1
}

func (v logView) activeBase() int64 { return v.segs[len(v.segs)-1].seg.base }

// clean runs one pass over ltc (Cleaner.doClean) and returns the offset
// the next pass starts from. A failure while the log changed under the
// pass (a truncation cut a segment it was reading) is an abort.
func (c *cleaner) clean(ltc logToClean, nowMs int64) (int64, cleanerStats, error) {
	v, err := ltc.log.cleanerView()
	if err != nil {
		return 0, cleanerStats{}, err
	}
	end, st, err := c.cleanView(ltc, v, nowMs)
	if err != nil && !errors.Is(err, errCleaningAborted) && ltc.log.changedSince(v.segs[:len(v.segs)-1]) {
		c.logger.WithError(err).Infof("Log %s changed during cleaning", ltc.log)
		err = errCleaningAborted
	}
	return end, st, err
}

func (c *cleaner) cleanView(ltc logToClean, v logView, nowMs int64) (int64, cleanerStats, error) {
	l := ltc.log
	st := cleanerStats{start: time.Now(), firstDirty: ltc.firstDirty}
	c.logger.Infof("Beginning cleaning of log %s", l)
	c.m.clear()
	dirty := v.overlapping(ltc.firstDirty, ltc.firstUncleanable)
	var err error
	full, err := c.buildOffsetMap(dirty, ltc.firstDirty, ltc.firstUncleanable, &st)
	if err != nil {
		return 0, st, err
	}
	endOffset := ltc.firstUncleanable
	if full {
		endOffset = c.m.latest + 1
	} else {
		// Everything dirty is mapped; what the map has no key for (keyless
		// records) counts as below its reach.
		c.m.latest = max(c.m.latest, endOffset-1)
	}
	st.mapDone, st.endOffset, st.bufferUtilization = time.Now(), endOffset, c.m.utilization()

	producers, err := lastBatchOfProducers(v)
	if err != nil {
		return 0, st, err
	}
	f := &batchFilter{m: c.m, nowMs: nowMs, deleteRetentionMs: v.cfg.DeleteRetentionMs, lastOfProducer: producers}
	expect := v.overlapping(math.MinInt64, endOffset)
	groups := groupSegmentsBySize(expect, v.cfg.SegmentBytes, int64(v.cfg.SegmentIndexBytes), ltc.firstUncleanable)
	c.logger.Infof("Cleaning log %s (cleaning prior to offset %d, %d groups)", l, endOffset, len(groups))
	for _, g := range groups {
		var err error
		if expect, err = c.cleanSegments(l, v.cfg, g, expect, f); err != nil {
			return 0, st, err
		}
		st.groups++
	}
	st.recsRead, st.recsKept, st.bytesRead, st.bytesKept = f.recsRead, f.recsKept, f.bytesRead, f.bytesKept
	st.end = time.Now()
	return endOffset, st, nil
}

// buildOffsetMap maps every keyed record in [start, end) of segs, latest
// offset last (Cleaner.buildOffsetMap). full reports that the map filled
// up; it then covers offsets up to c.m.latest only.
func (c *cleaner) buildOffsetMap(segs []segmentSnapshot, start, end int64, st *cleanerStats) (full bool, err error) {
	var scratch []byte
	maxEntries := c.m.maxEntries()
	for _, sn := range segs {
		r := newBatchReader(sn.seg.log, sn.size, c.cfg.ioBufferPerThread(), c.readBuf)
		for {
			if c.aborted() {
				return false, errCleaningAborted
			}
			b, _, err := r.next()
			if err != nil {
				return false, err
			}
			if b == nil || b.baseOffset() >= end {
				break
			}
			st.mapBytes += int64(len(b))
			if b.lastOffset() < start || b.attributes()&(attrControl|attrTransactional) != 0 {
				continue
			}
			p, err := recordsOf(b, &scratch)
			if err != nil {
				return false, err
			}
			base := b.baseOffset()
			err = eachRecord(p, int(b.recordsCount()), func(rec *cleanerRecord) bool {
				st.mapRecords++
				off := base + rec.offDelta
				if rec.nullKey || off < start {
					return true
				}
				if c.m.entries >= maxEntries {
					full = true
					return false
				}
				c.m.put(rec.key, off)
				return true
			})
			if err != nil || full {
				return full, err
			}
		}
		c.readBuf = r.buf
	}
	return false, nil
}

// cleanSegments recopies one group into a single cleaned segment and swaps
// it in (Cleaner.cleanSegments); it returns expect with the group replaced
// by the new segment.
func (c *cleaner) cleanSegments(l *Log, cfg Config, group, expect []segmentSnapshot, f *batchFilter) ([]segmentSnapshot, error) {
	var in int64
	old := make([]*segment, len(group))
	for i, sn := range group {
		in += sn.size
		old[i] = sn.seg
	}
	out, err := createCleanedSegment(l.dir, group[0].seg.base, cfg, in, c.cfg.ioBufferPerThread())
	if err != nil {
		return nil, err
	}
	if err := c.cleanInto(group, out, f); err != nil {
		out.discard()
		return nil, err
	}
	mtime := time.UnixMilli(group[len(group)-1].seg.lastModified())
	if err := out.finish(mtime); err != nil {
		out.discard()
		return nil, err
	}
	if err := l.replaceWithCleaned(out, old, expect); err != nil {
		if errors.Is(err, errLogChanged) {
			out.discard()
			return nil, errCleaningAborted
		}
		return nil, err
	}
	next := make([]segmentSnapshot, 0, len(expect))
	replaced := false
	for _, e := range expect {
		if e.seg.base >= group[0].seg.base && e.seg.base <= group[len(group)-1].seg.base {
			if !replaced {
				next = append(next, segmentSnapshot{out.seg, out.seg.size.Load()})
				replaced = true
			}
			continue
		}
		next = append(next, e)
	}
	return next, nil
}

// cleanInto filters every batch of the group into out (Cleaner.cleanInto).
func (c *cleaner) cleanInto(group []segmentSnapshot, out *cleanedSegment, f *batchFilter) error {
	for _, sn := range group {
		r := newBatchReader(sn.seg.log, sn.size, c.cfg.ioBufferPerThread(), c.readBuf)
		for {
			if c.aborted() {
				return errCleaningAborted
			}
			b, _, err := r.next()
			if err != nil {
				return err
			}
			if b == nil {
				break
			}
			n := len(out.buf)
			var kb keptBatch
			var ok bool
			if out.buf, kb, ok, err = f.filter(b, out.buf); err != nil {
				return fmt.Errorf("clean batch at offset %d of segment %d: %w", b.baseOffset(), sn.seg.base, err)
			}
			if !ok {
				continue
			}
			if err := out.added(len(out.buf)-n, kb); err != nil {
				return err
			}
		}
		c.readBuf = r.buf
	}
	return nil
}

// groupSegmentsBySize is Cleaner.groupSegmentsBySize: consecutive segments
// are merged while the group's log stays within maxSize, its indexes within
// maxIndexSize, and its offsets within a relative (int32) index offset.
func groupSegmentsBySize(segs []segmentSnapshot, maxSize, maxIndexSize, firstUncleanable int64) [][]segmentSnapshot {
	var groups [][]segmentSnapshot
	for len(segs) > 0 {
		g := []segmentSnapshot{segs[0]}
		logSize := segs[0].size
		idxSize := segs[0].seg.index.entries.Load() * offsetIndexEntrySize
		tidxSize := segs[0].seg.timeIndex.entries.Load() * timeIndexEntrySize
		segs = segs[1:]
		for len(segs) > 0 {
			s := segs[0]
			si := s.seg.index.entries.Load() * offsetIndexEntrySize
			st := s.seg.timeIndex.entries.Load() * timeIndexEntrySize
			lastOffset := firstUncleanable - 1
			if len(segs) > 1 {
				lastOffset = segs[1].seg.base - 1
			}
			if logSize+s.size > maxSize || idxSize+si > maxIndexSize || tidxSize+st > maxIndexSize ||
				(s.size > 0 && lastOffset-g[len(g)-1].seg.base > math.MaxInt32) {
				break
			}
			g = append(g, s)
			logSize, idxSize, tidxSize = logSize+s.size, idxSize+si, tidxSize+st
			segs = segs[1:]
		}
		groups = append(groups, g)
	}
	return groups
}

// lastBatchOfProducers reads the batch headers of the whole log and
// returns each producer's last data batch's last offset (Kafka takes it
// from the producer state, which we do not keep yet).
func lastBatchOfProducers(v logView) (map[int64]int64, error) {
	out := map[int64]int64{}
	var hdr [batchHeaderSize]byte
	for _, sn := range v.segs {
		for pos := int64(0); pos+batchHeaderSize <= sn.size; {
			if _, err := sn.seg.log.ReadAt(hdr[:], pos); err != nil {
				return nil, err
			}
			b := batchView(hdr[:])
			if b.size() < batchHeaderSize {
				return nil, fmt.Errorf("%w: batch at position %d of segment %d has size %d", ErrCorruptMessage, pos, sn.seg.base, b.size())
			}
			if pid := b.producerID(); pid >= 0 && b.attributes()&attrControl == 0 {
				out[pid] = b.lastOffset()
			}
			pos += int64(b.size())
		}
	}
	return out, nil
}

// summary is the log line Kafka's cleaner prints after a pass.
func (st cleanerStats) summary(id int, l *Log) string {
	secs := func(d time.Duration) float64 { return max(d.Seconds(), 1e-9) }
	mb := func(n int64) float64 { return float64(n) / (1024 * 1024) }
	elapsed := st.end.Sub(st.start)
	return fmt.Sprintf("Log cleaner thread %d cleaned log %s (dirty section = [%d, %d]): "+
		"%.1f MB of log processed in %.1f seconds (%.1f MB/sec); indexed %.1f MB in %.1f seconds, %.1f%% of the offset map used; "+
		"cleaned %.1f MB (%d messages) into %.1f MB (%d messages), %.1f%% size reduction, %d groups",
		id, l, st.firstDirty, st.endOffset, mb(st.mapBytes+st.bytesRead), elapsed.Seconds(), mb(st.mapBytes+st.bytesRead)/secs(elapsed),
		mb(st.mapBytes), st.mapDone.Sub(st.start).Seconds(), 100*st.bufferUtilization,
		mb(st.bytesRead), st.recsRead, mb(st.bytesKept), st.recsKept, 100*(1-float64(st.bytesKept)/float64(max(st.bytesRead, 1))), st.groups)
}
