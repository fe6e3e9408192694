package log

import (
	"encoding/binary"
	"hash/crc32"
)

// Byte layout of a magic-2 record batch (DefaultRecordBatch). All integers
// are big-endian.
const (
	offBaseOffset     = 0
	offLength         = 8
	offLeaderEpoch    = 12
	offMagic          = 16
	offCRC            = 17
	offAttributes     = 21
	offLastOffsetDelt = 23
	offBaseTimestamp  = 27
	offMaxTimestamp   = 35
	offProducerID     = 43
	offProducerEpoch  = 51
	offBaseSequence   = 53
	offRecordsCount   = 57
	batchHeaderSize   = 61

	// logOverhead is the offset and length prefix every batch format shares.
	logOverhead = 12
	// legacyRecordOverheadV0 is the smallest legal length of any batch
	// (LegacyRecord.RECORD_OVERHEAD_V0); smaller lengths are corrupt
	// whatever the magic.
	legacyRecordOverheadV0 = 14
	// segmentHeaderMin is the topic-level minimum of segment.bytes (Kafka: 14).
	segmentHeaderMin = legacyRecordOverheadV0

	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20

	codecNone   = 0
	codecGzip   = 1
	codecSnappy = 2
	codecLZ4    = 3
	codecZstd   = 4

	noTimestamp = -1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// batchView reads the header fields of one batch held in b (b may extend
// past the batch; only header bytes are touched).
type batchView []byte

func (b batchView) baseOffset() int64  { return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) }
func (b batchView) length() int32      { return int32(binary.BigEndian.Uint32(b[offLength:])) }
func (b batchView) size() int          { return int(b.length()) + logOverhead }
func (b batchView) magic() int8        { return int8(b[offMagic]) }
func (b batchView) crc() uint32        { return binary.BigEndian.Uint32(b[offCRC:]) }
func (b batchView) attributes() uint16 { return binary.BigEndian.Uint16(b[offAttributes:]) }
func (b batchView) lastOffsetDelta() int32 {
	return int32(binary.BigEndian.Uint32(b[offLastOffsetDelt:]))
}
func (b batchView) lastOffset() int64    { return b.baseOffset() + int64(b.lastOffsetDelta()) }
func (b batchView) baseTimestamp() int64 { return int64(binary.BigEndian.Uint64(b[offBaseTimestamp:])) }
func (b batchView) maxTimestamp() int64  { return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:])) }
func (b batchView) producerID() int64    { return int64(binary.BigEndian.Uint64(b[offProducerID:])) }
func (b batchView) baseSequence() int32  { return int32(binary.BigEndian.Uint32(b[offBaseSequence:])) }
func (b batchView) recordsCount() int32  { return int32(binary.BigEndian.Uint32(b[offRecordsCount:])) }
func (b batchView) codec() int           { return int(b.attributes() & attrCodecMask) }

func (b batchView) setBaseOffset(o int64) { binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(o)) }
func (b batchView) setLeaderEpoch(e int32) {
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}

// computeCRC is CRC-32C over attributes..end of the batch (b must be exactly
// one batch).
func (b batchView) computeCRC() uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// setLogAppendTime stamps maxTimestamp and the timestamp-type bit. Both lie
// inside the CRC, so the CRC is recomputed — only on this path, as Kafka's
// DefaultRecordBatch.setMaxTimestamp does when something changed.
func (b batchView) setLogAppendTime(now int64) {
	attrs := b.attributes()
	if attrs&attrLogAppendTime != 0 && b.maxTimestamp() == now {
		return
	}
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|attrLogAppendTime)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(now))
	binary.BigEndian.PutUint32(b[offCRC:], b.computeCRC())
}
