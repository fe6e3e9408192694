package log

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkCleanerPass cleans a log of 1M records updating 1000 keys (100
// records per batch, 1 MiB segments) in one pass; ns/record counts every
// record of the log.
func BenchmarkCleanerPass(b *testing.B) {
	const records, keys, perBatch = 1_000_000, 1000, 100
	cfg := compactedConfig()
	cfg.SegmentBytes = 1 << 20
	cfg.IndexIntervalBytes = 4096
	batches := make([][]byte, records/perBatch)
	for i := range batches {
		recs := make([]testRecord, perBatch)
		for j := range recs {
			n := i*perBatch + j
			recs[j] = testRecord{key: []byte(fmt.Sprintf("key-%04d", n%keys)), value: []byte(fmt.Sprintf("value-%012d", n)), tsDelta: int64(j)}
		}
		batches[i] = buildBatch(b, batchSpec{records: recs, baseTs: fixedNow.UnixMilli()})
	}
	var total time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, err := openLog(filepath.Join(b.TempDir(), "c-0"), "c", 0, cfg,
			loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true},
			testLogger(b), func() time.Time { return fixedNow })
		if err != nil {
			b.Fatal(err)
		}
		for _, batch := range batches {
			if _, err := l.AppendAsLeader(append([]byte(nil), batch...), 0); err != nil {
				b.Fatal(err)
			}
		}
		roll(b, l)
		l.SetHighWatermark(l.LogEndOffset())
		cl := newCleaner(0, DefaultCleanerConfig().normalized(), testLogger(b), func() bool { return false })
		b.StartTimer()
		start := time.Now()
		cleanNow(b, cl, l, fixedNow.UnixMilli())
		total += time.Since(start)
		b.StopTimer()
		if got := l.Size(); got > 256<<10 {
			b.Fatalf("%d bytes after cleaning", got)
		}
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Nanoseconds())/float64(b.N*records), "ns/record")
}
