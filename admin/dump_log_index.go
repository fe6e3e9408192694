package admin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	offsetIndexEntrySize = 8  // int32 relative offset, int32 position
	timeIndexEntrySize   = 12 // int64 timestamp, int32 relative offset
	txnIndexEntrySize    = 34
	snapshotEntrySize    = 46
	snapshotHeaderSize   = 10 // version, CRC, entry count
)

// indexFile is a whole offset or time index read into memory; entries = length / entry size, as Kafka counts
// them when it opens an existing index.
type indexFile struct {
	path      string
	base      int64
	data      []byte
	entrySize int
}

func readIndexFile(path string, base int64, entrySize int) (*indexFile, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		// Kafka would create the file and then refuse to size it (the tool opens indexes with max size -1).
		return nil, errors.New("java.lang.IllegalArgumentException: Invalid max index size: -1")
	}
	if err != nil {
		return nil, fmt.Errorf("java.io.IOException: %v", err)
	}
	return &indexFile{path: path, base: base, data: data, entrySize: entrySize}, nil
}

func (x *indexFile) entries() int { return len(x.data) / x.entrySize }

// offsetEntry is OffsetIndex.entry(i).
func (x *indexFile) offsetEntry(i int) (offset, position int64) {
	e := x.data[i*offsetIndexEntrySize:]
	return x.base + int64(int32(binary.BigEndian.Uint32(e))), int64(int32(binary.BigEndian.Uint32(e[4:])))
}

// timeEntry is TimeIndex.entry(i).
func (x *indexFile) timeEntry(i int) (timestamp, offset int64) {
	e := x.data[i*timeIndexEntrySize:]
	return int64(binary.BigEndian.Uint64(e)), x.base + int64(int32(binary.BigEndian.Uint32(e[8:])))
}

// lookup is OffsetIndex.lookup: the position of the largest entry at or below target, else (base, 0). It searches
// like AbstractIndex (the last warm 8 KiB first), so it answers as Kafka does even on an untrimmed index.
func (x *indexFile) lookup(target int64) int64 {
	n := x.entries()
	if n == 0 {
		return 0
	}
	search := func(lo, hi int) int {
		for lo < hi {
			mid := int(uint(lo+hi+1) >> 1)
			off, _ := x.offsetEntry(mid)
			switch {
			case off > target:
				hi = mid - 1
			case off < target:
				lo = mid
			default:
				return mid
			}
		}
		return lo
	}
	slot := -1
	firstHot := max(0, n-1-8192/offsetIndexEntrySize)
	if off, _ := x.offsetEntry(firstHot); off < target {
		slot = search(firstHot, n-1)
	} else if off, _ := x.offsetEntry(0); off <= target {
		slot = search(0, firstHot)
	}
	if slot < 0 {
		return 0
	}
	_, pos := x.offsetEntry(slot)
	return pos
}

const corruptIndex = "org.apache.kafka.storage.internals.log.CorruptIndexException: "

// offsetIndexSanity is OffsetIndex.sanityCheck.
func (x *indexFile) offsetIndexSanity() error {
	if n := x.entries(); n != 0 {
		if last, _ := x.offsetEntry(n - 1); last < x.base {
			return fmt.Errorf(corruptIndex+"Corrupt index found, index file %s has non-zero size but the last offset is %d which is less than the base offset %d",
				absPath(x.path), last, x.base)
		}
	}
	if len(x.data)%offsetIndexEntrySize != 0 {
		return fmt.Errorf(corruptIndex+"Index file %s is corrupt, found %d bytes which is neither positive nor a multiple of %d",
			absPath(x.path), len(x.data), offsetIndexEntrySize)
	}
	return nil
}

// timeIndexSanity is TimeIndex.sanityCheck.
func (x *indexFile) timeIndexSanity() error {
	if n := x.entries(); n != 0 {
		lastTs, lastOff := x.timeEntry(n - 1)
		firstTs, _ := x.timeEntry(0)
		if lastTs < firstTs {
			return fmt.Errorf(corruptIndex+"Corrupt time index found, time index file (%s) has non-zero size but the last timestamp is %d which is less than the first timestamp %d",
				absPath(x.path), lastTs, firstTs)
		}
		if lastOff < x.base {
			return fmt.Errorf(corruptIndex+"Corrupt time index found, time index file (%s) has non-zero size but the last offset is %d which is less than the first offset %d",
				absPath(x.path), lastOff, x.base)
		}
	}
	if len(x.data)%timeIndexEntrySize != 0 {
		return fmt.Errorf(corruptIndex+"Time index file %s is corrupt, found %d bytes which is neither positive nor a multiple of %d",
			absPath(x.path), len(x.data), timeIndexEntrySize)
	}
	return nil
}

