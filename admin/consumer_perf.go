package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func consumerPerfFlags() *flagSet {
	fs := newFlagSet("kafka-consumer-perf-test", "This tool helps in performance test for the full zookeeper consumer")
	fs.opt("broker-list", "String: broker-list", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified.", "")
	fs.opt("bootstrap-server", "String: server to connect to", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to.", "")
	fs.opt("topic", "String: topic", "REQUIRED: The topic to consume from.", "")
	fs.opt("group", "String: gid", "The group id to consume on. Without it, partitions are read directly, without a group.", "")
	fs.opt("fetch-size", "Integer: size", "The amount of data to fetch in a single request.", "1048576")
	fs.flag("from-latest", "If the consumer does not already have an established offset to consume from, start with the latest message present in the log rather than the earliest message.")
	fs.opt("socket-buffer-size", "Integer: size", "The size of the tcp RECV size.", "2097152")
	fs.opt("threads", "Integer: count", "DEPRECATED AND IGNORED: Number of processing threads.", "10")
	fs.opt("num-fetch-threads", "Integer: count", "DEPRECATED AND IGNORED: Number of fetcher threads.", "1")
	fs.opt("consumer.config", "String: config file", "Consumer config properties file.", "")
	fs.flag("print-metrics", "Print out the metrics.")
	fs.flag("show-detailed-stats", "If set, stats are reported for each reporting interval as configured by reporting-interval")
	fs.opt("timeout", "Long: milliseconds", "The maximum allowed time in milliseconds between returned records.", "10000")
	fs.opt("messages", "Long: count", "REQUIRED: The number of messages to send or consume", "")
	fs.opt("reporting-interval", "Long: interval_ms", "Interval in milliseconds at which to print progress info.", "5000")
	fs.opt("date-format", "String: date format", "The date format to use for formatting the time field. See java.text.SimpleDateFormat for options.", "yyyy-MM-dd HH:mm:ss:SSS")
	fs.flag("hide-header", "If set, skips printing the header for the stats")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// ConsumerPerfTestMain implements kafka-consumer-perf-test.sh
// (org.apache.kafka.tools.ConsumerPerformance) and returns the exit code.
//
// Without --group (or group.id in --consumer.config) partitions are read
// directly, so no group coordinator is needed and rebalance.time.ms is 0.
func ConsumerPerfTestMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := consumerPerfFlags()
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	if !fs.has("bootstrap-server") && !fs.has("broker-list") {
		return fs.fail(stderr, errors.New("Missing required option(s) [bootstrap-server]"))
	}
	if err := fs.missing("topic", "messages"); err != nil {
		return fs.fail(stderr, err)
	}
	var nums [4]int64
	for i, f := range []struct {
		name string
		def  int64
	}{{"messages", 0}, {"timeout", 10000}, {"reporting-interval", 5000}, {"fetch-size", 1 << 20}} {
		n, err := fs.int64(f.name, f.def)
		if err != nil {
			return fs.fail(stderr, err)
		}
		nums[i] = n
	}
	numMessages, timeoutMs, reportMs, fetchSize := nums[0], nums[1], nums[2], nums[3]
	if reportMs <= 0 {
		return fs.fail(stderr, errors.New("Reporting interval must be greater than 0."))
	}
	props := map[string]string{}
	if f := fs.get("consumer.config", ""); f != "" {
		p, err := loadProps(f)
		if err != nil {
			fmt.Fprintln(stderr, err.Error())
			return 1
		}
		props = p
	}
	group := fs.get("group", props["group.id"])
	delete(props, "group.id")
	props["bootstrap.servers"] = fs.get("bootstrap-server", fs.get("broker-list", ""))
	props["max.partition.fetch.bytes"] = strconv.FormatInt(fetchSize, 10)
	props["auto.offset.reset"] = "earliest"
	if fs.has("from-latest") {
		props["auto.offset.reset"] = "latest"
	}
	if props["client.id"] == "" {
		props["client.id"] = "perf-consumer-client"
	}
	detailed := fs.has("show-detailed-stats")
	dateFmt := fs.get("date-format", "yyyy-MM-dd HH:mm:ss:SSS")
	if !fs.has("hide-header") {
		fmt.Fprintln(stdout, consumerPerfHeader(detailed))
	}

	topic := fs.get("topic", "")
	joinStart := time.Now().UnixMilli()
	var joinMs, joinRound atomic.Int64
	opts := []kgo.Opt{kgo.ConsumeTopics(topic)}
	if group != "" {
		props["group.id"] = group
		opts = append(opts, kgo.OnPartitionsAssigned(func(context.Context, *kgo.Client, map[string][]int32) {
			d := time.Now().UnixMilli() - joinStart
			joinMs.Add(d)
			joinRound.Store(d)
		}))
	}
	cl, err := newClient("", props, roleConsumer, stderr, opts...)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	start := time.Now().UnixMilli()
	var msgs, bytes, lastMsgs, lastBytes int64
	lastReport, lastConsumed := start, start
	now := start
	for msgs < numMessages && now-lastConsumed <= timeoutMs {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		fetches := cl.PollFetches(ctx)
		cancel()
		if fetches.IsClientClosed() {
			break
		}
		now = time.Now().UnixMilli()
		recs := fetches.Records()
		if len(recs) > 0 {
			lastConsumed = now
		}
		for _, r := range recs {
			msgs++
			bytes += int64(len(r.Key) + len(r.Value))
			if now-lastReport >= reportMs {
				if detailed {
					fmt.Fprintln(stdout, consumerProgressLine(dateFmt, 0, bytes, lastBytes, msgs, lastMsgs, lastReport, now, joinRound.Load()))
				}
				joinRound.Store(0)
				lastReport, lastMsgs, lastBytes = now, msgs, bytes
			}
		}
	}
	if msgs < numMessages {
		fmt.Fprintf(stdout, "WARNING: Exiting before consuming the expected number of messages: timeout (%d ms) exceeded. You can use the --timeout option to increase the timeout.\n", timeoutMs)
	}
	end := time.Now().UnixMilli()
	cl.Close()
	if !detailed {
		fmt.Fprintln(stdout, consumerPerfLine(dateFmt, start, end, bytes, msgs, joinMs.Load()))
	}
	return 0
}
