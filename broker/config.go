package broker

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/zkafka/zkafka/log"
)

// Config is the broker's configuration: server.properties with Kafka's names and defaults, plus --override k=v.
type Config struct {
	props map[string]string // as given (file, then overrides)

	BrokerID                     int32
	Listeners                    string
	AdvertisedListeners          string
	ListenerSecurityProtocolMap  map[string]string
	InterBrokerListenerName      string
	LogDirs                      []string
	ZookeeperConnect             string
	ZookeeperSessionTimeout      time.Duration
	ZookeeperConnectionTimeout   time.Duration
	NumIOThreads                 int
	NumNetworkThreads            int
	QueuedMaxRequests            int
	SocketRequestMaxBytes        int32
	SocketSendBufferBytes        int
	SocketReceiveBufferBytes     int
	ConnectionsMaxIdle           time.Duration
	NumPartitions                int32
	DefaultReplicationFactor     int16
	MinInsyncReplicas            int
	AutoCreateTopicsEnable       bool
	DeleteTopicEnable            bool
	UncleanLeaderElectionEnable  bool
	ControlledShutdownEnable     bool
	ControlledShutdownMaxRetries int
	ControlledShutdownBackoff    time.Duration // controlled.shutdown.retry.backoff.ms
	AutoLeaderRebalanceEnable    bool
	LeaderImbalancePerBrokerPct  int
	LeaderImbalanceCheckInterval time.Duration
	ControllerSocketTimeout      time.Duration
	MessageMaxBytes              int
	FetchMaxBytes                int32
	ReplicaLagTimeMax            time.Duration
	ReplicaFetchWaitMax          time.Duration // replica.fetch.wait.max.ms
	ReplicaFetchMinBytes         int32
	ReplicaFetchMaxBytes         int32 // per partition
	ReplicaFetchResponseMaxBytes int32
	ReplicaFetchBackoff          time.Duration
	NumReplicaFetchers           int
	ReplicaSocketTimeout         time.Duration
	HighWatermarkCheckpointEvery time.Duration
	MaxIncrementalFetchSessions  int
	BrokerRack                   string

	// Log defaults (topic-level configs fall back to these).
	LogSegmentBytes       int64
	LogIndexSizeMaxBytes  int
	LogIndexIntervalBytes int
	LogRetentionMs        int64
	LogRetentionBytes     int64
	LogRollMs             int64
	LogCleanupPolicy      string
	LogFlushMessages      int64
	LogFlushMs            int64
	LogTimestampType      string
	// message.timestamp.before.max.ms / after.max.ms, falling back to the deprecated difference.max.ms.
	LogTimestampBeforeMaxMs, LogTimestampAfterMaxMs int64
	LogTimestampDifferenceMaxMs                     int64
	LogRollJitterMs                                 int64
	LogSegmentDeleteDelayMs                         int64
	// The LogManager's background tasks.
	LogRetentionCheckInterval, LogFlushSchedulerInterval time.Duration
	LogFlushOffsetCheckpointInterval                     time.Duration
	LogFlushStartOffsetCheckpointInterval                time.Duration
	CompressionType                                      string

	// The group coordinator and __consumer_offsets (KafkaConfig's offsets.* and group.* keys).
	OffsetsTopicPartitions        int32
	OffsetsTopicReplicationFactor int16
	OffsetsTopicSegmentBytes      int64
	OffsetsRetention              time.Duration // offsets.retention.minutes
	OffsetsRetentionCheckInterval time.Duration
	OffsetCommitRequiredAcks      int16
	OffsetCommitTimeout           time.Duration
	OffsetMetadataMaxBytes        int
	OffsetsLoadBufferSize         int
	GroupMinSessionTimeout        time.Duration
	GroupMaxSessionTimeout        time.Duration
	GroupInitialRebalanceDelay    time.Duration
	GroupMaxSize                  int

	// Idempotence and transactions (KafkaConfig's transaction.* and producer.id.* keys).
	TxnLogPartitions                  int32 // transaction.state.log.num.partitions
	TxnLogReplicationFactor           int16 // transaction.state.log.replication.factor
	TxnLogMinISR                      int   // transaction.state.log.min.isr
	TxnLogSegmentBytes                int64 // transaction.state.log.segment.bytes
	TxnLogLoadBufferSize              int   // transaction.state.log.load.buffer.size
	TxnMaxTimeout                     time.Duration
	TxnAbortTimedOutInterval          time.Duration // transaction.abort.timed.out.transaction.cleanup.interval.ms
	TransactionalIDExpiration         time.Duration // transactional.id.expiration.ms
	TxnRemoveExpiredInterval          time.Duration // transaction.remove.expired.transaction.cleanup.interval.ms
	ProducerIDExpirationMs            int64         // producer.id.expiration.ms
	ProducerIDExpirationCheckInterval time.Duration // producer.id.expiration.check.interval.ms
	// TxnPartitionVerification is transaction.partition.verification.enable: accepted, but produce does not
	// verify partitions with the coordinator (AddPartitionsToTxn v4 is not served).
	TxnPartitionVerification bool
	RequestTimeout           time.Duration // request.timeout.ms: how long markers wait for acks=all
}

