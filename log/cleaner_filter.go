package log

import (
	"encoding/binary"
	"math"
)

// The record filter of one cleaning pass: Kafka's Cleaner.cleanInto
// RecordFilter and MemoryRecords.filterTo for magic-2 batches.
//
// Deliberate simplifications, until the transaction machinery exists:
// control batches and transactional batches are copied unchanged (Kafka
// removes aborted transactions and, after delete.retention.ms, markers), and
// transactional records never enter the offset map, so a possibly aborted
// value never shadows an older committed one.

// batchFilter carries what a pass decides with.
type batchFilter struct {
	m                 *offsetMap
	nowMs             int64
	deleteRetentionMs int64
	// lastOfProducer is the last offset of each producer's last data batch
	// in the log (Kafka's lastRecordsOfActiveProducers): that batch stays,
	// emptied if need be, so the producer's sequence and epoch survive.
	lastOfProducer map[int64]int64

	scratch   []byte // decompressed records
	records   []byte // rebuilt records section
	retained  []cleanerRecord
	recsRead  int64
	recsKept  int64
	bytesRead int64
	bytesKept int64
}

// keptBatch describes a batch the filter wrote, for the index.
type keptBatch struct {
	lastOffset, maxTimestamp int64
}

// filter appends what stays of batch b to out and reports it; ok is false
// if nothing of b stays.
func (f *batchFilter) filter(b batchView, out []byte) (_ []byte, kb keptBatch, ok bool, err error) {
	f.bytesRead += int64(len(b))
	attrs := b.attributes()
	if attrs&(attrControl|attrTransactional) != 0 {
		f.recsRead += int64(b.recordsCount())
		f.recsKept += int64(b.recordsCount())
		f.bytesKept += int64(len(b))
		return append(out, b...), keptBatch{b.lastOffset(), b.maxTimestamp()}, true, nil
	}
	horizonSet := attrs&attrDeleteHorizon != 0
	baseTs := b.baseTimestamp()
	p, err := recordsOf(b, &f.scratch)
	if err != nil {
		return out, kb, false, err
	}
	f.retained = f.retained[:0]
	dropped, tombstones := false, false
	err = eachRecord(p, int(b.recordsCount()), func(r *cleanerRecord) bool {
		f.recsRead++
		if f.keep(b, r, horizonSet, baseTs) {
			f.retained = append(f.retained, *r)
			tombstones = tombstones || r.nullValue
		} else {
			dropped = true
		}
		return true
	})
	if err != nil {
		return out, kb, false, err
	}
	f.recsKept += int64(len(f.retained))
	needHorizon := tombstones && !horizonSet
	switch {
	case len(f.retained) > 0 && !dropped && !needHorizon:
		f.bytesKept += int64(len(b))
		return append(out, b...), keptBatch{b.lastOffset(), b.maxTimestamp()}, true, nil
	case len(f.retained) > 0:
		horizon := int64(noTimestamp)
		if needHorizon {
			horizon = f.nowMs + f.deleteRetentionMs
		} else if horizonSet {
			horizon = baseTs
		}
		n := len(out)
		out, kb, err = f.rebuild(b, baseTs, horizon, out)
		f.bytesKept += int64(len(out) - n)
		return out, kb, err == nil, err
	case b.producerID() >= 0 && f.lastOfProducer[b.producerID()] == b.lastOffset():
		f.bytesKept += batchHeaderSize
		out = appendEmptyBatch(out, b)
		return out, keptBatch{b.lastOffset(), b.maxTimestamp()}, true, nil
	}
	return out, kb, false, nil
}

// keep is Cleaner.shouldRetainRecord: records past the mapped range stay;
// a keyed record stays if it is the latest for its key and is not a
// tombstone whose delete horizon has passed; records without a key go.
func (f *batchFilter) keep(b batchView, r *cleanerRecord, horizonSet bool, baseTs int64) bool {
	offset := b.baseOffset() + r.offDelta
	if offset > f.m.latest {
		return true
	}
	if r.nullKey {
		return false
	}
	if offset < f.m.get(r.key) {
		return false
	}
	return !r.nullValue || !horizonSet || f.nowMs < baseTs
}

// rebuild writes a batch of the retained records with b's base offset,
// last offset delta, producer fields and codec (MemoryRecordsBuilder with
// overrideLastOffset). horizon, unless noTimestamp, becomes the base
// timestamp with the delete-horizon flag; record timestamps are kept by
// re-encoding their deltas against the new base.
func (f *batchFilter) rebuild(b batchView, oldBase, horizon int64, out []byte) ([]byte, keptBatch, error) {
	newBase := horizon
	if horizon == noTimestamp {
		newBase = oldBase + f.retained[0].tsDelta
	}
	maxTs := int64(math.MinInt64)
	f.records = f.records[:0]
	for i := range f.retained {
		r := &f.retained[i]
		ts := oldBase + r.tsDelta
		maxTs = max(maxTs, ts)
		f.records = appendRecord(f.records, r, ts-newBase)
	}
	attrs := b.attributes() &^ attrDeleteHorizon
	if attrs&attrLogAppendTime != 0 {
		maxTs = b.maxTimestamp()
	}
	if horizon != noTimestamp {
		attrs |= attrDeleteHorizon
	}
	start := len(out)
	out = append(out, b[:batchHeaderSize]...)
	out, err := compressRecords(b.codec(), f.records, out)
	if err != nil {
		return out[:start], keptBatch{}, err
	}
	nb := batchView(out[start:])
	be := binary.BigEndian
	be.PutUint32(nb[offLength:], uint32(len(nb)-logOverhead))
	be.PutUint16(nb[offAttributes:], attrs)
	be.PutUint64(nb[offBaseTimestamp:], uint64(newBase))
	be.PutUint64(nb[offMaxTimestamp:], uint64(maxTs))
	be.PutUint32(nb[offRecordsCount:], uint32(len(f.retained)))
	be.PutUint32(nb[offCRC:], nb.computeCRC())
	return out, keptBatch{b.lastOffset(), maxTs}, nil
}

// appendEmptyBatch is DefaultRecordBatch.writeEmptyHeader: b's header with
// no records, no codec, and its max timestamp as both timestamps.
func appendEmptyBatch(out []byte, b batchView) []byte {
	start := len(out)
	out = append(out, b[:batchHeaderSize]...)
	nb := batchView(out[start:])
	be := binary.BigEndian
	be.PutUint32(nb[offLength:], batchHeaderSize-logOverhead)
	be.PutUint16(nb[offAttributes:], b.attributes()&(attrLogAppendTime|attrTransactional|attrControl))
	be.PutUint64(nb[offBaseTimestamp:], uint64(b.maxTimestamp()))
	be.PutUint32(nb[offRecordsCount:], 0)
	be.PutUint32(nb[offCRC:], nb.computeCRC())
	return out
}
