package broker_test

// Measurements of idempotence and transactions on three brokers (RF 3, min.insync.replicas 2, acks=all), run only
// with ZKAFKA_TXN_BENCH=1; numbers in txn_results.txt.
//  1. kafka-producer-perf-test (the zkafka binary, a separate process) with enable.idempotence=true and =false,
//     alternating, 100-byte records, unthrottled.
//  2. kgo in this process for a fixed time: transactions of 100 records each (begin, 100 produces, commit) against
//     the same idempotent producer without transactions.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

const (
	txnBenchTopic   = "bench-txn"
	txnBenchParts   = 6
	txnBenchRecords = 500000
	txnBenchRepeats = 3
	txnBenchFor     = 5 * time.Second
)

func TestTxnMeasurements(t *testing.T) {
	if os.Getenv("ZKAFKA_TXN_BENCH") == "" {
		t.Skip("set ZKAFKA_TXN_BENCH=1 to measure idempotence and transactions")
	}
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: txnOverrides(nil)})
	createReplicated(t, c, txnBenchTopic, txnBenchParts, 3, map[string]string{"min.insync.replicas": "2"})
	report := func(format string, args ...any) {
		t.Logf(format, args...)
		fmt.Printf(format+"\n", args...)
	}
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	summary := regexp.MustCompile(`(?m)^\d+ records sent, ([\d.]+) records/sec .*$`)
	rates := map[string][]float64{}
	for r := 0; r < txnBenchRepeats; r++ {
		for _, idem := range []string{"true", "false"} {
			args := []string{"kafka-producer-perf-test", "--topic", txnBenchTopic, "--num-records", strconv.Itoa(txnBenchRecords),
				"--record-size", "100", "--throughput", "-1", "--producer-props",
				"bootstrap.servers=" + strings.Join(c.Bootstrap(), ","), "acks=all", "enable.idempotence=" + idem}
			var out, errb bytes.Buffer
			cmd := exec.Command(bin, args...)
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err != nil {
				t.Fatalf("zkafka %s: %v\n%s", strings.Join(args, " "), err, errb.String())
			}
			m := summary.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no summary in:\n%s\n%s", out.String(), errb.String())
			}
			rate, _ := strconv.ParseFloat(m[1], 64)
			rates[idem] = append(rates[idem], rate)
			report("== enable.idempotence=%s\n%s", idem, m[0])
		}
	}
	report("idempotence on: mean %.0f rec/s; off: mean %.0f rec/s; ratio on/off %.2f (per pair %s)",
		mean(rates["true"]), mean(rates["false"]), mean(rates["true"])/mean(rates["false"]), pairRatios(rates["true"], rates["false"]))

	var txnRates, fastRates, plainRates []float64
	for r := 0; r < txnBenchRepeats; r++ {
		n, txns := produceTransactions(t, c, fmt.Sprintf("bench-txn-%d", r))
		txnRates = append(txnRates, float64(n)/txnBenchFor.Seconds())
		report("== transactional, 100 records a transaction: %d records in %d transactions in %v: %.0f rec/s, %.1f ms a transaction",
			n, txns, txnBenchFor, txnRates[r], txnBenchFor.Seconds()*1000/float64(txns))
		// A transaction begun right after the previous commit finds the coordinator still writing its markers
		// and CompleteCommit: AddPartitionsToTxn answers CONCURRENT_TRANSACTIONS (as Kafka does) and kgo backs off
		// 20 ms. With a 1 ms backoff the loop shows what the broker side costs.
		n, txns = produceTransactions(t, c, fmt.Sprintf("bench-txn-fast-%d", r), kgo.ConcurrentTransactionsBackoff(time.Millisecond))
		fastRates = append(fastRates, float64(n)/txnBenchFor.Seconds())
		report("== transactional, 100 records a transaction, 1 ms CONCURRENT_TRANSACTIONS backoff: %d records in %d transactions in %v: %.0f rec/s, %.1f ms a transaction",
			n, txns, txnBenchFor, fastRates[r], txnBenchFor.Seconds()*1000/float64(txns))
		n = producePlain(t, c)
		plainRates = append(plainRates, float64(n)/txnBenchFor.Seconds())
		report("== idempotent, no transactions: %d records in %v: %.0f rec/s", n, txnBenchFor, plainRates[r])
	}
	report("transactional mean %.0f rec/s; non-transactional mean %.0f rec/s; ratio %.3f (per pair %s)",
		mean(txnRates), mean(plainRates), mean(txnRates)/mean(plainRates), pairRatios(txnRates, plainRates))
	report("transactional with 1 ms backoff mean %.0f rec/s; ratio %.3f (per pair %s)",
		mean(fastRates), mean(fastRates)/mean(plainRates), pairRatios(fastRates, plainRates))
}

func benchValue() []byte { return bytes.Repeat([]byte("x"), 100) }

// benchProducerOpts match the perf test's producer: acks=all, no compression (kgo would pick snappy, which shrinks
// the repeated-byte values to nothing), idempotent; ZKAFKA_TEST_KGO_LOG logs the client at info level.
func benchProducerOpts() []kgo.Opt {
	opts := []kgo.Opt{kgo.DefaultProduceTopic(txnBenchTopic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression())}
	if os.Getenv("ZKAFKA_TEST_KGO_LOG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelInfo, nil)))
	}
	return opts
}

// produceTransactions commits 100-record transactions back to back for txnBenchFor; records count only when
// their transaction committed.
func produceTransactions(t *testing.T, c *testcluster.Cluster, id string, extra ...kgo.Opt) (records, txns int) {
	cl := c.Client(t, append(append(benchProducerOpts(), kgo.TransactionalID(id)), extra...)...)
	ctx, cancel := context.WithTimeout(context.Background(), txnBenchFor+60*time.Second)
	defer cancel()
	v := benchValue()
	end := time.Now().Add(txnBenchFor)
	for time.Now().Before(end) {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 100; i++ {
			// Not ctx: the client may still be finishing a promise when this function returns and cancels it.
			cl.Produce(context.Background(), &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("transactional produce: %v", err)
				}
			})
		}
		// kgo's EndTransaction does not flush: unflushed, the EndTxn can overtake the transaction's own
		// AddPartitionsToTxn (INVALID_TXN_STATE on the first one) and empty transactions would be counted.
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatal(err)
		}
		records += 100
		txns++
	}
	return records, txns
}

// producePlain produces as fast as the idempotent producer takes records for txnBenchFor and counts the
// acknowledged ones.
func producePlain(t *testing.T, c *testcluster.Cluster) int {
	cl := c.Client(t, benchProducerOpts()...)
	ctx, cancel := context.WithTimeout(context.Background(), txnBenchFor+60*time.Second)
	defer cancel()
	v := benchValue()
	var acked atomic.Int64
	end := time.Now().Add(txnBenchFor)
	for time.Now().Before(end) {
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err == nil && time.Now().Before(end) {
				acked.Add(1)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return int(acked.Load())
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func pairRatios(a, b []float64) string {
	var out []string
	for i := range a {
		out = append(out, fmt.Sprintf("%.2f", a[i]/b[i]))
	}
	return strings.Join(out, ", ")
}
