package admin

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// e2ePollTimeout is EndToEndLatency's POLL_TIMEOUT_MS: how long a record may take to come back before the run
// fails (and, with --throughput, how long the consumer waits for progress once the producer is done).
const e2ePollTimeout = 60 * time.Second

// e2eFetchMaxWait stands in for Kafka's fetch.max.wait.ms=0, which kgo refuses (its floor is 10 ms). The broker
// answers a waiting fetch as soon as data arrives, so the wait adds no latency; it only bounds empty round trips.
const e2eFetchMaxWait = 10 * time.Millisecond

// e2eStampBytes is the send timestamp at the head of each --throughput value.
const e2eStampBytes = 8

const e2eUsage = `USAGE: java org.apache.kafka.tools.EndToEndLatency broker_list topic num_messages producer_acks message_size_bytes [optional] properties_file

zkafka extension: [--throughput N] anywhere among the arguments
  Without it, each record is sent synchronously and consumed before the next one is sent (Kafka's behaviour).
  With it, a producer sends N records/s (N > 0, fractions allowed) while a consumer in the same process, assigned
  to every partition of the topic from its end and started before the producer, reads them back. Each value holds
  its send time (nanoseconds since a monotonic base, 8 bytes big-endian, zero-padded to message_size_bytes, which
  must be at least 8); latency is receive time - send time. Only acknowledged records count. Besides the Avg latency
  and Percentiles lines it prints
    Latency ms: p50 = %.3f, p99 = %.3f, p99.9 = %.3f, max = %.3f
    Records: sent = S, acknowledged = A, received = R
  and exits 1 if a send failed or an acknowledged record was not received within 60 s. Progress lines
  ("i<TAB>latency_ms", every 1000th record) count records as they arrive. linger.ms from properties_file is honoured
  in this mode; the one-at-a-time mode forces linger.ms=0 as Kafka does.`

// e2eArgs are EndToEndLatency's positional arguments plus the --throughput extension.
type e2eArgs struct {
	brokers    string
	topic      string
	numRecords int
	acks       string
	size       int
	propsFile  string
	throughput float64 // records/s; 0 means one record at a time
}

// parseE2EArgs checks the arguments in Kafka's order and with its messages (Java's NumberFormatException for a
// non-integer count or size).
func parseE2EArgs(args []string) (e2eArgs, error) {
	var a e2eArgs
	var pos []string
	for i := 0; i < len(args); i++ {
		v, ok := "", false
		switch {
		case args[i] == "--throughput" && i+1 < len(args):
			v, ok = args[i+1], true
			i++
		case strings.HasPrefix(args[i], "--throughput="):
			v, ok = strings.TrimPrefix(args[i], "--throughput="), true
		case args[i] == "--throughput":
			return a, terseError{e2eUsage}
		}
		if !ok {
			pos = append(pos, args[i])
			continue
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n > 0) || math.IsInf(n, 0) {
			return a, fmt.Errorf("--throughput must be a positive number of records/s, got %q", v)
		}
		a.throughput = n
	}
	if len(pos) != 5 && len(pos) != 6 {
		return a, terseError{e2eUsage}
	}
	a.brokers, a.topic, a.acks = pos[0], pos[1], pos[3]
	var err error
	if a.numRecords, err = javaParseInt(pos[2]); err != nil {
		return a, err
	}
	if a.size, err = javaParseInt(pos[4]); err != nil {
		return a, err
	}
	if len(pos) == 6 && strings.TrimSpace(pos[5]) != "" {
		a.propsFile = pos[5]
	}
	if a.acks != "1" && a.acks != "all" {
		return a, errors.New("Latency testing requires synchronous acknowledgement. Please use 1 or all")
	}
	if a.numRecords < 0 {
		return a, errors.New(strconv.Itoa(a.numRecords)) // Java's NegativeArraySizeException message
	}
	if a.throughput > 0 && a.size < e2eStampBytes {
		return a, fmt.Errorf("--throughput needs message_size_bytes >= %d to carry the send timestamp", e2eStampBytes)
	}
	return a, nil
}

