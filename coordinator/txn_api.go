package coordinator

import (
	"time"

	"github.com/sirupsen/logrus"
)

// TxnTopic is the internal topic holding the transaction coordinator's state.
const TxnTopic = "__transaction_state"

// TxnConfig is the transaction coordinator's part of server.properties.
type TxnConfig struct {
	BrokerID                  int32
	TxnLogPartitions          int32         // transaction.state.log.num.partitions (50)
	TxnMaxTimeout             time.Duration // transaction.max.timeout.ms (900000)
	AbortTimedOutInterval     time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms (10000)
	TransactionalIDExpiration time.Duration // transactional.id.expiration.ms (604800000)
	RemoveExpiredInterval     time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms (3600000)
	// GroupPartitionFor is the group coordinator's PartitionFor: AddOffsetsToTxn adds that partition of
	// __consumer_offsets to the transaction.
	GroupPartitionFor      func(groupID string) int32
	OffsetsTopicPartitions int32
	Logger                 *logrus.Entry // nil = a discarding logger
	Now                    func() time.Time
}

// ProducerIDs allocates producer ids (the broker implements it with blocks of /latest_producer_id_block).
type ProducerIDs interface {
	NextProducerID() (int64, error)
}

// TopicPartition names one partition of a topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// TxnMarker is one WriteTxnMarkers entry: the COMMIT or ABORT marker of a producer for its partitions.
type TxnMarker struct {
	ProducerID       int64
	ProducerEpoch    int16
	Commit           bool
	CoordinatorEpoch int32
	Partitions       []TopicPartition
}

// MarkerWriter sends markers to the partitions' leaders (the broker implements it with WriteTxnMarkers
// requests, API 27, to each leader, retrying until written or the partition is gone). done gets the
// per-partition error (nil = written) exactly once, from another goroutine.
type MarkerWriter interface {
	WriteMarkers(m TxnMarker, done func(map[TopicPartition]error))
}
