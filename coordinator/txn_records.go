package coordinator

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The __transaction_state records Kafka 3.7 writes: key v0 (transactionalId) and value v0, the highest
// non-flexible version (TransactionLog.valueToBytes).
const (
	txnKeyVersion   = 0
	txnValueVersion = 0
)

func txnRecordKey(transactionalID string) []byte {
	k := kmsg.NewTxnMetadataKey()
	k.Version = txnKeyVersion
	k.TransactionalID = transactionalID
	return k.AppendTo(nil)
}

// txnRecordValue is TransactionLog.valueToBytes: partitions are null in state Empty (and only there; a
// completed transaction has an empty, non-null list), grouped by topic.
func txnRecordValue(tr txnTransit) []byte {
	v := kmsg.NewTxnMetadataValue()
	v.Version = txnValueVersion
	v.ProducerID = tr.producerID
	v.ProducerEpoch = tr.producerEpoch
	v.TimeoutMillis = tr.timeoutMs
	v.State = kmsg.TransactionState(tr.state)
	v.LastUpdateTimestamp = tr.lastUpdateTimestamp
	v.StartTimestamp = tr.startTimestamp
	if tr.state != txnEmpty {
		v.Topics = []kmsg.TxnMetadataValueTopic{}
		byTopic(tr.partitions, topicOfPartition, func(name string) {
			t := kmsg.NewTxnMetadataValueTopic()
			t.Topic = name
			t.Partitions = []int32{}
			v.Topics = append(v.Topics, t)
		}, func(tp TopicPartition) {
			last := &v.Topics[len(v.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Partition)
		})
	}
	return v.AppendTo(nil)
}

// readTxnKey decodes a key; known false for a key version other than 0 (skipped on load, as Kafka does).
func readTxnKey(b []byte) (id string, version int16, known bool, err error) {
	if len(b) < 2 {
		return "", 0, false, fmt.Errorf("transaction log key of %d bytes", len(b))
	}
	version = int16(binary.BigEndian.Uint16(b))
	if version != txnKeyVersion {
		return "", version, false, nil
	}
	var k kmsg.TxnMetadataKey
	if err := k.ReadFrom(b); err != nil {
		return "", version, false, fmt.Errorf("transaction log key: %w", err)
	}
	return k.TransactionalID, version, true, nil
}

// readTxnValue is TransactionLog.readTxnRecordValue: the last producer id and epoch are not on the log
// (-1 after loading); partitions are ignored in state Empty.
func readTxnValue(id string, b []byte) (*txnMeta, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("transaction log value of %d bytes", len(b))
	}
	if ver := int16(binary.BigEndian.Uint16(b)); ver < 0 || ver > 1 {
		return nil, fmt.Errorf("unknown version %d from the transaction log message value", ver)
	}
	var v kmsg.TxnMetadataValue
	if err := v.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("transaction log value: %w", err)
	}
	st := txnState(v.State)
	if st < txnEmpty || st > txnPrepareEpochFence {
		return nil, fmt.Errorf("unknown transaction state id %d from the transaction status message", v.State)
	}
	m := newTxnMeta(id, v.ProducerID, v.ProducerEpoch, v.TimeoutMillis, st, v.LastUpdateTimestamp)
	m.startTimestamp = v.StartTimestamp
	if st != txnEmpty {
		for _, t := range v.Topics {
			for _, p := range t.Partitions {
				m.partitions[TopicPartition{t.Topic, p}] = true
			}
		}
	}
	return m, nil
}