func javaParseInt(s string) (int, error) {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("For input string: %q", s)
	}
	return int(n), nil
}

// EndToEndLatencyMain implements kafka-e2e-latency.sh (org.apache.kafka.tools.EndToEndLatency, also run as
// kafka.tools.EndToEndLatency) and returns the exit code. It reads the topic directly, without a consumer group,
// so unlike Kafka it commits no offsets for a throw-away test-group-<ms> group. The --throughput extension is
// described in the usage text.
func EndToEndLatencyMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a, err := parseE2EArgs(args)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	r, err := newE2ERun(a, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, errorMessage(err))
		return 1
	}
	defer r.close()
	if a.throughput > 0 {
		err = r.runRate(context.Background())
	} else {
		err = r.runSync(context.Background())
	}
	if err != nil {
		fmt.Fprintln(stderr, errorMessage(err))
		return 1
	}
	return 0
}

// e2eRun holds the two clients of one run: a producer (also used for admin requests) and a consumer assigned to
// every partition of the topic from the end offsets read before it started.
type e2eRun struct {
	a              e2eArgs
	prod, cons     *kgo.Client
	stdout, stderr io.Writer
}

func newE2ERun(a e2eArgs, stdout, stderr io.Writer) (*e2eRun, error) {
	props := map[string]string{}
	if a.propsFile != "" {
		var err error
		if props, err = loadProps(a.propsFile); err != nil {
			return nil, err
		}
	}
	props["bootstrap.servers"] = a.brokers
	prodProps, consProps := e2eProps(props, a)
	prodOpts, prodWarns, err := clientOptions(prodProps, roleProducer)
	if err != nil {
		return nil, err
	}
	consOpts, consWarns, err := clientOptions(consProps, roleConsumer)
	if err != nil {
		return nil, err
	}
	// The file feeds both clients, as in Kafka: a property is unknown only if neither client knows it.
	for _, w := range prodWarns {
		if slices.Contains(consWarns, w) {
			fmt.Fprintln(stderr, w)
		}
	}
	r := &e2eRun{a: a, stdout: stdout, stderr: stderr}
	if r.prod, err = kgo.NewClient(prodOpts...); err != nil {
		return nil, err
	}
	ends, err := r.prepareTopic()
	if err != nil {
		r.close()
		return nil, err
	}
	consOpts = append(consOpts, kgo.FetchMaxWait(e2eFetchMaxWait), kgo.ConsumePartitions(ends))
	if r.cons, err = kgo.NewClient(consOpts...); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// e2eProps derives the producer's and the consumer's properties from the file's, overriding what
// EndToEndLatency overrides. The consumer's group settings are dropped: it reads assigned partitions directly.
func e2eProps(props map[string]string, a e2eArgs) (prod, cons map[string]string) {
	prod, cons = mergeProps(props), mergeProps(props)
	prod["acks"] = a.acks
	if _, ok := prod["delivery.timeout.ms"]; !ok {
		prod["delivery.timeout.ms"] = "120000" // the Java producer's default; kgo's is to retry forever
	}
	if _, ok := prod["linger.ms"]; !ok || a.throughput == 0 {
		prod["linger.ms"] = "0" // send at once: batching would be measured as latency
	}
	for _, k := range []string{"group.id", "enable.auto.commit", "auto.commit.interval.ms", "auto.offset.reset", "fetch.max.wait.ms"} {
		delete(cons, k)
	}
	return prod, cons
}

func (r *e2eRun) close() {
	if r.cons != nil {
		r.cons.Close()
	}
	if r.prod != nil {
		r.prod.Close()
	}
}

// prepareTopic creates the topic if it is missing (1 partition, replication factor 1, as Kafka) and returns the
// consumer's starting offsets: every partition's current end, read before anything is produced so that no record
// of this run can be skipped, which is what Kafka's seekToEnd plus position() ensures.
func (r *e2eRun) prepareTopic() (map[string]map[int32]kgo.Offset, error) {
	adm := kadm.NewClient(r.prod)
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()
	topics, err := adm.ListTopics(ctx, r.a.topic)
	if err != nil {
		return nil, err
	}
	if td, ok := topics[r.a.topic]; !ok || errors.Is(td.Err, kerr.UnknownTopicOrPartition) {
		fmt.Fprintf(r.stdout, "Topic \"%s\" does not exist. Will create topic with %d partition(s) and replication factor = %d\n", r.a.topic, 1, 1)
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, r.a.topic); err != nil {
			fmt.Fprintf(r.stdout, "Creation of topic %s failed\n", r.a.topic)
			return nil, err
		}
	} else if td.Err != nil {
		return nil, td.Err
	}
	// A new topic's leaders take a moment to be elected and reach the metadata; like partitionsFor, wait for them.
	for {
		listed, err := adm.ListEndOffsets(ctx, r.a.topic)
		if err == nil && len(listed[r.a.topic]) > 0 && listed.Error() == nil {
			offsets := map[int32]kgo.Offset{}
			for p, lo := range listed[r.a.topic] {
				offsets[p] = kgo.NewOffset().At(lo.Offset)
			}
			return map[string]map[int32]kgo.Offset{r.a.topic: offsets}, nil
		}
		if err == nil {
			err = listed.Error()
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no leader for every partition of %s: %w", r.a.topic, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runSync is Kafka's loop: send one record synchronously, poll until it comes back, check it is the only one.
func (r *e2eRun) runSync(ctx context.Context) error {
	rng := newJavaRandom(0)
	latencies := make([]int64, r.a.numRecords)
	var total float64
	for i := range r.a.numRecords {
		// Like Kafka's randomBytesOfLen: one random capital letter repeated.
		msg := bytes.Repeat([]byte{byte(rng.nextInt(26) + 65)}, r.a.size)
		begin := time.Now()
		if err := r.prod.ProduceSync(ctx, &kgo.Record{Topic: r.a.topic, Value: msg}).FirstErr(); err != nil {
			return err
		}
		recs, err := r.poll(ctx)
		elapsed := time.Since(begin)
		if err != nil {
			return err
		}
		if err := validateE2E(msg, recs); err != nil {
			return err
		}
		if i%1000 == 0 {
			fmt.Fprintf(r.stdout, "%d\t%s\n", i, javaDouble(float64(elapsed.Nanoseconds())/1000.0/1000.0))
		}
		total += float64(elapsed.Nanoseconds())
		latencies[i] = elapsed.Nanoseconds() / 1000 / 1000
	}
	fmt.Fprintf(r.stdout, "Avg latency: %.4f ms\n", total/float64(r.a.numRecords)/1000.0/1000.0)
	if len(latencies) == 0 {
		return errors.New("Index 0 out of bounds for length 0") // where Kafka's percentile lookup fails
	}
	fmt.Fprintln(r.stdout, percentilesLine(latencies))
	return nil
}

// poll waits up to e2ePollTimeout for records, as one KafkaConsumer.poll does.
func (r *e2eRun) poll(ctx context.Context) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, e2ePollTimeout)
	defer cancel()
	var lastErr error
	for {
		fetches := r.cons.PollFetches(ctx)
		if fetches.IsClientClosed() {
			return nil, kgo.ErrClientClosed
		}
		if recs := fetches.Records(); len(recs) > 0 {
			return recs, nil
		}
		fetches.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				lastErr = err
			}
		})
		if ctx.Err() != nil {
			msg := fmt.Sprintf("poll() timed out before finding a result (timeout:[%d])", e2ePollTimeout.Milliseconds())
			if lastErr != nil {
				msg += "; last fetch error: " + errorMessage(lastErr)
			}
			return nil, errors.New(msg)
		}
	}
}

