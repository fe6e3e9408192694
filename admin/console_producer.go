package admin

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

func consoleProducerFlags() *flagSet {
	fs := newFlagSet("kafka-console-producer", "This tool helps to read data from standard input and publish it to Kafka.")
	fs.opt("topic", "String: topic", "REQUIRED: The topic id to produce messages to.", "")
	fs.opt("broker-list", "String: broker-list", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified.", "")
	fs.opt("bootstrap-server", "String: server to connect to", "REQUIRED unless --broker-list(deprecated) is specified. The server(s) to connect to.", "")
	fs.flag("sync", "If set message send requests to the brokers are synchronously, one at a time as they arrive.")
	fs.add("compression-codec", optionalArg, "String: compression-codec", "The compression codec: either 'none', 'gzip', 'snappy', 'lz4', or 'zstd'. If specified without value, then it defaults to 'gzip'", "")
	fs.opt("batch-size", "Integer: size", "Number of messages to send in a single batch if they are not being sent synchronously.", "16384")
	fs.opt("message-send-max-retries", "Integer", "Number of retries before the producer gives up and drops a message (producer `retries`).", "3")
	fs.opt("retry-backoff-ms", "Long", "The producer `retry.backoff.ms`.", "100")
	fs.opt("timeout", "Long: timeout_ms", "The maximum time a message will queue awaiting sufficient batch size (producer `linger.ms`).", "1000")
	fs.opt("request-required-acks", "String: request required acks", "The required `acks` of the producer requests", "-1")
	fs.opt("request-timeout-ms", "Integer: request timeout ms", "The ack timeout of the producer requests.", "1500")
	fs.opt("metadata-expiry-ms", "Long: metadata expiration interval", "The producer `metadata.max.age.ms`.", "300000")
	fs.opt("max-block-ms", "Long: max block on send", "The max time that the producer will block for during a send request.", "60000")
	fs.opt("max-memory-bytes", "Long: total memory in bytes", "The producer `buffer.memory`.", "33554432")
	fs.opt("max-partition-memory-bytes", "Integer: memory in bytes per partition", "The producer `batch.size`.", "16384")
	fs.opt("line-reader", "String: reader_class", "The class name of the class to use for reading lines from standard in.", "kafka.tools.ConsoleProducer$LineMessageReader")
	fs.opt("socket-buffer-size", "Integer: size", "The producer `send.buffer.bytes`.", "102400")
	fs.opt("property", "String: prop", "Properties for the line reader: parse.key, key.separator, parse.headers, headers.delimiter, headers.separator, headers.key.separator, null.marker, ignore.error.", "")
	fs.opt("reader-config", "String: config file", "Config properties file for the message reader. Note that --property takes precedence over this config.", "")
	fs.opt("producer-property", "String: producer_prop", "A mechanism to pass user-defined properties in the form key=value to the producer.", "")
	fs.opt("producer.config", "String: config file", "Producer config properties file. Note that --producer-property takes precedence over this config.", "")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// validHostPorts mirrors ToolsUtils.validatePortOrDie.
func validHostPorts(list string) bool {
	parts := splitList(list)
	if len(parts) == 0 {
		return false
	}
	for _, p := range parts {
		_, port, err := net.SplitHostPort(p)
		if err != nil {
			return false
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return false
		}
	}
	return true
}

// producerProps assembles the producer properties as
// ConsoleProducer.producerProps does: file, then --producer-property, then
// the tool's own flags, which win when given and fill in when absent.
func consoleProducerProps(fs *flagSet) (map[string]string, error) {
	props := map[string]string{}
	if f := fs.get("producer.config", ""); f != "" {
		p, err := loadProps(f)
		if err != nil {
			return nil, err
		}
		props = p
	}
	extra, err := parseKeyValues(fs.all("producer-property"))
	if err != nil {
		return nil, err
	}
	props = mergeProps(props, extra)
	if fs.has("bootstrap-server") {
		props["bootstrap.servers"] = fs.get("bootstrap-server", "")
	} else {
		props["bootstrap.servers"] = fs.get("broker-list", "")
	}
	switch {
	case fs.has("compression-codec"):
		codec := fs.get("compression-codec", "")
		if codec == "" {
			codec = "gzip"
		}
		props["compression.type"] = codec
	case props["compression.type"] == "":
		// Kafka forces "none" here even over --producer-property; we let an
		// explicit compression.type property stand.
		props["compression.type"] = "none"
	}
	if props["client.id"] == "" {
		props["client.id"] = "console-producer"
	}
	merge := func(key, flag, def string) {
		if _, ok := props[key]; fs.has(flag) || !ok {
			props[key] = fs.get(flag, def)
		}
	}
	merge("linger.ms", "timeout", "1000")
	merge("acks", "request-required-acks", "-1")
	merge("request.timeout.ms", "request-timeout-ms", "1500")
	merge("retries", "message-send-max-retries", "3")
	merge("retry.backoff.ms", "retry-backoff-ms", "100")
	merge("send.buffer.bytes", "socket-buffer-size", "102400")
	merge("buffer.memory", "max-memory-bytes", "33554432")
	merge("batch.size", "batch-size", "16384")
	merge("batch.size", "max-partition-memory-bytes", "16384")
	merge("metadata.max.age.ms", "metadata-expiry-ms", "300000")
	merge("max.block.ms", "max-block-ms", "60000")
	return props, nil
}

// ConsoleProducerMain implements kafka-console-producer.sh
// (kafka.tools.ConsoleProducer) and returns the process exit code.
func ConsoleProducerMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := consoleProducerFlags()
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	if !fs.has("bootstrap-server") && !fs.has("broker-list") {
		return fs.fail(stderr, errors.New("Missing required option(s) [bootstrap-server]"))
	}
	if err := fs.missing("topic"); err != nil {
		return fs.fail(stderr, err)
	}
	hosts := fs.get("bootstrap-server", fs.get("broker-list", ""))
	if !validHostPorts(hosts) {
		fs.usage(stderr)
		fmt.Fprintln(stderr, "Please provide valid host:port like host1:9091,host2:9092")
		return 1
	}
	if r := fs.get("line-reader", ""); r != "" && !strings.HasSuffix(r, "LineMessageReader") {
		fmt.Fprintf(stderr, "java.lang.ClassNotFoundException: %s\n", r)
		return 1
	}
	props, err := consoleProducerProps(fs)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	readerProps := map[string]string{}
	if f := fs.get("reader-config", ""); f != "" {
		if readerProps, err = loadProps(f); err != nil {
			fmt.Fprintln(stderr, err.Error())
			return 1
		}
	}
	cmdProps, err := parseKeyValues(fs.all("property"))
	if err != nil {
		return fs.fail(stderr, err)
	}
	topic := fs.get("topic", "")
	reader, err := newLineReader(topic, mergeProps(readerProps, cmdProps))
	if err != nil {
		fmt.Fprintf(stderr, "org.apache.kafka.common.KafkaException: %s\n", err)
		return 1
	}
	cl, err := newClient("", props, roleProducer, stderr, kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		fmt.Fprintf(stderr, "org.apache.kafka.common.KafkaException: Failed to construct kafka producer: %s\n", err)
		return 1
	}
	defer cl.Close()
	return runConsoleProducer(cl, reader, stdin, stderr, fs.has("sync"))
}

func runConsoleProducer(cl *kgo.Client, reader *lineReader, stdin io.Reader, stderr io.Writer, syncSend bool) int {
	ctx := context.Background()
	var errMu sync.Mutex
	logSendError := func(r *kgo.Record, err error) {
		key := "null"
		if r.Key != nil {
			key = fmt.Sprintf("%d bytes", len(r.Key))
		}
		value := "null"
		if r.Value != nil {
			value = fmt.Sprintf("%d bytes", len(r.Value))
		}
		errMu.Lock()
		defer errMu.Unlock()
		fmt.Fprintf(stderr, "ERROR Error when sending message to topic %s with key: %s, value: %s with error: %s\n",
			r.Topic, key, value, errorMessage(err))
	}

	br := bufio.NewReader(stdin)
	code := 0
	for lineNo := 1; ; lineNo++ {
		line, readErr := br.ReadString('\n')
		if readErr != nil && line == "" {
			if !errors.Is(readErr, io.EOF) {
				fmt.Fprintln(stderr, readErr.Error())
				code = 1
			}
			break
		}
		line = strings.TrimSuffix(line, "\n")
		line = strings.TrimSuffix(line, "\r")
		rec, err := reader.parse(line, lineNo)
		if err != nil {
			fmt.Fprintf(stderr, "org.apache.kafka.common.KafkaException: %s\n", err)
			code = 1
			break
		}
		if syncSend {
			// Flushing skips the linger wait that would otherwise delay
			// every synchronous send by --timeout.
			var sendErr error
			cl.Produce(ctx, rec, func(_ *kgo.Record, err error) { sendErr = err })
			if err := cl.Flush(ctx); err != nil && sendErr == nil {
				sendErr = err
			}
			if err := sendErr; err != nil {
				fmt.Fprintf(stderr, "java.util.concurrent.ExecutionException: %s\n", errorMessage(err))
				code = 1
				break
			}
			continue
		}
		cl.Produce(ctx, rec, func(r *kgo.Record, err error) {
			if err != nil {
				logSendError(r, err)
			}
		})
	}
	// Kafka closes the producer in a finally block, so records read before
	// a bad line are still delivered.
	if err := cl.Flush(ctx); err != nil && code == 0 {
		fmt.Fprintln(stderr, err.Error())
	}
	return code
}
