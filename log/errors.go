package log

import "errors"

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
