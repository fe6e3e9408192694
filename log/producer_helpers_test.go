package log

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// prodSpec is a producer batch for prodBatch.
type prodSpec struct {
	pid   int64
	epoch int16
	seq   int32
	n     int  // records (1 if 0)
	txn   bool // transactional bit
	ts    int64
}

// prodBatch builds a batch of an idempotent or transactional producer.
func prodBatch(t testing.TB, s prodSpec) []byte {
	t.Helper()
	n := max(s.n, 1)
	recs := make([]testRecord, n)
	for i := range recs {
		recs[i] = testRecord{key: []byte{byte(i)}, value: []byte("value"), tsDelta: int64(i)}
	}
	ts := s.ts
	if ts == 0 {
		ts = fixedNow.UnixMilli()
	}
	var attrs uint16
	if s.txn {
		attrs = attrTransactional
	}
	b := buildBatch(t, batchSpec{records: recs, baseTs: ts, attrs: attrs, producerID: s.pid, baseSeq: s.seq})
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(s.epoch))
	fixCRC(b)
	return b
}

func mustAppend(t testing.TB, l *Log, b []byte) AppendInfo {
	t.Helper()
	info, err := l.AppendAsLeader(b, 0)
	if err != nil {
		t.Fatalf("append: %v", err)
	}
	return info
}

func mustMarker(t testing.TB, l *Log, m Marker) AppendInfo {
	t.Helper()
	info, err := l.AppendMarker(m, 0)
	if err != nil {
		t.Fatalf("marker %+v: %v", m, err)
	}
	return info
}

// allAborted is every .txnindex entry of the log, oldest segment first.
func allAborted(l *Log) []abortedTxnEntry {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []abortedTxnEntry
	for _, s := range l.segments {
		out = append(out, s.txn.all()...)
	}
	return out
}

// crash abandons l as a killed broker would: no snapshot, no flush.
func crash(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	l.bg.Wait()
	l.closed = true
	l.closeSegments()
	l.appendMu.Unlock()
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
