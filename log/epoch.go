package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/sirupsen/logrus"
)

// The leader-epoch cache, after Kafka's LeaderEpochFileCache and
// LeaderEpochCheckpointFile: for every leader epoch that wrote to the log,
// the first offset it wrote. Followers use it to find where their log
// diverges from the leader's (KIP-101, KIP-279); OffsetsForLeaderEpoch and
// the leader's fetch-time divergence check answer from it.
//
// Entries are strictly increasing in both epoch and start offset, which
// assign and the truncations keep true, so a sorted slice serves where
// Kafka keeps a TreeMap. Every change is made by a caller holding the
// log's appendMu (appends, truncations, the log start moving, loading), so
// those callers read the slice without the cache's own lock; mu is for the
// readers that hold nothing else (fetch handlers asking for end offsets).

// LeaderEpochCheckpointFile is the per-partition file holding the cache.
const LeaderEpochCheckpointFile = "leader-epoch-checkpoint"

// UndefinedEpoch and UndefinedEpochOffset are OffsetsForLeaderEpochResponse's
// UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
const (
	UndefinedEpoch       int32 = -1
	UndefinedEpochOffset int64 = -1
)

// EpochEntry is one leader epoch and the first offset written in it.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

func (e EpochEntry) String() string {
	return fmt.Sprintf("EpochEntry(epoch=%d, startOffset=%d)", e.Epoch, e.StartOffset)
}

type epochCache struct {
	path   string
	logger *logrus.Entry

	mu      sync.RWMutex
	entries []EpochEntry // ascending epochs and start offsets
}

func newEpochCache(dir string, logger *logrus.Entry) *epochCache {
	return &epochCache{path: filepath.Join(dir, LeaderEpochCheckpointFile),
		logger: logger.WithField("component", "LeaderEpochCache")}
}

// latest returns the newest entry. Caller holds appendMu or mu.
func (c *epochCache) latestLocked() (EpochEntry, bool) {
	if len(c.entries) == 0 {
		return EpochEntry{}, false
	}
	return c.entries[len(c.entries)-1], true
}

func (c *epochCache) latest() (EpochEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.latestLocked()
}

func (c *epochCache) snapshot() []EpochEntry {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]EpochEntry(nil), c.entries...)
}

// updateNeeded is isUpdateNeeded: a new epoch, or the latest one starting
// earlier than recorded. It is the whole cost of the append path when the
// epoch does not change. Caller holds appendMu.
func (c *epochCache) updateNeeded(e EpochEntry) bool {
	last, ok := c.latestLocked()
	return !ok || e.Epoch != last.Epoch || e.StartOffset < last.StartOffset
}

// assign adds e if needed, first removing from the end every entry whose
// epoch or start offset is not below e's (maybeTruncateNonMonotonicEntries).
// It reports whether the cache changed; the caller writes the file. Caller
// holds appendMu.
func (c *epochCache) assign(e EpochEntry) (bool, error) {
	if e.Epoch < 0 || e.StartOffset < 0 {
		return false, fmt.Errorf("received invalid partition leader epoch entry %v", e)
	}
	if !c.updateNeeded(e) {
		return false, nil
	}
	c.mu.Lock()
	n := len(c.entries)
	for n > 0 && (c.entries[n-1].Epoch >= e.Epoch || c.entries[n-1].StartOffset >= e.StartOffset) {
		n--
	}
	removed := append([]EpochEntry(nil), c.entries[n:]...)
	c.entries = append(c.entries[:n], e)
	size := len(c.entries)
	c.mu.Unlock()
	// Removing one entry that started where e starts is the expected case
	// of an epoch that wrote nothing; anything else lost history.
	if len(removed) > 1 || (len(removed) == 1 && removed[0].StartOffset != e.StartOffset) {
		c.logger.Warnf("New epoch entry %v caused truncation of conflicting entries %v. Cache now contains %d entries.", e, removed, size)
	} else {
		c.logger.Debugf("Appended new epoch entry %v. Cache now contains %d entries.", e, size)
	}
	return true, nil
}

// endOffsetFor is LeaderEpochFileCache.endOffsetFor: for the requested
// epoch, the largest cached epoch at or below it and where that epoch
// ended (the next epoch's start, or leo for the latest one).
func (c *epochCache) endOffsetFor(requested int32, leo int64) (int32, int64) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if requested == UndefinedEpoch {
		// A bootstrapping follower or one without epochs.
		return UndefinedEpoch, UndefinedEpochOffset
	}
	if last, ok := c.latestLocked(); ok && last.Epoch == requested {
		// The leader's current epoch is still being written: it ends at
		// the log end.
		return requested, leo
	}
	// higher is the first entry above the requested epoch.
	higher := 0
	for higher < len(c.entries) && c.entries[higher].Epoch <= requested {
		higher++
	}
	switch {
	case higher == len(c.entries):
		return UndefinedEpoch, UndefinedEpochOffset
	case higher == 0:
		// Older than anything cached (the data is gone): the follower may
		// keep what precedes the first known epoch.
		return requested, c.entries[0].StartOffset
	default:
		return c.entries[higher-1].Epoch, c.entries[higher].StartOffset
	}
}

