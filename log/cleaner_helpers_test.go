package log

import (
	"fmt"
	"testing"
	"time"
)

// setClock moves c to ms.
func setClock(c *testClock, ms int64) {
	c.mu.Lock()
	c.t = time.UnixMilli(ms)
	c.mu.Unlock()
}

func clockMs(c *testClock) int64 { return c.Now().UnixMilli() }

func compactedConfig() Config {
	cfg := DefaultConfig()
	cfg.CleanupPolicy = "compact"
	cfg.SegmentBytes = 4 << 10
	cfg.IndexIntervalBytes = 128
	cfg.FileDeleteDelayMs = 0
	return cfg
}

func newCleanerManager(t testing.TB, dir string, clock *testClock) *LogManager {
	t.Helper()
	m, err := NewLogManager(ManagerConfig{Dirs: []string{dir}, Default: compactedConfig(), Logger: testLogger(t), Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// attachCleaner installs a cleaner without threads, so tests drive passes.
func attachCleaner(t testing.TB, m *LogManager, cfg CleanerConfig) (*logCleaner, *cleaner) {
	t.Helper()
	c, err := newLogCleaner(m, cfg)
	if err != nil {
		t.Fatal(err)
	}
	m.cleaner.Store(c)
	return c, newCleaner(0, c.cfg, c.logger, func() bool { return false })
}

// kv is one record to append; value nil is a tombstone.
type kv struct {
	key, value []byte
}

func keyed(k string, v string) kv { return kv{[]byte(k), []byte(v)} }

func tombstone(k string) kv { return kv{key: []byte(k)} }

// appendKeyed appends one batch of recs with codec and returns its first offset.
func appendKeyed(t testing.TB, l *Log, codec int, ts int64, recs ...kv) int64 {
	t.Helper()
	trs := make([]testRecord, len(recs))
	for i, r := range recs {
		trs[i] = testRecord{key: r.key, value: r.value, tsDelta: int64(i)}
	}
	info, err := l.AppendAsLeader(buildBatch(t, batchSpec{records: trs, codec: codec, baseTs: ts}), 0)
	if err != nil {
		t.Fatal(err)
	}
	return info.FirstOffset
}

// roll seals the active segment.
func roll(t testing.TB, l *Log) {
	t.Helper()
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	if _, err := l.rollLocked(l.leo.Load()); err != nil {
		t.Fatal(err)
	}
}

// readRecord is a record as a reader of the log sees it.
type readRecord struct {
	offset    int64
	key       string
	value     string
	tombstone bool
	ts        int64
}

func (r readRecord) String() string {
	if r.tombstone {
		return fmt.Sprintf("%d:%s=<nil>", r.offset, r.key)
	}
	return fmt.Sprintf("%d:%s=%s", r.offset, r.key, r.value)
}

// readRecords reads the whole log through Read and decodes every record,
// checking CRCs and that offsets only grow.
func readRecords(t testing.TB, l *Log) []readRecord {
	t.Helper()
	ri, err := l.Read(l.LogStartOffset(), 1<<30, l.LogEndOffset(), false)
	if err != nil {
		t.Fatal(err)
	}
	data, err := ri.AppendTo(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []readRecord
	var scratch []byte
	prev := int64(-1)
	for _, pb := range splitBatches(t, data) {
		b := batchView(pb.raw)
		if b.baseOffset() <= prev {
			t.Fatalf("batch at %d does not follow offset %d", b.baseOffset(), prev)
		}
		prev = b.lastOffset()
		p, err := recordsOf(b, &scratch)
		if err != nil {
			t.Fatal(err)
		}
		last := b.baseOffset() - 1
		err = eachRecord(p, int(b.recordsCount()), func(r *cleanerRecord) bool {
			off := b.baseOffset() + r.offDelta
			if off <= last || off > b.lastOffset() {
				t.Errorf("record offset %d out of order in batch [%d, %d]", off, b.baseOffset(), b.lastOffset())
			}
			last = off
			rr := readRecord{offset: off, key: string(r.key), tombstone: r.nullValue, ts: b.baseTimestamp() + r.tsDelta}
			if !r.nullValue {
				rr.value = string(valueOf(t, r))
			}
			out = append(out, rr)
			return true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// valueOf extracts the value of a parsed record.
func valueOf(t testing.TB, r *cleanerRecord) []byte {
	p := r.keyOnwards
	var n int
	keyLen, n := varint(p)
	p = p[n+max(int(keyLen), 0):]
	valLen, n := varint(p)
	if valLen < 0 {
		return nil
	}
	return p[n : n+int(valLen)]
}

func varint(p []byte) (int64, int) {
	var x uint64
	var s uint
	for i, b := range p {
		x |= uint64(b&0x7f) << s
		if b < 0x80 {
			return int64(x>>1) ^ -int64(x&1), i + 1
		}
		s += 7
	}
	return 0, 0
}

// cleanNow runs one pass over l from its log start, whatever its dirty
// ratio, at nowMs.
func cleanNow(t testing.TB, cl *cleaner, l *Log, nowMs int64) int64 {
	t.Helper()
	v, err := l.cleanerView()
	if err != nil {
		t.Fatal(err)
	}
	ltc, _ := cleanableOffsets(v, -1, nowMs)
	ltc.log = l
	end, _, err := cl.clean(ltc, nowMs)
	if err != nil {
		t.Fatal(err)
	}
	return end
}
