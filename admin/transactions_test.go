package admin

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var txnMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return TransactionsMain(a, in, o, e) })

func TestPrettyPrintTable(t *testing.T) {
	var b bytes.Buffer
	prettyPrintTable(&b, []string{"A", "Longer"}, [][]string{{"xyz", "1"}, {"", "22"}})
	want := "A  \tLonger\t\nxyz\t1     \t\n   \t22    \t\n"
	if b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
}

func TestTxnArgs(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		err     string // substring; "" = parses
		command string
		values  map[string]string
	}{
		{args: []string{"--bootstrap-server", "h:1", "list"}, command: "list"},
		{args: []string{"--bootstrap-server=h:1", "describe", "--transactional-id", "x"}, command: "describe", values: map[string]string{"transactional-id": "x"}},
		{args: []string{"--bootstrap-server", "h:1", "describe-producers", "--topic", "t", "--partition", "3", "--broker-id", "2"},
			command: "describe-producers", values: map[string]string{"topic": "t", "partition": "3", "broker-id": "2"}},
		{args: []string{"--bootstrap-server", "h:1", "abort", "--topic", "t", "--partition", "0", "--start-offset", "7"},
			command: "abort", values: map[string]string{"topic": "t", "partition": "0", "start-offset": "7"}},
		{args: []string{"list"}, err: "argument --bootstrap-server is required"},
		{args: []string{"--bootstrap-server", "h:1"}, err: "too few arguments"},
		{args: []string{"--bootstrap-server", "h:1", "nope"}, err: "invalid choice: 'nope' (choose from 'list', 'describe', 'describe-producers', 'abort')"},
		{args: []string{"--bootstrap-server", "h:1", "describe"}, err: "argument --transactional-id is required"},
		{args: []string{"--bootstrap-server", "h:1", "describe-producers", "--topic", "t"}, err: "argument --partition is required"},
		{args: []string{"--bootstrap-server", "h:1", "describe-producers", "--topic", "t", "--partition", "x"}, err: "argument --partition: could not convert 'x' to Integer"},
		{args: []string{"--bootstrap-server", "h:1", "abort", "--topic", "t", "--partition", "0", "--producer-epoch", "70000"}, err: "could not convert '70000' to Short"},
		{args: []string{"--bootstrap-server", "h:1", "list", "--topic", "t"}, err: "unrecognized arguments: '--topic'"},
		{args: []string{"--bootstrap-server"}, err: "argument --bootstrap-server: expected one argument"},
	} {
		a, err := parseTxnArgs(tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%v: error %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if a.command != tc.command || a.bootstrap != "h:1" {
			t.Errorf("%v: command %q bootstrap %q", tc.args, a.command, a.bootstrap)
		}
		for k, v := range tc.values {
			if a.values[k] != v {
				t.Errorf("%v: --%s = %q, want %q", tc.args, k, a.values[k], v)
			}
		}
	}
}

func TestTxnMainUsage(t *testing.T) {
	for _, tc := range []struct {
		args         []string
		code         int
		stdout, errs string
	}{
		{[]string{"--help"}, 0, "COMMAND", ""},
		{[]string{"--version"}, 0, kafkaVersion, ""},
		{[]string{"list"}, 1, "", "kafka-transactions.sh: error: argument --bootstrap-server is required"},
		{[]string{"--bootstrap-server", "127.0.0.1:1", "abort", "--topic", "t", "--partition", "0"}, 1, "",
			"The transaction to abort must be identified either with --start-offset"},
		{[]string{"--bootstrap-server", "127.0.0.1:1", "abort", "--topic", "t", "--partition", "0", "--producer-id", "5"}, 1, "",
			"Missing required argument --producer-epoch"},
	} {
		code, out, errs := run(t, txnMain, "", tc.args...)
		if code != tc.code || !strings.Contains(out, tc.stdout) || !strings.Contains(errs, tc.errs) {
			t.Errorf("%v: code %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out, errs, tc.code, tc.stdout, tc.errs)
		}
	}
}

func TestDescribeTxnRow(t *testing.T) {
	now := time.UnixMilli(10_000)
	topics := kadm.TopicsSet{}
	topics.Add("b", 1)
	topics.Add("a", 2, 0)
	for _, tc := range []struct {
		d    kadm.DescribedTransaction
		want []string
	}{
		{kadm.DescribedTransaction{Coordinator: 2, TxnID: "tx", ProducerID: 7, ProducerEpoch: 3, State: "Ongoing", TimeoutMillis: 60000,
			StartTimestamp: 9_000, Topics: topics},
			[]string{"2", "tx", "7", "3", "Ongoing", "60000", "9000", "1000", "a-0,a-2,b-1"}},
		{kadm.DescribedTransaction{Coordinator: 0, TxnID: "e", ProducerID: 1, State: "Empty", TimeoutMillis: 100, StartTimestamp: -1},
			[]string{"0", "e", "1", "0", "Empty", "100", "None", "None", ""}},
	} {
		if got := describeTxnRow(tc.d, now); strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("got %v, want %v", got, tc.want)
		}
	}
}

