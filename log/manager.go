package log

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"
)

// ManagerConfig configures a LogManager.
type ManagerConfig struct {
	Dirs    []string // log.dirs
	Default Config   // for logs found on disk until the broker applies topic overrides
	Logger  *logrus.Entry
	Now     func() time.Time // injectable clock; nil = time.Now
}

// LogManager owns the logs of one broker across log.dirs (Kafka's
// LogManager): it holds each dir's .lock, loads partition dirs at start,
// places new partitions, deletes them asynchronously and keeps the
// checkpoint files and the clean-shutdown marker.
type LogManager struct {
	cfg    ManagerConfig
	logger *logrus.Entry
	now    func() time.Time

	mu       sync.Mutex // guards logs and shutdown
	logs     map[TopicPartition]*Log
	perDir   map[string]int // partitions in each log dir, for placement
	shutdown bool

	locks []*os.File     // one flocked .lock per dir, in Dirs order
	bg    sync.WaitGroup // asynchronous directory deletions
	sched schedulers     // periodic tasks (scheduler.go)
	// ckptMu serializes checkpoint writes: scheduled tasks and Shutdown
	// share each file's .tmp name.
	ckptMu sync.Mutex
	// cleaner is the log cleaner once StartCleaner ran (cleaner_manager.go).
	cleaner atomic.Pointer[logCleaner]
}

// NewLogManager creates the dirs, locks each (failing if another process
// holds it), and loads every <topic>-<partition> dir found, using the
// recovery-point, log-start-offset and replication-offset checkpoints.
// Dirs without .kafka_cleanshutdown are recovered; the marker is deleted
// once read. Leftover *-delete dirs are removed in the background.
func NewLogManager(cfg ManagerConfig) (*LogManager, error) {
	if len(cfg.Dirs) == 0 {
		return nil, errors.New("log: no log.dirs configured")
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.Out = nopWriter{}
		cfg.Logger = logrus.NewEntry(l)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Default.check(); err != nil {
		return nil, err
	}
	m := &LogManager{cfg: cfg, logger: cfg.Logger.WithField("component", "LogManager"), now: cfg.Now,
		logs: map[TopicPartition]*Log{}}
	cfg.Dirs = append([]string(nil), cfg.Dirs...) // made absolute below; the caller's slice stays as given
	seen := map[string]bool{}
	for i, d := range cfg.Dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			m.abort()
			return nil, err
		}
		if seen[abs] {
			m.abort()
			return nil, fmt.Errorf("log: duplicate log directory %s", abs)
		}
		seen[abs] = true
		cfg.Dirs[i] = abs
		if err := m.lockDir(abs); err != nil {
			m.abort()
			return nil, err
		}
	}
	for _, d := range cfg.Dirs {
		if err := m.loadDir(d); err != nil {
			m.abort()
			return nil, err
		}
	}
	return m, nil
}

type nopWriter struct{}

func (nopWriter) Write(p []byte) (int, error) { return len(p), nil }

func (m *LogManager) lockDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("log: create log dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("log: failed to acquire lock on file .lock in %s. A Kafka instance in another process or thread is using this directory: %w", dir, err)
	}
	m.locks = append(m.locks, f)
	return nil
}

// abort undoes a failed start: close what was opened, release the locks.
func (m *LogManager) abort() {
	for _, l := range m.logs {
		l.Close()
	}
	m.bg.Wait()
	m.releaseLocks()
}

func (m *LogManager) releaseLocks() {
	for _, f := range m.locks {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	m.locks = nil
}

func (m *LogManager) loadDir(dir string) error {
	marker := filepath.Join(dir, CleanShutdownFile)
	_, err := os.Stat(marker)
	clean := err == nil
	if clean {
		// Deleted now so a crash from here on is seen as unclean.
		if err := os.Remove(marker); err != nil {
			return err
		}
	} else {
		m.logger.Infof("Attempting recovery for all logs in %s since no clean shutdown file was found", dir)
	}
	rps, err := ReadOffsetCheckpoint(filepath.Join(dir, RecoveryPointCheckpointFile))
	if err != nil {
		return err
	}
	starts, err := ReadOffsetCheckpoint(filepath.Join(dir, LogStartOffsetCheckpointFile))
	if err != nil {
		return err
	}
	hws, err := ReadOffsetCheckpoint(filepath.Join(dir, ReplicationOffsetCheckpointFile))
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if strings.HasSuffix(name, "-delete") {
			m.removeAsync(filepath.Join(dir, name))
			continue
		}
		topic, partition, ok := ParseTopicPartitionDir(name)
		if !ok {
			continue
		}
		tp := TopicPartition{topic, partition}
		if other, dup := m.logs[tp]; dup {
			return fmt.Errorf("log: duplicate log directories for %s are found in both %s and %s", tp, other.Dir(), filepath.Join(dir, name))
		}
		opts := loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: clean}
		if v, ok := rps[tp]; ok {
			opts.recoveryPoint = v
		}
		if v, ok := starts[tp]; ok {
			opts.logStart = v
		}
		if v, ok := hws[tp]; ok {
			opts.highWatermark = v
		}
		l, err := openLog(filepath.Join(dir, name), topic, partition, m.cfg.Default, opts, m.cfg.Logger, m.now)
		if err != nil {
			return err
		}
		m.addLocked(tp, l)
	}
	return nil
}

