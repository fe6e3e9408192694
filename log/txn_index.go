package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
)

// The transaction index (.txnindex) of a segment, after Kafka's
// TransactionIndex: one 34-byte entry per aborted transaction whose ABORT
// marker lies in the segment — int16 version (0), int64 producerId, int64
// firstOffset, int64 lastOffset (the marker), int64 lastStableOffset (the
// LSO when it was aborted). The file is created on the first entry, so
// most segments have none. The entries are also kept in memory: there are
// few, and read_committed fetches read them on every fetch.

const (
	txnIndexSuffix    = ".txnindex"
	txnIndexEntrySize = 34
	abortedTxnVersion = 0
)

type abortedTxnEntry struct {
	producerID, firstOffset, lastOffset, lastStableOffset int64
}

func (e abortedTxnEntry) encode(b []byte) {
	binary.BigEndian.PutUint16(b[0:], abortedTxnVersion)
	binary.BigEndian.PutUint64(b[2:], uint64(e.producerID))
	binary.BigEndian.PutUint64(b[10:], uint64(e.firstOffset))
	binary.BigEndian.PutUint64(b[18:], uint64(e.lastOffset))
	binary.BigEndian.PutUint64(b[26:], uint64(e.lastStableOffset))
}

// txnIndex is safe for concurrent use: appends and truncations come from
// the append path, collects from fetches. A nil *txnIndex (a segment the
// cleaner is still writing) is an empty index.
type txnIndex struct {
	mu      sync.Mutex
	path    string
	f       *os.File // nil until the file exists
	entries []abortedTxnEntry
}

// openTxnIndex loads the index at path if the file exists. A torn last
// entry (a crash mid-write) is cut off.
func openTxnIndex(path string) (*txnIndex, error) {
	x := &txnIndex{path: path}
	f, err := os.OpenFile(path, os.O_RDWR, 0o644)
	if errors.Is(err, os.ErrNotExist) {
		return x, nil
	}
	if err != nil {
		return nil, err
	}
	buf, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	whole := len(buf) / txnIndexEntrySize * txnIndexEntrySize
	for p := buf[:whole]; len(p) > 0; p = p[txnIndexEntrySize:] {
		if v := int16(binary.BigEndian.Uint16(p)); v > abortedTxnVersion {
			f.Close()
			return nil, fmt.Errorf("log: unexpected aborted transaction version %d in transaction index %s", v, path)
		}
		x.entries = append(x.entries, abortedTxnEntry{
			producerID:       int64(binary.BigEndian.Uint64(p[2:])),
			firstOffset:      int64(binary.BigEndian.Uint64(p[10:])),
			lastOffset:       int64(binary.BigEndian.Uint64(p[18:])),
			lastStableOffset: int64(binary.BigEndian.Uint64(p[26:])),
		})
	}
	if whole != len(buf) {
		if err := f.Truncate(int64(whole)); err != nil {
			f.Close()
			return nil, err
		}
	}
	x.f = f
	return x, nil
}

// append adds an entry; marker offsets must grow, as Kafka requires.
func (x *txnIndex) append(e abortedTxnEntry) error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if n := len(x.entries); n > 0 && x.entries[n-1].lastOffset >= e.lastOffset {
		return fmt.Errorf("log: the last offset of appended transactions must increase sequentially, but %d is not greater than current last offset %d of index %s",
			e.lastOffset, x.entries[n-1].lastOffset, x.path)
	}
	if x.f == nil {
		f, err := os.OpenFile(x.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		x.f = f
	}
	var b [txnIndexEntrySize]byte
	e.encode(b[:])
	if _, err := x.f.WriteAt(b[:], int64(len(x.entries))*txnIndexEntrySize); err != nil {
		return fmt.Errorf("log: write %s: %w", x.path, err)
	}
	x.entries = append(x.entries, e)
	return nil
}

// truncateTo drops the entries whose marker is at or above offset.
func (x *txnIndex) truncateTo(offset int64) error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i, e := range x.entries {
		if e.lastOffset >= offset {
			return x.cutLocked(i)
		}
	}
	return nil
}

// reset empties the index (before recovery rebuilds it).
func (x *txnIndex) reset() error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cutLocked(0)
}

func (x *txnIndex) cutLocked(n int) error {
	x.entries = x.entries[:n]
	if x.f == nil {
		return nil
	}
	return x.f.Truncate(int64(n) * txnIndexEntrySize)
}

// collect is TransactionIndex.collectAbortedTxns: the entries whose marker
// is at or after fetchOffset and whose first offset is below upper;
// complete says an entry's LSO reached upper, so later segments cannot add
// any.
func (x *txnIndex) collect(fetchOffset, upper int64, dst []AbortedTxn) ([]AbortedTxn, bool) {
	if x == nil {
		return dst, false
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range x.entries {
		if e.lastOffset >= fetchOffset && e.firstOffset < upper {
			dst = append(dst, AbortedTxn{ProducerID: e.producerID, FirstOffset: e.firstOffset})
		}
		if e.lastStableOffset >= upper {
			return dst, true
		}
	}
	return dst, false
}

func (x *txnIndex) all() []abortedTxnEntry {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]abortedTxnEntry(nil), x.entries...)
}

func (x *txnIndex) sync() error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.f == nil {
		return nil
	}
	return x.f.Sync()
}

func (x *txnIndex) close() error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.f == nil {
		return nil
	}
	err := x.f.Close()
	x.f = nil
	return err
}

func (x *txnIndex) currentPath() string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.path
}

// rename moves the file (if there is one) and remembers the new name.
func (x *txnIndex) rename(to string) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	if err := os.Rename(x.path, to); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	x.path = to
	return nil
}
