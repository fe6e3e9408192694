package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func consoleConsumerFlags() *flagSet {
	fs := newFlagSet("kafka-console-consumer", "This tool helps to read data from Kafka topics and outputs it to standard output.")
	fs.opt("topic", "String: topic", "The topic to consume on.", "")
	fs.opt("whitelist", "String: Java regex (String)", "DEPRECATED, use --include instead; ignored if --include specified.", "")
	fs.opt("include", "String: Java regex (String)", "Regular expression specifying list of topics to include for consumption.", "")
	fs.opt("partition", "Integer: partition", "The partition to consume from. Consumption starts from the end of the partition unless '--offset' is specified.", "")
	fs.opt("offset", "String: consume offset", "The offset to consume from (a non-negative number), or 'earliest' which means from beginning, or 'latest' which means from end", "latest")
	fs.opt("consumer-property", "String: consumer_prop", "A mechanism to pass user-defined properties in the form key=value to the consumer.", "")
	fs.opt("consumer.config", "String: config file", "Consumer config properties file. Note that --consumer-property takes precedence over this config.", "")
	fs.opt("formatter", "String: class", "The name of a class to use for formatting kafka messages for display.", "kafka.tools.DefaultMessageFormatter")
	fs.opt("property", "String: prop", "The properties to initialize the message formatter: print.timestamp, print.key, print.offset, print.partition, print.headers, print.value, key.separator, line.separator, headers.separator, null.literal.", "")
	fs.opt("formatter-config", "String: config file", "Config properties file to initialize the message formatter. Note that --property takes precedence over this config.", "")
	fs.flag("from-beginning", "If the consumer does not already have an established offset to consume from, start with the earliest message present in the log rather than the latest message.")
	fs.opt("max-messages", "Integer: num_messages", "The maximum number of messages to consume before exiting. If not set, consumption is continual.", "")
	fs.opt("timeout-ms", "Integer: timeout_ms", "If specified, exit if no message is available for consumption for the specified interval.", "")
	fs.flag("skip-message-on-error", "If there is an error when processing a message, skip it instead of halt.")
	fs.opt("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to.", "")
	fs.opt("key-deserializer", "String: deserializer for key", "", "")
	fs.opt("value-deserializer", "String: deserializer for values", "", "")
	fs.flag("enable-systest-events", "Log lifecycle events of the consumer in addition to logging consumed messages. (This is specific for system tests.)")
	fs.opt("isolation-level", "String", "Set to read_committed in order to filter out transactional messages which are not committed. Set to read_uncommitted to read all messages.", "read_uncommitted")
	fs.opt("group", "String: consumer group id", "The consumer group id of the consumer.", "")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// consoleConsumerConfig is the validated command line.
type consoleConsumerConfig struct {
	topic, include string
	partition      int32
	hasPartition   bool
	offset         kgo.Offset
	maxMessages    int64 // -1: unlimited
	timeout        time.Duration
	hasTimeout     bool
	group          string // "" when no group was asked for
	props          map[string]string
	formatter      *recordFormatter // nil: NoOpMessageFormatter
}

// usageError marks errors that print usage, as printUsageAndExit does.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func parseConsoleConsumer(fs *flagSet) (*consoleConsumerConfig, error) {
	c := &consoleConsumerConfig{maxMessages: -1}
	uerr := func(f string, a ...any) error { return usageError{fmt.Sprintf(f, a...)} }

	extra, err := parseKeyValues(fs.all("consumer-property"))
	if err != nil {
		return nil, err
	}
	fileProps := map[string]string{}
	if f := fs.get("consumer.config", ""); f != "" {
		if fileProps, err = loadProps(f); err != nil {
			return nil, err
		}
	}
	fmtProps := map[string]string{}
	if f := fs.get("formatter-config", ""); f != "" {
		if fmtProps, err = loadProps(f); err != nil {
			return nil, err
		}
	}
	cmdFmt, err := parseKeyValues(fs.all("property"))
	if err != nil {
		return nil, err
	}
	switch cls := fs.get("formatter", "kafka.tools.DefaultMessageFormatter"); {
	case strings.HasSuffix(cls, "DefaultMessageFormatter"), strings.HasSuffix(cls, "LoggingMessageFormatter"):
		c.formatter = newRecordFormatter(mergeProps(fmtProps, cmdFmt))
	case strings.HasSuffix(cls, "NoOpMessageFormatter"):
	default:
		return nil, fmt.Errorf("java.lang.ClassNotFoundException: %s", cls)
	}
	if c.maxMessages, err = fs.int64("max-messages", -1); err != nil {
		return nil, uerr("%s", err)
	}
	timeoutMs, err := fs.int64("timeout-ms", -1)
	if err != nil {
		return nil, uerr("%s", err)
	}
	if timeoutMs >= 0 {
		c.timeout, c.hasTimeout = time.Duration(timeoutMs)*time.Millisecond, true
	}

	c.topic = fs.get("topic", "")
	c.include = fs.get("include", fs.get("whitelist", ""))
	n := 0
	if fs.has("topic") {
		n++
	}
	if fs.has("include") || fs.has("whitelist") {
		n++
	}
	if n != 1 {
		// Scala interpolates an if without else as "()" when false.
		suffix := "()"
		if fs.has("whitelist") {
			suffix = "--whitelist is DEPRECATED use --include instead; ignored if --include specified."
		}
		return nil, uerr("Exactly one of --include/--topic is required. %s", suffix)
	}
	fromBeginning := fs.has("from-beginning")
	if fs.has("partition") {
		p, err := fs.int32("partition", 0)
		if err != nil {
			return nil, uerr("%s", err)
		}
		c.partition, c.hasPartition = p, true
		if !fs.has("topic") {
			return nil, uerr("The topic is required when partition is specified.")
		}
		if fromBeginning && fs.has("offset") {
			return nil, uerr("Options from-beginning and offset cannot be specified together.")
		}
	} else if fs.has("offset") {
		return nil, uerr("The partition is required when offset is specified.")
	}
	c.offset = kgo.NewOffset().AtEnd()
	if fromBeginning {
		c.offset = kgo.NewOffset().AtStart()
	}
	if fs.has("offset") {
		switch o := strings.ToLower(fs.get("offset", "")); o {
		case "earliest":
			c.offset = kgo.NewOffset().AtStart()
		case "latest":
			c.offset = kgo.NewOffset().AtEnd()
		default:
			n, err := strconv.ParseInt(o, 10, 64)
			if err != nil || n < 0 {
				return nil, uerr("The provided offset value '%s' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long.", o)
			}
			c.offset = kgo.NewOffset().At(n)
		}
	}
	if err := fs.missing("bootstrap-server"); err != nil {
		return nil, usageError{err.Error()}
	}

	groups := map[string]bool{}
	var group string
	for _, g := range []string{fs.get("group", ""), fileProps["group.id"], extra["group.id"]} {
		if g != "" && !groups[g] {
			groups[g] = true
			group = g
		}
	}
	if len(groups) > 1 {
		var ids []string
		for _, g := range []string{fs.get("group", ""), fileProps["group.id"], extra["group.id"]} {
			if g != "" {
				ids = append(ids, g)
			}
		}
		return nil, uerr("The group ids provided in different places (directly using '--group', via '--consumer-property', or via '--consumer.config') do not match. Detected group ids: '%s'", strings.Join(ids, "', '"))
	}
	if group != "" && c.hasPartition {
		return nil, uerr("Options group and partition cannot be specified together.")
	}
	c.group = group

	props := mergeProps(fileProps, extra)
	if reset, ok := props["auto.offset.reset"]; ok {
		if fromBeginning && reset != "earliest" {
			return nil, fmt.Errorf("Can't simultaneously specify --from-beginning and 'auto.offset.reset=%s', please remove one option", reset)
		}
	} else if fromBeginning {
		props["auto.offset.reset"] = "earliest"
	} else {
		props["auto.offset.reset"] = "latest"
	}
	props["bootstrap.servers"] = fs.get("bootstrap-server", "")
	if props["client.id"] == "" {
		props["client.id"] = "console-consumer"
	}
	if _, ok := props["isolation.level"]; !ok || fs.has("isolation-level") {
		props["isolation.level"] = fs.get("isolation-level", "read_uncommitted")
	}
	if group == "" {
		// Without a group we read partitions directly (see the package
		// report): group-only settings have nothing to apply to.
		for _, k := range []string{"group.id", "enable.auto.commit", "auto.commit.interval.ms", "session.timeout.ms", "heartbeat.interval.ms", "rebalance.timeout.ms", "max.poll.interval.ms"} {
			delete(props, k)
		}
	} else {
		props["group.id"] = group
	}
	c.props = props
	return c, nil
}

