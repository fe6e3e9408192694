package admin

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

type testRecord struct {
	key, value []byte
	headers    []string
	tsDelta    int64
	offDelta   int32
}

type testBatch struct {
	base        int64
	attrs       int16
	baseTs      int64
	maxTs       int64
	pid         int64
	epoch       int16
	seq         int32
	leaderEpoch int32
	lastDelta   int32
	recs        []testRecord
	gzip        bool
}

// encode builds a magic 2 batch the way a broker stores it: length and CRC-32C filled in.
func (tb testBatch) encode(t *testing.T) []byte {
	t.Helper()
	var records []byte
	for _, r := range tb.recs {
		rec := kmsg.NewRecord()
		rec.TimestampDelta64, rec.OffsetDelta, rec.Key, rec.Value = r.tsDelta, r.offDelta, r.key, r.value
		for _, h := range r.headers {
			rec.Headers = append(rec.Headers, kmsg.Header{Key: h, Value: []byte("x")})
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // the body after a one-byte zero length
		records = rec.AppendTo(records)
	}
	if tb.gzip {
		var buf bytes.Buffer
		w, _ := gzip.NewWriterLevel(&buf, gzip.NoCompression) // stored blocks: the same bytes with every Go version
		w.Write(records)
		w.Close()
		records = buf.Bytes()
	}
	b := kmsg.RecordBatch{
		FirstOffset: tb.base, PartitionLeaderEpoch: tb.leaderEpoch, Magic: 2, Attributes: tb.attrs,
		LastOffsetDelta: tb.lastDelta, FirstTimestamp: tb.baseTs, MaxTimestamp: tb.maxTs, ProducerID: tb.pid,
		ProducerEpoch: tb.epoch, FirstSequence: tb.seq, NumRecords: int32(len(tb.recs)), Records: records,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], castagnoli))
	return raw
}

// testSegment is a segment with base offset 0: a plain batch of two records (offsets 0–1), a gzip batch of an
// idempotent producer (offset 2), a transaction COMMIT marker (offset 3) and 5 bytes of a torn write.
func testSegment(t *testing.T) (log []byte, positions []int) {
	batches := []testBatch{
		{base: 0, baseTs: 1700000000000, maxTs: 1700000000005, pid: -1, epoch: -1, seq: -1, lastDelta: 1, recs: []testRecord{
			{key: []byte("k0"), value: []byte("hello"), headers: []string{"h1", "h2"}},
			{value: []byte("world"), tsDelta: 5, offDelta: 1},
		}},
		{base: 2, attrs: 1, baseTs: 1700000000010, maxTs: 1700000000010, pid: 7, epoch: 0, seq: 5, leaderEpoch: 1, recs: []testRecord{
			{key: []byte("k2"), value: []byte("zipped")},
		}, gzip: true},
		{base: 3, attrs: 0x30, baseTs: 1700000000020, maxTs: 1700000000020, pid: 7, epoch: 0, seq: -1, leaderEpoch: 1, recs: []testRecord{
			{key: []byte{0, 0, 0, 1}, value: []byte{0, 0, 0, 0, 0, 9}},
		}},
	}
	for _, b := range batches {
		positions = append(positions, len(log))
		log = append(log, b.encode(t)...)
	}
	return append(log, 0, 0, 0, 0, 0), positions
}

func offsetIndex(entries ...[2]int64) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint32(b, uint32(e[0]))
		b = binary.BigEndian.AppendUint32(b, uint32(e[1]))
	}
	return b
}

