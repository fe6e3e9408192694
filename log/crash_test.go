package log

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Crash tests: damage a closed multi-segment log the ways disks and
// crashes do, reopen it, and check what Kafka promises: every batch before
// the damage is served byte for byte, nothing served is corrupt, and
// appends continue at the log end.

func crashConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 6 << 10
	cfg.IndexIntervalBytes = 400
	cfg.SegmentIndexBytes = 4096
	return cfg
}

func openTestLogAt(t testing.TB, dir string, cfg Config, opts loadOptions) *Log {
	t.Helper()
	l, err := openLog(dir, "t", 0, cfg, opts, testLogger(t), func() time.Time { return fixedNow })
	if err != nil {
		t.Fatalf("open %s: %v", dir, err)
	}
	return l
}

var uncleanOpts = loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1}

// diskBatch is a batch as it lies on disk: which segment file, where.
type diskBatch struct {
	file       string // base name of the .log
	pos        int64
	base, last int64
	raw        []byte
}

// diskBatches parses every .log in dir in order; all must be valid.
func diskBatches(t testing.TB, dir string) []diskBatch {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "*"+logSuffix))
	sort.Strings(names)
	var out []diskBatch
	for _, name := range names {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		pos := int64(0)
		for _, b := range splitBatches(t, data) {
			out = append(out, diskBatch{filepath.Base(name), pos, b.base, b.last, b.raw})
			pos += int64(len(b.raw))
		}
	}
	return out
}