// ConsoleConsumerMain implements kafka-console-consumer.sh
// (kafka.tools.ConsoleConsumer) and returns the process exit code.
//
// Unlike Kafka, a consumer without --group (or group.id) does not join a
// random console-consumer-NNNNN group: it reads all partitions of the
// topic(s) directly from the reset offset, which looks the same to the user
// and does not need a group coordinator.
func ConsoleConsumerMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := consoleConsumerFlags()
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	c, err := parseConsoleConsumer(fs)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return fs.fail(stderr, err)
	case err != nil:
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runConsoleConsumer(ctx, c, stdout, stderr)
}

func consoleConsumerOpts(c *consoleConsumerConfig) []kgo.Opt {
	if c.hasPartition {
		return []kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{c.topic: {c.partition: c.offset}})}
	}
	var opts []kgo.Opt
	if c.include != "" {
		opts = append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics("^(?:"+c.include+")$"))
	} else {
		opts = append(opts, kgo.ConsumeTopics(c.topic))
	}
	if c.group != "" {
		// Commit only what was printed, as Kafka's resetUnconsumedOffsets
		// arranges before its consumer closes.
		opts = append(opts, kgo.AutoCommitMarks())
	}
	return opts
}

func runConsoleConsumer(ctx context.Context, c *consoleConsumerConfig, stdout, stderr io.Writer) int {
	if c.include != "" {
		if _, err := regexp.Compile(c.include); err != nil {
			fmt.Fprintf(stderr, "ERROR Unknown error when running consumer: %s\n", err)
			return 1
		}
	}
	opts := consoleConsumerOpts(c)
	cl, err := newClient("", c.props, roleConsumer, stderr, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "ERROR Unknown error when running consumer: %s\n", err)
		return 1
	}
	out := bufio.NewWriter(stdout)
	var count int64
	var buf []byte
	writeFailed := false