func timeIndex(entries ...[2]int64) []byte {
	var b []byte
	for _, e := range entries {
		b = binary.BigEndian.AppendUint64(b, uint64(e[0]))
		b = binary.BigEndian.AppendUint32(b, uint32(e[1]))
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

const (
	goldenBatch0 = "baseOffset: 0 lastOffset: 1 count: 2 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 0 CreateTime: 1700000000005 size: 97 magic: 2 compresscodec: none crc: 2108938803 isvalid: true"
	goldenBatch1 = "baseOffset: 2 lastOffset: 2 count: 1 baseSequence: 5 lastSequence: 5 producerId: 7 producerEpoch: 0 partitionLeaderEpoch: 1 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 97 CreateTime: 1700000000010 size: 104 magic: 2 compresscodec: gzip crc: 2319193256 isvalid: true"
	goldenBatch2 = "baseOffset: 3 lastOffset: 3 count: 1 baseSequence: -1 lastSequence: -1 producerId: 7 producerEpoch: 0 partitionLeaderEpoch: 1 isTransactional: true isControl: true deleteHorizonMs: OptionalLong.empty position: 201 CreateTime: 1700000000020 size: 78 magic: 2 compresscodec: none crc: 58623376 isvalid: true"
)

func TestDumpLog(t *testing.T) {
	dir := t.TempDir()
	seg, pos := testSegment(t)
	logPath := filepath.Join(dir, "00000000000000000000.log")
	writeFile(t, logPath, seg)
	writeFile(t, filepath.Join(dir, "00000000000000000000.index"), offsetIndex([2]int64{2, int64(pos[1])}, [2]int64{3, int64(pos[2])}))
	writeFile(t, filepath.Join(dir, "00000000000000000000.timeindex"), timeIndex([2]int64{1700000000005, 1}, [2]int64{1700000000010, 2}))
	// bad.* are the same segment with indexes that do not match it.
	writeFile(t, filepath.Join(dir, "00000000000000000100.log"), nil)
	writeFile(t, filepath.Join(dir, "00000000000000000100.index"), nil)
	badDir := filepath.Join(dir, "bad")
	os.Mkdir(badDir, 0o755)
	writeFile(t, filepath.Join(badDir, "00000000000000000000.log"), seg)
	writeFile(t, filepath.Join(badDir, "00000000000000000000.index"), offsetIndex([2]int64{1, int64(pos[1])}, [2]int64{3, int64(pos[2])}))
	writeFile(t, filepath.Join(badDir, "00000000000000000000.timeindex"), timeIndex([2]int64{1700000000009, 2}, [2]int64{1700000000008, 3}, [2]int64{1700000000030, 1}))
	corrupt := filepath.Join(dir, "corrupt")
	os.Mkdir(corrupt, 0o755)
	writeFile(t, filepath.Join(corrupt, "00000000000000000000.log"), seg)
	writeFile(t, filepath.Join(corrupt, "00000000000000000000.index"), append(offsetIndex([2]int64{2, int64(pos[1])}), 1, 2, 3))
	writeFile(t, filepath.Join(corrupt, "00000000000000000000.timeindex"), timeIndex([2]int64{1700000000010, 2}, [2]int64{1700000000005, 3}))
	gap := filepath.Join(dir, "gap")
	os.Mkdir(gap, 0o755)
	writeFile(t, filepath.Join(gap, "00000000000000000000.log"), append(append([]byte{}, seg[:pos[1]]...),
		testBatch{base: 5, baseTs: 1, maxTs: 1, pid: -1, epoch: -1, seq: -1, recs: []testRecord{{value: []byte("late")}}}.encode(t)...))

	records := []string{
		"| offset: 0 CreateTime: 1700000000000 keySize: 2 valueSize: 5 sequence: -1 headerKeys: [h1,h2]",
		"| offset: 1 CreateTime: 1700000000005 keySize: -1 valueSize: 5 sequence: -1 headerKeys: []",
		"| offset: 2 CreateTime: 1700000000010 keySize: 2 valueSize: 6 sequence: 5 headerKeys: []",
		"| offset: 3 CreateTime: 1700000000020 keySize: 4 valueSize: 6 sequence: -1 headerKeys: [] endTxnMarker: COMMIT coordinatorEpoch: 9",
	}
	lines := func(l ...string) string { return strings.Join(l, "\n") + "\n" }
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{
			name:   "shallow",
			args:   []string{"--files", logPath},
			stdout: lines("Dumping DIR/00000000000000000000.log", "Log starting offset: 0", goldenBatch0, goldenBatch1, goldenBatch2, "Found 5 invalid bytes at the end of 00000000000000000000.log"),
		},
		{
			name: "deep",
			args: []string{"--deep-iteration", "--files", logPath},
			stdout: lines("Dumping DIR/00000000000000000000.log", "Log starting offset: 0", goldenBatch0, records[0], records[1],
				goldenBatch1, records[2], goldenBatch2, records[3], "Found 5 invalid bytes at the end of 00000000000000000000.log"),
		},
		{
			name: "print data log",
			args: []string{"--print-data-log", "--files", logPath},
			stdout: lines("Dumping DIR/00000000000000000000.log", "Log starting offset: 0", goldenBatch0,
				records[0]+" key: k0 payload: hello", records[1]+" payload: world",
				goldenBatch1, records[2]+" key: k2 payload: zipped", goldenBatch2, records[3],
				"Found 5 invalid bytes at the end of 00000000000000000000.log"),
		},
		{
			name: "skip record metadata",
			args: []string{"--print-data-log", "--skip-record-metadata", "--max-bytes", "100", "--files", logPath},
			stdout: lines("Dumping DIR/00000000000000000000.log", "Log starting offset: 0", goldenBatch0,
				"| key: k0 payload: hello", " payload: world"), // Kafka prints the payload without the record indent
		},
		{
			name:   "max bytes stops before a partial batch and reports no invalid bytes",
			args:   []string{"--files", logPath, "--max-bytes", "200"},
			stdout: lines("Dumping DIR/00000000000000000000.log", "Log starting offset: 0", goldenBatch0),
		},
		{
			name: "offset and time index",
			args: []string{"--files", strings.Join([]string{"DIR/00000000000000000000.index", "DIR/00000000000000000000.timeindex", "DIR/00000000000000000100.index"}, ",")},
			stdout: lines("Dumping DIR/00000000000000000000.index", "offset: 2 position: 97", "offset: 3 position: 201",
				"Dumping DIR/00000000000000000000.timeindex", "timestamp: 1700000000005 offset: 1", "timestamp: 1700000000010 offset: 2",
				"Dumping DIR/00000000000000000100.index", "DIR/00000000000000000100.index is empty."),
		},
		{
			name:   "index sanity check",
			args:   []string{"--index-sanity-check", "--files", "DIR/00000000000000000000.index,DIR/00000000000000000000.timeindex"},
			stdout: lines("Dumping DIR/00000000000000000000.index", "DIR/00000000000000000000.index passed sanity check.", "Dumping DIR/00000000000000000000.timeindex", "DIR/00000000000000000000.timeindex passed sanity check."),
		},
		{
			name:   "index sanity check fails on a torn offset index",
			args:   []string{"--index-sanity-check", "--files", "DIR/corrupt/00000000000000000000.index"},
			code:   1,
			stdout: lines("Dumping DIR/corrupt/00000000000000000000.index"),
			stderr: lines(`Exception in thread "main" org.apache.kafka.storage.internals.log.CorruptIndexException: Index file DIR/corrupt/00000000000000000000.index is corrupt, found 11 bytes which is neither positive nor a multiple of 8`),
		},
		{
			name:   "time index sanity check fails on a decreasing timestamp",
			args:   []string{"--index-sanity-check", "--files", "DIR/corrupt/00000000000000000000.timeindex"},
			code:   1,
			stdout: lines("Dumping DIR/corrupt/00000000000000000000.timeindex"),
			stderr: lines(`Exception in thread "main" org.apache.kafka.storage.internals.log.CorruptIndexException: Corrupt time index found, time index file (DIR/corrupt/00000000000000000000.timeindex) has non-zero size but the last timestamp is 1700000000005 which is less than the first timestamp 1700000000010`),
		},
		{
			name:   "verify index only reports mismatches",
			args:   []string{"--verify-index-only", "--files", "DIR/bad/00000000000000000000.index,DIR/bad/00000000000000000000.timeindex"},
			stdout: lines("Dumping DIR/bad/00000000000000000000.index", "Dumping DIR/bad/00000000000000000000.timeindex"),
			stderr: lines("Mismatches in :DIR/bad/00000000000000000000.index", "  Index offset: 1, log offset: 2",
				"Found timestamp mismatch in :DIR/bad/00000000000000000000.timeindex",
				"  Index timestamp: 1700000000009, log timestamp: 1700000000010",
				"  Index timestamp: 1700000000008, log timestamp: 1700000000020",
				"Found out of order timestamp in :DIR/bad/00000000000000000000.timeindex",
				"  Index timestamp: 1700000000008, Previously indexed timestamp: 1700000000009",
				"The following indexed offsets are not found in the log.",
				"Indexed offset: 1, found log offset: 2"),
		},
		{
			name: "deep iteration reports offset gaps",
			args: []string{"--deep-iteration", "--files", "DIR/gap/00000000000000000000.log"},
			stdout: lines("Dumping DIR/gap/00000000000000000000.log", "Log starting offset: 0", goldenBatch0, records[0], records[1],
				"baseOffset: 5 lastOffset: 5 count: 1 baseSequence: -1 lastSequence: -1 producerId: -1 producerEpoch: -1 partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: 97 CreateTime: 1 size: 72 magic: 2 compresscodec: none crc: 2065138408 isvalid: true",
				"| offset: 5 CreateTime: 1 keySize: -1 valueSize: 4 sequence: -1 headerKeys: []"),
			stderr: lines("Non-consecutive offsets in DIR/gap/00000000000000000000.log", "  1 is followed by 5"),
		},
		{
			name:   "unknown suffix and missing file",
			args:   []string{"--files", "DIR/leader-epoch-checkpoint.txt,DIR/00000000000000000042.log"},
			code:   1,
			stdout: lines("Dumping DIR/leader-epoch-checkpoint.txt", "Dumping DIR/00000000000000000042.log", "Log starting offset: 42"),
			stderr: lines("Ignoring unknown file DIR/leader-epoch-checkpoint.txt", `Exception in thread "main" java.nio.file.NoSuchFileException: DIR/00000000000000000042.log`),
		},
		{
			name:   "files is required",
			args:   []string{"--print-data-log"},
			code:   1,
			stderr: "Missing required argument \"[files]\"\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := make([]string, len(tc.args))
			for i, a := range tc.args {
				args[i] = strings.ReplaceAll(a, "DIR", dir)
			}
			var out, errb bytes.Buffer
			code := DumpLogMain(args, nil, &out, &errb)
			stdout := strings.ReplaceAll(out.String(), dir, "DIR")
			stderr := strings.ReplaceAll(errb.String(), dir, "DIR")
			if code != tc.code || stdout != tc.stdout || !strings.HasPrefix(stderr, tc.stderr) || (tc.stderr == "" && stderr != "") {
				t.Fatalf("exit %d (want %d)\nstdout:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s", code, tc.code, stdout, tc.stdout, stderr, tc.stderr)
			}
		})
	}
}