// truncateFromEnd removes the entries starting at or after end. Caller
// holds appendMu.
func (c *epochCache) truncateFromEnd(end int64) bool {
	last, ok := c.latestLocked()
	if end < 0 || !ok || last.StartOffset < end {
		return false
	}
	c.mu.Lock()
	n := len(c.entries)
	for n > 0 && c.entries[n-1].StartOffset >= end {
		n--
	}
	removed := append([]EpochEntry(nil), c.entries[n:]...)
	c.entries = c.entries[:n]
	size := len(c.entries)
	c.mu.Unlock()
	c.logger.Debugf("Cleared entries %v from epoch cache after truncating to end offset %d, leaving %d entries in the cache.", removed, end, size)
	return true
}

// truncateFromStart drops the entries wholly before start: the last entry
// starting at or below it is kept, moved to start (so truncateFromStart(6)
// keeps an entry at 6). Caller holds appendMu.
func (c *epochCache) truncateFromStart(start int64) bool {
	if len(c.entries) == 0 || c.entries[0].StartOffset > start {
		return false
	}
	c.mu.Lock()
	n := 0
	for n < len(c.entries) && c.entries[n].StartOffset <= start {
		n++
	}
	removed := append([]EpochEntry(nil), c.entries[:n]...)
	first := EpochEntry{Epoch: removed[n-1].Epoch, StartOffset: start}
	c.entries = append([]EpochEntry{first}, c.entries[n:]...)
	size := len(c.entries)
	c.mu.Unlock()
	c.logger.Debugf("Cleared entries %v and rewrote first entry %v after truncating to start offset %d, leaving %d in the cache.", removed, first, start, size)
	return true
}

// clear empties the cache. Caller holds appendMu.
func (c *epochCache) clear() {
	c.mu.Lock()
	c.entries = nil
	c.mu.Unlock()
}

// epochForOffset is LeaderEpochFileCache.epochForOffset: the epoch of the
// entry starting exactly at offset, else of the last one starting before it.
func (c *epochCache) epochForOffset(offset int64) (int32, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	prev, found := UndefinedEpoch, false
	for _, e := range c.entries {
		if e.StartOffset == offset {
			return e.Epoch, true
		}
		if e.StartOffset > offset {
			break
		}
		prev, found = e.Epoch, true
	}
	return prev, found
}

// write stores the cache in Kafka's checkpoint format. Caller holds
// appendMu, which also serializes the writers of the .tmp file.
func (c *epochCache) write() error {
	if err := writeFileAtomic(c.path, formatEpochCheckpoint(c.entries)); err != nil {
		return fmt.Errorf("log: write %s: %w", c.path, err)
	}
	return nil
}

func formatEpochCheckpoint(entries []EpochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

// errEmptyCheckpoint marks a checkpoint file holding nothing at all, which
// Kafka writes when it creates the file and reads as no entries.
var errEmptyCheckpoint = errors.New("empty leader-epoch-checkpoint")

// readEpochCheckpoint parses a leader-epoch-checkpoint as Kafka's
// CheckpointFile does: version 0, the entry count, then "epoch offset"
// lines (any whitespace between the two), and exactly count of them.
func readEpochCheckpoint(path string) ([]EpochEntry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) == 0 {
		return nil, errEmptyCheckpoint
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("malformed checkpoint file %s: %s", path, fmt.Sprintf(format, args...))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	if !sc.Scan() {
		return nil, errEmptyCheckpoint
	}
	if v := sc.Text(); v != "0" {
		return nil, bad("unrecognised version %q", v)
	}
	if !sc.Scan() {
		return nil, nil
	}
	count, err := strconv.Atoi(sc.Text())
	if err != nil || count < 0 {
		return nil, bad("bad entry count %q", sc.Text())
	}
	entries := make([]EpochEntry, 0, min(count, 1024))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			return nil, bad("bad line %q", sc.Text())
		}
		epoch, err1 := strconv.ParseInt(f[0], 10, 32)
		start, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, bad("bad line %q", sc.Text())
		}
		entries = append(entries, EpochEntry{Epoch: int32(epoch), StartOffset: start})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(entries) != count {
		return nil, bad("expected %d entries but found %d", count, len(entries))
	}
	return entries, nil
}
