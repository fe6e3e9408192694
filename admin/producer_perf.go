package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func producerPerfFlags() *flagSet {
	fs := newFlagSet("producer-performance", "This tool is used to verify the producer performance.")
	fs.opt("topic", "TOPIC", "produce messages to this topic", "")
	fs.opt("num-records", "NUM-RECORDS", "number of messages to produce", "")
	fs.opt("record-size", "RECORD-SIZE", "message size in bytes. Note that you must provide exactly one of --record-size or --payload-file.", "")
	fs.opt("payload-file", "PAYLOAD-FILE", "file to read the message payloads from. Note that you must provide exactly one of --record-size or --payload-file.", "")
	fs.opt("payload-delimiter", "PAYLOAD-DELIMITER", "provides delimiter to be used when --payload-file is provided.", `\n`)
	fs.opt("throughput", "THROUGHPUT", "throttle maximum message throughput to *approximately* THROUGHPUT messages/sec. Set this to -1 to disable throttling.", "")
	fs.add("producer-props", multiArg, "PROP-NAME=PROP-VALUE", "kafka producer related configuration properties like bootstrap.servers,client.id etc. These configs take precedence over those passed via --producer.config.", "")
	fs.opt("producer.config", "CONFIG-FILE", "producer config properties file.", "")
	fs.flag("print-metrics", "print out metrics at the end of the test.")
	fs.opt("transactional-id", "TRANSACTIONAL-ID", "The transactionalId to use if transaction-duration-ms is > 0.", "performance-producer-default-transactional-id")
	fs.opt("transaction-duration-ms", "TRANSACTION-DURATION", "The max age of each transaction. Transactions are only enabled if this value is positive.", "0")
	return fs
}

// perfError prints an argparse4j-style error.
func perfError(fs *flagSet, stderr io.Writer, msg string) int {
	fs.usage(stderr)
	fmt.Fprintf(stderr, "%s: error: %s\n", fs.tool, msg)
	return 1
}

// ProducerPerfTestMain implements kafka-producer-perf-test.sh
// (org.apache.kafka.tools.ProducerPerformance) and returns the exit code.
//
// Supported producer properties are those in SupportedClientProps; others
// draw a warning on stderr and are ignored.
func ProducerPerfTestMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := producerPerfFlags()
	if len(args) == 0 {
		fs.usage(stdout)
		return 0
	}
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	for _, req := range []string{"topic", "num-records", "throughput"} {
		if !fs.has(req) {
			return perfError(fs, stderr, "argument --"+req+" is required")
		}
	}
	if fs.has("record-size") == fs.has("payload-file") {
		if fs.has("record-size") {
			return perfError(fs, stderr, "argument --payload-file: not allowed with argument --record-size")
		}
		return perfError(fs, stderr, "one of the arguments --record-size --payload-file is required")
	}
	numRecords, err := fs.int64("num-records", 0)
	if err != nil {
		return perfError(fs, stderr, err.Error())
	}
	throughput, err := fs.int64("throughput", -1)
	if err != nil {
		return perfError(fs, stderr, err.Error())
	}
	recordSize, err := fs.int64("record-size", 0)
	if err != nil {
		return perfError(fs, stderr, err.Error())
	}
	txnMs, err := fs.int64("transaction-duration-ms", 0)
	if err != nil {
		return perfError(fs, stderr, err.Error())
	}
	if !fs.has("producer-props") && !fs.has("producer.config") {
		return perfError(fs, stderr, "Either --producer-props or --producer.config must be specified.")
	}

	fail := func(err error) int {
		fmt.Fprintf(stderr, "Exception in thread \"main\" %s\n", err)
		return 1
	}
	var payloads [][]byte
	if f := fs.get("payload-file", ""); f != "" {
		delim := fs.get("payload-delimiter", `\n`)
		if delim == `\n` {
			delim = "\n"
		}
		abs, _ := filepath.Abs(f)
		fmt.Fprintf(stdout, "Reading payloads from: %s\n", abs)
		data, err := os.ReadFile(f)
		if err != nil || len(data) == 0 {
			return fail(errors.New("java.lang.IllegalArgumentException: File does not exist or empty file provided."))
		}
		parts := strings.Split(string(data), delim)
		for len(parts) > 1 && parts[len(parts)-1] == "" {
			parts = parts[:len(parts)-1]
		}
		fmt.Fprintf(stdout, "Number of messages read: %d\n", len(parts))
		for _, p := range parts {
			payloads = append(payloads, []byte(p))
		}
	}

	props := map[string]string{}
	if f := fs.get("producer.config", ""); f != "" {
		if props, err = loadProps(f); err != nil {
			return fail(err)
		}
	}
	for _, p := range fs.all("producer-props") {
		pieces := strings.Split(p, "=")
		if len(pieces) != 2 {
			return fail(fmt.Errorf("java.lang.IllegalArgumentException: Invalid property: %s", p))
		}
		props[pieces[0]] = pieces[1]
	}
	if txnMs > 0 {
		props["transactional.id"] = fs.get("transactional-id", "performance-producer-default-transactional-id")
	}
	if props["client.id"] == "" {
		props["client.id"] = "perf-producer-client"
	}
	cl, err := newClient("", props, roleProducer, stderr)
	if err != nil {
		return fail(fmt.Errorf("org.apache.kafka.common.KafkaException: Failed to construct kafka producer: %w", err))
	}
	defer cl.Close()
	p := &perfProducer{
		cl: cl, topic: fs.get("topic", ""), numRecords: numRecords, recordSize: int(recordSize),
		payloads: payloads, throughput: throughput, txnMs: txnMs, stdout: stdout, stderr: stderr,
		now: func() int64 { return time.Now().UnixMilli() },
	}
	return p.run(context.Background())
}

