package log

import (
	"encoding/binary"
	"fmt"
)

// The append path's side of the producer state, after UnifiedLog.append's
// analyzeAndValidateProducerState and the updates that follow the write.

// producerUpdate is what one append changes in the producer state, checked
// before the bytes are written and committed after.
type producerUpdate struct {
	appends   []*producerAppend // in the order of each producer's first batch
	completed []completedTxn
	duplicate bool
	dup       batchMeta
}

func (u *producerUpdate) find(pid int64) *producerAppend {
	for _, a := range u.appends {
		if a.pid == pid {
			return a
		}
	}
	return nil
}

// analyzeProducersLocked checks the producer batches of records (whole,
// validated batches, or for the overlapped path framed ones) and returns
// the pending update. assignFrom >= 0 is the offset the first batch will
// get when records do not carry their offsets yet. For client appends a
// batch repeating one of its producer's retained batches makes the whole
// append a duplicate, as Kafka returns at the first such batch. Caller
// holds appendMu.
func (l *Log) analyzeProducersLocked(records []byte, assignFrom int64, origin appendOrigin) (producerUpdate, error) {
	var upd producerUpdate
	next := assignFrom
	for pos := 0; pos < len(records); {
		b := batchView(records[pos:])
		n := b.size()
		b = b[:n]
		pos += n
		base, last := b.baseOffset(), b.lastOffset()
		if assignFrom >= 0 {
			base = next
			last = base + int64(b.lastOffsetDelta())
			next = last + 1
		}
		if b.producerID() < 0 {
			continue
		}
		if err := l.analyzeBatchLocked(&upd, b, base, last, origin); err != nil || upd.duplicate {
			return upd, err
		}
	}
	return upd, nil
}

// analyzeBatchLocked adds one producer batch, at offsets [base, last], to
// upd. b may hold only the header of a data batch. Caller holds appendMu.
func (l *Log) analyzeBatchLocked(upd *producerUpdate, b batchView, base, last int64, origin appendOrigin) error {
	pid := b.producerID()
	epoch := int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	firstSeq := b.baseSequence()
	lastSeq := incrementSequence(firstSeq, b.lastOffsetDelta())
	cur := l.ps.entry(pid)
	if origin == originClient && cur != nil {
		if d, ok := cur.findDuplicate(epoch, firstSeq, lastSeq); ok {
			upd.duplicate, upd.dup = true, d
			return nil
		}
	}
	a := upd.find(pid)
	if a == nil {
		if cur == nil {
			cur = emptyEntry(pid)
		}
		a = newProducerAppend(pid, cur, origin)
		upd.appends = append(upd.appends, a)
	}
	attrs := b.attributes()
	if attrs&attrControl == 0 {
		return a.appendData(epoch, firstSeq, lastSeq, b.maxTimestamp(), base, last, attrs&attrTransactional != 0)
	}
	m, ok, err := readMarker(b)
	if err != nil {
		if origin == originReplication {
			// Another control type (KRaft's): not a transaction marker.
			l.logger.Warnf("Ignoring control batch at offset %d: %v", base, err)
			return nil
		}
		return err
	}
	if !ok {
		return nil // emptied by the cleaner: the transaction is gone
	}
	txn, closed, err := a.appendMarker(epoch, m.CoordinatorEpoch, m.Commit, base, m.timestamp)
	if err != nil {
		return err
	}
	if closed {
		upd.completed = append(upd.completed, txn)
	}
	return nil
}

// commitProducersLocked applies a written append's update: producer
// entries, then each closed transaction (an aborted one goes to the
// transaction index of the active segment, which holds its marker, with
// the LSO of that moment), then the state's end offset. Caller holds
// appendMu.
func (l *Log) commitProducersLocked(upd producerUpdate, lastOffset int64) error {
	ps := l.ps
	for _, a := range upd.appends {
		ps.commit(a)
	}
	var err error
	if len(upd.completed) > 0 {
		err = l.completeTxnsLocked(l.activeSegment(), upd.completed)
	}
	ps.mapEnd = lastOffset + 1
	if ps.txnCount.Load() > 0 {
		ps.pruneReplicated(l.hw.Load())
	}
	return err
}