func TestProducerRowsAndErrors(t *testing.T) {
	p := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
	p.ProducerID, p.ProducerEpoch, p.LastSequence, p.LastTimestamp, p.CoordinatorEpoch, p.CurrentTxnStartOffset = 4, 1, 9, 123, -1, -1
	q := p
	q.CoordinatorEpoch, q.CurrentTxnStartOffset = 5, 40
	rows := producerRows([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer{p, q})
	if got := strings.Join(rows[0], "|"); got != "4|1|-1|9|123|None" {
		t.Errorf("row 0: %s", got)
	}
	if got := strings.Join(rows[1], "|"); got != "4|1|5|9|123|40" {
		t.Errorf("row 1: %s", got)
	}
	s := abortSpec{topic: "t", partition: 1, producerID: 2, producerEpoch: 3, coordinatorEpoch: 4}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{abortError(s, kerr.InvalidProducerEpoch), "WriteTxnMarkers request with AbortTransactionSpec(topicPartition=t-1, producerId=2, producerEpoch=3, coordinatorEpoch=4) failed due an invalid producer epoch"},
		{abortError(s, kerr.TransactionCoordinatorFenced), "failed since the provided coordinator epoch 4 has been fenced by the active coordinator"},
		{describeTxnError("x", kerr.TransactionalIDNotFound), "DescribeTransactions request for transactionalId `x` failed because the ID could not be found"},
		{describeProducersError("t", 1, 2, kerr.NotLeaderForPartition.Code), "Failed to describe active producers for partition t-1 on brokerId 2"},
		{txnFailure("Failed to list transactions", errors.New("boom")), "Failed to list transactions: boom. Enable debug logging for additional detail."},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("got %v, want %q", tc.err, tc.want)
		}
	}
	if abortError(s, nil) != nil {
		t.Error("no error must abort cleanly")
	}
}

// TestTransactionsEndToEnd opens a transaction on kfake, lists, describes it and its producer, aborts it by its
// start offset and checks the partition has no open transaction left.
func TestTransactionsEndToEnd(t *testing.T) {
	bs := fakeCluster(t, kfake.SeedTopics(1, "t"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	prod, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.TransactionalID("tx-1"), kgo.DefaultProduceTopic("t"),
		kgo.TransactionTimeout(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	code, out, errs := run(t, txnMain, "", "--bootstrap-server", bs, "list")
	if code != 0 || !regexp.MustCompile(`(?m)^TransactionalId\s*\tCoordinator\s*\tProducerId\s*\tTransactionState\s*\t\n`+
		`tx-1\s*\t\d+\s*\t\d+\s*\tOngoing\s*\t$`).MatchString(out) {
		t.Fatalf("list: code %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	code, out, errs = run(t, txnMain, "", "--bootstrap-server", bs, "describe", "--transactional-id", "tx-1")
	if code != 0 || !regexp.MustCompile(`^CoordinatorId\s*\tTransactionalId\s*\tProducerId\s*\tProducerEpoch\s*\tTransactionState\s*\t`).MatchString(out) ||
		!regexp.MustCompile(`\ttx-1\s*\t\d+\s*\t\d+\s*\tOngoing\s*\t60000\s*\t\d+\s*\t\d+\s*\tt-0\s*\t\n$`).MatchString(out) {
		t.Fatalf("describe: code %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	code, _, errs = run(t, txnMain, "", "--bootstrap-server", bs, "describe", "--transactional-id", "nope")
	if code != 1 || !strings.Contains(errs, "Failed to describe transaction state of transactional-id `nope`: ") {
		t.Fatalf("describe of an unknown id: code %d, stderr %q", code, errs)
	}
	code, out, errs = run(t, txnMain, "", "--bootstrap-server", bs, "describe-producers", "--topic", "t", "--partition", "0")
	m := regexp.MustCompile(`(?m)^\d+\s*\t\d+\s*\t-?\d+\s*\t0\s*\t\d+\s*\t(\d+)\s*\t$`).FindStringSubmatch(out)
	if code != 0 || m == nil || !regexp.MustCompile(`^ProducerId\s*\tProducerEpoch\tLatestCoordinatorEpoch\tLastSequence\tLastTimestamp\s*\tCurrentTransactionStartOffset\t\n`).MatchString(out) {
		t.Fatalf("describe-producers: code %d, stdout:\n%s\nstderr: %s", code, out, errs)
	}
	if lso := committedEnd(t, bs, "t"); lso != 0 {
		t.Fatalf("the open transaction leaves the last stable offset at %d, want 0", lso)
	}
	code, _, errs = run(t, txnMain, "", "--bootstrap-server", bs, "abort", "--topic", "t", "--partition", "0", "--start-offset", "99")
	if code != 1 || !strings.Contains(errs, "Could not find any open transactions starting at offset 99 on partition t-0") {
		t.Fatalf("abort at a wrong offset: code %d, stderr %q", code, errs)
	}
	code, out, errs = run(t, txnMain, "", "--bootstrap-server", bs, "abort", "--topic", "t", "--partition", "0", "--start-offset", m[1])
	if code != 0 || out != "" {
		t.Fatalf("abort: code %d, stdout %q, stderr %q", code, out, errs)
	}
	// kfake writes the marker but leaves the producer's state to its coordinator: the last stable offset shows
	// the abort.
	if lso := committedEnd(t, bs, "t"); lso != 2 {
		t.Fatalf("after abort the last stable offset is %d, want 2 (record and abort marker)", lso)
	}
}

func committedEnd(t *testing.T, bs, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := ends.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("committed end of %s-0: %+v", topic, o)
	}
	return o.Offset
}
