package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Producer snapshots: <20-digit offset>.snapshot, the producer state up to
// (not including) that offset, in ProducerStateManager's format:
// int16 version (1) · uint32 CRC-32C of everything after the CRC · int32
// entry count · entries of 46 bytes (producerId int64, epoch int16,
// lastSequence int32, lastOffset int64, offsetDelta int32, timestamp
// int64, coordinatorEpoch int32, currentTxnFirstOffset int64). Only the
// last batch of each producer is kept, so after a reload only a retry of
// that batch is recognized as a duplicate, as in Kafka.

const (
	snapshotSuffix      = ".snapshot"
	snapshotVersion     = 1
	snapshotHeaderSize  = 2 + 4 + 4
	snapshotEntrySize   = 8 + 2 + 4 + 8 + 4 + 8 + 4 + 8
	snapshotCRCStartPos = 6
)

var errCorruptSnapshot = errors.New("corrupt producer snapshot")

func encodeSnapshot(entries []*producerEntry) []byte {
	buf := make([]byte, snapshotHeaderSize+len(entries)*snapshotEntrySize)
	binary.BigEndian.PutUint16(buf, snapshotVersion)
	binary.BigEndian.PutUint32(buf[6:], uint32(len(entries)))
	p := buf[snapshotHeaderSize:]
	for _, e := range entries {
		binary.BigEndian.PutUint64(p[0:], uint64(e.producerID))
		binary.BigEndian.PutUint16(p[8:], uint16(e.epoch))
		binary.BigEndian.PutUint32(p[10:], uint32(e.lastSeq()))
		binary.BigEndian.PutUint64(p[14:], uint64(e.lastDataOffset()))
		binary.BigEndian.PutUint32(p[22:], uint32(e.lastOffsetDelta()))
		binary.BigEndian.PutUint64(p[26:], uint64(e.lastTimestamp))
		binary.BigEndian.PutUint32(p[34:], uint32(e.coordinatorEpoch))
		binary.BigEndian.PutUint64(p[38:], uint64(e.txnFirstOffset))
		p = p[snapshotEntrySize:]
	}
	binary.BigEndian.PutUint32(buf[2:], crc32.Checksum(buf[snapshotCRCStartPos:], castagnoli))
	return buf
}

// decodeSnapshot is ProducerStateManager.readSnapshot.
func decodeSnapshot(buf []byte) ([]*producerEntry, error) {
	if len(buf) < snapshotHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes", errCorruptSnapshot, len(buf))
	}
	if v := int16(binary.BigEndian.Uint16(buf)); v != snapshotVersion {
		return nil, fmt.Errorf("%w: snapshot contained an unknown file version %d", errCorruptSnapshot, v)
	}
	stored, computed := binary.BigEndian.Uint32(buf[2:]), crc32.Checksum(buf[snapshotCRCStartPos:], castagnoli)
	if stored != computed {
		return nil, fmt.Errorf("%w: CRC is no longer valid. Stored crc: %d. Computed crc: %d", errCorruptSnapshot, stored, computed)
	}
	n := int32(binary.BigEndian.Uint32(buf[6:]))
	if n < 0 || int64(len(buf)) != snapshotHeaderSize+int64(n)*snapshotEntrySize {
		return nil, fmt.Errorf("%w: %d entries in %d bytes", errCorruptSnapshot, n, len(buf))
	}
	out := make([]*producerEntry, 0, n)
	for p := buf[snapshotHeaderSize:]; len(p) > 0; p = p[snapshotEntrySize:] {
		e := emptyEntry(int64(binary.BigEndian.Uint64(p[0:])))
		e.epoch = int16(binary.BigEndian.Uint16(p[8:]))
		seq := int32(binary.BigEndian.Uint32(p[10:]))
		offset := int64(binary.BigEndian.Uint64(p[14:]))
		delta := int32(binary.BigEndian.Uint32(p[22:]))
		e.lastTimestamp = int64(binary.BigEndian.Uint64(p[26:]))
		e.coordinatorEpoch = int32(binary.BigEndian.Uint32(p[34:]))
		if first := int64(binary.BigEndian.Uint64(p[38:])); first >= 0 {
			e.txnFirstOffset = first
		}
		if offset >= 0 {
			e.batches = append(e.batches, batchMeta{lastSeq: seq, lastOffset: offset, offsetDelta: delta, timestamp: e.lastTimestamp})
		}
		out = append(out, e)
	}
	return out, nil
}