loop:
	for c.maxMessages < 0 || count < c.maxMessages {
		pctx, cancel := ctx, context.CancelFunc(func() {})
		if c.hasTimeout {
			pctx, cancel = context.WithTimeout(ctx, c.timeout)
		}
		max := 0
		if c.maxMessages >= 0 {
			max = int(c.maxMessages - count)
		}
		fetches := cl.PollRecords(pctx, max)
		timedOut := pctx.Err() != nil && ctx.Err() == nil
		cancel()
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		recs := fetches.Records()
		for _, r := range recs {
			count++
			if c.formatter != nil {
				buf = c.formatter.appendRecord(buf[:0], r)
				if _, err := out.Write(buf); err != nil {
					writeFailed = true
				}
			}
		}
		if c.group != "" && len(recs) > 0 {
			cl.MarkCommitRecords(recs...)
		}
		if err := out.Flush(); err != nil || writeFailed {
			fmt.Fprintln(stderr, "Unable to write to standard out, closing consumer.")
			break loop
		}
		if len(recs) == 0 && timedOut {
			fmt.Fprintln(stderr, "ERROR Error processing message, terminating consumer process:  (kafka.tools.ConsoleConsumer$)")
			fmt.Fprintln(stderr, "org.apache.kafka.common.errors.TimeoutException")
			break
		}
	}
	out.Flush()
	if c.group != "" {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := cl.CommitMarkedOffsets(cctx); err != nil {
			fmt.Fprintf(stderr, "WARN Failed to commit offsets on close: %s\n", errorMessage(err))
		}
		cancel()
	}
	cl.Close()
	fmt.Fprintf(stderr, "Processed a total of %d messages\n", count)
	return 0
}
