package log

import (
	"errors"
	"math"
	"sync"
	"time"
)

// SchedulerConfig sets the periods of the LogManager's background tasks
// (Kafka's LogManager.startup schedules). A period <= 0 disables its task.
type SchedulerConfig struct {
	RetentionCheckInterval           time.Duration // log.retention.check.interval.ms (300000)
	FlushCheckInterval               time.Duration // log.flush.scheduler.interval.ms (Long.MAX: off)
	RecoveryPointCheckpointInterval  time.Duration // log.flush.offset.checkpoint.interval.ms (60000)
	LogStartOffsetCheckpointInterval time.Duration // log.flush.start.offset.checkpoint.interval.ms (60000)
	InitialDelay                     time.Duration // LogManager.InitialTaskDelayMs (30000)
	// ProducerIDExpirationCheckInterval is
	// producer.id.expiration.check.interval.ms (600000).
	ProducerIDExpirationCheckInterval time.Duration
}

// DefaultSchedulerConfig returns Kafka 3.7's defaults.
func DefaultSchedulerConfig() SchedulerConfig {
	return SchedulerConfig{
		RetentionCheckInterval:            DurationFromMs(300000),
		FlushCheckInterval:                DurationFromMs(math.MaxInt64),
		RecoveryPointCheckpointInterval:   DurationFromMs(60000),
		LogStartOffsetCheckpointInterval:  DurationFromMs(60000),
		InitialDelay:                      DurationFromMs(30000),
		ProducerIDExpirationCheckInterval: DurationFromMs(600000),
	}
}

// DurationFromMs converts a Kafka millisecond setting to a period; values
// too large for a time.Duration (Kafka's Long.MAX "never") give 0, which
// disables the task.
func DurationFromMs(ms int64) time.Duration {
	if ms <= 0 || ms > math.MaxInt64/int64(time.Millisecond) {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

// schedulers are the LogManager's periodic goroutines; Shutdown stops them
// before it closes the logs.
type schedulers struct {
	mu      sync.Mutex
	started bool
	stopped bool // by Shutdown; no start after it
	stop    chan struct{}
	wg      sync.WaitGroup
}

// StartSchedulers starts the retention, flush, recovery-point checkpoint
// and log-start-offset checkpoint tasks, each first run after
// cfg.InitialDelay and then every period, and the producer-id expiration
// check, first run after its own period. Calling it again, or after
// Shutdown, does nothing.
func (m *LogManager) StartSchedulers(cfg SchedulerConfig) {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	if m.sched.stopped || m.sched.started {
		return
	}
	m.sched.started = true
	m.sched.stop = make(chan struct{})
	m.every("kafka-log-retention", cfg.InitialDelay, cfg.RetentionCheckInterval, func() error {
		_, err := m.CleanupLogs()
		return errors.Join(err, m.CheckpointLogStartOffsets())
	})
	m.every("kafka-log-flusher", cfg.InitialDelay, cfg.FlushCheckInterval, m.flushDirtyLogs)
	m.every("kafka-recovery-point-checkpoint", cfg.InitialDelay, cfg.RecoveryPointCheckpointInterval, m.CheckpointRecoveryPoints)
	m.every("kafka-log-start-offset-checkpoint", cfg.InitialDelay, cfg.LogStartOffsetCheckpointInterval, m.CheckpointLogStartOffsets)
	// Kafka schedules it per log, first run one interval after creation.
	m.every("PeriodicProducerExpirationCheck", cfg.ProducerIDExpirationCheckInterval, cfg.ProducerIDExpirationCheckInterval, m.expireProducers)
}

// every runs task after initial and then period after each run ends, until
// the schedulers stop. Caller holds sched.mu.
func (m *LogManager) every(name string, initial, period time.Duration, task func() error) {
	if period <= 0 {
		return
	}
	stop := m.sched.stop
	m.sched.wg.Add(1)
	go func() {
		defer m.sched.wg.Done()
		t := time.NewTimer(max(initial, 0))
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if err := task(); err != nil {
				m.logger.WithError(err).Errorf("Uncaught exception in scheduled task '%s'", name)
			}
			t.Reset(period)
		}
	}()
}

// stopSchedulers stops the periodic tasks and waits for a running one.
func (m *LogManager) stopSchedulers() {
	m.sched.mu.Lock()
	defer m.sched.mu.Unlock()
	m.sched.stopped = true
	if m.sched.started && m.sched.stop != nil {
		close(m.sched.stop)
		m.sched.stop = nil
	}
	m.sched.wg.Wait()
}

// CleanupLogs runs one retention pass (LogManager.cleanupLogs) over every
// log and returns the number of segments deleted. Kafka leaves compacted
// logs to its cleaner, which applies the same DeleteOldSegments to them;
// until the cleaner exists they are handled here, where DeleteOldSegments
// limits them to the log-start rule unless the policy also says delete.
func (m *LogManager) CleanupLogs() (int, error) {
	start := m.now()
	total := 0
	var errs []error
	for _, l := range m.AllLogs() {
		n, err := l.DeleteOldSegments()
		total += n
		if err != nil && !errors.Is(err, ErrLogClosed) { // closed: deleted meanwhile
			errs = append(errs, err)
		}
	}
	m.logger.Debugf("Log cleanup completed. %d files deleted in %d seconds", total, m.now().Sub(start)/time.Second)
	return total, errors.Join(errs...)
}

// flushDirtyLogs is LogManager.flushDirtyLogs: flush each log whose
// flush.ms has passed since its last flush.
func (m *LogManager) flushDirtyLogs() error {
	now := m.now().UnixMilli()
	var errs []error
	for _, l := range m.AllLogs() {
		if err := l.flushIfDue(now); err != nil && !errors.Is(err, ErrLogClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flushIfDue flushes the log to its end if flush.ms has passed since the
// last time flush.ms forced a flush.
func (l *Log) flushIfDue(nowMs int64) error {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if l.closed {
		return ErrLogClosed
	}
	since := nowMs - l.lastFlushMs
	l.logger.Debugf("Checking if flush is needed on %s flush interval %d last flushed %d time since last flush: %d",
		l, l.cfg.FlushMs, l.lastFlushMs, since)
	if since < l.cfg.FlushMs {
		return nil
	}
	l.lastFlushMs = nowMs
	return l.flushUpTo(l.leo.Load())
}