func snapshotPath(dir string, offset int64) string { return segmentPath(dir, offset, snapshotSuffix) }

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, e := range entries {
		if name := e.Name(); e.Type().IsRegular() && strings.HasSuffix(name, snapshotSuffix) {
			if off, ok := parseBase(name, snapshotSuffix); ok {
				out = append(out, off)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

// writeSnapshotFile writes a snapshot; sync makes it durable before it
// returns (Kafka skips that at roll, where the segment flush that follows
// syncs it).
func writeSnapshotFile(path string, data []byte, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	return errors.Join(f.Sync(), f.Close())
}

// takeSnapshot writes the state at mapEnd if it moved since the last one
// (ProducerStateManager.takeSnapshot); it returns the path written or "".
func (p *producerState) takeSnapshot(dir string, sync bool) (string, error) {
	if p.mapEnd <= p.lastSnap {
		return "", nil
	}
	path := snapshotPath(dir, p.mapEnd)
	if err := writeSnapshotFile(path, encodeSnapshot(p.sortedEntries()), sync); err != nil {
		return "", fmt.Errorf("log: write producer snapshot %s: %w", path, err)
	}
	p.addSnapshot(p.mapEnd)
	p.lastSnap = p.mapEnd
	return path, nil
}

func (p *producerState) addSnapshot(off int64) {
	i := sort.Search(len(p.snapshots), func(i int) bool { return p.snapshots[i] >= off })
	if i < len(p.snapshots) && p.snapshots[i] == off {
		return
	}
	p.snapshots = append(p.snapshots, 0)
	copy(p.snapshots[i+1:], p.snapshots[i:])
	p.snapshots[i] = off
}

func (p *producerState) latestSnapshot() (int64, bool) {
	if len(p.snapshots) == 0 {
		return 0, false
	}
	return p.snapshots[len(p.snapshots)-1], true
}

// deleteSnapshotsWhere removes the snapshot files whose offset matches.
func (p *producerState) deleteSnapshotsWhere(dir string, doomed func(int64) bool) error {
	kept := p.snapshots[:0]
	var errs []error
	for _, off := range p.snapshots {
		if !doomed(off) {
			kept = append(kept, off)
			continue
		}
		if err := os.Remove(snapshotPath(dir, off)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	p.snapshots = kept
	return errors.Join(errs...)
}

// markSnapshotForDeletion is removeAndMarkSnapshotForDeletion: the snapshot
// at off leaves the list and is renamed .deleted; the returned path (or "")
// is deleted later with its segment.
func (p *producerState) markSnapshotForDeletion(dir string, off int64) (string, error) {
	i := sort.Search(len(p.snapshots), func(i int) bool { return p.snapshots[i] >= off })
	if i == len(p.snapshots) || p.snapshots[i] != off {
		return "", nil
	}
	p.snapshots = append(p.snapshots[:i], p.snapshots[i+1:]...)
	from := snapshotPath(dir, off)
	if err := os.Rename(from, from+deletedSuffix); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", nil
		}
		return from, err
	}
	return from + deletedSuffix, nil
}

// removeStraySnapshots is ProducerStateManager.removeStraySnapshots: a
// snapshot not at a segment's base offset is deleted, except the newest
// such one if it lies above every segment base (the one a clean shutdown
// wrote at the log end).
func (p *producerState) removeStraySnapshots(dir string, bases []int64) error {
	isBase := make(map[int64]bool, len(bases))
	maxBase := int64(-1)
	for _, b := range bases {
		isBase[b] = true
		maxBase = max(maxBase, b)
	}
	stray := int64(-1)
	for _, off := range p.snapshots {
		if !isBase[off] {
			stray = off // the newest stray
		}
	}
	return p.deleteSnapshotsWhere(dir, func(off int64) bool {
		return !isBase[off] && (off != stray || (maxBase >= 0 && stray < maxBase))
	})
}

// readSnapshotFile loads one snapshot file.
func readSnapshotFile(dir string, off int64) ([]*producerEntry, error) {
	buf, err := os.ReadFile(filepath.Clean(snapshotPath(dir, off)))
	if err != nil {
		return nil, err
	}
	return decodeSnapshot(buf)
}
