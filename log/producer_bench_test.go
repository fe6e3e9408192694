package log

import (
	"encoding/binary"
	"testing"
)

// BenchmarkAppendProducer compares AppendAsLeader of plain batches with
// batches of an idempotent producer (sequence checks, state update) and of
// a transactional one. Each iteration restamps the sequence and the CRC,
// for the plain batches too, so only the producer state differs.
func BenchmarkAppendProducer(b *testing.B) {
	for _, c := range []struct {
		name string
		spec prodSpec
	}{
		{"plain", prodSpec{pid: -1, n: 10}},
		{"idempotent", prodSpec{pid: 77, n: 10}},
		{"transactional", prodSpec{pid: 78, n: 10, txn: true}},
	} {
		b.Run(c.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.SegmentBytes = 64 << 20
			l := newTestLog(b, cfg)
			tmpl := prodBatch(b, c.spec)
			if c.spec.pid < 0 {
				binary.BigEndian.PutUint64(tmpl[offProducerID:], ^uint64(0))
				binary.BigEndian.PutUint32(tmpl[offBaseSequence:], ^uint32(0))
			}
			buf := make([]byte, len(tmpl))
			b.SetBytes(int64(len(tmpl)))
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(buf, tmpl)
				if c.spec.pid >= 0 {
					binary.BigEndian.PutUint32(buf[offBaseSequence:], uint32(i*c.spec.n))
				}
				fixCRC(buf)
				if _, err := l.AppendAsLeader(buf, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