// buildCrashLog writes batches with random record counts and sizes across
// several segments and closes the log cleanly.
func buildCrashLog(t testing.TB, rng *rand.Rand, dir string, cfg Config) []diskBatch {
	t.Helper()
	l := openTestLogAt(t, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	for l.NumSegments() < 5 {
		if _, err := l.AppendAsLeader(numberedBatch(t, l.LogEndOffset(), 1+rng.Intn(5), rng.Intn(300)), 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return diskBatches(t, dir)
}

// numberedBatch is a batch whose record i carries the value
// "offset-<first+i>" padded to pad bytes, so any record's payload can be
// checked against its offset after a crash.
func numberedBatch(t testing.TB, first int64, n, pad int) []byte {
	recs := make([]testRecord, n)
	for i := range recs {
		v := []byte(fmt.Sprintf("offset-%d;", first+int64(i)))
		v = append(v, bytes.Repeat([]byte{'x'}, pad)...)
		recs[i] = testRecord{key: []byte(strconv.Itoa(i)), value: v, tsDelta: int64(i)}
	}
	return buildBatch(t, batchSpec{records: recs, baseTs: fixedNow.UnixMilli()})
}

// checkNumbered decodes an uncompressed batch and checks every record's
// value names its own offset.
func checkNumbered(t testing.TB, raw []byte) {
	t.Helper()
	b := batchView(raw)
	p := raw[batchHeaderSize:]
	for i := 0; i < int(b.recordsCount()); i++ {
		length, n := binary.Varint(p)
		if n <= 0 || int(length) > len(p)-n {
			t.Fatalf("batch %d: record %d is torn", b.baseOffset(), i)
		}
		rec := p[n : n+int(length)]
		p = p[n+int(length):]
		rec = rec[1:]            // attributes
		for k := 0; k < 2; k++ { // timestampDelta, offsetDelta
			_, m := binary.Varint(rec)
			rec = rec[m:]
		}
		klen, m := binary.Varint(rec)
		rec = rec[m+int(max(klen, 0)):]
		vlen, m := binary.Varint(rec)
		value := rec[m : m+int(vlen)]
		want := fmt.Sprintf("offset-%d;", b.baseOffset()+int64(i))
		if !bytes.HasPrefix(value, []byte(want)) {
			t.Fatalf("record at offset %d has value %.20q", b.baseOffset()+int64(i), value)
		}
	}
}

// checkServed reads the whole log and checks: the first len(intact)
// batches are intact byte for byte, every batch is whole with a good CRC,
// offsets grow, and each offset's Read starts at the batch holding it.
// It returns the served batches.
func checkServed(t *testing.T, l *Log, intact []diskBatch) []parsedBatch {
	t.Helper()
	ri := mustRead(t, l, l.LogStartOffset(), 1<<30, l.LogEndOffset(), false)
	served := splitBatches(t, regionBytes(t, ri)) // fails on a bad CRC or a torn batch
	if len(served) < len(intact) {
		t.Fatalf("%d batches served, but %d lay before the damage", len(served), len(intact))
	}
	for i, want := range intact {
		if !bytes.Equal(served[i].raw, want.raw) {
			t.Fatalf("batch %d (offset %d in %s at %d) changed", i, want.base, want.file, want.pos)
		}
	}
	prev := int64(-1)
	for _, b := range served {
		if b.base <= prev || b.last < b.base {
			t.Fatalf("batch [%d,%d] after offset %d", b.base, b.last, prev)
		}
		prev = b.last
	}
	if len(served) > 0 && served[len(served)-1].last+1 != l.LogEndOffset() {
		t.Fatalf("LEO %d but the last batch ends at %d", l.LogEndOffset(), served[len(served)-1].last)
	}
	// Time indexes were rebuilt, not left empty (an empty offset index is
	// only slow, and is trusted as Kafka does; lookups are checked above).
	l.mu.RLock()
	for _, s := range l.segments[:len(l.segments)-1] {
		if s.size.Load() > 0 && s.timeIndex.entries.Load() == 0 {
			t.Errorf("segment %d of %d bytes has %d offset and %d time index entries",
				s.base, s.size.Load(), s.index.entries.Load(), s.timeIndex.entries.Load())
		}
	}
	l.mu.RUnlock()
	for _, b := range served {
		for _, off := range []int64{b.base, b.last} {
			got := splitBatches(t, regionBytes(t, mustRead(t, l, off, 1, l.LogEndOffset(), true)))
			if len(got) != 1 || got[0].base != b.base {
				t.Fatalf("Read(%d) did not start at batch [%d,%d]", off, b.base, b.last)
			}
		}
	}
	return served
}

// checkAppendContinues appends after recovery: offsets continue at the log
// end and the new batch reads back, also after a clean reopen.
func checkAppendContinues(t *testing.T, l *Log, dir string, cfg Config) {
	t.Helper()
	leo := l.LogEndOffset()
	info, err := l.AppendAsLeader(numberedBatch(t, leo, 3, 10), 2)
	if err != nil {
		t.Fatal(err)
	}
	if info.FirstOffset != leo || info.LastOffset != leo+2 {
		t.Fatalf("append after recovery got [%d,%d], LEO was %d", info.FirstOffset, info.LastOffset, leo)
	}
	before := regionBytes(t, mustRead(t, l, l.LogStartOffset(), 1<<30, l.LogEndOffset(), false))
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openTestLogAt(t, dir, cfg, loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1, cleanShutdown: true})
	defer l.Close()
	after := regionBytes(t, mustRead(t, l, l.LogStartOffset(), 1<<30, l.LogEndOffset(), false))
	if !bytes.Equal(before, after) || l.LogEndOffset() != leo+3 {
		t.Fatalf("clean reopen after recovery: %d bytes, LEO %d; want %d bytes, LEO %d", len(after), l.LogEndOffset(), len(before), leo+3)
	}
}

// damageIndexes deletes, truncates or garbles some .index / .timeindex
// files; it never touches data.
func damageIndexes(t *testing.T, rng *rand.Rand, dir string) []string {
	var done []string
	for _, sfx := range []string{indexSuffix, timeIndexSuffix} {
		names, _ := filepath.Glob(filepath.Join(dir, "*"+sfx))
		for _, name := range names {
			if rng.Intn(3) != 0 {
				continue
			}
			data, _ := os.ReadFile(name)
			how := rng.Intn(6)
			switch how {
			case 0:
				os.Remove(name)
			case 1: // not a whole number of entries
				data = append(data, 1, 2, 3)
			case 2: // random bytes over part of it
				if len(data) > 0 {
					at := rng.Intn(len(data))
					rng.Read(data[at:min(len(data), at+1+rng.Intn(16))])
				} else {
					data = make([]byte, 24)
					rng.Read(data)
				}
			case 3: // preallocated zeros, as after a crash
				data = append(data, make([]byte, 240)...)
			case 4: // emptied
				data = nil
			case 5: // well-formed but belonging to other data: positions shifted
				for i := 0; i+8 <= len(data) && sfx == indexSuffix; i += 8 {
					binary.BigEndian.PutUint32(data[i+4:], binary.BigEndian.Uint32(data[i+4:])+uint32(1+rng.Intn(50)))
				}
			}
			if how != 0 {
				if err := os.WriteFile(name, data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			done = append(done, fmt.Sprintf("%s:%d", filepath.Base(name), how))
		}
	}
	return done
}

// TestCrashDamagedData truncates or bit-flips a random segment, garbles
// some indexes too, and opens unclean.
func TestCrashDamagedData(t *testing.T) {
	cfg := crashConfig()
	for seed := int64(1); seed <= 24; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			dir := filepath.Join(t.TempDir(), "t-0")
			batches := buildCrashLog(t, rng, dir, cfg)
			victim := batches[rng.Intn(len(batches))].file
			path := filepath.Join(dir, victim)
			data, _ := os.ReadFile(path)
			at := int64(rng.Intn(len(data)))
			var what string
			if seed%2 == 0 {
				what = fmt.Sprintf("truncated %s at %d", victim, at)
				os.Truncate(path, at)
			} else {
				bits := 1 + rng.Intn(3)
				for i := 0; i < bits; i++ {
					data[at+int64(rng.Intn(min(8, len(data)-int(at))))] ^= 1 << rng.Intn(8)
				}
				what = fmt.Sprintf("flipped %d bits in %s near %d", bits, victim, at)
				os.WriteFile(path, data, 0o644)
			}
			idx := damageIndexes(t, rng, dir)
			t.Logf("%s; indexes %v", what, idx)
			var intact []diskBatch
			for _, b := range batches {
				if b.file > victim || (b.file == victim && b.pos+int64(len(b.raw)) > at) {
					break
				}
				intact = append(intact, b)
			}
			l := openTestLogAt(t, dir, cfg, uncleanOpts)
			checkServed(t, l, intact)
			checkAppendContinues(t, l, dir, cfg)
		})
	}
}

// TestCrashDamagedIndexes leaves the data alone: whether the open is clean
// or not, and wherever the recovery point is, every batch must be served
// and found by its offsets.
func TestCrashDamagedIndexes(t *testing.T) {
	cfg := crashConfig()
	for seed := int64(1); seed <= 24; seed++ {
		t.Run(fmt.Sprintf("seed%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(100 + seed))
			dir := filepath.Join(t.TempDir(), "t-0")
			batches := buildCrashLog(t, rng, dir, cfg)
			idx := damageIndexes(t, rng, dir)
			opts := loadOptions{recoveryPoint: -1, logStart: -1, highWatermark: -1}
			switch seed % 3 {
			case 0:
				opts.cleanShutdown = true
			case 1:
				opts.recoveryPoint = batches[len(batches)-1].base // only the last segment is rescanned
			}
			t.Logf("indexes %v, opts %+v", idx, opts)
			l := openTestLogAt(t, dir, cfg, opts)
			if served := checkServed(t, l, batches); len(served) != len(batches) {
				t.Fatalf("%d batches served, %d written", len(served), len(batches))
			}
			checkAppendContinues(t, l, dir, cfg)
		})
	}
}

// TestRecoveryTable covers single, named damages and what Kafka does.
func TestRecoveryTable(t *testing.T) {
	cfg := crashConfig()
	cases := []struct {
		name string
		// damage returns how many batches stay intact.
		damage func(t *testing.T, dir string, bs []diskBatch) int
		clean  bool
	}{
		{"torn tail of the last segment", func(t *testing.T, dir string, bs []diskBatch) int {
			last := bs[len(bs)-1]
			os.Truncate(filepath.Join(dir, last.file), last.pos+10)
			return len(bs) - 1
		}, false},
		{"bad CRC in a middle segment drops the later segments", func(t *testing.T, dir string, bs []diskBatch) int {
			i := firstBatchOf(bs, bs[len(bs)/2].file) + 1
			flipByte(t, filepath.Join(dir, bs[i].file), bs[i].pos+batchHeaderSize+1)
			return i
		}, false},
		{"magic byte", func(t *testing.T, dir string, bs []diskBatch) int {
			flipByte(t, filepath.Join(dir, bs[3].file), bs[3].pos+offMagic)
			return 3
		}, false},
		{"base offset below the previous batch", func(t *testing.T, dir string, bs []diskBatch) int {
			i := firstBatchOf(bs, bs[len(bs)/2].file) + 1
			if bs[i].file != bs[i-1].file {
				t.Fatal("want a segment of two batches or more")
			}
			p := filepath.Join(dir, bs[i].file)
			data, _ := os.ReadFile(p)
			binary.BigEndian.PutUint64(data[bs[i].pos:], uint64(bs[i-1].base))
			os.WriteFile(p, data, 0o644)
			return i
		}, false},
		{"base offset raised past the next segment", func(t *testing.T, dir string, bs []diskBatch) int {
			i := firstBatchOf(bs, bs[len(bs)-1].file) - 1 // last batch of a sealed segment
			p := filepath.Join(dir, bs[i].file)
			data, _ := os.ReadFile(p)
			binary.BigEndian.PutUint64(data[bs[i].pos:], uint64(bs[i+1].base))
			os.WriteFile(p, data, 0o644)
			return i
		}, false},
		{"garbage appended after a clean shutdown", func(t *testing.T, dir string, bs []diskBatch) int {
			last := bs[len(bs)-1]
			f, _ := os.OpenFile(filepath.Join(dir, last.file), os.O_APPEND|os.O_WRONLY, 0)
			f.Write(bytes.Repeat([]byte{0xee}, 100))
			f.Close()
			return len(bs)
		}, true},
		{"missing offset index after a clean shutdown", func(t *testing.T, dir string, bs []diskBatch) int {
			os.Remove(filepath.Join(dir, strings.TrimSuffix(bs[0].file, logSuffix)+indexSuffix))
			return len(bs)
		}, true},
		{"whole first segment garbage", func(t *testing.T, dir string, bs []diskBatch) int {
			p := filepath.Join(dir, bs[0].file)
			data, _ := os.ReadFile(p)
			rand.New(rand.NewSource(1)).Read(data)
			os.WriteFile(p, data, 0o644)
			return 0
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "t-0")
			bs := buildCrashLog(t, rand.New(rand.NewSource(7)), dir, cfg)
			keep := tc.damage(t, dir, bs)
			opts := uncleanOpts
			opts.cleanShutdown = tc.clean
			l := openTestLogAt(t, dir, cfg, opts)
			served := checkServed(t, l, bs[:keep])
			if !tc.clean && len(served) != keep {
				t.Fatalf("%d batches served, want %d", len(served), keep)
			}
			checkAppendContinues(t, l, dir, cfg)
		})
	}
}

