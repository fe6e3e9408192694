package admin

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Sizes of the log format (reference/log-format.md).
const (
	logOverhead          = 12 // offset + size
	headerSizeUpToMagic  = 17
	legacyRecordOverhead = 14 // LegacyRecord.RECORD_OVERHEAD_V0: the smallest size a batch may claim
	recordBatchOverhead  = 61 // magic 2 header
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segmentFile is a .log file read the way FileRecords / FileLogInputStream read it: batch by batch, never
// past the end of the slice being read.
type segmentFile struct {
	f    *os.File
	path string
	size int64
}

func openSegmentFile(path string) (*segmentFile, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("java.nio.file.NoSuchFileException: %s", path)
		}
		return nil, fmt.Errorf("java.io.IOException: %v", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("java.io.IOException: %v", err)
	}
	return &segmentFile{f: f, path: path, size: st.Size()}, nil
}

func (s *segmentFile) Close() error { return s.f.Close() }

// batchAt returns the batch starting at pos if all of it lies before end; nil (and no error) means there is
// no further whole batch, as FileLogInputStream.nextBatch returns null.
func (s *segmentFile) batchAt(pos, end int64) (*fileBatch, error) {
	if pos >= end-headerSizeUpToMagic {
		return nil, nil
	}
	var hdr [headerSizeUpToMagic]byte
	if _, err := s.f.ReadAt(hdr[:], pos); err != nil {
		return nil, fmt.Errorf("java.io.EOFException: Failed to read `log header` from file channel. %v", err)
	}
	size := int32(binary.BigEndian.Uint32(hdr[8:12]))
	if size < legacyRecordOverhead {
		return nil, fmt.Errorf("org.apache.kafka.common.errors.CorruptRecordException: Found record size %d smaller than minimum record overhead (%d) in file %s.",
			size, legacyRecordOverhead, s.path)
	}
	if pos > end-logOverhead-int64(size) {
		return nil, nil
	}
	raw := make([]byte, logOverhead+int(size))
	if _, err := s.f.ReadAt(raw, pos); err != nil {
		return nil, fmt.Errorf("java.io.EOFException: Failed to read record batch from file channel. %v", err)
	}
	return parseFileBatch(raw)
}

// fileBatch is one batch of a segment: magic 2 parsed with kmsg, or a legacy (magic 0/1) message.
type fileBatch struct {
	raw   []byte
	magic int8
	v2    kmsg.RecordBatch
}

func parseFileBatch(raw []byte) (*fileBatch, error) {
	b := &fileBatch{raw: raw, magic: int8(raw[16])}
	if b.magic < 2 {
		return b, nil
	}
	if len(raw) < recordBatchOverhead {
		return nil, fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Record batch of size %d is smaller than the minimum batch overhead %d",
			len(raw), recordBatchOverhead)
	}
	if err := b.v2.ReadFrom(raw); err != nil {
		return nil, fmt.Errorf("org.apache.kafka.common.InvalidRecordException: %v", err)
	}
	return b, nil
}

func (b *fileBatch) size() int64 { return int64(len(b.raw)) }

// attributes is the low byte of the attributes, the only one Kafka reads.
func (b *fileBatch) attributes() byte {
	if b.magic < 2 {
		return b.raw[17]
	}
	return byte(b.v2.Attributes)
}

func (b *fileBatch) lastOffset() int64 {
	if b.magic < 2 {
		return int64(binary.BigEndian.Uint64(b.raw))
	}
	return b.v2.FirstOffset + int64(b.v2.LastOffsetDelta)
}

func (b *fileBatch) codecName() string {
	switch c := b.attributes() & 7; c {
	case 0:
		return "none"
	case 1:
		return "gzip"
	case 2:
		return "snappy"
	case 3:
		return "lz4"
	case 4:
		return "zstd"
	default:
		return "unknown(" + strconv.Itoa(int(c)) + ")"
	}
}

// timestampType is TimestampType's name: magic 0 has none.
func (b *fileBatch) timestampType() string {
	if b.magic == 0 {
		return "NoTimestampType"
	}
	if b.attributes()&0x08 != 0 {
		return "LogAppendTime"
	}
	return "CreateTime"
}

func (b *fileBatch) maxTimestamp() int64 {
	switch b.magic {
	case 0:
		return -1
	case 1:
		if len(b.raw) < 26 {
			return -1
		}
		return int64(binary.BigEndian.Uint64(b.raw[18:]))
	}
	return b.v2.MaxTimestamp
}

// checksum is the stored CRC: after the leader epoch in magic 2, right after the size in legacy messages.
func (b *fileBatch) checksum() uint32 {
	if b.magic < 2 {
		return binary.BigEndian.Uint32(b.raw[12:])
	}
	return uint32(b.v2.CRC)
}