// validateE2E is Kafka's validate: the first record must be the one sent, and the only one.
func validateE2E(sent []byte, recs []*kgo.Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("poll() timed out before finding a result (timeout:[%d])", e2ePollTimeout.Milliseconds())
	}
	if read := recs[0].Value; !bytes.Equal(read, sent) {
		return fmt.Errorf("The message read [%s] did not match the message sent [%s]", javaString(read), javaString(sent))
	}
	if len(recs) != 1 {
		return fmt.Errorf("Only one result was expected during this test. We found [%d]", len(recs))
	}
	return nil
}

// percentilesLine is Kafka's last line over whole-millisecond latencies (sorted in place).
func percentilesLine(ms []int64) string {
	slices.Sort(ms)
	at := func(p float64) int64 { return ms[int(float64(len(ms))*p)] }
	return fmt.Sprintf("Percentiles: 50th = %d, 99th = %d, 99.9th = %d", at(0.5), at(0.99), at(0.999))
}

// javaDouble formats v as Java's Double.toString does for the values a latency takes: the shortest decimal that
// reads back as v, always with a fraction, in scientific notation outside [1e-3, 1e7).
func javaDouble(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "Infinity"
	case math.IsInf(v, -1):
		return "-Infinity"
	}
	if abs := math.Abs(v); v == 0 || (abs >= 1e-3 && abs < 1e7) {
		s := strconv.FormatFloat(v, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(v, 'E', -1, 64) // e.g. 1.5E-04
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	e, _ := strconv.Atoi(exp)
	return mant + "E" + strconv.Itoa(e)
}

// javaRandom is java.util.Random's generator, so the one-at-a-time payloads are Kafka's (new Random(0)).
type javaRandom struct{ seed int64 }

const (
	javaRandomMult = 0x5DEECE66D
	javaRandomMask = 1<<48 - 1
)

func newJavaRandom(seed int64) *javaRandom {
	return &javaRandom{seed: (seed ^ javaRandomMult) & javaRandomMask}
}

func (r *javaRandom) next(bits uint) int32 {
	r.seed = (r.seed*javaRandomMult + 0xB) & javaRandomMask
	return int32(r.seed >> (48 - bits))
}

// nextInt is Random.nextInt(bound) for bound > 0, rejection of the biased tail included.
func (r *javaRandom) nextInt(bound int32) int32 {
	if bound&(-bound) == bound {
		return int32((int64(bound) * int64(r.next(31))) >> 31)
	}
	for {
		bits := r.next(31)
		val := bits % bound
		if bits-val+(bound-1) >= 0 { // int32 overflow marks the biased tail
			return val
		}
	}
}

// e2eKey names one record by where it was written; the producer's acknowledgement and the consumer both know it.
type e2eKey struct {
	partition int32
	offset    int64
}

// e2eStats are the results of a --throughput run.
type e2eStats struct {
	sent, acked, received int
	latencies             []int64 // nanoseconds, of acknowledged records that were received
}

// lines renders the report: Kafka's Avg latency and Percentiles lines, then fractional milliseconds and counts.
func (s e2eStats) lines() []string {
	var out []string
	if n := len(s.latencies); n > 0 {
		ns := slices.Clone(s.latencies)
		slices.Sort(ns)
		var total float64
		ms := make([]int64, n)
		for i, l := range ns {
			total += float64(l)
			ms[i] = l / 1000 / 1000
		}
		at := func(p float64) float64 { return float64(ns[int(float64(n)*p)]) / 1e6 }
		out = append(out,
			fmt.Sprintf("Avg latency: %.4f ms", total/float64(n)/1000.0/1000.0),
			percentilesLine(ms),
			fmt.Sprintf("Latency ms: p50 = %.3f, p99 = %.3f, p99.9 = %.3f, max = %.3f", at(0.5), at(0.99), at(0.999), float64(ns[n-1])/1e6))
	}
	return append(out, fmt.Sprintf("Records: sent = %d, acknowledged = %d, received = %d", s.sent, s.acked, s.received))
}

// runRate is the --throughput mode: the producer paces sends to the target rate while the consumer goroutine
// timestamps arrivals; the two sides meet at the end on (partition, offset), so a record counts only if it was
// both acknowledged and received.
func (r *e2eRun) runRate(ctx context.Context) error {
	base := time.Now() // carries Go's monotonic clock reading: stamps are immune to wall-clock steps
	since := func() int64 { return int64(time.Since(base)) }

	c := &e2eConsumer{cl: r.cons, stdout: r.stdout, since: since, received: map[e2eKey]int64{}, finish: make(chan map[e2eKey]struct{})}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.run(ctx)
	}()

	var mu sync.Mutex
	acked := make(map[e2eKey]struct{}, r.a.numRecords)
	var failed int
	var firstErr error
	interval := float64(time.Second) / r.a.throughput
	start := time.Now()
	for i := range r.a.numRecords {
		// Sends are due on a fixed schedule; a producer that fell behind catches up without sleeping.
		if wait := time.Duration(float64(i)*interval) - time.Since(start); wait > 0 {
			time.Sleep(wait)
		}
		value := make([]byte, r.a.size)
		binary.BigEndian.PutUint64(value, uint64(since()))
		r.prod.Produce(ctx, &kgo.Record{Topic: r.a.topic, Value: value}, func(rec *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			acked[e2eKey{rec.Partition, rec.Offset}] = struct{}{}
		})
	}
	if err := r.prod.Flush(ctx); err != nil {
		return err
	}
	mu.Lock()
	done := acked
	mu.Unlock()
	c.finish <- done
	wg.Wait()

	st := e2eStats{sent: r.a.numRecords, acked: len(done)}
	for k := range done {
		if l, ok := c.received[k]; ok {
			st.latencies = append(st.latencies, l)
		}
	}
	st.received = len(st.latencies)
	for _, l := range st.lines() {
		fmt.Fprintln(r.stdout, l)
	}
	switch {
	case firstErr != nil:
		return fmt.Errorf("%d of %d sends failed; first error: %s", failed, r.a.numRecords, errorMessage(firstErr))
	case st.received < st.acked:
		return fmt.Errorf("%d acknowledged records were not received within %d ms", st.acked-st.received, e2ePollTimeout.Milliseconds())
	}
	return nil
}

