package admin

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// parseKeyValues parses repeated k=v arguments (--property,
// --producer-property, --consumer-property) as CommandLineUtils does: the
// first '=' splits; a bare key maps to "".
func parseKeyValues(args []string) (map[string]string, error) {
	out := map[string]string{}
	for _, a := range args {
		k, v, _ := strings.Cut(a, "=")
		if strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("Invalid command line properties: %s", strings.Join(args, " "))
		}
		out[k] = v
	}
	return out, nil
}

// loadProps reads a Java properties file: k=v, k:v or "k v" lines, with '#'
// and '!' comments. Line continuations and escapes are not supported.
func loadProps(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=: \t")
		if i < 0 {
			out[line] = ""
			continue
		}
		out[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return out, sc.Err()
}

// mergeProps returns a copy of base overlaid with each of over in turn.
func mergeProps(base map[string]string, over ...map[string]string) map[string]string {
	out := make(map[string]string, len(base))
	for k, v := range base {
		out[k] = v
	}
	for _, o := range over {
		for k, v := range o {
			out[k] = v
		}
	}
	return out
}

// clientRole selects which client properties are meaningful.
type clientRole int

const (
	roleAdmin clientRole = iota
	roleProducer
	roleConsumer
)

// ignoredProps are Java-client settings with no kgo counterpart that the
// tools themselves set or that do not change behaviour; they are accepted
// silently.
var ignoredProps = map[string]bool{
	"key.serializer": true, "value.serializer": true,
	"key.deserializer": true, "value.deserializer": true,
	"send.buffer.bytes": true, "receive.buffer.bytes": true,
	"max.block.ms": true, "check.crcs": true, "security.protocol": true,
	"client.dns.lookup": true, "partitioner.class": true,
}

// SupportedClientProps lists the Java client properties the tools map onto
// kgo options; other properties draw a warning and are ignored.
var SupportedClientProps = []string{
	"bootstrap.servers", "client.id", "request.timeout.ms", "retry.backoff.ms", "metadata.max.age.ms",
	"client.rack", "acks", "enable.idempotence", "linger.ms", "batch.size", "max.request.size",
	"compression.type", "max.in.flight.requests.per.connection", "retries", "delivery.timeout.ms",
	"buffer.memory", "transactional.id", "group.id", "enable.auto.commit", "auto.commit.interval.ms",
	"auto.offset.reset", "isolation.level", "fetch.min.bytes", "fetch.max.bytes", "fetch.max.wait.ms",
	"max.partition.fetch.bytes", "session.timeout.ms", "heartbeat.interval.ms", "max.poll.records",
	"rebalance.timeout.ms", "max.poll.interval.ms", "exclude.internal.topics",
}

// clientOptions maps Java client properties onto kgo options. It returns
// warnings for properties it does not understand, and an error for a
// malformed value of one it does.
func clientOptions(props map[string]string, role clientRole) ([]kgo.Opt, []string, error) {
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	var opts []kgo.Opt
	var warns []string
	idempotent := true
	for _, k := range keys {
		v := strings.TrimSpace(props[k])
		num := func() (int64, error) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("Invalid value %s for configuration %s: Not a number of type LONG", v, k)
			}
			return n, nil
		}
		ms := func() (time.Duration, error) { n, err := num(); return time.Duration(n) * time.Millisecond, err }
		var err error
		handled := true
		switch k {
		case "bootstrap.servers":
			opts = append(opts, kgo.SeedBrokers(splitList(v)...))
		case "client.id":
			opts = append(opts, kgo.ClientID(v))
		case "retry.backoff.ms":
			var d time.Duration
			if d, err = ms(); err == nil {
				opts = append(opts, kgo.RetryBackoffFn(func(int) time.Duration { return d }))
			}
		case "metadata.max.age.ms":
			var d time.Duration
			if d, err = ms(); err == nil {
				opts = append(opts, kgo.MetadataMaxAge(d))
			}
		case "client.rack":
			opts = append(opts, kgo.Rack(v))
		default:
			handled = false
		}
		if !handled && role == roleProducer {
			handled = true
			switch k {
			case "acks":
				switch strings.ToLower(v) {
				case "all", "-1":
					opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
				case "1":
					opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
					idempotent = false
				case "0":
					opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
					idempotent = false
				default:
					err = fmt.Errorf("Invalid value %s for configuration acks: String must be one of: all, -1, 0, 1", v)
				}
			case "enable.idempotence":
				if strings.EqualFold(v, "false") {
					idempotent = false
				}
			case "linger.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.ProducerLinger(d))
				}
			case "batch.size", "max.request.size":
				var n int64
				if n, err = num(); err == nil && n > 0 {
					opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
				}
			case "compression.type":
				var c kgo.CompressionCodec
				if c, err = compressionCodec(v); err == nil {
					opts = append(opts, kgo.ProducerBatchCompression(c))
				}
			case "max.in.flight.requests.per.connection":
				var n int64
				if n, err = num(); err == nil && n > 0 {
					opts = append(opts, kgo.MaxProduceRequestsInflightPerBroker(int(n)))
				}
			case "retries":
				var n int64
				if n, err = num(); err == nil {
					opts = append(opts, kgo.RecordRetries(int(n)))
				}
			case "delivery.timeout.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.RecordDeliveryTimeout(d))
				}
			case "request.timeout.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.ProduceRequestTimeout(d))
				}
			case "buffer.memory":
				var n int64
				if n, err = num(); err == nil && n > 0 {
					opts = append(opts, kgo.MaxBufferedBytes(int(n)))
				}
			case "transactional.id":
				opts = append(opts, kgo.TransactionalID(v))
			default:
				handled = false
			}
		}
		if !handled && role == roleConsumer {
			handled = true
			switch k {
			case "group.id":
				opts = append(opts, kgo.ConsumerGroup(v))
			case "enable.auto.commit":
				if strings.EqualFold(v, "false") {
					opts = append(opts, kgo.DisableAutoCommit())
				}
			case "auto.commit.interval.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.AutoCommitInterval(d))
				}
			case "auto.offset.reset":
				switch strings.ToLower(v) {
				case "earliest":
					opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				case "latest":
					opts = append(opts, kgo.ConsumeResetOffset(kgo.NewOffset().AtEnd()))
				case "none":
					opts = append(opts, kgo.ConsumeResetOffset(kgo.NoResetOffset()))
				default:
					err = fmt.Errorf("Invalid value %s for configuration auto.offset.reset: String must be one of: latest, earliest, none", v)
				}
			case "isolation.level":
				switch strings.ToLower(v) {
				case "read_committed":
					opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadCommitted()))
				case "read_uncommitted":
					opts = append(opts, kgo.FetchIsolationLevel(kgo.ReadUncommitted()))
				default:
					err = fmt.Errorf("Invalid value %s for configuration isolation.level: String must be one of: read_committed, read_uncommitted", v)
				}
			case "fetch.min.bytes":
				var n int64
				if n, err = num(); err == nil {
					opts = append(opts, kgo.FetchMinBytes(int32(n)))
				}
			case "fetch.max.bytes":
				var n int64
				if n, err = num(); err == nil {
					opts = append(opts, kgo.FetchMaxBytes(int32(n)))
				}
			case "max.partition.fetch.bytes":
				var n int64
				if n, err = num(); err == nil {
					opts = append(opts, kgo.FetchMaxPartitionBytes(int32(n)))
				}
			case "fetch.max.wait.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.FetchMaxWait(d))
				}
			case "session.timeout.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.SessionTimeout(d))
				}
			case "heartbeat.interval.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.HeartbeatInterval(d))
				}
			case "rebalance.timeout.ms", "max.poll.interval.ms":
				var d time.Duration
				if d, err = ms(); err == nil {
					opts = append(opts, kgo.RebalanceTimeout(d))
				}
			case "max.poll.records", "exclude.internal.topics", "request.timeout.ms":
				// Applied by the poll loop or meaningless for kgo.
			default:
				handled = false
			}
		}
		if err != nil {
			return nil, nil, err
		}
		if !handled && !ignoredProps[k] {
			warns = append(warns, fmt.Sprintf("WARNING: The configuration '%s' was supplied but isn't a known config.", k))
		}
	}
	if role == roleProducer && !idempotent {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	return opts, warns, nil
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "none", "":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("Invalid value %s for configuration compression.type: String must be one of: none, gzip, snappy, lz4, zstd", name)
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
