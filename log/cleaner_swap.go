package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Swapping a cleaned segment into the log (LocalLog.replaceSegments) and
// finishing an interrupted swap on load (LogLoader's .swap handling).
//
// The on-disk protocol, whose commit point is the rename of the new .log
// to .swap:
//  1. the new segment is written and fsynced as <base>.{log,index,timeindex}.cleaned;
//  2. its files are renamed .swap, the .log first (the commit);
//  3. under the log's appendMu the old segments' files are renamed .deleted;
//  4. the new files lose their .swap suffix, the indexes first, the .log last;
//  5. the segment list is switched under mu and the old segments are deleted
//     after file.delete.delay.ms.
// A crash before 2 leaves .cleaned files, which a load deletes; after it,
// a load finishes the swap from the .log.swap (completeCleanerSwaps).

// errLogChanged reports that the log moved under a cleaning pass (a
// truncation, retention, or close): the pass is dropped, not an error.
var errLogChanged = errors.New("log changed during cleaning")

// segmentSnapshot (read.go) doubles as the cleaner's record of what it
// read: a segment and the size it had.

// replaceWithCleaned swaps c in for old, which must still be consecutive in
// the segment list, and checks that every segment of expect is still in the
// log, sealed and at the size the pass read (so a truncation or retention
// racing the pass cannot have changed what the offset map describes).
func (l *Log) replaceWithCleaned(c *cleanedSegment, old []*segment, expect []segmentSnapshot) error {
	swapLog := segmentPath(l.dir, c.seg.base, logSuffix) + swapSuffix
	if err := os.Rename(c.logPath, swapLog); err != nil {
		return err
	}
	c.logPath = swapLog
	for _, x := range []*mmapIndex{c.seg.index, c.seg.timeIndex} {
		p := x.currentPath()
		if err := x.rename(strings.TrimSuffix(p, cleanedSuffix) + swapSuffix); err != nil {
			return err
		}
	}
	if err := syncDir(l.dir); err != nil {
		return err
	}

	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	at, ok := l.checkUnchangedLocked(old, expect)
	if !ok {
		return errLogChanged
	}
	var errs []error
	finals := map[string]bool{}
	for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
		finals[segmentPath(l.dir, c.seg.base, sfx)] = true
	}
	for _, s := range old {
		errs = append(errs, s.renameDeleted())
		// A file that could not be renamed keeps its name; if the new
		// segment is about to take that name, deleting it later would
		// delete the new file, and the rename below replaces it anyway.
		kept := s.deletePaths[:0]
		for _, p := range s.deletePaths {
			if !finals[p] {
				kept = append(kept, p)
			}
		}
		s.deletePaths = kept
	}
	errs = append(errs, c.seg.adoptTxnIndexes(l.dir, old))
	for _, x := range []*mmapIndex{c.seg.index, c.seg.timeIndex} {
		errs = append(errs, x.rename(strings.TrimSuffix(x.currentPath(), swapSuffix)))
	}
	final := segmentPath(l.dir, c.seg.base, logSuffix)
	if err := os.Rename(swapLog, final); err != nil {
		errs = append(errs, err)
	} else {
		c.logPath = final
		// Reopen under the final name: retention and truncation rename
		// segment files by the name their *os.File carries.
		if f, err := os.OpenFile(final, os.O_RDWR, 0); err == nil {
			c.seg.log.Close()
			c.seg.log = f
		} else {
			errs = append(errs, err)
		}
	}
	l.initSegment(c.seg)

	l.mu.Lock()
	segs := make([]*segment, 0, len(l.segments)-len(old)+1)
	segs = append(segs, l.segments[:at]...)
	segs = append(segs, c.seg)
	segs = append(segs, l.segments[at+len(old):]...)
	l.segments = segs
	l.mu.Unlock()
	l.scheduleDelete(old)
	errs = append(errs, syncDir(l.dir))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("log: swap cleaned segment %d into %s: %w", c.seg.base, l, err)
	}
	return nil
}

// changedSince reports whether any of segs left the log or changed size.
func (l *Log) changedSince(segs []segmentSnapshot) bool {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if len(segs) == 0 {
		return l.closed
	}
	_, ok := l.checkUnchangedLocked([]*segment{segs[0].seg}, segs)
	return !ok
}