// removeAsync deletes a directory tree in the background; Shutdown waits.
func (m *LogManager) removeAsync(path string) {
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		if err := os.RemoveAll(path); err != nil {
			m.logger.WithError(err).Errorf("Failed to delete %s", path)
		}
	}()
}

// CheckOrWriteMetaProperties checks every dir's meta.properties against
// the broker id and cluster id, writing the file where it is absent. A
// mismatch is an ErrInconsistentMetaProperties naming the file, the field
// and both values; the broker must refuse to start.
func (m *LogManager) CheckOrWriteMetaProperties(brokerID int32, clusterID string) error {
	for _, d := range m.cfg.Dirs {
		if err := checkOrWriteMeta(filepath.Join(d, MetaPropertiesFile), brokerID, clusterID, m.now()); err != nil {
			return err
		}
	}
	return nil
}

// GetOrCreateLog returns the partition's log, creating it in the dir with
// the fewest partitions if absent. cfg becomes the log's configuration in
// both cases, so topic overrides apply to logs loaded at start-up.
func (m *LogManager) GetOrCreateLog(topic string, partition int32, cfg Config) (*Log, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if topic == "" || topic == "." || topic == ".." || strings.ContainsAny(topic, "/\x00") || partition < 0 {
		return nil, fmt.Errorf("log: invalid partition %q-%d", topic, partition)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.shutdown {
		return nil, ErrLogClosed
	}
	tp := TopicPartition{topic, partition}
	if l, ok := m.logs[tp]; ok {
		l.UpdateConfig(cfg)
		return l, nil
	}
	dir := m.nextDirLocked()
	l, err := openLog(filepath.Join(dir, tp.String()), topic, partition, cfg,
		loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true}, m.cfg.Logger, m.now)
	if err != nil {
		return nil, err
	}
	m.addLocked(tp, l)
	m.logger.Infof("Created log for partition %s in %s", tp, l.Dir())
	return l, nil
}

// nextDirLocked picks the dir holding the fewest partitions (first in
// log.dirs order on ties), as Kafka's LogManager.nextLogDirs does.
func (m *LogManager) nextDirLocked() string {
	best := m.cfg.Dirs[0]
	for _, d := range m.cfg.Dirs[1:] {
		if m.perDir[d] < m.perDir[best] {
			best = d
		}
	}
	return best
}

func (m *LogManager) addLocked(tp TopicPartition, l *Log) {
	if m.perDir == nil {
		m.perDir = map[string]int{}
	}
	m.logs[tp] = l
	m.perDir[filepath.Dir(l.Dir())]++
}

// GetLog returns the partition's log, or nil.
func (m *LogManager) GetLog(topic string, partition int32) *Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.logs[TopicPartition{topic, partition}]
}

