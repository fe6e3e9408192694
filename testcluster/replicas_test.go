package testcluster

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// testBatch encodes a v2 batch header (CRC left zero: the helpers do not check it) with n one-byte records.
func testBatch(base int64, n int, epoch int32) []byte {
	var recs []byte
	for i := 0; i < n; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte{byte(i)}}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.NewRecordBatch()
	b.FirstOffset, b.PartitionLeaderEpoch, b.Magic = base, epoch, 2
	b.LastOffsetDelta, b.NumRecords, b.Records = int32(n-1), int32(n), recs
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	return raw
}

func writeSegment(t *testing.T, dir string, base int64, batches ...[]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)), bytes.Join(batches, nil), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadBatchesAndLogEnd(t *testing.T) {
	b0, b1, b2, b3 := testBatch(0, 3, 0), testBatch(3, 2, 0), testBatch(5, 4, 1), testBatch(9, 1, 2)
	torn := testBatch(10, 5, 2)[:40]
	tests := []struct {
		name     string
		segments map[int64][][]byte
		upTo     int64
		want     []byte
		batches  int
		leo      int64
		err      bool
	}{
		{name: "no directory", upTo: 100, leo: 0},
		{name: "one segment, all below", segments: map[int64][][]byte{0: {b0, b1}}, upTo: 5, want: cat(b0, b1), batches: 2, leo: 5},
		{name: "upTo cuts at a batch boundary", segments: map[int64][][]byte{0: {b0, b1}}, upTo: 4, want: b0, batches: 2, leo: 5},
		{name: "two segments in offset order", segments: map[int64][][]byte{5: {b2, b3}, 0: {b0, b1}}, upTo: 10, want: cat(b0, b1, b2, b3), batches: 4, leo: 10},
		{name: "torn tail is ignored", segments: map[int64][][]byte{0: {b0, b1, b2, torn}}, upTo: 100, want: cat(b0, b1, b2), batches: 3, leo: 9},
		{name: "zeroed preallocation is ignored", segments: map[int64][][]byte{0: {b0, make([]byte, 100)}}, upTo: 100, want: b0, batches: 1, leo: 3},
		{name: "empty newest segment sets the LEO", segments: map[int64][][]byte{0: {b0}, 7: nil}, upTo: 100, want: b0, batches: 1, leo: 7},
		{name: "overlapping offsets are an error", segments: map[int64][][]byte{0: {b0, b1, b0}}, upTo: 100, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &Broker{ID: 1, Dir: t.TempDir()}
			dir := b.PartitionDir("t", 0)
			for base, batches := range tc.segments {
				writeSegment(t, dir, base, batches...)
			}
			if tc.segments != nil {
				// Not segments of the live log.
				os.WriteFile(filepath.Join(dir, "00000000000000000099.log.deleted"), b3, 0o644)
				os.WriteFile(filepath.Join(dir, "00000000000000000000.index"), make([]byte, 16), 0o644)
			}
			batches, err := ReadBatches(dir)
			if tc.err {
				if err == nil {
					t.Fatalf("ReadBatches accepted a corrupt log: %d batches", len(batches))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(batches) != tc.batches {
				t.Errorf("%d batches, want %d", len(batches), tc.batches)
			}
			got, _, err := b.LogBytesUpTo("t", 0, tc.upTo)
			if err != nil || !bytes.Equal(got, tc.want) {
				t.Errorf("LogBytesUpTo(%d) = %d bytes (%v), want %d", tc.upTo, len(got), err, len(tc.want))
			}
			if leo, err := b.LogEndOffset("t", 0); err != nil || leo != tc.leo {
				t.Errorf("LogEndOffset = %d (%v), want %d", leo, err, tc.leo)
			}
		})
	}
}

func TestReadBatchesFields(t *testing.T) {
	b := &Broker{ID: 1, Dir: t.TempDir()}
	writeSegment(t, b.PartitionDir("t", 3), 0, testBatch(0, 3, 4), testBatch(3, 1, 7))
	got, err := ReadBatches(b.PartitionDir("t", 3))
	if err != nil {
		t.Fatal(err)
	}
	want := []LogBatch{{BaseOffset: 0, LastOffset: 2, LeaderEpoch: 4}, {BaseOffset: 3, LastOffset: 3, LeaderEpoch: 7}}
	if len(got) != len(want) {
		t.Fatalf("%d batches, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].BaseOffset != want[i].BaseOffset || got[i].LastOffset != want[i].LastOffset || got[i].LeaderEpoch != want[i].LeaderEpoch {
			t.Errorf("batch %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