// checkUnchangedLocked returns where old starts in the segment list, and
// whether the log still holds what the pass read. Caller holds appendMu.
func (l *Log) checkUnchangedLocked(old []*segment, expect []segmentSnapshot) (int, bool) {
	if l.closed || len(old) == 0 {
		return 0, false
	}
	pos := make(map[*segment]int, len(l.segments))
	for i, s := range l.segments {
		pos[s] = i
	}
	last := len(l.segments) - 1
	for _, e := range expect {
		i, ok := pos[e.seg]
		if !ok || i == last || e.seg.size.Load() != e.size {
			return 0, false
		}
	}
	at, ok := pos[old[0]]
	if !ok {
		return 0, false
	}
	for k, s := range old {
		if at+k > last || l.segments[at+k] != s {
			return 0, false
		}
	}
	return at, true
}

// completeCleanerSwaps runs before a log's segments load: .cleaned files
// are an unfinished pass and go; each <base>.log.swap is a committed one,
// so the segments it replaces (those with a base in [base, its next
// offset)) are deleted and its files take their final names. Index .swap
// files whose .log is not a .swap are deleted: the .log was renamed
// already, and its indexes are rebuilt if missing.
func (l *Log) completeCleanerSwaps() error {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return err
	}
	var swaps []int64
	logs := map[int64]bool{}
	var orphans []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasSuffix(name, cleanedSuffix):
			l.logger.Infof("Deleting stray temporary file %s", name)
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
				return err
			}
		case strings.HasSuffix(name, logSuffix+swapSuffix):
			if base, ok := parseBase(strings.TrimSuffix(name, swapSuffix), logSuffix); ok {
				swaps = append(swaps, base)
			}
		case strings.HasSuffix(name, swapSuffix):
			orphans = append(orphans, name)
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseBase(name, logSuffix); ok {
				logs[base] = true
			}
		}
	}
	sort.Slice(swaps, func(i, j int) bool { return swaps[i] < swaps[j] })
	swapping := map[int64]bool{}
	for _, base := range swaps {
		swapping[base] = true
	}
	for _, name := range orphans {
		stem := strings.TrimSuffix(name, swapSuffix)
		base, ok := parseBase(stem, filepath.Ext(stem))
		if ok && swapping[base] {
			continue
		}
		l.logger.Infof("Deleting index swap file %s without its log", name)
		if err := os.Remove(filepath.Join(l.dir, name)); err != nil {
			return err
		}
	}
	for _, base := range swaps {
		if err := l.completeSwap(base, logs); err != nil {
			return fmt.Errorf("log: complete swap of segment %d in %s: %w", base, l.dir, err)
		}
	}
	return nil
}

func (l *Log) completeSwap(base int64, logs map[int64]bool) error {
	swapLog := segmentPath(l.dir, base, logSuffix) + swapSuffix
	next, err := nextOffsetOfFile(swapLog, base)
	if err != nil {
		return err
	}
	for old := range logs {
		if old < base || old >= next {
			continue
		}
		l.logger.Infof("Deleting segment %d replaced by the cleaned segment %d", old, base)
		for _, sfx := range []string{logSuffix, indexSuffix, timeIndexSuffix} {
			if err := os.Remove(segmentPath(l.dir, old, sfx)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
		}
		delete(logs, old)
	}
	for _, sfx := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
		final := segmentPath(l.dir, base, sfx)
		if err := os.Rename(final+swapSuffix, final); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	logs[base] = true
	l.logger.Infof("Completed the swap of cleaned segment %d", base)
	return syncDir(l.dir)
}

// nextOffsetOfFile reads the batch headers of a segment file and returns
// the offset after its last whole batch (base if it has none).
func nextOffsetOfFile(path string, base int64) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	s := &segment{log: f}
	var buf [headerScanSize]byte
	next := base
	for pos := int64(0); ; {
		h, ok, err := s.readHeader(pos, st.Size(), &buf)
		if err != nil {
			return 0, err
		}
		if !ok || h.lastOffset < next || h.lastOffset == math.MaxInt64 {
			return next, nil
		}
		next = h.lastOffset + 1
		pos += int64(h.size)
	}
}
