package broker

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/zkafka/zkafka/log"
)

// topicConfigDefaults maps each topic-level config to its broker synonym (Kafka's ServerTopicConfigSynonyms);
// the topic override wins, then the broker's value, then Kafka's default.
var topicConfigSynonyms = map[string]string{
	"cleanup.policy":                          "log.cleanup.policy",
	"compression.type":                        "compression.type",
	"delete.retention.ms":                     "log.cleaner.delete.retention.ms",
	"file.delete.delay.ms":                    "log.segment.delete.delay.ms",
	"flush.messages":                          "log.flush.interval.messages",
	"flush.ms":                                "log.flush.interval.ms",
	"index.interval.bytes":                    "log.index.interval.bytes",
	"max.compaction.lag.ms":                   "log.cleaner.max.compaction.lag.ms",
	"max.message.bytes":                       "message.max.bytes",
	"message.timestamp.type":                  "log.message.timestamp.type",
	"message.timestamp.difference.max.ms":     "log.message.timestamp.difference.max.ms",
	"message.timestamp.before.max.ms":         "log.message.timestamp.before.max.ms",
	"message.timestamp.after.max.ms":          "log.message.timestamp.after.max.ms",
	"message.downconversion.enable":           "log.message.downconversion.enable",
	"min.cleanable.dirty.ratio":               "log.cleaner.min.cleanable.ratio",
	"min.compaction.lag.ms":                   "log.cleaner.min.compaction.lag.ms",
	"min.insync.replicas":                     "min.insync.replicas",
	"preallocate":                             "log.preallocate",
	"retention.bytes":                         "log.retention.bytes",
	"retention.ms":                            "log.retention.ms",
	"segment.bytes":                           "log.segment.bytes",
	"segment.index.bytes":                     "log.index.size.max.bytes",
	"segment.jitter.ms":                       "log.roll.jitter.ms",
	"segment.ms":                              "log.roll.ms",
	"unclean.leader.election.enable":          "unclean.leader.election.enable",
	"leader.replication.throttled.replicas":   "",
	"follower.replication.throttled.replicas": "",
	"local.retention.bytes":                   "",
	"local.retention.ms":                      "",
	"remote.storage.enable":                   "",
}

// validateTopicConfigs checks topic-level overrides as CreateTopics does: unknown names and bad numbers are
// INVALID_CONFIG.
func validateTopicConfigs(cfgs map[string]string) error {
	for k, v := range cfgs {
		if _, ok := topicConfigSynonyms[k]; !ok {
			return fmt.Errorf("Unknown topic config name: %s", k)
		}
		switch k {
		case "segment.bytes", "retention.bytes", "retention.ms", "segment.ms", "max.message.bytes",
			"index.interval.bytes", "segment.index.bytes", "flush.messages", "flush.ms", "min.insync.replicas",
			"segment.jitter.ms", "file.delete.delay.ms", "message.timestamp.before.max.ms",
			"message.timestamp.after.max.ms", "message.timestamp.difference.max.ms",
			"delete.retention.ms", "min.compaction.lag.ms", "max.compaction.lag.ms":
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return fmt.Errorf("Invalid value %s for configuration %s: Not a number of type LONG", v, k)
			}
		case "min.cleanable.dirty.ratio":
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("Invalid value %s for configuration %s: Not a number of type DOUBLE", v, k)
			}
			if f < 0 || f > 1 {
				return fmt.Errorf("Invalid value %s for configuration %s: Value must be no more than 1", v, k)
			}
		case "message.timestamp.type":
			if v != "CreateTime" && v != "LogAppendTime" {
				return fmt.Errorf("Invalid value %s for configuration %s: String must be one of: CreateTime, LogAppendTime", v, k)
			}
		case "cleanup.policy":
			if v != "delete" && v != "compact" && v != "compact,delete" && v != "delete,compact" {
				return fmt.Errorf("Invalid value %s for configuration %s", v, k)
			}
		}
	}
	if v, ok := cfgs["segment.bytes"]; ok {
		if n, _ := strconv.ParseInt(v, 10, 64); n < 14 {
			return fmt.Errorf("Invalid value %s for configuration segment.bytes: Value must be at least 14", v)
		}
	}
	return nil
}

