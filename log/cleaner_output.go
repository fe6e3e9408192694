package log

import (
	"errors"
	"fmt"
	"os"
	"time"
)

const (
	cleanedSuffix = ".cleaned"
	swapSuffix    = ".swap"
)

// cleanedSegment is the replacement segment a cleaning pass writes for a
// group of segments (UnifiedLog.createNewCleanedSegment): the files are
// named <base>.log.cleaned etc. and nobody else sees the segment until the
// swap, so it is written without the log's locks.
type cleanedSegment struct {
	seg      *segment
	logPath  string // the .log's current name (seg.log.Name() keeps the first)
	buf      []byte // batches not yet written
	written  int64  // bytes written to the file
	flushAt  int
	interval int
}

// createCleanedSegment creates the .cleaned files of a segment at base.
// inputBytes, the size of the segments it replaces, bounds the number of
// index entries it can need.
func createCleanedSegment(dir string, base int64, cfg Config, inputBytes int64, flushAt int) (*cleanedSegment, error) {
	logPath := segmentPath(dir, base, logSuffix) + cleanedSuffix
	f, err := os.OpenFile(logPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	s := &segment{base: base, log: f, maxTimestamp: noTimestamp, offsetOfMaxTimestamp: base}
	entries := min(inputBytes/int64(max(cfg.IndexIntervalBytes, 1)), inputBytes/batchHeaderSize) + 2
	var problem error
	idx := segmentPath(dir, base, indexSuffix) + cleanedSuffix
	tidx := segmentPath(dir, base, timeIndexSuffix) + cleanedSuffix
	for _, p := range []string{idx, tidx} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			f.Close()
			return nil, err
		}
	}
	if s.index, problem, err = openIndex(idx, offsetIndexEntrySize,
		base, max(cfg.indexBytes(offsetIndexEntrySize), int(entries)*offsetIndexEntrySize)); err != nil || problem != nil {
		f.Close()
		return nil, errors.Join(err, problem)
	}
	if s.timeIndex, problem, err = openIndex(tidx, timeIndexEntrySize,
		base, max(cfg.indexBytes(timeIndexEntrySize), int(entries)*timeIndexEntrySize)); err != nil || problem != nil {
		s.index.close()
		f.Close()
		return nil, errors.Join(err, problem)
	}
	return &cleanedSegment{seg: s, logPath: logPath, flushAt: flushAt, interval: cfg.IndexIntervalBytes}, nil
}

// added accounts for the batch of n bytes just appended to c.buf, with the
// sparse index rule of segment.publish.
func (c *cleanedSegment) added(n int, kb keptBatch) error {
	s := c.seg
	pos := c.written + int64(len(c.buf)-n)
	if kb.maxTimestamp > s.maxTimestamp {
		s.maxTimestamp, s.offsetOfMaxTimestamp = kb.maxTimestamp, kb.lastOffset
	}
	if s.bytesSinceLastIndexEntry > c.interval {
		if err := s.index.appendOffset(kb.lastOffset, pos); err != nil {
			return err
		}
		if err := s.timeIndex.maybeAppendTime(s.maxTimestamp, s.offsetOfMaxTimestamp, false); err != nil {
			return err
		}
		s.bytesSinceLastIndexEntry = 0
	}
	s.bytesSinceLastIndexEntry += n
	if len(c.buf) >= c.flushAt {
		return c.writeOut()
	}
	return nil
}

func (c *cleanedSegment) writeOut() error {
	if len(c.buf) == 0 {
		return nil
	}
	if _, err := c.seg.log.WriteAt(c.buf, c.written); err != nil {
		return fmt.Errorf("log: write %s: %w", c.seg.log.Name(), err)
	}
	c.written += int64(len(c.buf))
	c.buf = c.buf[:0]
	return nil
}

// finish writes what is buffered, seals and fsyncs the segment and gives
// the .log the modification time of the newest segment it replaces, as
// Kafka does, so time-based decisions about it do not restart.
func (c *cleanedSegment) finish(mtime time.Time) error {
	if err := c.writeOut(); err != nil {
		return err
	}
	c.seg.size.Store(c.written)
	if err := c.seg.seal(); err != nil {
		return err
	}
	if err := c.seg.flush(); err != nil {
		return err
	}
	return os.Chtimes(c.logPath, mtime, mtime)
}

// discard closes and deletes the segment's files, whatever their suffix
// by now; for an aborted pass.
func (c *cleanedSegment) discard() {
	c.seg.index.unmap()
	c.seg.timeIndex.unmap()
	c.seg.log.Close()
	for _, p := range []string{c.logPath, c.seg.index.currentPath(), c.seg.timeIndex.currentPath()} {
		os.Remove(p)
	}
}