// Default server.properties values, from Kafka 3.7's KafkaConfig defaults.
var defaults = map[string]string{
	"broker.id":                                                   "-1",
	"listeners":                                                   "PLAINTEXT://:9092",
	"listener.security.protocol.map":                              "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL",
	"log.dirs":                                                    "",
	"log.dir":                                                     "/tmp/kafka-logs",
	"zookeeper.session.timeout.ms":                                "18000",
	"num.io.threads":                                              "8",
	"num.network.threads":                                         "3",
	"queued.max.requests":                                         "500",
	"socket.request.max.bytes":                                    "104857600",
	"socket.send.buffer.bytes":                                    "102400",
	"socket.receive.buffer.bytes":                                 "102400",
	"connections.max.idle.ms":                                     "600000",
	"num.partitions":                                              "1",
	"default.replication.factor":                                  "1",
	"min.insync.replicas":                                         "1",
	"auto.create.topics.enable":                                   "true",
	"delete.topic.enable":                                         "true",
	"unclean.leader.election.enable":                              "false",
	"controlled.shutdown.enable":                                  "true",
	"controlled.shutdown.max.retries":                             "3",
	"controlled.shutdown.retry.backoff.ms":                        "5000",
	"auto.leader.rebalance.enable":                                "true",
	"leader.imbalance.per.broker.percentage":                      "10",
	"leader.imbalance.check.interval.seconds":                     "300",
	"controller.socket.timeout.ms":                                "30000",
	"message.max.bytes":                                           "1048588",
	"fetch.max.bytes":                                             "57671680",
	"replica.lag.time.max.ms":                                     "30000",
	"replica.fetch.wait.max.ms":                                   "500",
	"replica.fetch.min.bytes":                                     "1",
	"replica.fetch.max.bytes":                                     "1048576",
	"replica.fetch.response.max.bytes":                            "10485760",
	"replica.fetch.backoff.ms":                                    "1000",
	"num.replica.fetchers":                                        "1",
	"replica.socket.timeout.ms":                                   "30000",
	"replica.high.watermark.checkpoint.interval.ms":               "5000",
	"max.incremental.fetch.session.cache.slots":                   "1000",
	"log.segment.bytes":                                           "1073741824",
	"log.index.size.max.bytes":                                    "10485760",
	"log.index.interval.bytes":                                    "4096",
	"log.retention.hours":                                         "168",
	"log.retention.bytes":                                         "-1",
	"log.roll.hours":                                              "168",
	"log.cleanup.policy":                                          "delete",
	"log.flush.interval.messages":                                 "9223372036854775807",
	"log.message.timestamp.type":                                  "CreateTime",
	"log.message.timestamp.difference.max.ms":                     "9223372036854775807",
	"log.message.timestamp.before.max.ms":                         "9223372036854775807",
	"log.message.timestamp.after.max.ms":                          "9223372036854775807",
	"log.roll.jitter.hours":                                       "0",
	"log.segment.delete.delay.ms":                                 "60000",
	"log.retention.check.interval.ms":                             "300000",
	"log.flush.scheduler.interval.ms":                             "9223372036854775807",
	"log.flush.offset.checkpoint.interval.ms":                     "60000",
	"log.flush.start.offset.checkpoint.interval.ms":               "60000",
	"compression.type":                                            "producer",
	"offsets.topic.num.partitions":                                "50",
	"offsets.topic.replication.factor":                            "3",
	"offsets.topic.segment.bytes":                                 "104857600",
	"offsets.retention.minutes":                                   "10080",
	"offsets.retention.check.interval.ms":                         "600000",
	"offsets.commit.required.acks":                                "-1",
	"offsets.commit.timeout.ms":                                   "5000",
	"offset.metadata.max.bytes":                                   "4096",
	"offsets.load.buffer.size":                                    "5242880",
	"group.min.session.timeout.ms":                                "6000",
	"group.max.session.timeout.ms":                                "1800000",
	"group.initial.rebalance.delay.ms":                            "3000",
	"group.max.size":                                              "2147483647",
	"transaction.state.log.num.partitions":                        "50",
	"transaction.state.log.replication.factor":                    "3",
	"transaction.state.log.min.isr":                               "2",
	"transaction.state.log.segment.bytes":                         "104857600",
	"transaction.state.log.load.buffer.size":                      "5242880",
	"transaction.max.timeout.ms":                                  "900000",
	"transaction.abort.timed.out.transaction.cleanup.interval.ms": "10000",
	"transactional.id.expiration.ms":                              "604800000",
	"transaction.remove.expired.transaction.cleanup.interval.ms":  "3600000",
	"producer.id.expiration.ms":                                   "86400000",
	"producer.id.expiration.check.interval.ms":                    "600000",
	"transaction.partition.verification.enable":                   "true",
	"request.timeout.ms":                                          "30000",
}