// companion names the segment's file with another suffix, in the index's directory.
func companion(path, suffix string) string {
	prefix, _, _ := strings.Cut(filepath.Base(path), ".")
	return filepath.Join(filepath.Dir(absPath(path)), prefix+suffix)
}

// dumpIndex prints an offset index and checks that each entry names the last offset of the batch it points at.
func (d *logDumper) dumpIndex(path string) error {
	base, err := segmentBaseOffset(path)
	if err != nil {
		return err
	}
	seg, err := openSegmentFile(companion(path, ".log"))
	if err != nil {
		return err
	}
	defer seg.Close()
	idx, err := readIndexFile(path, base, offsetIndexEntrySize)
	if err != nil {
		return err
	}
	if idx.entries() == 0 {
		fmt.Fprintf(d.out, "%s is empty.\n", path)
		return nil
	}
	if d.sanityOnly {
		if err := idx.offsetIndexSanity(); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "%s passed sanity check.\n", path)
		return nil
	}
	for i := 0; i < idx.entries(); i++ {
		off, pos := idx.offsetEntry(i)
		// A crash can leave a preallocated index full of zero entries: the first one ends the real ones.
		if off == idx.base && i > 0 {
			return nil
		}
		var b *fileBatch
		if pos >= 0 && pos <= seg.size {
			if b, err = seg.batchAt(pos, pos+min(d.maxMessageSize, seg.size-pos)); err != nil {
				return err
			}
		}
		if b == nil {
			return errors.New("java.util.NoSuchElementException")
		}
		if last := b.lastOffset(); last != off {
			d.indexMismatches.add(absPath(path), offsetPair{off, last})
		}
		if !d.verifyOnly {
			fmt.Fprintf(d.out, "offset: %d position: %d\n", off, pos)
		}
	}
	return nil
}

// dumpTimeIndex prints a time index and checks each entry against the batch whose last offset it names.
func (d *logDumper) dumpTimeIndex(path string) error {
	base, err := segmentBaseOffset(path)
	if err != nil {
		return err
	}
	seg, err := openSegmentFile(companion(path, ".log"))
	if err != nil {
		return err
	}
	defer seg.Close()
	offIdx, err := readIndexFile(companion(path, ".index"), base, offsetIndexEntrySize)
	if err != nil {
		return err
	}
	tidx, err := readIndexFile(path, base, timeIndexEntrySize)
	if err != nil {
		return err
	}
	if d.sanityOnly {
		if err := tidx.timeIndexSanity(); err != nil {
			return err
		}
		fmt.Fprintf(d.out, "%s passed sanity check.\n", path)
		return nil
	}
	file := absPath(path)
	prevTs := int64(-1)
	for i := 0; i < tidx.entries(); i++ {
		ts, off := tidx.timeEntry(i)
		if off == tidx.base && i > 0 {
			return nil
		}
		b, err := firstBatchEndingAtOrAfter(seg, offIdx.lookup(off), off)
		if err != nil {
			return err
		}
		switch {
		case b == nil:
			d.timeNotFound.add(file, offsetPair{off, -1})
		case b.lastOffset() != off:
			d.timeNotFound.add(file, offsetPair{off, b.lastOffset()})
		default:
			maxTs := int64(-1)
			if b.magic >= 2 {
				err = b.eachRecord(d.decompressor, func(r *kmsg.Record) error {
					t := b.v2.FirstTimestamp + r.TimestampDelta64
					if b.timestampType() == "LogAppendTime" {
						t = b.v2.MaxTimestamp
					}
					maxTs = max(maxTs, t)
					return nil
				})
				if err != nil {
					return err
				}
			} else {
				maxTs = b.maxTimestamp()
			}
			if maxTs != ts {
				d.timeMismatches.add(file, offsetPair{ts, maxTs})
			}
			if prevTs >= ts {
				d.timeOrder.add(file, offsetPair{ts, prevTs})
			}
		}
		if !d.verifyOnly {
			fmt.Fprintf(d.out, "timestamp: %d offset: %d\n", ts, off)
		}
		prevTs = ts
	}
	return nil
}

// firstBatchEndingAtOrAfter scans the segment from pos for the first batch whose last offset is >= target.
func firstBatchEndingAtOrAfter(seg *segmentFile, pos, target int64) (*fileBatch, error) {
	if pos < 0 || pos > seg.size {
		return nil, nil
	}
	for {
		b, err := seg.batchAt(pos, seg.size)
		if err != nil || b == nil {
			return nil, err
		}
		if b.lastOffset() >= target {
			return b, nil
		}
		pos += b.size()
	}
}