// AllLogs returns every log, sorted by topic and partition.
func (m *LogManager) AllLogs() []*Log {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Log, 0, len(m.logs))
	for _, l := range m.logs {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// DeleteLog closes the partition's log, renames its dir to
// <topic>-<partition>.<32 hex>-delete and removes it in the background.
// Deleting an absent log is not an error.
func (m *LogManager) DeleteLog(topic string, partition int32) error {
	tp := TopicPartition{topic, partition}
	m.mu.Lock()
	l, ok := m.logs[tp]
	if ok {
		delete(m.logs, tp)
		m.perDir[filepath.Dir(l.Dir())]--
	}
	m.mu.Unlock()
	if !ok {
		return nil
	}
	m.forgetCleaning(l)
	if err := l.Close(); err != nil && !errors.Is(err, ErrLogClosed) {
		m.logger.WithError(err).Warnf("Error closing log %s before deletion", tp)
	}
	target := filepath.Join(filepath.Dir(l.Dir()), deleteDirName(tp))
	if err := os.Rename(l.Dir(), target); err != nil {
		return fmt.Errorf("log: rename %s for deletion: %w", l.Dir(), err)
	}
	if err := syncDir(filepath.Dir(l.Dir())); err != nil {
		return err
	}
	m.logger.Infof("Log for partition %s is renamed to %s and is scheduled for deletion", tp, target)
	m.removeAsync(target)
	return nil
}

// deleteDirName is LocalLog.logDeleteDirName: the topic prefix is cut so
// the name stays within 255 bytes.
func deleteDirName(tp TopicPartition) string {
	var id [16]byte
	rand.Read(id[:])
	suffix := fmt.Sprintf("-%d.%s-delete", tp.Partition, hex.EncodeToString(id[:]))
	topic := tp.Topic
	if len(topic) > 255-len(suffix) {
		topic = topic[:255-len(suffix)]
	}
	return topic + suffix
}

// CheckpointHighWatermarks writes each dir's replication-offset-checkpoint
// from its logs' high watermarks.
func (m *LogManager) CheckpointHighWatermarks() error {
	return m.writeCheckpoints(ReplicationOffsetCheckpointFile, func(l *Log) (int64, bool) { return l.HighWatermark(), true })
}

// CheckpointRecoveryPoints writes each dir's recovery-point-offset-checkpoint.
func (m *LogManager) CheckpointRecoveryPoints() error {
	return m.writeCheckpoints(RecoveryPointCheckpointFile, func(l *Log) (int64, bool) { return l.RecoveryPoint(), true })
}

// CheckpointLogStartOffsets writes each dir's log-start-offset-checkpoint;
// as in Kafka only logs whose start is above their first segment appear.
func (m *LogManager) CheckpointLogStartOffsets() error {
	return m.writeCheckpoints(LogStartOffsetCheckpointFile, func(l *Log) (int64, bool) {
		l.mu.RLock()
		defer l.mu.RUnlock()
		ls := l.logStart.Load()
		return ls, len(l.segments) > 0 && ls > l.segments[0].base
	})
}

func (m *LogManager) writeCheckpoints(file string, value func(*Log) (int64, bool)) error {
	m.ckptMu.Lock()
	defer m.ckptMu.Unlock()
	byDir := map[string]map[TopicPartition]int64{}
	for _, d := range m.cfg.Dirs {
		byDir[d] = map[TopicPartition]int64{}
	}
	for _, l := range m.AllLogs() {
		if v, ok := value(l); ok {
			byDir[filepath.Dir(l.Dir())][TopicPartition{l.topic, l.partition}] = v
		}
	}
	var errs []error
	for _, d := range m.cfg.Dirs {
		if err := WriteOffsetCheckpoint(filepath.Join(d, file), byDir[d]); err != nil {
			errs = append(errs, fmt.Errorf("log: write %s in %s: %w", file, d, err))
		}
	}
	return errors.Join(errs...)
}

// Shutdown flushes and closes every log, writes the three checkpoint files
// and the clean-shutdown marker in each dir, waits for background
// deletions and releases the dir locks. A dir whose logs failed to close
// gets no marker, so the next start recovers it.
func (m *LogManager) Shutdown() error {
	m.mu.Lock()
	if m.shutdown {
		m.mu.Unlock()
		return nil
	}
	m.shutdown = true
	m.mu.Unlock()
	m.stopSchedulers()
	m.StopCleaner()
	logs := m.AllLogs()
	failed := map[string]bool{}
	var errs []error
	for _, l := range logs {
		if err := l.Close(); err != nil && !errors.Is(err, ErrLogClosed) {
			failed[filepath.Dir(l.Dir())] = true
			errs = append(errs, err)
		}
	}
	// Closed logs still answer offsets from memory; Close made the
	// recovery point the log end.
	errs = append(errs, m.CheckpointRecoveryPoints(), m.CheckpointLogStartOffsets(), m.CheckpointHighWatermarks())
	m.bg.Wait()
	if err := errors.Join(errs...); err == nil {
		for _, d := range m.cfg.Dirs {
			if failed[d] {
				continue
			}
			if err := writeFileAtomic(filepath.Join(d, CleanShutdownFile), []byte(`{"version":0,"brokerEpoch":-1}`)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	m.releaseLocks()
	return errors.Join(errs...)
}