// LoadConfig reads a server.properties file and applies overrides ("k=v").
func LoadConfig(path string, overrides []string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	props, err := ParseProperties(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, o := range overrides {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return nil, fmt.Errorf("invalid override %q: expected key=value", o)
		}
		props[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return NewConfig(props)
}

// ParseProperties reads Java .properties syntax: key=value or key:value or "key value", '#'/'!' comments,
// backslash line continuations and escapes.
func ParseProperties(r io.Reader) (map[string]string, error) {
	props := map[string]string{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var pending string
	for sc.Scan() {
		line := strings.TrimLeft(sc.Text(), " \t\f")
		if pending == "" && (line == "" || line[0] == '#' || line[0] == '!') {
			continue
		}
		if n := trailingBackslashes(line); n%2 == 1 {
			pending += line[:len(line)-1]
			continue
		}
		line = pending + line
		pending = ""
		sep := strings.IndexAny(line, "=: \t")
		key, val := line, ""
		if sep >= 0 {
			key = line[:sep]
			rest := strings.TrimLeft(line[sep:], " \t")
			if rest != "" && (rest[0] == '=' || rest[0] == ':') {
				rest = rest[1:]
			}
			val = strings.TrimLeft(rest, " \t")
		}
		props[unescape(key)] = unescape(val)
	}
	if pending != "" {
		sep := strings.IndexAny(pending, "=:")
		if sep >= 0 {
			props[unescape(pending[:sep])] = unescape(strings.TrimSpace(pending[sep+1:]))
		}
	}
	return props, sc.Err()
}

func trailingBackslashes(s string) int {
	n := 0
	for i := len(s) - 1; i >= 0 && s[i] == '\\'; i-- {
		n++
	}
	return n
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// NewConfig validates props and fills in Kafka's defaults.
func NewConfig(props map[string]string) (*Config, error) {
	c := &Config{props: props}
	p := &parser{props: props}
	c.BrokerID = int32(p.int("broker.id"))
	c.Listeners = p.str("listeners")
	c.AdvertisedListeners = p.strOr("advertised.listeners", c.Listeners)
	c.ListenerSecurityProtocolMap = map[string]string{}
	for _, kv := range splitList(p.str("listener.security.protocol.map")) {
		k, v, ok := strings.Cut(kv, ":")
		if !ok {
			p.fail("listener.security.protocol.map", kv)
			continue
		}
		c.ListenerSecurityProtocolMap[strings.ToUpper(k)] = strings.ToUpper(v)
	}
	c.InterBrokerListenerName = strings.ToUpper(p.strOr("inter.broker.listener.name", p.strOr("security.inter.broker.protocol", "PLAINTEXT")))
	if dirs := p.str("log.dirs"); dirs != "" {
		c.LogDirs = splitList(dirs)
	} else {
		c.LogDirs = splitList(p.str("log.dir"))
	}
	for i, d := range c.LogDirs {
		if abs, err := filepath.Abs(d); err == nil {
			c.LogDirs[i] = abs
		}
	}
	c.ZookeeperConnect = p.str("zookeeper.connect")
	if c.ZookeeperConnect == "" {
		return nil, fmt.Errorf("missing required configuration \"zookeeper.connect\" which has no default value")
	}
	c.ZookeeperSessionTimeout = p.ms("zookeeper.session.timeout.ms")
	c.ZookeeperConnectionTimeout = c.ZookeeperSessionTimeout
	if _, ok := props["zookeeper.connection.timeout.ms"]; ok {
		c.ZookeeperConnectionTimeout = p.ms("zookeeper.connection.timeout.ms")
	}
	c.NumIOThreads = int(p.int("num.io.threads"))
	c.NumNetworkThreads = int(p.int("num.network.threads"))
	c.QueuedMaxRequests = int(p.int("queued.max.requests"))
	c.SocketRequestMaxBytes = int32(p.int("socket.request.max.bytes"))
	c.SocketSendBufferBytes = int(p.int("socket.send.buffer.bytes"))
	c.SocketReceiveBufferBytes = int(p.int("socket.receive.buffer.bytes"))
	c.ConnectionsMaxIdle = p.ms("connections.max.idle.ms")
	c.NumPartitions = int32(p.int("num.partitions"))
	c.DefaultReplicationFactor = int16(p.int("default.replication.factor"))
	c.MinInsyncReplicas = int(p.int("min.insync.replicas"))
	c.AutoCreateTopicsEnable = p.bool("auto.create.topics.enable")
	c.DeleteTopicEnable = p.bool("delete.topic.enable")
	c.UncleanLeaderElectionEnable = p.bool("unclean.leader.election.enable")
	c.ControlledShutdownEnable = p.bool("controlled.shutdown.enable")
	c.ControlledShutdownMaxRetries = int(p.int("controlled.shutdown.max.retries"))
	c.ControlledShutdownBackoff = p.ms("controlled.shutdown.retry.backoff.ms")
	c.AutoLeaderRebalanceEnable = p.bool("auto.leader.rebalance.enable")
	c.LeaderImbalancePerBrokerPct = int(p.int("leader.imbalance.per.broker.percentage"))
	c.LeaderImbalanceCheckInterval = time.Duration(p.int("leader.imbalance.check.interval.seconds")) * time.Second
	c.ControllerSocketTimeout = p.ms("controller.socket.timeout.ms")
	c.MessageMaxBytes = int(p.int("message.max.bytes"))
	c.FetchMaxBytes = int32(p.int("fetch.max.bytes"))
	c.ReplicaLagTimeMax = p.ms("replica.lag.time.max.ms")
	c.ReplicaFetchWaitMax = p.ms("replica.fetch.wait.max.ms")
	c.ReplicaFetchMinBytes = int32(p.int("replica.fetch.min.bytes"))
	c.ReplicaFetchMaxBytes = int32(p.int("replica.fetch.max.bytes"))
	c.ReplicaFetchResponseMaxBytes = int32(p.int("replica.fetch.response.max.bytes"))
	c.ReplicaFetchBackoff = p.ms("replica.fetch.backoff.ms")
	c.NumReplicaFetchers = max(int(p.int("num.replica.fetchers")), 1)
	c.ReplicaSocketTimeout = p.ms("replica.socket.timeout.ms")
	if c.ReplicaFetchWaitMax > c.ReplicaLagTimeMax {
		return nil, fmt.Errorf("replica.fetch.wait.max.ms (%d) should always be less than or equal to replica.lag.time.max.ms (%d) to prevent frequent changes in ISR",
			c.ReplicaFetchWaitMax.Milliseconds(), c.ReplicaLagTimeMax.Milliseconds())
	}
	c.HighWatermarkCheckpointEvery = p.ms("replica.high.watermark.checkpoint.interval.ms")
	c.MaxIncrementalFetchSessions = int(p.int("max.incremental.fetch.session.cache.slots"))
	c.BrokerRack = p.strOr("broker.rack", "")
	c.LogSegmentBytes = p.int("log.segment.bytes")
	c.LogIndexSizeMaxBytes = int(p.int("log.index.size.max.bytes"))
	c.LogIndexIntervalBytes = int(p.int("log.index.interval.bytes"))
	c.LogRetentionMs = p.durationMs("log.retention.ms", "log.retention.minutes", "log.retention.hours")
	c.LogRetentionBytes = p.int("log.retention.bytes")
	c.LogRollMs = p.durationMs("log.roll.ms", "", "log.roll.hours")
	c.LogCleanupPolicy = p.str("log.cleanup.policy")
	c.LogFlushMessages = p.int("log.flush.interval.messages")
	c.LogFlushMs = math.MaxInt64
	if _, ok := props["log.flush.interval.ms"]; ok {
		c.LogFlushMs = p.int("log.flush.interval.ms")
	}
	c.LogTimestampType = p.str("log.message.timestamp.type")
	c.LogTimestampDifferenceMaxMs = p.int("log.message.timestamp.difference.max.ms")
	c.LogTimestampBeforeMaxMs = p.int("log.message.timestamp.before.max.ms")
	c.LogTimestampAfterMaxMs = p.int("log.message.timestamp.after.max.ms")
	c.LogRollJitterMs = p.durationMs("log.roll.jitter.ms", "", "log.roll.jitter.hours")
	c.LogSegmentDeleteDelayMs = p.int("log.segment.delete.delay.ms")
	c.LogRetentionCheckInterval = log.DurationFromMs(p.int("log.retention.check.interval.ms"))
	c.LogFlushSchedulerInterval = log.DurationFromMs(p.int("log.flush.scheduler.interval.ms"))
	c.LogFlushOffsetCheckpointInterval = log.DurationFromMs(p.int("log.flush.offset.checkpoint.interval.ms"))
	c.LogFlushStartOffsetCheckpointInterval = log.DurationFromMs(p.int("log.flush.start.offset.checkpoint.interval.ms"))
	c.CompressionType = p.str("compression.type")
	c.parseGroupCoordinator(p)
	c.parseTransactions(p)
	if c.NumIOThreads < 1 {
		p.fail("num.io.threads", strconv.Itoa(c.NumIOThreads))
	}
	if c.LeaderImbalanceCheckInterval < time.Second {
		// Kafka's validator: atLeast(1).
		p.fail("leader.imbalance.check.interval.seconds", p.str("leader.imbalance.check.interval.seconds"))
	}
	if c.QueuedMaxRequests < 1 {
		p.fail("queued.max.requests", strconv.Itoa(c.QueuedMaxRequests))
	}
	if c.LogTimestampType != "CreateTime" && c.LogTimestampType != "LogAppendTime" {
		p.fail("log.message.timestamp.type", c.LogTimestampType)
	}
	if p.err != nil {
		return nil, p.err
	}
	return c, nil
}

// Get returns the effective value of a property (explicit or Kafka's default) and whether it is known.
func (c *Config) Get(key string) (string, bool) {
	if v, ok := c.props[key]; ok {
		return v, true
	}
	v, ok := defaults[key]
	return v, ok
}

// Explicit lists the properties set in server.properties or by --override, sorted.
func (c *Config) Explicit() []string {
	keys := make([]string, 0, len(c.props))
	for k := range c.props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

type parser struct {
	props map[string]string
	err   error
}

func (p *parser) fail(key, val string) {
	if p.err == nil {
		p.err = fmt.Errorf("invalid value %q for configuration %s", val, key)
	}
}

func (p *parser) str(key string) string {
	if v, ok := p.props[key]; ok {
		return strings.TrimSpace(v)
	}
	return defaults[key]
}

func (p *parser) strOr(key, def string) string {
	if v, ok := p.props[key]; ok && strings.TrimSpace(v) != "" {
		return strings.TrimSpace(v)
	}
	return def
}

func (p *parser) int(key string) int64 {
	s := p.str(key)
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.fail(key, s)
	}
	return n
}

func (p *parser) ms(key string) time.Duration {
	return time.Duration(p.int(key)) * time.Millisecond
}

func (p *parser) bool(key string) bool {
	s := strings.ToLower(p.str(key))
	if s != "true" && s != "false" {
		p.fail(key, s)
	}
	return s == "true"
}

// durationMs applies Kafka's precedence ms > minutes > hours; -1 stays -1 (unlimited).
func (p *parser) durationMs(msKey, minKey, hourKey string) int64 {
	if _, ok := p.props[msKey]; ok {
		return p.int(msKey)
	}
	if minKey != "" {
		if _, ok := p.props[minKey]; ok {
			if v := p.int(minKey); v < 0 {
				return v
			} else {
				return v * 60 * 1000
			}
		}
	}
	v := p.int(hourKey)
	if v < 0 {
		return v
	}
	return v * 3600 * 1000
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// parseGroupCoordinator reads the offsets.* and group.* keys with Kafka's validators (atLeast(1) where KafkaConfig
// has one, and offsets.commit.required.acks within [-1, offsets.topic.replication.factor]).
func (c *Config) parseGroupCoordinator(p *parser) {
	atLeast := func(key string, minimum int64) int64 {
		v := p.int(key)
		if v < minimum {
			p.fail(key, p.str(key))
		}
		return v
	}
	c.OffsetsTopicPartitions = int32(atLeast("offsets.topic.num.partitions", 1))
	short := func(key string, v int64) int64 {
		if v < math.MinInt16 || v > math.MaxInt16 {
			p.fail(key, p.str(key))
		}
		return v
	}
	c.OffsetsTopicReplicationFactor = int16(short("offsets.topic.replication.factor", atLeast("offsets.topic.replication.factor", 1)))
	c.OffsetsTopicSegmentBytes = atLeast("offsets.topic.segment.bytes", 1)
	c.OffsetsRetention = time.Duration(atLeast("offsets.retention.minutes", 1)) * time.Minute
	c.OffsetsRetentionCheckInterval = time.Duration(atLeast("offsets.retention.check.interval.ms", 1)) * time.Millisecond
	c.OffsetCommitRequiredAcks = int16(short("offsets.commit.required.acks", p.int("offsets.commit.required.acks")))
	c.OffsetCommitTimeout = time.Duration(atLeast("offsets.commit.timeout.ms", 1)) * time.Millisecond
	c.OffsetMetadataMaxBytes = int(p.int("offset.metadata.max.bytes"))
	c.OffsetsLoadBufferSize = int(atLeast("offsets.load.buffer.size", 1))
	c.GroupMinSessionTimeout = p.ms("group.min.session.timeout.ms")
	c.GroupMaxSessionTimeout = p.ms("group.max.session.timeout.ms")
	c.GroupInitialRebalanceDelay = p.ms("group.initial.rebalance.delay.ms")
	c.GroupMaxSize = int(atLeast("group.max.size", 1))
	if p.err == nil && (c.OffsetCommitRequiredAcks < -1 || c.OffsetCommitRequiredAcks > c.OffsetsTopicReplicationFactor) {
		p.err = fmt.Errorf("offsets.commit.required.acks must be greater or equal -1 and less or equal to offsets.topic.replication.factor")
	}
}

// parseTransactions reads the transaction.* and producer.id.* keys with KafkaConfig's validators.
func (c *Config) parseTransactions(p *parser) {
	atLeast := func(key string, minimum int64) int64 {
		v := p.int(key)
		if v < minimum {
			p.fail(key, p.str(key))
		}
		return v
	}
	c.TxnLogPartitions = int32(atLeast("transaction.state.log.num.partitions", 1))
	rf := atLeast("transaction.state.log.replication.factor", 1)
	if rf > math.MaxInt16 {
		p.fail("transaction.state.log.replication.factor", p.str("transaction.state.log.replication.factor"))
	}
	c.TxnLogReplicationFactor = int16(rf)
	c.TxnLogMinISR = int(atLeast("transaction.state.log.min.isr", 1))
	c.TxnLogSegmentBytes = atLeast("transaction.state.log.segment.bytes", 1)
	c.TxnLogLoadBufferSize = int(atLeast("transaction.state.log.load.buffer.size", 1))
	c.TxnMaxTimeout = time.Duration(atLeast("transaction.max.timeout.ms", 1)) * time.Millisecond
	c.TxnAbortTimedOutInterval = time.Duration(atLeast("transaction.abort.timed.out.transaction.cleanup.interval.ms", 1)) * time.Millisecond
	c.TransactionalIDExpiration = time.Duration(atLeast("transactional.id.expiration.ms", 1)) * time.Millisecond
	c.TxnRemoveExpiredInterval = time.Duration(atLeast("transaction.remove.expired.transaction.cleanup.interval.ms", 1)) * time.Millisecond
	c.ProducerIDExpirationMs = atLeast("producer.id.expiration.ms", 1)
	c.ProducerIDExpirationCheckInterval = time.Duration(atLeast("producer.id.expiration.check.interval.ms", 1)) * time.Millisecond
	c.TxnPartitionVerification = p.bool("transaction.partition.verification.enable")
	c.RequestTimeout = time.Duration(atLeast("request.timeout.ms", 0)) * time.Millisecond
}
