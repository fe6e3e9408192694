package log

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Config is the per-log (topic-level) configuration, derived by the broker
// from server.properties and topic overrides. Field comments give Kafka's
// topic-level names and defaults.
type Config struct {
	SegmentBytes         int64  // segment.bytes (1073741824)
	SegmentIndexBytes    int    // segment.index.bytes (10485760)
	IndexIntervalBytes   int    // index.interval.bytes (4096)
	MaxMessageBytes      int    // max.message.bytes (1048588): max size of one batch
	MessageTimestampType string // message.timestamp.type: "CreateTime" | "LogAppendTime"
	// message.timestamp.before.max.ms / after.max.ms (Long.MAX): how far a
	// CreateTime record may lie in the past / future of the broker's clock.
	MessageTimestampBeforeMaxMs int64
	MessageTimestampAfterMaxMs  int64
	FlushMessages               int64 // flush.messages (math.MaxInt64)
	FlushMs                     int64 // flush.ms (math.MaxInt64)
	RetentionMs                 int64 // retention.ms (604800000); -1 keeps data forever
	RetentionBytes              int64 // retention.bytes (-1 = no size limit)
	SegmentMs                   int64 // segment.ms (604800000): roll a segment this old
	// SegmentJitterMs is segment.jitter.ms (0): each segment rolls up to
	// this much earlier, chosen at random when it is created.
	SegmentJitterMs int64
	// FileDeleteDelayMs is file.delete.delay.ms (60000): how long segments
	// removed by retention stay on disk, renamed .deleted, so reads that
	// already located them can finish.
	FileDeleteDelayMs int64
	CleanupPolicy     string // cleanup.policy ("delete")
	CompressionType   string // compression.type; only "producer" works now
	// DeleteRetentionMs is delete.retention.ms (86400000): how long the
	// cleaner keeps a tombstone after it first saw it (the batch's delete
	// horizon is set to that time plus this).
	DeleteRetentionMs int64
	// MinCleanableDirtyRatio is min.cleanable.dirty.ratio (0.5): the share
	// of a compacted log's bytes that must be dirty before it is cleaned.
	MinCleanableDirtyRatio float64
	// MinCompactionLagMs is min.compaction.lag.ms (0): a segment whose
	// largest timestamp is younger than this is not cleaned yet.
	MinCompactionLagMs int64
	// MaxCompactionLagMs is max.compaction.lag.ms (Long.MAX): a dirty
	// segment whose first batch is older than this is cleaned whatever the
	// dirty ratio.
	MaxCompactionLagMs int64
	// ProducerIDExpirationMs is the broker's producer.id.expiration.ms
	// (86400000): a producer idle this long without an open transaction is
	// forgotten by the partition.
	ProducerIDExpirationMs int64
}

// producerIDExpirationMs is ProducerIDExpirationMs, with Kafka's default
// for a Config that does not set it (Kafka requires at least 1).
func (c Config) producerIDExpirationMs() int64 {
	if c.ProducerIDExpirationMs <= 0 {
		return 86400000
	}
	return c.ProducerIDExpirationMs
}

// DefaultConfig returns Kafka 3.7's topic-level defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:                1073741824,
		SegmentIndexBytes:           10485760,
		IndexIntervalBytes:          4096,
		MaxMessageBytes:             1048588,
		MessageTimestampType:        "CreateTime",
		MessageTimestampBeforeMaxMs: math.MaxInt64,
		MessageTimestampAfterMaxMs:  math.MaxInt64,
		FlushMessages:               math.MaxInt64,
		FlushMs:                     math.MaxInt64,
		RetentionMs:                 604800000,
		RetentionBytes:              -1,
		SegmentMs:                   604800000,
		SegmentJitterMs:             0,
		FileDeleteDelayMs:           60000,
		CleanupPolicy:               "delete",
		CompressionType:             "producer",
		DeleteRetentionMs:           86400000,
		MinCleanableDirtyRatio:      0.5,
		MinCompactionLagMs:          0,
		MaxCompactionLagMs:          math.MaxInt64,
		ProducerIDExpirationMs:      86400000,
	}
}

// minSegmentIndexBytes keeps a preallocated index able to hold a few entries
// even if a caller passes a tiny value (Kafka's own minimum is 4).
const minSegmentIndexBytes = 4 * timeIndexEntrySize

func (c Config) check() error {
	if c.SegmentBytes < segmentHeaderMin {
		return fmt.Errorf("log: segment.bytes %d is too small", c.SegmentBytes)
	}
	if c.MaxMessageBytes < 0 {
		return fmt.Errorf("log: max.message.bytes %d is negative", c.MaxMessageBytes)
	}
	switch c.MessageTimestampType {
	case "CreateTime", "LogAppendTime", "":
	default:
		return fmt.Errorf("log: unknown message.timestamp.type %q", c.MessageTimestampType)
	}
	return nil
}

// indexBytes is the preallocation size of an offset or time index: the
// configured size rounded down to a multiple of the entry size.
func (c Config) indexBytes(entrySize int) int {
	n := c.SegmentIndexBytes
	if n < minSegmentIndexBytes {
		n = minSegmentIndexBytes
	}
	return n / entrySize * entrySize
}

func (c Config) logAppendTime() bool { return c.MessageTimestampType == "LogAppendTime" }

func (c Config) compacted() bool { return strings.Contains(c.CleanupPolicy, "compact") }

// deleteEnabled is LogConfig.delete: retention by time and size applies.
func (c Config) deleteEnabled() bool { return strings.Contains(c.CleanupPolicy, "delete") }

// randomSegmentJitter is LogConfig.randomSegmentJitter: uniform in
// [0, min(segment.jitter.ms, segment.ms)).
func (c Config) randomSegmentJitter() int64 {
	if c.SegmentJitterMs <= 0 || c.SegmentMs <= 0 {
		return 0
	}
	return rand.Int64N(min(c.SegmentJitterMs, c.SegmentMs))
}

// targetCodec returns the codec the broker must store for a batch that
// arrived with codec src, or an error for broker-side (re)compression, which
// is not supported yet.
func (c Config) targetCodec(src int) (int, error) {
	switch c.CompressionType {
	case "producer", "":
		return src, nil
	}
	if want, ok := codecByName[c.CompressionType]; ok && want == src {
		return src, nil
	}
	return 0, fmt.Errorf("%w: compression.type=%s with a codec-%d batch needs re-compression, not supported yet",
		ErrUnsupportedCompressionType, c.CompressionType, src)
}

var codecByName = map[string]int{"uncompressed": codecNone, "gzip": codecGzip, "snappy": codecSnappy, "lz4": codecLZ4, "zstd": codecZstd}
