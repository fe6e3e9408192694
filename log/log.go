package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
)

// Log is one partition's commit log (Kafka's UnifiedLog + LocalLog). It is
// safe for concurrent use: appends are serialized by appendMu; reads run
// concurrently and only briefly share mu to locate their start.
type Log struct {
	topic     string
	partition int32
	dir       string
	logger    *logrus.Entry
	now       func() time.Time

	appendMu sync.Mutex // lock order: appendMu, then flushMu, then mu
	cfg      Config     // guarded by appendMu
	closed   bool       // guarded by appendMu and mu (written holding both)
	// lastFlushMs is when flush.ms last forced a flush; appendMu.
	lastFlushMs int64

	flushMu sync.Mutex // serializes fsyncs and recovery-point moves

	mu       sync.RWMutex
	segments []*segment // ascending base offsets; the last is active

	leo           atomic.Int64
	logStart      atomic.Int64
	hw            atomic.Int64
	recoveryPoint atomic.Int64

	bg sync.WaitGroup // flushes of rolled segments; Close waits for them

	// epochs is the leader-epoch cache (epoch.go): changed under appendMu,
	// read by anyone.
	epochs *epochCache

	// ps is the producer state (producer_*.go): changed under appendMu,
	// read by anyone through its own lock.
	ps *producerState

	// delMu guards pendingDeletes: segments retention took out of the list
	// whose .deleted files go after file.delete.delay.ms (retention.go).
	delMu          sync.Mutex
	pendingDeletes []*pendingDelete
}

// Topic returns the log's topic.
func (l *Log) Topic() string { return l.topic }

// Partition returns the log's partition.
func (l *Log) Partition() int32 { return l.partition }

// Dir returns the partition directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a reader may ask for.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark is the last value given to SetHighWatermark, clamped.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// RecoveryPoint is the offset below which all data is known to be flushed.
func (l *Log) RecoveryPoint() int64 { return l.recoveryPoint.Load() }

// SetHighWatermark stores hw clamped to [LogStartOffset, LogEndOffset].
// The shared mu keeps a truncation, which lowers the log end under the
// exclusive one, from slipping between the clamp and the store.
func (l *Log) SetHighWatermark(hw int64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	l.hw.Store(min(max(hw, l.logStart.Load()), l.leo.Load()))
}

// Config returns the log's current configuration.
func (l *Log) Config() Config {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	return l.cfg
}

// UpdateConfig applies a new topic configuration to later appends and rolls.
// Index sizes of the active segment are kept until it rolls, as in Kafka.
func (l *Log) UpdateConfig(cfg Config) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	l.cfg = cfg
}

// Size is the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var n int64
	for _, s := range l.segments {
		n += s.size.Load()
	}
	return n
}

// NumSegments returns the number of segments.
func (l *Log) NumSegments() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.segments)
}

func (l *Log) String() string { return fmt.Sprintf("%s-%d", l.topic, l.partition) }

// loadOptions carry the LogManager's checkpoints into a log being loaded.
type loadOptions struct {
	recoveryPoint int64 // -1: none
	logStart      int64 // -1: none
	highWatermark int64 // -1: none
	cleanShutdown bool
}

// openLog loads (or creates) the log in dir. Without a clean shutdown every
// segment from the one holding the recovery point onward is scanned, cut at
// its first invalid batch, and the segments after a cut are deleted.
func openLog(dir, topic string, partition int32, cfg Config, opts loadOptions, logger *logrus.Entry, now func() time.Time) (*Log, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	l := &Log{topic: topic, partition: partition, dir: dir, cfg: cfg, now: now,
		logger: logger.WithField("partition", fmt.Sprintf("%s-%d", topic, partition))}
	l.lastFlushMs = now().UnixMilli()
	l.ps = newProducerState()
	l.epochs = newEpochCache(dir, l.logger)
	bases, err := l.scanDir()
	if err != nil {
		return nil, err
	}
	if len(bases) == 0 {
		s, err := createSegment(dir, max(opts.logStart, 0), cfg)
		if err != nil {
			return nil, err
		}
		l.segments = []*segment{s}
	}
	// cuts holds the segments rebuilt while loading (bad or missing
	// indexes), so recovery does not scan them twice.
	cuts := map[int64]int64{}
	for i, base := range bases {
		nextBase := int64(math.MaxInt64)
		if i+1 < len(bases) {
			nextBase = bases[i+1]
		}
		s, recovered, cut, err := loadSegment(dir, base, nextBase, cfg, i == len(bases)-1, l.logger)
		if err != nil {
			l.closeSegments()
			return nil, fmt.Errorf("log: open segment %d of %s: %w", base, l, err)
		}
		if recovered {
			cuts[base] = cut
		}
		l.segments = append(l.segments, s)
	}
	for _, s := range l.segments {
		l.initSegment(s)
	}
	recoveredFrom := int64(math.MaxInt64)
	if !opts.cleanShutdown {
		if err := l.recoverFrom(max(opts.recoveryPoint, 0), cuts); err != nil {
			l.closeSegments()
			return nil, err
		}
		recoveredFrom = l.segments[max(l.segmentFor(max(opts.recoveryPoint, 0)), 0)].base
	}
	leo, err := l.loadLogEnd()
	restarted := false
	if err == nil && opts.logStart > leo {
		leo, err = l.restartAt(leo, opts.logStart)
		restarted = true
	}
	if err != nil {
		l.closeSegments()
		return nil, err
	}
	l.leo.Store(leo)
	l.logStart.Store(min(max(opts.logStart, l.segments[0].base), leo))
	// Clean: everything was flushed at close. Unclean: what was scanned
	// was flushed by recoverFrom. Kafka sets the point to the LEO too.
	l.recoveryPoint.Store(leo)
	l.hw.Store(l.logStart.Load())
	if err := l.loadEpochCache(opts, restarted); err != nil {
		l.closeSegments()
		return nil, err
	}
	if restarted {
		err = l.truncateFullyProducersLocked(leo)
	} else {
		err = l.loadProducerStateLocked(recoveredFrom)
	}
	if err != nil {
		l.closeSegments()
		return nil, fmt.Errorf("log: load producer state of %s: %w", l, err)
	}
	if opts.highWatermark >= 0 {
		l.SetHighWatermark(opts.highWatermark)
	}
	return l, nil
}