// e2eConsumer is the --throughput mode's reader. Its goroutine owns received until run returns.
type e2eConsumer struct {
	cl       *kgo.Client
	stdout   io.Writer
	since    func() int64
	received map[e2eKey]int64 // receive - send, in nanoseconds
	// finish hands over the acknowledged records once the producer is flushed; run then returns when all of them
	// arrived or nothing new arrived for e2ePollTimeout.
	finish chan map[e2eKey]struct{}
}

func (c *e2eConsumer) run(ctx context.Context) {
	var want map[e2eKey]struct{}
	matched, count := 0, 0
	lastProgress := time.Now()
	for {
		if want != nil && (matched == len(want) || time.Since(lastProgress) > e2ePollTimeout) {
			return
		}
		select {
		case want = <-c.finish:
			for k := range c.received {
				if _, ok := want[k]; ok {
					matched++
				}
			}
			lastProgress = time.Now()
			continue
		default:
		}
		// A short poll so that the hand-over above is noticed; records still return as soon as they arrive.
		pctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		fetches := c.cl.PollFetches(pctx)
		now := c.since()
		cancel()
		if fetches.IsClientClosed() {
			return
		}
		fetches.EachRecord(func(rec *kgo.Record) {
			if len(rec.Value) < e2eStampBytes {
				return // not ours: someone else writes to this topic
			}
			lat := now - int64(binary.BigEndian.Uint64(rec.Value))
			k := e2eKey{rec.Partition, rec.Offset}
			c.received[k] = lat
			if count%1000 == 0 {
				fmt.Fprintf(c.stdout, "%d\t%s\n", count, javaDouble(float64(lat)/1000.0/1000.0))
			}
			count++
			if _, ok := want[k]; ok {
				matched++
				lastProgress = time.Now()
			}
		})
	}
}