// logConfig derives a partition's log.Config from the broker config and the topic's overrides.
func (c *Config) logConfig(overrides map[string]string) log.Config {
	lc := log.DefaultConfig()
	lc.SegmentBytes = c.LogSegmentBytes
	lc.SegmentIndexBytes = c.LogIndexSizeMaxBytes
	lc.IndexIntervalBytes = c.LogIndexIntervalBytes
	lc.MaxMessageBytes = c.MessageMaxBytes
	lc.MessageTimestampType = c.LogTimestampType
	lc.FlushMessages = c.LogFlushMessages
	lc.FlushMs = c.LogFlushMs
	lc.RetentionMs = c.LogRetentionMs
	lc.RetentionBytes = c.LogRetentionBytes
	lc.SegmentMs = c.LogRollMs
	lc.CleanupPolicy = c.LogCleanupPolicy
	lc.CompressionType = c.CompressionType
	lc.SegmentJitterMs = c.LogRollJitterMs
	lc.FileDeleteDelayMs = c.LogSegmentDeleteDelayMs
	lc.ProducerIDExpirationMs = c.ProducerIDExpirationMs
	lc.DeleteRetentionMs = c.longProp("log.cleaner.delete.retention.ms", lc.DeleteRetentionMs)
	lc.MinCleanableDirtyRatio = c.doubleProp("log.cleaner.min.cleanable.ratio", lc.MinCleanableDirtyRatio)
	lc.MinCompactionLagMs = c.longProp("log.cleaner.min.compaction.lag.ms", lc.MinCompactionLagMs)
	lc.MaxCompactionLagMs = c.longProp("log.cleaner.max.compaction.lag.ms", lc.MaxCompactionLagMs)
	before, after, diff := c.LogTimestampBeforeMaxMs, c.LogTimestampAfterMaxMs, c.LogTimestampDifferenceMaxMs
	num := func(k string, set func(int64)) {
		if v, ok := overrides[k]; ok {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil {
				set(n)
			}
		}
	}
	num("segment.bytes", func(n int64) { lc.SegmentBytes = n })
	num("segment.index.bytes", func(n int64) { lc.SegmentIndexBytes = int(n) })
	num("index.interval.bytes", func(n int64) { lc.IndexIntervalBytes = int(n) })
	num("max.message.bytes", func(n int64) { lc.MaxMessageBytes = int(n) })
	num("flush.messages", func(n int64) { lc.FlushMessages = n })
	num("flush.ms", func(n int64) { lc.FlushMs = n })
	num("retention.ms", func(n int64) { lc.RetentionMs = n })
	num("retention.bytes", func(n int64) { lc.RetentionBytes = n })
	num("segment.ms", func(n int64) { lc.SegmentMs = n })
	num("segment.jitter.ms", func(n int64) { lc.SegmentJitterMs = n })
	num("file.delete.delay.ms", func(n int64) { lc.FileDeleteDelayMs = n })
	num("delete.retention.ms", func(n int64) { lc.DeleteRetentionMs = n })
	num("min.compaction.lag.ms", func(n int64) { lc.MinCompactionLagMs = n })
	num("max.compaction.lag.ms", func(n int64) { lc.MaxCompactionLagMs = n })
	if v, ok := overrides["min.cleanable.dirty.ratio"]; ok {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			lc.MinCleanableDirtyRatio = f
		}
	}
	num("message.timestamp.before.max.ms", func(n int64) { before = n })
	num("message.timestamp.after.max.ms", func(n int64) { after = n })
	num("message.timestamp.difference.max.ms", func(n int64) { diff = n })
	// KIP-937: the deprecated difference bound applies to a side whose own bound is unset (Long.MAX).
	lc.MessageTimestampBeforeMaxMs, lc.MessageTimestampAfterMaxMs = before, after
	if before == math.MaxInt64 {
		lc.MessageTimestampBeforeMaxMs = diff
	}
	if after == math.MaxInt64 {
		lc.MessageTimestampAfterMaxMs = diff
	}
	if v, ok := overrides["message.timestamp.type"]; ok {
		lc.MessageTimestampType = v
	}
	if v, ok := overrides["cleanup.policy"]; ok {
		lc.CleanupPolicy = v
	}
	if v, ok := overrides["compression.type"]; ok {
		lc.CompressionType = v
	}
	return lc
}

func (c *Config) minInsyncReplicas(overrides map[string]string) int {
	if v, ok := overrides["min.insync.replicas"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return c.MinInsyncReplicas
}

// CleanerConfig derives the log cleaner's settings from the broker's log.cleaner.* properties (Kafka's
// CleanerConfig); the broker passes it to LogManager.StartCleaner.
func (c *Config) CleanerConfig() log.CleanerConfig {
	cc := log.DefaultCleanerConfig()
	cc.Enable = c.boolProp("log.cleaner.enable", cc.Enable)
	cc.Threads = int(c.longProp("log.cleaner.threads", int64(cc.Threads)))
	cc.DedupeBufferSize = c.longProp("log.cleaner.dedupe.buffer.size", cc.DedupeBufferSize)
	cc.DedupeBufferLoadFactor = c.doubleProp("log.cleaner.io.buffer.load.factor", cc.DedupeBufferLoadFactor)
	cc.IOBufferSize = int(c.longProp("log.cleaner.io.buffer.size", int64(cc.IOBufferSize)))
	cc.Backoff = time.Duration(c.longProp("log.cleaner.backoff.ms", cc.Backoff.Milliseconds())) * time.Millisecond
	cc.MaxMessageSize = c.MessageMaxBytes
	return cc
}

// The log.cleaner.* properties are read here, with Kafka's defaults, rather than in NewConfig's table; a
// malformed value falls back to the default.
func (c *Config) longProp(key string, def int64) int64 {
	if v, ok := c.props[key]; ok {
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			return n
		}
	}
	return def
}

func (c *Config) doubleProp(key string, def float64) float64 {
	if v, ok := c.props[key]; ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
			return f
		}
	}
	return def
}

func (c *Config) boolProp(key string, def bool) bool {
	if v, ok := c.props[key]; ok {
		if b, err := strconv.ParseBool(strings.TrimSpace(v)); err == nil {
			return b
		}
	}
	return def
}
