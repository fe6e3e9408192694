package log

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
)

const (
	offsetIndexEntrySize = 8  // int32 relative offset, int32 position
	timeIndexEntrySize   = 12 // int64 timestamp, int32 relative offset
)

// mmapIndex is Kafka's AbstractIndex: a file of fixed-size entries, mapped
// into memory. The active segment's index is preallocated and mapped
// read-write; a sealed one is trimmed to its entries and mapped read-only.
//
// Appends come from the log's append path only (appendMu); entries is
// published atomically after the bytes are written, so lookups under the
// log's read lock see whole entries. remap/close replace the mapping and
// must hold the log's write lock, since a lookup may be reading it.
type mmapIndex struct {
	path       string
	entrySize  int
	baseOffset int64
	file       *os.File
	mm         []byte
	entries    atomic.Int64
	writable   bool
}

// openIndex opens or creates an index file. With maxBytes > 0 the file is
// (re)sized to maxBytes and mapped writable, as for the active segment. A
// file whose length is not a whole number of entries is emptied and
// reported as a problem; the caller rebuilds it.
func openIndex(path string, entrySize int, baseOffset int64, maxBytes int) (idx *mmapIndex, problem, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	length := st.Size()
	idx = &mmapIndex{path: path, entrySize: entrySize, baseOffset: baseOffset, file: f}
	if length%int64(entrySize) != 0 {
		problem = fmt.Errorf("index file %s is corrupt, found %d bytes which is neither positive nor a multiple of %d",
			path, length, entrySize)
		length = 0
		if err := f.Truncate(0); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	idx.entries.Store(length / int64(entrySize))
	if err := idx.mapFile(maxBytes); err != nil {
		f.Close()
		return nil, nil, err
	}
	return idx, problem, nil
}

// mapFile maps the file: writable at max(maxBytes, used size) when
// maxBytes > 0, else read-only at exactly the used size.
func (x *mmapIndex) mapFile(maxBytes int) error {
	used := int(x.entries.Load()) * x.entrySize
	size, prot := used, syscall.PROT_READ
	if maxBytes > 0 {
		size = max(used, maxBytes/x.entrySize*x.entrySize)
		prot |= syscall.PROT_WRITE
		if err := x.file.Truncate(int64(size)); err != nil {
			return err
		}
	}
	x.writable = maxBytes > 0
	if size == 0 {
		x.mm = nil
		return nil
	}
	mm, err := syscall.Mmap(int(x.file.Fd()), 0, size, prot, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", x.path, err)
	}
	x.mm = mm
	return nil
}

func (x *mmapIndex) unmap() error {
	if x.mm == nil {
		return nil
	}
	err := syscall.Munmap(x.mm)
	x.mm = nil
	return err
}

func (x *mmapIndex) maxEntries() int64 {
	if !x.writable {
		return x.entries.Load()
	}
	return int64(len(x.mm) / x.entrySize)
}

func (x *mmapIndex) isFull() bool { return x.entries.Load() >= x.maxEntries() }

// entry returns the i-th entry's bytes.
func (x *mmapIndex) entry(i int64) []byte {
	at := int(i) * x.entrySize
	return x.mm[at : at+x.entrySize]
}

func (x *mmapIndex) appendEntry(fill func([]byte)) error {
	n := x.entries.Load()
	if !x.writable || n >= x.maxEntries() {
		return fmt.Errorf("index %s is full or sealed (%d entries)", x.path, n)
	}
	fill(x.entry(n))
	x.entries.Store(n + 1)
	return nil
}

// trim cuts the file to its entries and remaps it read-only; entries = file
// length / entry size from then on, which is what a reopen relies on.
func (x *mmapIndex) trim() error {
	if err := x.unmap(); err != nil {
		return err
	}
	if err := x.file.Truncate(x.entries.Load() * int64(x.entrySize)); err != nil {
		return err
	}
	return x.mapFile(0)
}

// reset drops all entries and makes the index writable, for a rebuild.
func (x *mmapIndex) reset(maxBytes int) error {
	if err := x.unmap(); err != nil {
		return err
	}
	x.entries.Store(0)
	if err := x.file.Truncate(0); err != nil {
		return err
	}
	return x.mapFile(maxBytes)
}

func (x *mmapIndex) sync() error { return x.file.Sync() }

func (x *mmapIndex) close() error {
	var err error
	if x.writable {
		err = x.trim()
	}
	if e := x.unmap(); err == nil {
		err = e
	}
	if e := x.file.Close(); err == nil {
		err = e
	}
	return err
}

// Offset index.

func (x *mmapIndex) offsetEntry(i int64) (rel int32, pos int32) {
	e := x.entry(i)
	return int32(binary.BigEndian.Uint32(e)), int32(binary.BigEndian.Uint32(e[4:]))
}

func (x *mmapIndex) appendOffset(offset int64, position int64) error {
	rel := offset - x.baseOffset
	if n := x.entries.Load(); n > 0 {
		if last, _ := x.offsetEntry(n - 1); int64(last) >= rel {
			return fmt.Errorf("index %s: offset %d is not above the last entry %d", x.path, offset, x.baseOffset+int64(last))
		}
	}
	return x.appendEntry(func(e []byte) {
		binary.BigEndian.PutUint32(e, uint32(rel))
		binary.BigEndian.PutUint32(e[4:], uint32(position))
	})
}

// lookup returns the position of the largest entry whose offset is <= target,
// or 0 (the segment start) if there is none.
func (x *mmapIndex) lookup(target int64) int64 {
	rel := target - x.baseOffset
	lo, hi := int64(0), x.entries.Load()-1
	pos := int64(0)
	for lo <= hi {
		mid := (lo + hi) / 2
		r, p := x.offsetEntry(mid)
		if int64(r) <= rel {
			pos = int64(p)
			lo = mid + 1
		} else {
			hi = mid - 1
		}
	}
	return pos
}

// checkOffsetIndex is OffsetIndex.sanityCheck made stricter: entries must
// grow strictly in offset, stay below nextBase (the next segment's base),
// not shrink in position and point inside a log of logSize bytes. A
// trimmed index that is wrong still passes, so the caller also checks the
// batch the last entry points at (checkLastIndexEntry).
func (x *mmapIndex) checkOffsetIndex(logSize, nextBase int64) error {
	prevRel, prevPos := int64(-1), int64(-1)
	for i := int64(0); i < x.entries.Load(); i++ {
		r, p := x.offsetEntry(i)
		if int64(r) <= prevRel || int64(p) < prevPos || int64(p) >= logSize || x.baseOffset+int64(r) >= nextBase {
			return fmt.Errorf("corrupt index found, index file %s has a bad entry %d (offset %d, position %d) for a log of %d bytes",
				x.path, i, x.baseOffset+int64(r), p, logSize)
		}
		prevRel, prevPos = int64(r), int64(p)
	}
	return nil
}

// Time index.

func (x *mmapIndex) timeEntry(i int64) (ts int64, rel int32) {
	e := x.entry(i)
	return int64(binary.BigEndian.Uint64(e)), int32(binary.BigEndian.Uint32(e[8:]))
}

// lastTime returns the last time-index entry, or (-1, base) if empty.
func (x *mmapIndex) lastTime() (ts int64, offset int64) {
	n := x.entries.Load()
	if n == 0 {
		return noTimestamp, x.baseOffset
	}
	t, r := x.timeEntry(n - 1)
	return t, x.baseOffset + int64(r)
}

// timeIndexFull keeps the last slot free for the entry written when the
// segment is sealed (Kafka's TimeIndex.isFull is entries >= maxEntries-1).
func (x *mmapIndex) timeIndexFull() bool { return x.entries.Load() >= x.maxEntries()-1 }

// maybeAppendTime adds (ts, offset) if ts is above the last entry's, as
// Kafka's TimeIndex.maybeAppend does; final may use the reserved slot.
func (x *mmapIndex) maybeAppendTime(ts, offset int64, final bool) error {
	if ts == noTimestamp {
		return nil
	}
	if n := x.entries.Load(); n > 0 {
		if last, _ := x.lastTime(); ts <= last {
			return nil
		}
	}
	if (!final && x.timeIndexFull()) || x.isFull() {
		return nil
	}
	rel := offset - x.baseOffset
	return x.appendEntry(func(e []byte) {
		binary.BigEndian.PutUint64(e, uint64(ts))
		binary.BigEndian.PutUint32(e[8:], uint32(rel))
	})
}

// checkTimeIndex is TimeIndex.sanityCheck made stricter: timestamps grow
// strictly (maybeAppendTime only appends a larger one, so a run of zeroed
// preallocated entries fails), offsets do not decrease and lie in
// [base, nextBase).
func (x *mmapIndex) checkTimeIndex(nextBase int64) error {
	prevTs, prevRel := int64(-1<<63), int64(0)
	for i := int64(0); i < x.entries.Load(); i++ {
		t, r := x.timeEntry(i)
		if t <= prevTs || int64(r) < prevRel || x.baseOffset+int64(r) >= nextBase {
			return fmt.Errorf("corrupt time index found, time index file %s has a bad entry %d (timestamp %d, offset %d)",
				x.path, i, t, x.baseOffset+int64(r))
		}
		prevTs, prevRel = t, int64(r)
	}
	return nil
}