func firstBatchOf(bs []diskBatch, file string) int {
	for i, b := range bs {
		if b.file == file {
			return i
		}
	}
	return -1
}

func flipByte(t *testing.T, path string, at int64) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[at] ^= 0x10
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The real crash: a child process appends with flush.messages=1 and prints
// each acknowledged last offset; the parent SIGKILLs it at a random moment.

const crashDirEnv = "ZKAFKA_LOG_CRASH_DIR"

func crashChildConfig() Config {
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 10
	cfg.IndexIntervalBytes = 512
	cfg.SegmentIndexBytes = 4096
	cfg.FlushMessages = 1
	return cfg
}

// TestCrashChild is the child's body; it does nothing unless the parent
// set crashDirEnv.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as the child of TestCrashKill")
	}
	l := openTestLogAt(t, dir, crashChildConfig(), uncleanOpts)
	out := bufio.NewWriter(os.Stdout)
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	for {
		info, err := l.AppendAsLeader(numberedBatch(t, l.LogEndOffset(), 1+rng.Intn(4), rng.Intn(400)), 1)
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
			out.Flush()
			os.Exit(3)
		}
		fmt.Fprintf(out, "ack %d\n", info.LastOffset)
		out.Flush()
	}
}

func TestCrashKill(t *testing.T) {
	if os.Getenv(crashDirEnv) != "" {
		t.Skip("child")
	}
	dir := filepath.Join(t.TempDir(), "t-0")
	cfg := crashChildConfig()
	rng := rand.New(rand.NewSource(time.Now().UnixNano()))
	acked := int64(-1)
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		killAfter := 5 + rng.Intn(60)
		sc := bufio.NewScanner(stdout)
		acks, killed := 0, false
		for sc.Scan() {
			line := sc.Text()
			if strings.HasPrefix(line, "ack ") {
				off, _ := strconv.ParseInt(strings.TrimPrefix(line, "ack "), 10, 64)
				if off <= acked {
					t.Fatalf("round %d: ack %d after ack %d", round, off, acked)
				}
				acked = off
				if acks++; acks == killAfter && !killed {
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			} else if strings.HasPrefix(line, "error") || strings.HasPrefix(line, "---") {
				t.Errorf("child: %s", line)
			}
		}
		err = cmd.Wait()
		if !killed {
			t.Fatalf("round %d: child exited by itself (%v) after %d acks", round, err, acks)
		}
		l := openTestLogAt(t, dir, cfg, uncleanOpts)
		if l.LogEndOffset() <= acked {
			t.Fatalf("round %d: LEO %d after ack of offset %d", round, l.LogEndOffset(), acked)
		}
		served := checkServed(t, l, nil)
		next := int64(0)
		for _, b := range served {
			if b.base != next {
				t.Fatalf("round %d: batch at %d, want %d (offsets must be contiguous)", round, b.base, next)
			}
			checkNumbered(t, b.raw)
			next = b.last + 1
		}
		info, err := l.AppendAsLeader(numberedBatch(t, l.LogEndOffset(), 2, 5), 1)
		if err != nil || info.FirstOffset != next {
			t.Fatalf("round %d: append after crash at %d: %+v %v", round, next, info, err)
		}
		acked = info.LastOffset
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after %d acks; log end %d", round, acks, acked+1)
	}
}