type perfProducer struct {
	cl         *kgo.Client
	topic      string
	numRecords int64
	recordSize int
	payloads   [][]byte
	throughput int64
	txnMs      int64
	stdout     io.Writer
	stderr     io.Writer
	now        func() int64
}

func (p *perfProducer) run(ctx context.Context) int {
	// A fixed seed, as Kafka's SplittableRandom(0): runs are repeatable.
	rng := rand.New(rand.NewPCG(0, 0))
	start := p.now()
	stats := newProducerStats(p.numRecords, 5000, start)
	thr := newThrottler(p.throughput, start)
	var mu sync.Mutex
	done := func(sendStart int64, size int) func(*kgo.Record, error) {
		return func(r *kgo.Record, err error) {
			now := p.now()
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				fmt.Fprintf(p.stderr, "%s\n", errorMessage(err))
				return
			}
			if line := stats.record(int(now-sendStart), size, now); line != "" {
				fmt.Fprintln(p.stdout, line)
			}
		}
	}
	inTxn := false
	var txnStart int64
	for i := int64(0); i < p.numRecords; i++ {
		var payload []byte
		if len(p.payloads) > 0 {
			payload = p.payloads[rng.IntN(len(p.payloads))]
		} else {
			payload = make([]byte, p.recordSize)
			for j := range payload {
				payload[j] = byte(rng.IntN(26) + 65)
			}
		}
		if p.txnMs > 0 && !inTxn {
			if err := p.cl.BeginTransaction(); err != nil {
				fmt.Fprintln(p.stderr, errorMessage(err))
				return 1
			}
			inTxn, txnStart = true, p.now()
		}
		sendStart := p.now()
		p.cl.Produce(ctx, &kgo.Record{Topic: p.topic, Value: payload}, done(sendStart, len(payload)))
		if inTxn && p.txnMs <= sendStart-txnStart {
			if err := p.endTxn(ctx); err != nil {
				return 1
			}
			inTxn = false
		}
		if thr.shouldThrottle(i, sendStart) {
			thr.throttle()
		}
	}
	if inTxn {
		if err := p.endTxn(ctx); err != nil {
			return 1
		}
	}
	if err := p.cl.Flush(ctx); err != nil {
		fmt.Fprintln(p.stderr, errorMessage(err))
	}
	mu.Lock()
	fmt.Fprintln(p.stdout, stats.totalLine(p.now()))
	mu.Unlock()
	return 0
}

func (p *perfProducer) endTxn(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		fmt.Fprintln(p.stderr, errorMessage(err))
		return err
	}
	if err := p.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		fmt.Fprintln(p.stderr, errorMessage(err))
		return err
	}
	return nil
}
