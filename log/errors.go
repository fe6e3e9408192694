package log

import (
	"errors"
	"fmt"
)

// Errors returned by appends and reads. They are wrapped with context; the
// broker maps them to Kafka error codes with errors.Is.
var (
	// ErrCorruptMessage: bad batch length, bad CRC, undecodable compressed
	// payload (CORRUPT_MESSAGE).
	ErrCorruptMessage = errors.New("corrupt message")
	// ErrMessageTooLarge: one batch is larger than max.message.bytes
	// (MESSAGE_TOO_LARGE).
	ErrMessageTooLarge = errors.New("message too large")
	// ErrRecordListTooLarge: one append is larger than segment.bytes
	// (RECORD_LIST_TOO_LARGE).
	ErrRecordListTooLarge = errors.New("record list too large")
	// ErrInvalidRecord: a batch or record breaks the format's rules, or a
	// client sent a control batch (INVALID_RECORD).
	ErrInvalidRecord = errors.New("invalid record")
	// ErrInvalidTimestamp: a CreateTime timestamp outside the allowed window,
	// or a client claiming LogAppendTime (INVALID_TIMESTAMP).
	ErrInvalidTimestamp = errors.New("invalid timestamp")
	// ErrUnsupportedForMessageFormat (UNSUPPORTED_FOR_MESSAGE_FORMAT). Kafka
	// 3.7 answers a v3+ produce carrying magic 0/1 with INVALID_RECORD (from
	// ProduceRequest.validateRecords), so the validator returns
	// ErrInvalidRecord for old magic; this error is kept for paths that
	// would need a down-conversion.
	ErrUnsupportedForMessageFormat = errors.New("unsupported for message format")
	// ErrOffsetOutOfRange: a read outside [log start, log end]
	// (OFFSET_OUT_OF_RANGE).
	ErrOffsetOutOfRange = errors.New("offset out of range")
	// ErrUnsupportedCompressionType: unknown codec id in a batch, or a
	// broker-side compression.type other than "producer" (not supported yet)
	// (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupportedCompressionType = errors.New("unsupported compression type")
	// ErrInconsistentMetaProperties: meta.properties names another broker or
	// cluster; the broker must refuse to start.
	ErrInconsistentMetaProperties = errors.New("inconsistent meta.properties")
	// ErrLogClosed: the log was closed or deleted.
	ErrLogClosed = errors.New("log closed")
)

// UnexpectedAppendOffsetError is Kafka's UnexpectedAppendOffsetException: a
// follower append whose first batch starts below the log end. It matches
// ErrInvalidRecord with errors.Is. Kafka's Partition handles one case of
// it: a log holding nothing (log end = log start) whose start falls inside
// the first batch (DeleteRecords on the leader cut a batch) is restarted
// with TruncateFullyAndStartAt(FirstOffset) and the append retried.
type UnexpectedAppendOffsetError struct {
	Partition                             string
	FirstOffset, LastOffset, LogEndOffset int64
}

func (e *UnexpectedAppendOffsetError) Error() string {
	return fmt.Sprintf("%v: unexpected offset in append to %s: first offset %d is less than the next offset %d (last offset in append: %d)",
		ErrInvalidRecord, e.Partition, e.FirstOffset, e.LogEndOffset, e.LastOffset)
}

func (e *UnexpectedAppendOffsetError) Unwrap() error { return ErrInvalidRecord }