// isValid checks the size and the CRC: CRC-32C from the attributes on for magic 2, CRC-32 from the magic on
// for legacy messages.
func (b *fileBatch) isValid() bool {
	if b.magic < 2 {
		return crc32.ChecksumIEEE(b.raw[16:]) == b.checksum()
	}
	return len(b.raw) >= recordBatchOverhead && crc32.Checksum(b.raw[21:], castagnoli) == b.checksum()
}

func (b *fileBatch) isControl() bool       { return b.magic >= 2 && b.attributes()&0x20 != 0 }
func (b *fileBatch) isTransactional() bool { return b.magic >= 2 && b.attributes()&0x10 != 0 }

// incrementSequence is DefaultRecordBatch.incrementSequence: sequences wrap at Integer.MAX_VALUE.
func incrementSequence(seq, inc int32) int32 {
	if seq > (1<<31-1)-inc {
		return inc - ((1<<31 - 1) - seq) - 1
	}
	return seq + inc
}

// batchLine is printBatchLevel's line.
func (b *fileBatch) batchLine(position int64) string {
	var s strings.Builder
	if b.magic >= 2 {
		v := &b.v2
		lastSeq := int32(-1)
		if v.FirstSequence != -1 {
			lastSeq = incrementSequence(v.FirstSequence, v.LastOffsetDelta)
		}
		horizon := "OptionalLong.empty"
		if b.attributes()&0x40 != 0 {
			horizon = fmt.Sprintf("OptionalLong[%d]", v.FirstTimestamp)
		}
		fmt.Fprintf(&s, "baseOffset: %d lastOffset: %d count: %d baseSequence: %d lastSequence: %d producerId: %d producerEpoch: %d partitionLeaderEpoch: %d isTransactional: %t isControl: %t deleteHorizonMs: %s",
			v.FirstOffset, b.lastOffset(), v.NumRecords, v.FirstSequence, lastSeq, v.ProducerID, v.ProducerEpoch,
			v.PartitionLeaderEpoch, b.isTransactional(), b.isControl(), horizon)
	} else {
		fmt.Fprintf(&s, "offset: %d", b.lastOffset())
	}
	fmt.Fprintf(&s, " position: %d %s: %d size: %d magic: %d compresscodec: %s crc: %d isvalid: %t",
		position, b.timestampType(), b.maxTimestamp(), b.size(), b.magic, b.codecName(), b.checksum(), b.isValid())
	return s.String()
}

// eachRecord decodes a magic 2 batch's records (decompressing them first) and calls fn with each, in order. Like
// DefaultRecordBatch's iterator it fails on the record where the batch turns out malformed, after the records
// before it were handed out.
func (b *fileBatch) eachRecord(dec kgo.Decompressor, fn func(r *kmsg.Record) error) error {
	v := &b.v2
	if v.NumRecords < 0 {
		return fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Found invalid record count %d in magic v%d batch", v.NumRecords, b.magic)
	}
	data := v.Records
	if codec := b.attributes() & 7; codec != 0 {
		var err error
		if data, err = dec.Decompress(data, kgo.CompressionCodecType(codec)); err != nil {
			return fmt.Errorf("org.apache.kafka.common.KafkaException: Failed to decompress record stream: %v", err)
		}
	}
	for i := int32(0); i < v.NumRecords; i++ {
		length, n := binary.Varint(data)
		if n <= 0 || length < 0 || length > int64(len(data)-n) {
			return errors.New("org.apache.kafka.common.InvalidRecordException: Incorrect declared batch size, premature EOF reached")
		}
		var r kmsg.Record
		if err := r.ReadFrom(data[:n+int(length)]); err != nil {
			return errors.New("org.apache.kafka.common.InvalidRecordException: Incorrect declared batch size, premature EOF reached")
		}
		data = data[n+int(length):]
		if i == v.NumRecords-1 && len(data) > 0 {
			return errors.New("org.apache.kafka.common.InvalidRecordException: Incorrect declared batch size, records still remaining in file")
		}
		if err := fn(&r); err != nil {
			return err
		}
	}
	return nil
}

