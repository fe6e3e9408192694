package log

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// FileRegion is a byte range of a segment file. It stays readable after the
// segment is deleted by retention for file.delete.delay.ms (the file is
// renamed, not closed). Read it with ReadAt / sendfile at Pos, never via the
// file's offset (the *os.File is shared).
type FileRegion struct {
	File     *os.File
	Pos, Len int64
}

// ReadInfo is the result of a Read.
type ReadInfo struct {
	// Regions are in log order and consecutive in offsets, at most one per
	// segment. The last one may end partway into a batch when maxBytes cut
	// it, as Kafka's FileRecords.slice does; clients drop such a tail.
	Regions                                     []FileRegion
	Size                                        int64 // sum of the regions' Len
	HighWatermark, LogStartOffset, LogEndOffset int64
}

// AppendTo appends the regions' bytes to dst, for followers and tests;
// fetch responses send the regions with sendfile instead.
func (r ReadInfo) AppendTo(dst []byte) ([]byte, error) {
	dst = slices.Grow(dst, int(r.Size))
	for _, rg := range r.Regions {
		n := len(dst)
		dst = dst[:n+int(rg.Len)]
		if _, err := rg.File.ReadAt(dst[n:], rg.Pos); err != nil {
			if errors.Is(err, os.ErrClosed) {
				err = ErrLogClosed
			} else if errors.Is(err, io.EOF) {
				// Only a truncation can shorten a region's file under it.
				err = fmt.Errorf("%w: region [%d, +%d) of %s is past its end", ErrOffsetOutOfRange, rg.Pos, rg.Len, rg.File.Name())
			}
			return dst[:n], err
		}
	}
	return dst, nil
}

// segmentSnapshot is a segment with the size a read may use: loaded after
// the log end, so every batch below the log end lies inside it.
type segmentSnapshot struct {
	seg  *segment
	size int64
}

// Read returns file regions starting at the batch containing startOffset,
// ending before the first batch whose base offset is >= maxOffset (the HW
// for consumers, the log end for followers), at most maxBytes long; the last
// batch may be cut partway. With minOneMessage a first batch larger than
// maxBytes is returned whole, as Kafka does so consumers can always make
// progress; without it such a read is empty (Kafka's broker also replaces
// an incomplete first batch by an empty set for fetch v3+). startOffset
// outside [LogStartOffset, LogEndOffset] is ErrOffsetOutOfRange; startOffset
// equal to the log end gives no regions and no error.
//
// Read copies no data: it reads the indexes under a brief shared lock and a
// few batch headers with pread to find where to start and stop.
func (l *Log) Read(startOffset int64, maxBytes int, maxOffset int64, minOneMessage bool) (ReadInfo, error) {
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return ReadInfo{}, ErrLogClosed
	}
	info := ReadInfo{HighWatermark: l.hw.Load(), LogStartOffset: l.logStart.Load(), LogEndOffset: l.leo.Load()}
	if startOffset < info.LogStartOffset || startOffset > info.LogEndOffset {
		l.mu.RUnlock()
		return info, fmt.Errorf("%w: offset %d is outside [%d, %d] of %s",
			ErrOffsetOutOfRange, startOffset, info.LogStartOffset, info.LogEndOffset, l)
	}
	maxOffset = min(maxOffset, info.LogEndOffset)
	if startOffset >= maxOffset || (maxBytes <= 0 && !minOneMessage) {
		l.mu.RUnlock()
		return info, nil
	}
	// The index lookups happen under mu: a sealed or deleted segment's
	// mapping is replaced only under the write lock.
	i := max(l.segmentFor(startOffset), 0)
	j := max(l.segmentFor(maxOffset), i)
	startPos := l.segments[i].index.lookup(startOffset)
	endPos := l.segments[j].index.lookup(maxOffset)
	snaps := make([]segmentSnapshot, 0, j-i+1)
	for _, s := range l.segments[i : j+1] {
		snaps = append(snaps, segmentSnapshot{s, s.size.Load()})
	}
	l.mu.RUnlock()

	regions, err := readRegions(snaps, startOffset, startPos, endPos, int64(maxBytes), maxOffset, minOneMessage)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			err = ErrLogClosed
		}
		return info, fmt.Errorf("read %s at offset %d: %w", l, startOffset, err)
	}
	info.Regions = regions
	for _, r := range regions {
		info.Size += r.Len
	}
	return info, nil
}

// readRegions builds the regions over snaps (the segments from the one
// holding startOffset to the one holding maxOffset). startPos and endPos are
// index lookups of startOffset in the first and maxOffset in the last.
func readRegions(snaps []segmentSnapshot, startOffset, startPos, endPos, budget, maxOffset int64, minOneMessage bool) ([]FileRegion, error) {
	var regions []FileRegion
	first := true
	for k, sn := range snaps {
		pos := int64(0)
		if first {
			if k == 0 {
				pos = startPos
			}
			p, h, found, err := sn.seg.translate(startOffset, pos, sn.size)
			if err != nil {
				return nil, err
			}
			if !found {
				continue // startOffset lies past this segment's last batch (a gap)
			}
			if h.baseOffset >= maxOffset {
				return nil, nil
			}
			if int64(h.size) > budget {
				if !minOneMessage {
					return nil, nil
				}
				budget = int64(h.size)
			}
			pos, first = p, false
		}
		end := sn.size
		if k == len(snaps)-1 {
			var err error
			if end, err = sn.seg.firstBatchFrom(maxOffset, max(pos, endPos), sn.size); err != nil {
				return nil, err
			}
		}
		n := min(end-pos, budget)
		if n <= 0 {
			break
		}
		regions = append(regions, FileRegion{File: sn.seg.log, Pos: pos, Len: n})
		if budget -= n; budget == 0 {
			break
		}
	}
	return regions, nil
}

// firstBatchFrom returns the position of the first batch at or after from
// whose base offset is >= target, or limit. from must be a batch boundary
// at or before that batch (an index lookup of target, or a start position).
// Only headers are read.
func (s *segment) firstBatchFrom(target, from, limit int64) (int64, error) {
	var buf [headerScanSize]byte
	pos := from
	for {
		h, ok, err := s.readHeader(pos, limit, &buf)
		if err != nil {
			return 0, err
		}
		if !ok || h.baseOffset >= target {
			return pos, nil
		}
		pos += int64(h.size)
	}
}
