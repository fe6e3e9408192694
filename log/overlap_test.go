package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"testing"
)

// largeRecords are enough 100-byte records for one batch to be past
// overlapMinBytes.
func largeRecords() []testRecord {
	recs := make([]testRecord, 1500)
	for i := range recs {
		recs[i] = testRecord{key: []byte{byte(i)}, value: bytes.Repeat([]byte{byte(i)}, 100), tsDelta: int64(i)}
	}
	return recs
}

// TestOverlappedAppend checks the overlapped path against what the
// sequential one promises: a valid append lands whole with its offsets,
// and a rejected one reports the validator's error and leaves the log,
// including its file's length, exactly as before.
func TestOverlappedAppend(t *testing.T) {
	ts := fixedNow.UnixMilli()
	valid := buildBatch(t, batchSpec{records: largeRecords(), baseTs: ts})
	if len(valid) < overlapMinBytes {
		t.Fatalf("test batch of %d bytes is below overlapMinBytes", len(valid))
	}
	badTs := largeRecords()
	badTs[1000].tsDelta = -30 * 24 * 3600 * 1000 // a month before the batch
	noKey := largeRecords()
	noKey[7].key = nil
	cases := []struct {
		name      string
		in        func() []byte
		compacted bool
		want      error // nil: the append succeeds
	}{
		{"valid", func() []byte { return bytes.Clone(valid) }, false, nil},
		{"two batches", func() []byte { return append(bytes.Clone(valid), valid...) }, false, nil},
		{"timestamp out of range", func() []byte { return buildBatch(t, batchSpec{records: badTs, baseTs: ts}) }, false, ErrInvalidTimestamp},
		{"no key on a compacted topic", func() []byte { return buildBatch(t, batchSpec{records: noKey, baseTs: ts}) }, true, ErrInvalidRecord},
		{"bad CRC", func() []byte {
			b := bytes.Clone(valid)
			b[len(b)/2] ^= 1
			return b
		}, false, ErrCorruptMessage},
		{"second batch bad", func() []byte {
			b := append(bytes.Clone(valid), valid...)
			b[len(b)-1] ^= 1
			return b
		}, false, ErrCorruptMessage},
		{"non-zero base offset", func() []byte { // not overlapped: same answer
			return buildBatch(t, batchSpec{records: largeRecords(), baseTs: ts, baseOffset: 5})
		}, false, ErrInvalidRecord},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MessageTimestampBeforeMaxMs = 24 * 3600 * 1000
			if tc.compacted {
				cfg.CleanupPolicy = "compact"
			}
			l := newTestLog(t, cfg)
			if _, err := l.AppendAsLeader(simpleBatch(t, 3, 10, ts), 0); err != nil {
				t.Fatal(err)
			}
			in := tc.in()
			_, wantErr := ValidateBatches(bytes.Clone(in), cfg.ValidateOptions(ts))
			leo, size := l.LogEndOffset(), l.Size()
			info, err := l.AppendAsLeader(in, 4)
			if tc.want == nil {
				if err != nil || wantErr != nil {
					t.Fatalf("append: %v (validator: %v)", err, wantErr)
				}
				if info.FirstOffset != leo || l.Size() != size+int64(len(in)) {
					t.Fatalf("info %+v, size %d after %d bytes at %d", info, l.Size(), len(in), size)
				}
				got := splitBatches(t, regionBytes(t, mustRead(t, l, leo, 1<<30, l.LogEndOffset(), false)))
				want := splitBatches(t, in)
				if len(got) != len(want) || got[0].base != leo || !bytes.Equal(got[len(got)-1].raw, want[len(want)-1].raw) {
					t.Fatalf("read back %d batches from %d, want %d", len(got), got[0].base, len(want))
				}
			} else {
				if !errors.Is(err, tc.want) || wantErr == nil || err.Error() != fmt.Sprintf("append to %s: %v", l, wantErr) {
					t.Fatalf("got %v, want %v (validator: %v)", err, tc.want, wantErr)
				}
				if l.LogEndOffset() != leo || l.Size() != size {
					t.Fatalf("rejected append moved LEO %d->%d or size %d->%d", leo, l.LogEndOffset(), size, l.Size())
				}
			}
			st, err := os.Stat(l.activeSegment().log.Name())
			if err != nil || st.Size() != l.Size() {
				t.Fatalf("segment file is %d bytes (%v), the log %d", st.Size(), err, l.Size())
			}
			if _, err := l.AppendAsLeader(simpleBatch(t, 2, 10, ts), 0); err != nil {
				t.Fatal(err)
			}
			all := splitBatches(t, regionBytes(t, mustRead(t, l, 0, 1<<30, l.LogEndOffset(), false)))
			if last := all[len(all)-1]; last.last != l.LogEndOffset()-1 {
				t.Fatalf("last batch ends at %d, LEO %d", last.last, l.LogEndOffset())
			}
		})
	}
}
