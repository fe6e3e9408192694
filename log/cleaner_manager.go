package log

import (
	"errors"
	"math"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// CleanerOffsetCheckpointFile is the per-dir file of each compacted log's
// first dirty offset (LogCleanerManager.offsetCheckpointFile).
const CleanerOffsetCheckpointFile = "cleaner-offset-checkpoint"

// Cleaning states of a partition (LogCleaningState); absent means idle.
const (
	cleaningInProgress = iota + 1
	cleaningAborted
	cleaningPaused
)

type cleaningState struct {
	kind   int
	paused int // pause count while kind == cleaningPaused
	// abort is set with kind = cleaningAborted, for the running pass to
	// see without the manager's lock.
	abort atomic.Bool
}

// logCleaner is Kafka's LogCleaner and LogCleanerManager over one
// LogManager: the threads, the per-partition cleaning states and the
// cleaner-offset-checkpoint files.
//
// mu guards states, uncleanable and checkpoints; it is taken before a log's
// locks, never while holding them, and a pass runs without it.
type logCleaner struct {
	m      *LogManager
	cfg    CleanerConfig
	logger *logrus.Entry

	mu          sync.Mutex
	cond        *sync.Cond // signalled when a state becomes paused or idle
	states      map[TopicPartition]*cleaningState
	uncleanable map[TopicPartition]bool
	checkpoints map[string]map[TopicPartition]int64 // by log dir

	stopping atomic.Bool
	stop     chan struct{}
	wg       sync.WaitGroup
}

func newLogCleaner(m *LogManager, cfg CleanerConfig) (*logCleaner, error) {
	c := &logCleaner{m: m, cfg: cfg.normalized(), logger: m.cfg.Logger.WithField("component", "LogCleaner"),
		states: map[TopicPartition]*cleaningState{}, uncleanable: map[TopicPartition]bool{},
		checkpoints: map[string]map[TopicPartition]int64{}, stop: make(chan struct{})}
	c.cond = sync.NewCond(&c.mu)
	for _, d := range m.cfg.Dirs {
		ck, err := ReadOffsetCheckpoint(filepath.Join(d, CleanerOffsetCheckpointFile))
		if err != nil {
			return nil, err
		}
		c.checkpoints[d] = ck
	}
	return c, nil
}

// StartCleaner starts log.cleaner.threads cleaner goroutines (Kafka's
// LogCleaner.startup). It does nothing if cfg.Enable is false, if the
// cleaner already runs, or after Shutdown. StopCleaner, or Shutdown, which
// calls it before closing the logs, stops them.
func (m *LogManager) StartCleaner(cfg CleanerConfig) error {
	if !cfg.Enable {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shutdown || m.cleaner.Load() != nil {
		return nil
	}
	c, err := newLogCleaner(m, cfg)
	if err != nil {
		return err
	}
	if c.cfg.mapSlotsPerThread() < 2 {
		return errors.New("log: log.cleaner.dedupe.buffer.size is too small to hold one key per cleaner thread")
	}
	m.cleaner.Store(c)
	for i := 0; i < c.cfg.Threads; i++ {
		c.wg.Add(1)
		go c.run(i)
	}
	return nil
}

// StopCleaner stops the cleaner threads, aborting passes in progress, and
// waits for them. The cleaner cannot be started again.
func (m *LogManager) StopCleaner() {
	c := m.cleaner.Load()
	if c == nil || c.stopping.Swap(true) {
		return
	}
	close(c.stop)
	c.wg.Wait()
}

// run is CleanerThread.doWork: clean the filthiest log, or back off.
func (c *logCleaner) run(id int) {
	defer c.wg.Done()
	cl := newCleaner(id, c.cfg, c.logger, nil)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		cleaned, err := c.cleanFilthiest(cl)
		if err != nil {
			c.logger.WithError(err).Error("Error in log cleaner")
		}
		if cleaned {
			t.Reset(0)
		} else {
			t.Reset(c.cfg.Backoff)
		}
	}
}

// cleanFilthiest cleans the dirtiest cleanable log, if any, and says
// whether it did.
func (c *logCleaner) cleanFilthiest(cl *cleaner) (bool, error) {
	now := c.m.now().UnixMilli()
	ltc, st, ok := c.grabFilthiest(now)
	if !ok {
		return false, nil
	}
	tp := TopicPartition{ltc.log.topic, ltc.log.partition}
	cl.aborted = func() bool { return st.abort.Load() || c.stopping.Load() }
	end, stats, err := cl.clean(ltc, now)
	switch {
	case err == nil:
		c.doneCleaning(tp, ltc.log, end)
		c.logger.Info(stats.summary(cl.id, ltc.log))
		return true, nil
	case errors.Is(err, errCleaningAborted), errors.Is(err, ErrLogClosed):
		c.logger.Infof("The cleaning for partition %s is aborted", tp)
		c.doneCleaning(tp, nil, 0)
		return true, nil
	}
	// Kafka marks the partition uncleanable until restart rather than
	// failing the same way on every pass.
	c.mu.Lock()
	c.uncleanable[tp] = true
	c.mu.Unlock()
	c.doneCleaning(tp, nil, 0)
	return true, err
}

// grabFilthiest is LogCleanerManager.grabFilthiestCompactedLog: of the
// compacted logs not being cleaned, paused or marked uncleanable, the one
// with the highest dirty ratio above its min.cleanable.dirty.ratio (or with
// records past max.compaction.lag.ms) is marked in progress and returned.
func (c *logCleaner) grabFilthiest(now int64) (logToClean, *cleaningState, bool) {
	var best logToClean
	found := false
	for _, l := range c.m.AllLogs() {
		tp := TopicPartition{l.topic, l.partition}
		c.mu.Lock()
		_, busy := c.states[tp]
		skip := busy || c.uncleanable[tp]
		ckpt, hasCkpt := c.checkpoints[filepath.Dir(l.dir)][tp]
		c.mu.Unlock()
		if skip {
			continue
		}
		v, err := l.cleanerView()
		if err != nil || !v.cfg.compacted() {
			continue
		}
		if !hasCkpt {
			ckpt = -1
		}
		ltc, reset := cleanableOffsets(v, ckpt, now)
		ltc.log = l
		if reset {
			c.updateCheckpoint(l, ltc.firstDirty)
		}
		if ltc.totalBytes() == 0 {
			continue
		}
		if (ltc.needCompactionNow && ltc.cleanableBytes > 0) || ltc.cleanableRatio() > v.cfg.MinCleanableDirtyRatio {
			if !found || ltc.cleanableRatio() > best.cleanableRatio() {
				best, found = ltc, true
			}
		}
	}
	if !found {
		return logToClean{}, nil, false
	}
	tp := TopicPartition{best.log.topic, best.log.partition}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, busy := c.states[tp]; busy || c.stopping.Load() {
		return logToClean{}, nil, false // paused meanwhile; the next round decides again
	}
	st := &cleaningState{kind: cleaningInProgress}
	c.states[tp] = st
	return best, st, true
}

// cleanableOffsets is LogCleanerManager.cleanableOffsets with
// calculateCleanableBytes and maxCompactionDelay: the dirty range of the
// log and its sizes. ckpt is the checkpointed first dirty offset or -1;
// reset reports that it was invalid and must be rewritten.
func cleanableOffsets(v logView, ckpt, now int64) (ltc logToClean, reset bool) {
	firstDirty := ckpt
	switch {
	case ckpt < 0:
		firstDirty = v.logStart
	case ckpt < v.logStart, ckpt > v.leo:
		firstDirty, reset = v.logStart, true
	}
	// Not past the high watermark (the last stable offset, without
	// transactions), the active segment, nor a segment younger than
	// min.compaction.lag.ms.
	uncleanable := min(v.hw, v.activeBase())
	if lag := v.cfg.MinCompactionLagMs; lag > 0 {
		for _, sn := range v.overlapping(firstDirty, math.MaxInt64) {
			if sn.seg.largestTimestamp() > now-lag {
				uncleanable = min(uncleanable, sn.seg.base)
				break
			}
		}
	}
	uncleanable = max(uncleanable, firstDirty)
	// Rounded down to a segment base: the first sealed segment holding it,
	// else the active one.
	fu := v.activeBase()
	if i := v.segmentFor(uncleanable); i >= 0 && i < len(v.segs)-1 {
		fu = v.segs[i].seg.base
	}
	ltc = logToClean{firstDirty: firstDirty, firstUncleanable: fu}
	for _, sn := range v.overlapping(math.MinInt64, firstDirty) {
		ltc.cleanBytes += sn.size
	}
	for _, sn := range v.overlapping(min(firstDirty, fu), fu) {
		ltc.cleanableBytes += sn.size
	}
	ltc.needCompactionNow = maxCompactionDelay(v, firstDirty, now) > 0
	return ltc, reset
}

// maxCompactionDelay is LogCleanerManager.maxCompactionDelay: how far the
// oldest dirty sealed segment's first batch is past max.compaction.lag.ms.
func maxCompactionDelay(v logView, firstDirty, now int64) int64 {
	lag := v.cfg.MaxCompactionLagMs
	if lag <= 0 || lag == math.MaxInt64 {
		return 0
	}
	earliest := int64(math.MaxInt64)
	var hdr [offProducerID]byte
	for _, sn := range v.overlapping(firstDirty, math.MaxInt64) {
		if sn.size < batchHeaderSize {
			continue
		}
		if _, err := sn.seg.log.ReadAt(hdr[:], 0); err != nil {
			continue
		}
		if ts := batchView(hdr[:]).maxTimestamp(); ts > 0 {
			earliest = min(earliest, ts)
		}
	}
	if until := now - lag; earliest < until {
		return until - earliest
	}
	return 0
}

// doneCleaning is LogCleanerManager.doneCleaning: a finished pass (l not
// nil) checkpoints end and makes the partition idle; an aborted one leaves
// it paused for whoever aborted it.
func (c *logCleaner) doneCleaning(tp TopicPartition, l *Log, end int64) {
	c.mu.Lock()
	st := c.states[tp]
	if st != nil && st.kind == cleaningAborted {
		st.kind, st.paused = cleaningPaused, 1
		c.cond.Broadcast()
		c.mu.Unlock()
		return
	}
	delete(c.states, tp)
	c.cond.Broadcast()
	c.mu.Unlock()
	if l != nil && st != nil {
		c.updateCheckpoint(l, end)
	}
}

// updateCheckpoint records l's first dirty offset and rewrites its dir's
// cleaner-offset-checkpoint, keeping only logs that still exist.
func (c *logCleaner) updateCheckpoint(l *Log, offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.setCheckpointLocked(filepath.Dir(l.dir), TopicPartition{l.topic, l.partition}, offset, true)
}

func (c *logCleaner) setCheckpointLocked(dir string, tp TopicPartition, offset int64, set bool) {
	ck := c.checkpoints[dir]
	if ck == nil {
		return // not one of our dirs
	}
	if set {
		ck[tp] = offset
	} else {
		delete(ck, tp)
	}
	for k := range ck {
		if l := c.m.GetLog(k.Topic, k.Partition); l == nil || filepath.Dir(l.dir) != dir {
			delete(ck, k)
		}
	}
	if err := WriteOffsetCheckpoint(filepath.Join(dir, CleanerOffsetCheckpointFile), ck); err != nil {
		c.logger.WithError(err).Errorf("Failed to write %s in %s", CleanerOffsetCheckpointFile, dir)
	}
}

// abortAndPause is LogCleanerManager.abortAndPauseCleaning: a pass on tp
// in progress is told to stop, and the call returns once tp is paused, so
// no pass touches it until resume.
func (c *logCleaner) abortAndPause(tp TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.states[tp]
	switch {
	case st == nil:
		c.states[tp] = &cleaningState{kind: cleaningPaused, paused: 1}
		return
	case st.kind == cleaningInProgress:
		st.kind = cleaningAborted
		st.abort.Store(true)
	case st.kind == cleaningPaused:
		st.paused++
		return
	}
	for c.states[tp] != nil && c.states[tp].kind != cleaningPaused {
		c.cond.Wait()
	}
	if c.states[tp] == nil { // the pass ended before it saw the abort
		c.states[tp] = &cleaningState{kind: cleaningPaused, paused: 1}
	}
}

// resume undoes one abortAndPause.
func (c *logCleaner) resume(tp TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.states[tp]; st != nil && st.kind == cleaningPaused {
		if st.paused--; st.paused <= 0 {
			delete(c.states, tp)
		}
	}
}

// AbortAndPauseCleaning stops a cleaning pass of the partition and keeps
// the cleaner off it until ResumeCleaning (Kafka calls it around
// truncation, deletion and log-dir moves). Without a cleaner it does
// nothing.
func (m *LogManager) AbortAndPauseCleaning(tp TopicPartition) {
	if c := m.cleaner.Load(); c != nil {
		c.abortAndPause(tp)
	}
}

// ResumeCleaning undoes one AbortAndPauseCleaning.
func (m *LogManager) ResumeCleaning(tp TopicPartition) {
	if c := m.cleaner.Load(); c != nil {
		c.resume(tp)
	}
}

// TruncateTo is LogManager.truncateTo for one log: cleaning of the
// partition is paused around Log.TruncateTo, and the cleaner checkpoint is
// moved back if it lay beyond the new end. Replicas should truncate
// through it rather than Log.TruncateTo when the cleaner runs.
func (m *LogManager) TruncateTo(l *Log, offset int64) (bool, error) {
	tp := TopicPartition{l.topic, l.partition}
	m.AbortAndPauseCleaning(tp)
	defer m.ResumeCleaning(tp)
	truncated, err := l.TruncateTo(offset)
	if truncated {
		m.maybeTruncateCleanerCheckpoint(l, offset)
	}
	return truncated, err
}

// TruncateFullyAndStartAt is Log.TruncateFullyAndStartAt with cleaning
// paused around it and the cleaner checkpoint reset.
func (m *LogManager) TruncateFullyAndStartAt(l *Log, offset int64) error {
	tp := TopicPartition{l.topic, l.partition}
	m.AbortAndPauseCleaning(tp)
	defer m.ResumeCleaning(tp)
	err := l.TruncateFullyAndStartAt(offset)
	m.maybeTruncateCleanerCheckpoint(l, offset)
	return err
}

func (m *LogManager) maybeTruncateCleanerCheckpoint(l *Log, offset int64) {
	c := m.cleaner.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	dir := filepath.Dir(l.dir)
	tp := TopicPartition{l.topic, l.partition}
	if v, ok := c.checkpoints[dir][tp]; ok && v > offset {
		c.setCheckpointLocked(dir, tp, offset, true)
	}
}

// forgetCleaning is for DeleteLog: abort a pass on tp, drop its state and
// its checkpoint entry.
func (m *LogManager) forgetCleaning(l *Log) {
	c := m.cleaner.Load()
	if c == nil {
		return
	}
	tp := TopicPartition{l.topic, l.partition}
	c.abortAndPause(tp)
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.states, tp)
	delete(c.uncleanable, tp)
	c.setCheckpointLocked(filepath.Dir(l.dir), tp, 0, false)
}

// CleanerCheckpoints returns the first dirty offset the cleaner recorded
// for each compacted log, as in the cleaner-offset-checkpoint files.
func (m *LogManager) CleanerCheckpoints() map[TopicPartition]int64 {
	out := map[TopicPartition]int64{}
	c := m.cleaner.Load()
	if c == nil {
		return out
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ck := range c.checkpoints {
		for tp, v := range ck {
			out[tp] = v
		}
	}
	return out
}