// dumpProducerSnapshot prints a producer-state snapshot; a corrupt one is reported on standard error only.
func (d *logDumper) dumpProducerSnapshot(path string, stderr io.Writer) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("java.nio.file.NoSuchFileException: %s", path)
	} else if err != nil {
		return fmt.Errorf("java.io.IOException: %v", err)
	}
	corrupt := func(format string, args ...any) error {
		d.out.Flush()
		fmt.Fprintf(stderr, format+"\n", args...)
		return nil
	}
	if len(data) < snapshotHeaderSize {
		return corrupt("Snapshot failed schema validation: Error reading field 'version': java.nio.BufferUnderflowException")
	}
	if v := int16(binary.BigEndian.Uint16(data)); v != 1 {
		return corrupt("Snapshot contained an unknown file version %d", v)
	}
	n := int(int32(binary.BigEndian.Uint32(data[6:])))
	if n < 0 || len(data)-snapshotHeaderSize < n*snapshotEntrySize {
		return corrupt("Snapshot failed schema validation: Error reading field 'producer_entries': Error reading array of size %d, only %d bytes available",
			n, len(data)-snapshotHeaderSize)
	}
	if stored, computed := binary.BigEndian.Uint32(data[2:]), crc32.Checksum(data[6:], castagnoli); stored != computed {
		return corrupt("Snapshot is corrupt (CRC is no longer valid). Stored crc: %d. Computed crc: %d", stored, computed)
	}
	for i := 0; i < n; i++ {
		e := data[snapshotHeaderSize+i*snapshotEntrySize:]
		producerID := int64(binary.BigEndian.Uint64(e))
		epoch := int16(binary.BigEndian.Uint16(e[8:]))
		lastSeq := int32(binary.BigEndian.Uint32(e[10:]))
		lastOffset := int64(binary.BigEndian.Uint64(e[14:]))
		offsetDelta := int32(binary.BigEndian.Uint32(e[22:]))
		timestamp := int64(binary.BigEndian.Uint64(e[26:]))
		coordinatorEpoch := int32(binary.BigEndian.Uint32(e[34:]))
		txnFirst := int64(binary.BigEndian.Uint64(e[38:]))
		txn := "OptionalLong.empty"
		if txnFirst >= 0 {
			txn = fmt.Sprintf("OptionalLong[%d]", txnFirst)
		}
		fmt.Fprintf(d.out, "producerId: %d producerEpoch: %d coordinatorEpoch: %d currentTxnFirstOffset: %s lastTimestamp: %d ",
			producerID, epoch, coordinatorEpoch, txn, timestamp)
		if lastOffset >= 0 {
			fmt.Fprintf(d.out, "firstSequence: %d lastSequence: %d lastOffset: %d offsetDelta: %d timestamp: %d",
				decrementSequence(lastSeq, offsetDelta), lastSeq, lastOffset, offsetDelta, timestamp)
		}
		fmt.Fprintln(d.out)
	}
	return nil
}

// decrementSequence is DefaultRecordBatch.decrementSequence.
func decrementSequence(seq, dec int32) int32 {
	if seq < dec {
		return (1<<31 - 1) - (dec - seq) + 1
	}
	return seq - dec
}

// dumpTxnIndex prints the aborted transactions of a transaction index.
func (d *logDumper) dumpTxnIndex(path string) error {
	if _, err := segmentBaseOffset(path); err != nil {
		return err
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil // Kafka opens transaction indexes lazily: a missing one has no entries
	} else if err != nil {
		return fmt.Errorf("java.io.IOException: %v", err)
	}
	for ; len(data) >= txnIndexEntrySize; data = data[txnIndexEntrySize:] {
		version := int16(binary.BigEndian.Uint16(data))
		if version > 0 {
			return fmt.Errorf("java.lang.IllegalStateException: Unexpected aborted transaction version %d in transaction index %s, current version is 0",
				version, absPath(path))
		}
		fmt.Fprintf(d.out, "version: %d producerId: %d firstOffset: %d lastOffset: %d lastStableOffset: %d\n", version,
			int64(binary.BigEndian.Uint64(data[2:])), int64(binary.BigEndian.Uint64(data[10:])),
			int64(binary.BigEndian.Uint64(data[18:])), int64(binary.BigEndian.Uint64(data[26:])))
	}
	return nil
}
