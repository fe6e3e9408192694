package log

import (
	"fmt"
	"reflect"
	"testing"
	"time"
)

func TestOffsetMap(t *testing.T) {
	for _, tc := range []struct {
		name     string
		maxSlots int
		keys     int
		wantFull bool
	}{
		{"small", 100, 50, false},
		{"grows past the initial table", 1 << 16, 20000, false},
		{"fills at the load factor", 1000, 900, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newOffsetMap(tc.maxSlots, 0.9)
			want := map[int]int64{}
			for round := 0; round < 2; round++ {
				for i := 0; i < tc.keys && !m.full(); i++ {
					m.put([]byte(fmt.Sprintf("k%d", i)), int64(round*tc.keys+i))
					want[i] = int64(round*tc.keys + i)
				}
			}
			if m.full() != tc.wantFull {
				t.Fatalf("full = %v with %d entries of %d", m.full(), m.entries, m.maxEntries())
			}
			for i := 0; i < m.entries; i++ {
				if got := m.get([]byte(fmt.Sprintf("k%d", i))); got != want[i] {
					t.Fatalf("get(k%d) = %d, want %d", i, got, want[i])
				}
			}
			if got := m.get([]byte("absent")); got != -1 {
				t.Errorf("get(absent) = %d", got)
			}
			m.clear()
			if m.entries != 0 || m.latest != -1 || m.get([]byte("k1")) != -1 {
				t.Error("clear left entries")
			}
		})
	}
}

func TestGroupSegmentsBySize(t *testing.T) {
	seg := func(base, size int64) segmentSnapshot {
		s := &segment{base: base, index: &mmapIndex{}, timeIndex: &mmapIndex{}}
		return segmentSnapshot{s, size}
	}
	for _, tc := range []struct {
		name    string
		segs    []segmentSnapshot
		maxSize int64
		end     int64
		want    [][]int64
	}{
		{"merge while it fits", []segmentSnapshot{seg(0, 40), seg(10, 40), seg(20, 40), seg(30, 10)}, 100, 40,
			[][]int64{{0, 10}, {20, 30}}},
		{"one too big alone", []segmentSnapshot{seg(0, 200), seg(10, 10)}, 100, 20, [][]int64{{0}, {10}}},
		{"offset overflow splits", []segmentSnapshot{seg(0, 1), seg(1<<32, 1)}, 100, 1<<32 + 5, [][]int64{{0}, {1 << 32}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got [][]int64
			for _, g := range groupSegmentsBySize(tc.segs, tc.maxSize, 1<<20, tc.end) {
				var bases []int64
				for _, s := range g {
					bases = append(bases, s.seg.base)
				}
				got = append(got, bases)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("groups %v, want %v", got, tc.want)
			}
		})
	}
}

func TestCompressRecordsRoundTrip(t *testing.T) {
	src := []byte(fmt.Sprintf("%0100000d", 42))
	for _, codec := range []int{codecNone, codecGzip, codecSnappy, codecLZ4, codecZstd} {
		enc, err := compressRecords(codec, src, []byte("prefix"))
		if err != nil {
			t.Fatalf("codec %d: %v", codec, err)
		}
		if string(enc[:6]) != "prefix" {
			t.Fatalf("codec %d: prefix lost", codec)
		}
		if codec == codecNone {
			continue
		}
		dec, err := decompress(codec, enc[6:], nil)
		if err != nil || string(dec) != string(src) {
			t.Fatalf("codec %d: round trip failed: %v", codec, err)
		}
	}
}

// The threads started by StartCleaner clean a dirty log on their own and
// stop with Shutdown.
func TestStartCleanerCleansInBackground(t *testing.T) {
	clock := newTestClock()
	dir := t.TempDir()
	m := newCleanerManager(t, dir, clock)
	l, _ := m.GetOrCreateLog("c", 0, compactedConfig())
	fillUpdates(t, l, codecNone, 100, 5)
	l.SetHighWatermark(l.LogEndOffset())
	before := l.Size()
	if err := m.StartCleaner(CleanerConfig{Enable: true, DedupeBufferSize: 1 << 20, Backoff: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.CleanerCheckpoints()[TopicPartition{"c", 0}] == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the cleaner did not clean the log")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if l.Size() >= before {
		t.Errorf("size %d after cleaning, %d before", l.Size(), before)
	}
	if err := m.Shutdown(); err != nil {
		t.Fatal(err)
	}
}
