package coordinator

import (
	"time"

	"github.com/sirupsen/logrus"
)

// OffsetsTopic is the internal topic holding committed offsets and group metadata.
const OffsetsTopic = "__consumer_offsets"

// Config is the group coordinator's part of server.properties.
type Config struct {
	BrokerID                      int32
	OffsetsTopicPartitions        int32         // offsets.topic.num.partitions (50)
	GroupMinSessionTimeout        time.Duration // group.min.session.timeout.ms (6000)
	GroupMaxSessionTimeout        time.Duration // group.max.session.timeout.ms (1800000)
	GroupInitialRebalanceDelay    time.Duration // group.initial.rebalance.delay.ms (3000)
	GroupMaxSize                  int           // group.max.size (2147483647)
	OffsetMetadataMaxBytes        int           // offset.metadata.max.bytes (4096)
	OffsetsRetention              time.Duration // offsets.retention.minutes (10080)
	OffsetsRetentionCheckInterval time.Duration // offsets.retention.check.interval.ms (600000)
	Logger                        *logrus.Entry // nil = a discarding logger
	Now                           func() time.Time
}

// Record is one record of __consumer_offsets: Value nil is a tombstone.
type Record struct {
	Key, Value []byte
}

// Batch is one record batch read back from a __consumer_offsets partition while loading it.
type Batch struct {
	BaseOffset, LastOffset int64
	ProducerID             int64
	ProducerEpoch          int16
	Transactional, Control bool
	Records                []LoadedRecord
}

// LoadedRecord is a record of a loaded batch with its offset.
type LoadedRecord struct {
	Offset     int64
	Timestamp  int64
	Key, Value []byte // Value nil: tombstone
}

// Log is what the broker provides to the coordinator: appends to and reads of its __consumer_offsets
// partitions. The broker owns the partitions, replication and the purgatory; the coordinator owns what is in
// the records.
type Log interface {
	// Append writes records as one uncompressed record batch (timestamps: now) to partition p of
	// __consumer_offsets with acks=all and offsets.commit.timeout.ms, if this broker leads p. done is called
	// exactly once, never before Append returns and never with a lock of the broker held, with nil once the
	// batch is committed (below the high watermark), else a *kerr.Error (NOT_LEADER_OR_FOLLOWER,
	// NOT_ENOUGH_REPLICAS, NOT_ENOUGH_REPLICAS_AFTER_APPEND, REQUEST_TIMED_OUT, MESSAGE_TOO_LARGE,
	// RECORD_LIST_TOO_LARGE, UNKNOWN_TOPIC_OR_PARTITION, KAFKA_STORAGE_ERROR, ...).
	Append(p int32, records []Record, done func(error))
	// Load calls fn for every batch of partition p in offset order, from its log start offset up to its log end
	// offset at the time of the call (compressed batches are decompressed). It stops at the first error fn
	// returns and returns it; it returns an error if this broker has no log for p.
	Load(p int32, fn func(Batch) error) error
	// TopicExists tells whether a topic exists (OffsetCommit answers UNKNOWN_TOPIC_OR_PARTITION otherwise).
	TopicExists(topic string) bool
	// AppendTransactional is Append for TxnOffsetCommit: the records go in one transactional batch of
	// producerID/producerEpoch with base sequence 0, appended as the coordinator (epochs checked, sequences
	// not). done is called as for Append; an older producer epoch fails with INVALID_PRODUCER_EPOCH.
	AppendTransactional(p int32, producerID int64, producerEpoch int16, records []Record, done func(error))
}

// Client identifies the connection a group request came from.
type Client struct {
	ClientID   string
	ClientHost string // the peer address as Java's InetAddress.toString prints it, e.g. "/127.0.0.1"
}