func TestDumpProducerSnapshotAndTxnIndex(t *testing.T) {
	dir := t.TempDir()
	entry := func(pid int64, epoch int16, seq int32, off int64, delta int32, ts int64, coord int32, txn int64) []byte {
		b := binary.BigEndian.AppendUint64(nil, uint64(pid))
		b = binary.BigEndian.AppendUint16(b, uint16(epoch))
		b = binary.BigEndian.AppendUint32(b, uint32(seq))
		b = binary.BigEndian.AppendUint64(b, uint64(off))
		b = binary.BigEndian.AppendUint32(b, uint32(delta))
		b = binary.BigEndian.AppendUint64(b, uint64(ts))
		b = binary.BigEndian.AppendUint32(b, uint32(coord))
		return binary.BigEndian.AppendUint64(b, uint64(txn))
	}
	body := binary.BigEndian.AppendUint32(nil, 2)
	body = append(body, entry(7, 0, 9, 12, 2, 1700000000000, -1, -1)...)
	body = append(body, entry(8, 3, 0, -1, 0, 1700000000001, 5, 40)...)
	snap := append([]byte{0, 1}, binary.BigEndian.AppendUint32(nil, crc32.Checksum(body, castagnoli))...)
	snap = append(snap, body...)
	writeFile(t, filepath.Join(dir, "00000000000000000013.snapshot"), snap)
	bad := append([]byte{}, snap...)
	bad[len(bad)-1] ^= 1
	writeFile(t, filepath.Join(dir, "00000000000000000099.snapshot"), bad)
	txn := binary.BigEndian.AppendUint16(nil, 0)
	for _, v := range []int64{7, 10, 14, 10} {
		txn = binary.BigEndian.AppendUint64(txn, uint64(v))
	}
	writeFile(t, filepath.Join(dir, "00000000000000000000.txnindex"), txn)

	var out, errb bytes.Buffer
	files := filepath.Join(dir, "00000000000000000013.snapshot") + "," + filepath.Join(dir, "00000000000000000099.snapshot") + "," + filepath.Join(dir, "00000000000000000000.txnindex")
	code := DumpLogMain([]string{"--files", files}, nil, &out, &errb)
	want := strings.Join([]string{
		"Dumping DIR/00000000000000000013.snapshot",
		"producerId: 7 producerEpoch: 0 coordinatorEpoch: -1 currentTxnFirstOffset: OptionalLong.empty lastTimestamp: 1700000000000 firstSequence: 7 lastSequence: 9 lastOffset: 12 offsetDelta: 2 timestamp: 1700000000000",
		"producerId: 8 producerEpoch: 3 coordinatorEpoch: 5 currentTxnFirstOffset: OptionalLong[40] lastTimestamp: 1700000000001 ",
		"Dumping DIR/00000000000000000099.snapshot",
		"Dumping DIR/00000000000000000000.txnindex",
		"version: 0 producerId: 7 firstOffset: 10 lastOffset: 14 lastStableOffset: 10",
	}, "\n") + "\n"
	got := strings.ReplaceAll(out.String(), dir, "DIR")
	if code != 0 || got != want || !strings.HasPrefix(errb.String(), "Snapshot is corrupt (CRC is no longer valid). Stored crc: ") {
		t.Fatalf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, got, want, errb.String())
	}
}