// recordLine is what DumpLogSegments prints for one record of a magic 2 batch (without the newline).
func (d *logDumper) recordLine(b *fileBatch, r *kmsg.Record) (string, error) {
	v := &b.v2
	var s strings.Builder
	prefix := "| "
	if !d.skipMetadata {
		ts := v.FirstTimestamp + r.TimestampDelta64
		if b.timestampType() == "LogAppendTime" {
			ts = v.MaxTimestamp
		}
		seq := int32(-1)
		if v.FirstSequence >= 0 {
			seq = incrementSequence(v.FirstSequence, r.OffsetDelta)
		}
		keys := make([]string, len(r.Headers))
		for i, h := range r.Headers {
			keys[i] = h.Key
		}
		fmt.Fprintf(&s, "%soffset: %d %s: %d keySize: %d valueSize: %d sequence: %d headerKeys: [%s]",
			prefix, v.FirstOffset+int64(r.OffsetDelta), b.timestampType(), ts, bytesSize(r.Key), bytesSize(r.Value),
			seq, strings.Join(keys, ","))
		prefix = " "
		if b.isControl() {
			ctl, err := controlRecordText(r)
			if err != nil {
				return "", err
			}
			s.WriteString(ctl)
		}
	}
	if d.printData && !b.isControl() {
		if r.Key != nil {
			fmt.Fprintf(&s, "%skey: %s", prefix, javaString(r.Key))
		}
		if r.Value != nil {
			fmt.Fprintf(&s, " payload: %s", javaString(r.Value))
		}
	}
	return s.String(), nil
}

func bytesSize(b []byte) int {
	if b == nil {
		return -1
	}
	return len(b)
}

// javaString is new String(bytes, UTF_8): malformed input becomes U+FFFD.
func javaString(b []byte) string { return strings.ToValidUTF8(string(b), "\uFFFD") }

// controlRecordText describes a control record: a transaction marker's type and coordinator epoch, or the
// control type's name and id. (KRaft's snapshot header and footer, never found in a ZooKeeper-mode partition,
// are shown by name like the other types.)
func controlRecordText(r *kmsg.Record) (string, error) {
	if len(r.Key) < 4 {
		return "", fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Invalid value size found for end control record key. Must have at least 4 bytes, but found only %d", len(r.Key))
	}
	if version := int16(binary.BigEndian.Uint16(r.Key)); version < 0 {
		return "", fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Invalid version found for control record: %d. May indicate data corruption", version)
	}
	typeID := int16(binary.BigEndian.Uint16(r.Key[2:]))
	switch typeID {
	case 0, 1:
		if len(r.Value) < 6 {
			return "", fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Invalid value size found for end transaction marker. Must have at least 6 bytes, but found only %d", len(r.Value))
		}
		if version := int16(binary.BigEndian.Uint16(r.Value)); version < 0 {
			return "", fmt.Errorf("org.apache.kafka.common.InvalidRecordException: Invalid version found for end transaction marker: %d. May indicate data corruption", version)
		}
		kind := "ABORT"
		if typeID == 1 {
			kind = "COMMIT"
		}
		return fmt.Sprintf(" endTxnMarker: %s coordinatorEpoch: %d", kind, int32(binary.BigEndian.Uint32(r.Value[2:]))), nil
	case 2:
		return " controlType: LEADER_CHANGE(2)", nil
	case 3:
		return " controlType: SNAPSHOT_HEADER(3)", nil
	case 4:
		return " controlType: SNAPSHOT_FOOTER(4)", nil
	default:
		return fmt.Sprintf(" controlType: UNKNOWN(%d)", typeID), nil
	}
}

// dumpLog prints a .log segment: a line per batch and, with deep iteration, a line per record.
func (d *logDumper) dumpLog(path string) error {
	base, err := segmentBaseOffset(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(d.out, "Log starting offset: %d\n", base)
	seg, err := openSegmentFile(path)
	if err != nil {
		return err
	}
	defer seg.Close()
	end := min(seg.size, d.maxBytes)
	var valid int64
	lastOffset := int64(-1)
	for {
		b, err := seg.batchAt(valid, end)
		if err != nil {
			return err
		}
		if b == nil {
			break
		}
		fmt.Fprintln(d.out, b.batchLine(valid))
		if d.deep && b.magic >= 2 {
			err := b.eachRecord(d.decompressor, func(r *kmsg.Record) error {
				off := b.v2.FirstOffset + int64(r.OffsetDelta)
				if lastOffset != -1 && off != lastOffset+1 {
					d.nonConsecutive.add(absPath(path), offsetPair{lastOffset, off})
				}
				lastOffset = off
				line, err := d.recordLine(b, r)
				if err != nil {
					return err
				}
				fmt.Fprintln(d.out, line)
				return nil
			})
			if err != nil {
				return err
			}
		}
		valid += b.size()
	}
	if trailing := end - valid; trailing > 0 && d.maxBytes == 1<<31-1 {
		fmt.Fprintf(d.out, "Found %d invalid bytes at the end of %s\n", trailing, filepath.Base(path))
	}
	return nil
}