// scanDir removes leftovers Kafka would remove on load and returns the base
// offsets of the .log files found.
func (l *Log) scanDir() ([]int64, error) {
	if err := l.completeCleanerSwaps(); err != nil { // cleaner_swap.go
		return nil, err
	}
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, ".deleted"), strings.HasSuffix(name, ".cleaned"),
			strings.HasSuffix(name, ".swap"), strings.HasSuffix(name, ".tmp"):
			// completeCleanerSwaps finished or removed the cleaner's files;
			// what is left is debris.
			l.logger.Warnf("Deleting stray file %s", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseBase(name, logSuffix); ok {
				logs[base] = true
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix), strings.HasSuffix(name, txnIndexSuffix):
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		base, ok := parseBase(name, filepath.Ext(name))
		if ok && !logs[base] {
			l.logger.Warnf("Deleting index %s without a log file", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, err
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func parseBase(name, suffix string) (int64, bool) {
	s := strings.TrimSuffix(name, suffix)
	if len(s) != 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil && n >= 0
}

// segmentFor returns the index of the segment holding offset: the last one
// whose base is <= offset, or -1. Caller holds mu (either way) or appendMu
// during load.
func (l *Log) segmentFor(offset int64) int {
	return sort.Search(len(l.segments), func(i int) bool { return l.segments[i].base > offset }) - 1
}

func (l *Log) activeSegment() *segment { return l.segments[len(l.segments)-1] }

// Flush fsyncs all segments and moves the recovery point to the log end.
func (l *Log) Flush() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	return l.flushUpTo(l.leo.Load())
}

// flushUpTo fsyncs the segments holding offsets in [recoveryPoint, upTo)
// and advances the recovery point. The caller keeps the segments open
// (appendMu, or Close waiting on bg).
func (l *Log) flushUpTo(upTo int64) error {
	l.flushMu.Lock()
	defer l.flushMu.Unlock()
	rp := l.recoveryPoint.Load()
	if upTo <= rp {
		return nil
	}
	l.mu.RLock()
	var todo []*segment
	for i, s := range l.segments {
		end := int64(math.MaxInt64)
		if i+1 < len(l.segments) {
			end = l.segments[i+1].base
		}
		if s.base < upTo && end > rp {
			todo = append(todo, s)
		}
	}
	l.mu.RUnlock()
	if err := l.flushSegments(todo); err != nil {
		return err
	}
	l.recoveryPoint.Store(upTo)
	return nil
}

func (l *Log) flushSegments(segs []*segment) error {
	for _, s := range segs {
		if err := s.flush(); err != nil {
			return fmt.Errorf("log: flush segment %d of %s: %w", s.base, l, err)
		}
	}
	return nil
}

// Close flushes the log and closes its files; later calls return
// ErrLogClosed.
func (l *Log) Close() error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	l.bg.Wait()
	l.finishPendingDeletes()
	// A snapshot at the log end makes the next load instant (UnifiedLog.close).
	l.ps.mapEnd = max(l.ps.mapEnd, l.leo.Load())
	_, err := l.ps.takeSnapshot(l.dir, true)
	err = errors.Join(err, l.flushUpTo(l.leo.Load()))
	l.mu.Lock()
	l.closed = true
	err = errors.Join(err, l.closeSegments())
	l.mu.Unlock()
	return err
}

func (l *Log) closeSegments() error {
	var errs []error
	for _, s := range l.segments {
		errs = append(errs, s.close())
	}
	return errors.Join(errs...)
}
