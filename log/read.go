package log

import (
	"errors"
	"fmt"
	"os"
)

// ReadInfo is the result of a Read.
type ReadInfo struct {
	// Records holds whole batches copied from the segment(s). Zero-copy file
	// regions come later.
	Records                                     []byte
	HighWatermark, LogStartOffset, LogEndOffset int64
}

type segmentSnapshot struct {
	seg  *segment
	size int64
}

// Read returns whole batches starting with the batch containing
// startOffset, at most maxBytes of them, and none whose base offset is >=
// maxOffset (the HW for consumers, the log end for followers). With
// minOneMessage a first batch larger than maxBytes is returned whole, as
// Kafka does so consumers can always make progress. startOffset outside
// [LogStartOffset, LogEndOffset] is ErrOffsetOutOfRange; startOffset equal
// to the log end gives no records and no error.
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
	if startOffset >= maxOffset {
		l.mu.RUnlock()
		return info, nil
	}
	i := max(l.segmentFor(startOffset), 0)
	startPos := l.segments[i].index.lookup(startOffset)
	// Sizes are loaded after the log end, so every batch below the log end
	// we saw lies within them.
	snaps := make([]segmentSnapshot, 0, len(l.segments)-i)
	for _, s := range l.segments[i:] {
		snaps = append(snaps, segmentSnapshot{s, s.size.Load()})
	}
	l.mu.RUnlock()

	recs, err := readSegments(snaps, startOffset, startPos, maxBytes, maxOffset, minOneMessage)
	if err != nil {
		if errors.Is(err, os.ErrClosed) {
			err = ErrLogClosed
		}
		return info, fmt.Errorf("read %s at offset %d: %w", l, startOffset, err)
	}
	info.Records = recs
	return info, nil
}

func readSegments(snaps []segmentSnapshot, startOffset, pos int64, maxBytes int, maxOffset int64, minOneMessage bool) ([]byte, error) {
	var out []byte
	budget := int64(maxBytes)
	first := true
	for k, sn := range snaps {
		if k > 0 {
			pos = 0
		}
		if first {
			p, h, found, err := sn.seg.translate(startOffset, pos, sn.size)
			if err != nil {
				return nil, err
			}
			if !found {
				continue // startOffset lies past this segment's last batch (a gap)
			}
			pos = p
			if h.baseOffset >= maxOffset {
				return nil, nil
			}
			if int64(h.size) > budget {
				if !minOneMessage {
					return nil, nil
				}
				out = make([]byte, h.size)
				_, err := sn.seg.log.ReadAt(out, pos)
				return out, err
			}
			total := -pos
			for _, s := range snaps[k:] {
				total += s.size
			}
			out = make([]byte, 0, min(total, budget))
			first = false
		}
		avail := sn.size - pos
		want := min(avail, budget)
		if want <= 0 {
			break
		}
		start := len(out)
		out = out[:start+int(want)]
		if _, err := sn.seg.log.ReadAt(out[start:], pos); err != nil {
			return nil, err
		}
		kept, stop := wholeBatches(out[start:], maxOffset)
		out = out[:start+kept]
		if stop || int64(kept) < avail {
			break
		}
		budget -= int64(kept)
	}
	return out, nil
}

// wholeBatches returns the length of the prefix of chunk made of complete
// batches with base offsets below maxOffset; stop reports a batch at or
// past maxOffset.
func wholeBatches(chunk []byte, maxOffset int64) (n int, stop bool) {
	for n+logOverhead <= len(chunk) {
		b := batchView(chunk[n:])
		if b.baseOffset() >= maxOffset {
			return n, true
		}
		size := b.size()
		if size < batchHeaderSize || n+size > len(chunk) {
			return n, false
		}
		n += size
	}
	return n, false
}
