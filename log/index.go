package log

import (
	"encoding/binary"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

const (
	offsetIndexEntrySize = 8  // int32 relative offset, int32 position
	timeIndexEntrySize   = 12 // int64 timestamp, int32 relative offset
)

// mmapIndex is Kafka's AbstractIndex: a file of fixed-size entries, mapped
// into memory. The active segment's index is preallocated and mapped
// read-write; a sealed one is trimmed to its entries and mapped read-only.
//
// Like AbstractIndex, it holds no file descriptor: the file is closed as
// soon as it is mapped (the mapping outlives the descriptor), so a segment
// costs one descriptor, its .log, and a broker with many replicas stays
// under RLIMIT_NOFILE. The rare operations that change the file's length
// (remap, trim, reset) and sync of an empty index reopen it by path, so
// the file is only renamed through rename, which keeps path current.
// path is written under both the log's appendMu and pathMu: the append
// path reads it freely, anything else (a background flush, a delayed
// delete) through currentPath.
//
// Appends come from the log's append path only (appendMu); entries is
// published atomically after the bytes are written, so lookups under the
// log's read lock see whole entries. remap/close replace the mapping and
// must hold the log's write lock, since a lookup may be reading it.
type mmapIndex struct {
	pathMu     sync.Mutex
	path       string
	entrySize  int
	baseOffset int64
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
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	length := st.Size()
	idx = &mmapIndex{path: path, entrySize: entrySize, baseOffset: baseOffset}
	if length%int64(entrySize) != 0 {
		problem = fmt.Errorf("index file %s is corrupt, found %d bytes which is neither positive nor a multiple of %d",
			path, length, entrySize)
		length = 0
		if err := f.Truncate(0); err != nil {
			return nil, nil, err
		}
	}
	idx.entries.Store(length / int64(entrySize))
	if err := idx.mapFd(f, maxBytes); err != nil {
		return nil, nil, err
	}
	return idx, problem, nil
}

func (x *mmapIndex) currentPath() string {
	x.pathMu.Lock()
	defer x.pathMu.Unlock()
	return x.path
}

// rename moves the index file and its path together, so that a reopen
// racing with it (a background flush) finds the file under one name or
// the other. Caller holds the log's appendMu.
func (x *mmapIndex) rename(to string) error {
	x.pathMu.Lock()
	defer x.pathMu.Unlock()
	if err := os.Rename(x.path, to); err != nil {
		return err
	}
	x.path = to
	return nil
}

// withFile runs fn on the index file, opened by its current path for the
// duration of the call only; the descriptor, unlike the name, is not
// affected by a later rename.
func (x *mmapIndex) withFile(fn func(f *os.File) error) error {
	x.pathMu.Lock()
	f, err := os.OpenFile(x.path, os.O_RDWR, 0)
	x.pathMu.Unlock()
	if err != nil {
		return err
	}
	err = fn(f)
	if e := f.Close(); err == nil {
		err = e
	}
	return err
}

// mapFile maps the file: writable at max(maxBytes, used size) when
// maxBytes > 0, else read-only at exactly the used size. The current
// mapping must already be gone (unmap).
func (x *mmapIndex) mapFile(maxBytes int) error {
	return x.withFile(func(f *os.File) error { return x.mapFd(f, maxBytes) })
}

// mapFd is mapFile on an open descriptor, which the caller closes; the
// mapping stays valid after that.
func (x *mmapIndex) mapFd(f *os.File, maxBytes int) error {
	used := int(x.entries.Load()) * x.entrySize
	size, prot := used, syscall.PROT_READ
	if maxBytes > 0 {
		size = max(used, maxBytes/x.entrySize*x.entrySize)
		prot |= syscall.PROT_WRITE
		if err := f.Truncate(int64(size)); err != nil {
			return err
		}
	}
	x.writable = maxBytes > 0
	if size == 0 {
		x.mm = nil
		return nil
	}
	mm, err := syscall.Mmap(int(f.Fd()), 0, size, prot, syscall.MAP_SHARED)
	if err != nil {
		return fmt.Errorf("mmap %s: %w", x.currentPath(), err)
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
	return x.withFile(func(f *os.File) error {
		if err := f.Truncate(x.entries.Load() * int64(x.entrySize)); err != nil {
			return err
		}
		return x.mapFd(f, 0)
	})
}

// reset drops all entries and makes the index writable, for a rebuild.
func (x *mmapIndex) reset(maxBytes int) error {
	if err := x.unmap(); err != nil {
		return err
	}
	x.entries.Store(0)
	return x.withFile(func(f *os.File) error {
		if err := f.Truncate(0); err != nil {
			return err
		}
		return x.mapFd(f, maxBytes)
	})
}

// sync is AbstractIndex.flush: msync of the mapping, no descriptor needed.
// An index with no mapping is empty; its length (a truncation to zero) is
// made durable with an fsync through a short-lived descriptor instead.
func (x *mmapIndex) sync() error {
	if len(x.mm) == 0 {
		return x.withFile(func(f *os.File) error { return f.Sync() })
	}
	_, _, errno := syscall.Syscall(syscall.SYS_MSYNC, uintptr(unsafe.Pointer(&x.mm[0])), uintptr(len(x.mm)), syscall.MS_SYNC)
	if errno != 0 {
		return fmt.Errorf("msync %s: %w", x.currentPath(), errno)
	}
	return nil
}

func (x *mmapIndex) close() error {
	var err error
	if x.writable {
		err = x.trim()
	}
	if e := x.unmap(); err == nil {
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