func (l *Log) completeTxnsLocked(seg *segment, txns []completedTxn) error {
	for _, t := range txns {
		if t.aborted {
			e := abortedTxnEntry{producerID: t.producerID, firstOffset: t.firstOffset, lastOffset: t.lastOffset,
				lastStableOffset: l.ps.lastStableOffsetOf(t)}
			if err := seg.txn.append(e); err != nil {
				// The marker is in the log; Kafka too leaves the index
				// behind (recovery rebuilds it) and keeps the txn open.
				return fmt.Errorf("log: %s: %w", l, err)
			}
		}
		l.ps.completeTxn(t)
	}
	return nil
}

// duplicateInfo is the answer to a retried batch: its original offsets,
// and its timestamp as the log append time, as UnifiedLog.append sets it.
func (l *Log) duplicateInfo(d batchMeta) AppendInfo {
	return AppendInfo{FirstOffset: d.firstOffset(), LastOffset: d.lastOffset, LogAppendTime: d.timestamp,
		LogStartOffset: l.logStart.Load(), MaxTimestamp: d.timestamp, Duplicate: true}
}

// marker is a decoded end-transaction control record.
type marker struct {
	Marker
	timestamp int64
}

// Control record layout (EndTransactionMarker): key = int16 version (0) +
// int16 type (0 ABORT, 1 COMMIT); value = int16 version (0) + int32
// coordinator epoch.
const (
	controlTypeAbort  = 0
	controlTypeCommit = 1
)

// readMarker decodes the first record of a control batch; ok is false for
// a batch without records.
func readMarker(b batchView) (m marker, ok bool, err error) {
	info, recs, err := decodeBatch(b)
	if err != nil {
		return m, false, err
	}
	if len(recs) == 0 {
		return m, false, nil
	}
	r := recs[0]
	if len(r.Key) < 4 {
		return m, false, fmt.Errorf("%w: control record key of %d bytes at offset %d", ErrInvalidRecord, len(r.Key), r.Offset)
	}
	typ := int16(binary.BigEndian.Uint16(r.Key[2:]))
	if typ != controlTypeAbort && typ != controlTypeCommit {
		return m, false, fmt.Errorf("%w: invalid control record type %d for end transaction marker at offset %d", ErrInvalidRecord, typ, r.Offset)
	}
	if len(r.Value) < 6 {
		return m, false, fmt.Errorf("%w: end transaction marker value of %d bytes at offset %d", ErrInvalidRecord, len(r.Value), r.Offset)
	}
	m.ProducerID = info.ProducerID
	m.ProducerEpoch = info.ProducerEpoch
	m.Commit = typ == controlTypeCommit
	m.CoordinatorEpoch = int32(binary.BigEndian.Uint32(r.Value[2:]))
	m.timestamp = r.Timestamp
	return m, true, nil
}

// buildMarkerBatch encodes m as Kafka's MemoryRecords.withEndTransactionMarker:
// a control + transactional batch with base sequence -1 and one record.
func buildMarkerBatch(m Marker, timestamp int64) []byte {
	var key [4]byte
	typ := uint16(controlTypeAbort)
	if m.Commit {
		typ = controlTypeCommit
	}
	binary.BigEndian.PutUint16(key[2:], typ)
	var value [6]byte
	binary.BigEndian.PutUint32(value[2:], uint32(m.CoordinatorEpoch))

	var rec []byte
	rec = append(rec, 0)              // attributes
	rec = binary.AppendVarint(rec, 0) // timestamp delta
	rec = binary.AppendVarint(rec, 0) // offset delta
	rec = binary.AppendVarint(rec, int64(len(key)))
	rec = append(rec, key[:]...)
	rec = binary.AppendVarint(rec, int64(len(value)))
	rec = append(rec, value[:]...)
	rec = binary.AppendVarint(rec, 0) // headers

	b := make([]byte, batchHeaderSize, batchHeaderSize+len(rec)+binary.MaxVarintLen32)
	b = binary.AppendVarint(b, int64(len(rec)))
	b = append(b, rec...)
	binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-logOverhead))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], 0xffffffff)
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], attrControl|attrTransactional)
	binary.BigEndian.PutUint32(b[offLastOffsetDelt:], 0)
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], uint64(timestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(timestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(m.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(m.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], 0xffffffff)
	binary.BigEndian.PutUint32(b[offRecordsCount:], 1)
	binary.BigEndian.PutUint32(b[offCRC:], batchView(b).computeCRC())
	return b
}
