package broker_test

// Integration tests of transactions with stock clients (kgo) on three brokers: aborted transactions are invisible
// to read_committed and visible to read_uncommitted; a second producer with the same transactional.id fences the
// first; a producer that goes silent inside a transaction is aborted by the coordinator and the LSO moves on;
// kafka-transactions.sh list / describe / describe-producers / abort against the cluster;
// consume-transform-produce with kgo's GroupTransactSession across rebalances and a kill -9 of the transaction
// coordinator, read back exactly once; and producer and transaction state surviving a restart of every broker.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

const txnLogPartitions = 10

// txnOverrides: internal topics replicated three ways (so a kill -9 loses no coordinator state), fewer
// __transaction_state partitions than the default 50 to keep start-up quick, and a timed-out transaction aborted
// within half a second rather than ten.
func txnOverrides(extra map[string]string) map[string]string {
	o := map[string]string{
		"offsets.topic.replication.factor":                            "3",
		"offsets.topic.num.partitions":                                "10",
		"transaction.state.log.num.partitions":                        strconv.Itoa(txnLogPartitions),
		"transaction.abort.timed.out.transaction.cleanup.interval.ms": "500",
		"group.min.session.timeout.ms":                                "1000", // kgoGroupOpts' 3 s sessions
	}
	for k, v := range extra {
		o[k] = v
	}
	return replOverrides(o)
}

// readValues reads topic from the start with the isolation level until at least want records arrived and then
// until the topic stays quiet, and counts each value: a duplicate arriving after the wanted count is still seen.
func readValues(t *testing.T, c *testcluster.Cluster, topic string, level kgo.IsolationLevel, want int) map[string]int {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(level), kgo.FetchMaxWait(200*time.Millisecond))
	deadline := time.Now().Add(60 * time.Second)
	got, n := map[string]int{}, 0
	for time.Now().Before(deadline) {
		wait := 5 * time.Second
		if n >= want {
			wait = 1500 * time.Millisecond // the quiet period that ends the read
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		fs := cl.PollFetches(ctx)
		cancel()
		fs.EachError(func(tp string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("fetch %s-%d: %v", tp, p, err)
			}
		})
		before := n
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)]++; n++ })
		if n >= want && n == before {
			return got
		}
	}
	t.Fatalf("read %d records of %s, want at least %d", n, topic, want)
	return nil
}

// lso and hw are the read_committed and read_uncommitted ends of topic-partition.
func lsoAndHW(t *testing.T, c *testcluster.Cluster, topic string, p int32) (lso, hw int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	adm := c.Admin(t)
	committed, err := adm.ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	l, ok1 := committed.Lookup(topic, p)
	h, ok2 := ends.Lookup(topic, p)
	if !ok1 || !ok2 || l.Err != nil || h.Err != nil {
		t.Fatalf("list offsets of %s-%d: committed %+v, end %+v", topic, p, l, h)
	}
	return l.Offset, h.Offset
}

func describeTxn(t *testing.T, c *testcluster.Cluster, id string) kadm.DescribedTransaction {
	t.Helper()
	var d kadm.DescribedTransaction
	waitWhy(t, 30*time.Second, "DescribeTransactions of "+id, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ds, err := c.Admin(t).DescribeTransactions(ctx, id)
		if err != nil {
			return false, err.Error()
		}
		if d, err = ds.On(id, nil); err != nil {
			return false, err.Error()
		}
		return d.Err == nil, fmt.Sprint(d.Err)
	})
	return d
}

func isFenced(err error) bool {
	return errors.Is(err, kerr.ProducerFenced) || errors.Is(err, kerr.InvalidProducerEpoch)
}

func TestIntegrationTransactions(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: txnOverrides(nil)})
	t.Run("AbortedInvisible", func(t *testing.T) { testAbortedInvisible(t, c) })
	t.Run("ZombieFencing", func(t *testing.T) { testZombieFencing(t, c) })
	t.Run("Timeout", func(t *testing.T) { testTxnTimeout(t, c) })
	t.Run("Tool", func(t *testing.T) { testTransactionsTool(t, c) })
}

// Six transactions of ten records, every other one aborted: read_committed sees the 30 committed records,
// read_uncommitted all 60, and with no transaction open the LSO is the HW.
func testAbortedInvisible(t *testing.T, c *testcluster.Cluster) {
	const topic = "txn-visibility"
	createReplicated(t, c, topic, 2, 3, map[string]string{"min.insync.replicas": "2"})
	p := c.Client(t, kgo.TransactionalID("visibility"), kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	committed := map[string]bool{}
	for i := 0; i < 6; i++ {
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		commit := i%2 == 0
		for j := 0; j < 10; j++ {
			v := fmt.Sprintf("txn%d-%d", i, j)
			if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(j)), Value: []byte(v)}).FirstErr(); err != nil {
				t.Fatalf("produce %s: %v", v, err)
			}
			if commit {
				committed[v] = true
			}
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("transaction %d (commit %v): %v", i, commit, err)
		}
	}
	rc := readValues(t, c, topic, kgo.ReadCommitted(), len(committed))
	for v, n := range rc {
		if !committed[v] || n != 1 {
			t.Errorf("read_committed: %q seen %d times (committed %v)", v, n, committed[v])
		}
	}
	if len(rc) != len(committed) {
		t.Errorf("read_committed saw %d distinct records, %d were committed", len(rc), len(committed))
	}
	ru := readValues(t, c, topic, kgo.ReadUncommitted(), 60)
	if len(ru) != 60 {
		t.Errorf("read_uncommitted saw %d distinct records, want all 60", len(ru))
	}
	for q := int32(0); q < 2; q++ {
		if lso, hw := lsoAndHW(t, c, topic, q); lso != hw {
			t.Errorf("%s-%d: LSO %d, HW %d with no open transaction", topic, q, lso, hw)
		}
	}
}

// A second producer with the same transactional.id bumps the epoch: the first one's open transaction is aborted
// and its next produce and its commit are refused as fenced.
func testZombieFencing(t *testing.T, c *testcluster.Cluster) {
	const topic = "txn-zombie"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	zombie := c.Client(t, kgo.TransactionalID("zombie"), kgo.DefaultProduceTopic(topic))
	if err := zombie.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie-1")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	before := describeTxn(t, c, "zombie")

	successor := c.Client(t, kgo.TransactionalID("zombie"), kgo.DefaultProduceTopic(topic))
	if err := successor.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := successor.ProduceSync(ctx, &kgo.Record{Value: []byte("successor-1")}).FirstErr(); err != nil {
		t.Fatalf("the successor's first produce: %v", err)
	}
	if err := successor.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("the successor's commit: %v", err)
	}
	after := describeTxn(t, c, "zombie")
	if after.ProducerID != before.ProducerID || after.ProducerEpoch <= before.ProducerEpoch {
		t.Errorf("producer id/epoch %d/%d before the successor, %d/%d after: the epoch must grow", before.ProducerID,
			before.ProducerEpoch, after.ProducerID, after.ProducerEpoch)
	}

	err := zombie.ProduceSync(ctx, &kgo.Record{Value: []byte("zombie-2")}).FirstErr()
	if !isFenced(err) {
		t.Errorf("the zombie's produce after fencing: %v, want PRODUCER_FENCED or INVALID_PRODUCER_EPOCH", err)
	}
	if commitErr := zombie.EndTransaction(ctx, kgo.TryCommit); commitErr == nil {
		t.Error("the zombie's commit after fencing succeeded")
	} else {
		t.Logf("zombie: produce refused with %s; commit refused with %v", kerrName(err), commitErr)
	}
	rc := readValues(t, c, topic, kgo.ReadCommitted(), 1)
	if len(rc) != 1 || rc["successor-1"] != 1 {
		t.Errorf("read_committed after fencing: %v, want only successor-1", rc)
	}
}

func kerrName(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Message
	}
	return fmt.Sprint(err)
}

// A producer opens a transaction with transaction.timeout.ms 3000 and goes silent: the coordinator aborts it
// (within the broker's 500 ms check interval), bumping the epoch, and the LSO moves past the transaction.
func testTxnTimeout(t *testing.T, c *testcluster.Cluster) {
	const topic = "txn-timeout"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	silent := c.Client(t, kgo.TransactionalID("silent"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(3*time.Second))
	if err := silent.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r, err := silent.ProduceSync(ctx, &kgo.Record{Value: []byte("never-committed")}).First()
	if err != nil {
		t.Fatal(err)
	}
	opened := time.Now()
	if lso, hw := lsoAndHW(t, c, topic, 0); time.Since(opened) < 2*time.Second && (lso != r.Offset || hw != r.Offset+1) {
		t.Errorf("open transaction at offset %d: LSO %d, HW %d; want LSO %d, HW %d", r.Offset, lso, hw, r.Offset, r.Offset+1)
	}
	before := describeTxn(t, c, "silent")
	if before.State != "Ongoing" && time.Since(opened) < 2*time.Second {
		t.Errorf("state %s right after the first produce, want Ongoing", before.State)
	}
	waitWhy(t, 30*time.Second, "the timed-out transaction to be aborted", func() (bool, string) {
		lso, hw := lsoAndHW(t, c, topic, 0)
		return lso == hw && hw > r.Offset+1, fmt.Sprintf("LSO %d, HW %d", lso, hw)
	})
	t.Logf("transaction opened at offset %d aborted after %v", r.Offset, time.Since(opened).Round(time.Millisecond))
	after := describeTxn(t, c, "silent")
	if after.State != "CompleteAbort" || after.ProducerEpoch <= before.ProducerEpoch {
		t.Errorf("after the timeout: state %s epoch %d (before: epoch %d); want CompleteAbort with a higher epoch",
			after.State, after.ProducerEpoch, before.ProducerEpoch)
	}
	if rc := readValues(t, c, topic, kgo.ReadCommitted(), 0); len(rc) != 0 {
		t.Errorf("read_committed sees %v of an aborted transaction", rc)
	}
	if err := silent.EndTransaction(ctx, kgo.TryCommit); err == nil {
		t.Error("committing the timed-out transaction succeeded")
	}
}

// kafka-transactions.sh against the cluster: an open transaction is listed and described, its producer shows on
// the leader and on a follower, and abort --start-offset closes it so the LSO reaches the HW.
func testTransactionsTool(t *testing.T, c *testcluster.Cluster) {
	const topic = "txn-tools"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := c.Client(t, kgo.TransactionalID("tool-open"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(10*time.Minute))
	if err := open.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	r, err := open.ProduceSync(ctx, &kgo.Record{Value: []byte("hanging")}).First()
	if err != nil {
		t.Fatal(err)
	}
	bs := strings.Join(c.Bootstrap(), ",")
	tool := func(args ...string) string {
		t.Helper()
		code, out, errs := runTool(t, "kafka-transactions.sh", append([]string{"--bootstrap-server", bs}, args...)...)
		if code != 0 {
			t.Fatalf("kafka-transactions.sh %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errs)
		}
		return out
	}
	row := func(out string, fields ...string) bool {
		return regexp.MustCompile(`(?m)^` + strings.Join(fields, `\s*\t`) + `\s*\t$`).MatchString(out)
	}
	d := describeTxn(t, c, "tool-open")
	pid, epoch := strconv.FormatInt(d.ProducerID, 10), strconv.Itoa(int(d.ProducerEpoch))

	out := tool("list")
	if !row(out, "TransactionalId", "Coordinator", "ProducerId", "TransactionState") || !row(out, "tool-open", `\d+`, pid, "Ongoing") {
		t.Errorf("list:\n%s", out)
	}
	out = tool("describe", "--transactional-id", "tool-open")
	if !row(out, strconv.Itoa(int(d.Coordinator)), "tool-open", pid, epoch, "Ongoing", "600000", `\d+`, `\d+`, topic+"-0") {
		t.Errorf("describe:\n%s", out)
	}
	st, err := c.PartitionState(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	start := strconv.FormatInt(r.Offset, 10)
	for _, id := range []int32{-1, otherThan(c, st.Leader)} {
		args := []string{"describe-producers", "--topic", topic, "--partition", "0"}
		if id >= 0 {
			args = append(args, "--broker-id", strconv.Itoa(int(id)))
		}
		out = tool(args...)
		if !row(out, "ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence", "LastTimestamp", "CurrentTransactionStartOffset") ||
			!row(out, pid, epoch, `-?\d+`, "0", `\d+`, start) {
			t.Errorf("%v (leader %d):\n%s", args, st.Leader, out)
		}
	}
	if lso, _ := lsoAndHW(t, c, topic, 0); lso != r.Offset {
		t.Fatalf("LSO %d with the transaction open at %d", lso, r.Offset)
	}
	if out = tool("abort", "--topic", topic, "--partition", "0", "--start-offset", start); out != "" {
		t.Errorf("abort printed %q", out)
	}
	waitWhy(t, 30*time.Second, "the aborted transaction's marker to move the LSO", func() (bool, string) {
		lso, hw := lsoAndHW(t, c, topic, 0)
		return lso == hw && hw > r.Offset+1, fmt.Sprintf("LSO %d, HW %d", lso, hw)
	})
	code, _, errs := runTool(t, "kafka-transactions.sh", "--bootstrap-server", bs, "describe", "--transactional-id", "no-such-id")
	if code != 1 || !strings.Contains(errs, "failed because the ID could not be found") {
		t.Errorf("describe of an unknown id: exit %d, stderr %q", code, errs)
	}
}

// ctpMember is one consume-transform-produce application instance: a GroupTransactSession that copies input
// records to the output topic and commits its offsets in the same transaction. On an error End cannot recover from
// it starts over with a new session under the same transactional.id, as a restarted application would.
type ctpMember struct {
	name      string
	stop      chan struct{}
	done      chan struct{}
	commits   *atomic.Int64 // records in committed transactions, over all members
	aborts    atomic.Int64
	restarts  atomic.Int64
	mu        sync.Mutex
	lastError error
}

func startCTPMember(t *testing.T, c *testcluster.Cluster, group, in, out, name string, commits *atomic.Int64) *ctpMember {
	m := &ctpMember{name: name, stop: make(chan struct{}), done: make(chan struct{}), commits: commits}
	opts := append(kgoGroupOpts(c, group, in, name),
		kgo.TransactionalID(name), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.RequireStableFetchOffsets(),
		kgo.DefaultProduceTopic(out), kgo.TransactionTimeout(20*time.Second), kgo.FetchMaxWait(200*time.Millisecond))
	if os.Getenv("ZKAFKA_TEST_KGO_LOG") != "" {
		opts = append(opts, kgo.WithLogger(kgo.BasicLogger(os.Stderr, kgo.LogLevelDebug, func() string { return name + " " })))
	}
	go func() {
		defer close(m.done)
		for !m.stopped() {
			s, err := kgo.NewGroupTransactSession(opts...)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			err = m.run(s)
			s.Close()
			if err == nil {
				return
			}
			m.mu.Lock()
			m.lastError = err
			m.mu.Unlock()
			m.restarts.Add(1)
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *ctpMember) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("%s: %d aborted transactions, %d session restarts (last error: %v)", m.name, m.aborts.Load(), m.restarts.Load(), m.lastError)
}

func (m *ctpMember) stopped() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

// run processes until stopped (nil) or until the session fails (the error).
func (m *ctpMember) run(s *kgo.GroupTransactSession) error {
	for !m.stopped() {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		fs := s.PollRecords(ctx, 100)
		cancel()
		if fs.IsClientClosed() {
			return nil
		}
		fs.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				m.mu.Lock()
				m.lastError = fmt.Errorf("fetch %s-%d: %w", topic, p, err)
				m.mu.Unlock()
			}
		})
		if fs.NumRecords() == 0 {
			continue
		}
		if err := s.Begin(); err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			s.Produce(context.Background(), &kgo.Record{Key: r.Key, Value: r.Value}, nil)
		})
		ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
		committed, err := s.End(ctx, kgo.TryCommit)
		cancel()
		if err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if committed {
			m.commits.Add(int64(n))
		} else {
			m.aborts.Add(1)
		}
	}
	return nil
}

func (m *ctpMember) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

// Consume-transform-produce: input written continuously by a plain producer; three GroupTransactSession members
// join one after another (rebalances), the transaction coordinator of the first is killed -9 and restarted, one
// member leaves. When the group's committed offsets reach the input's end, the output read with read_committed
// holds every input record exactly once.
func TestIntegrationTxnConsumeTransformProduce(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: txnOverrides(nil)})
	const in, out, group, parts = "ctp-in", "ctp-out", "ctp", 6
	createReplicated(t, c, in, parts, 3, map[string]string{"min.insync.replicas": "2"})
	createReplicated(t, c, out, parts, 3, map[string]string{"min.insync.replicas": "2"})

	// The input: "<seq>" values, unique, produced until the test stops the feeder. The feeder is idempotent and
	// retries without limit, so every value below sent ends up in the input exactly once.
	feeder := c.Client(t, kgo.DefaultProduceTopic(in), kgo.RequiredAcks(kgo.AllISRAcks()))
	var sent atomic.Int64
	// Produce callbacks may run after the test function returned (the client is closed in a cleanup): they only
	// record the first error, which the test checks once the feeder is flushed.
	var feedErr atomic.Pointer[error]
	stopFeed, fedDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(fedDone)
		for seq := 0; ; seq++ {
			select {
			case <-stopFeed:
				return
			default:
			}
			feeder.Produce(context.Background(), &kgo.Record{Key: []byte(strconv.Itoa(seq % 97)), Value: []byte(strconv.Itoa(seq))},
				func(_ *kgo.Record, err error) {
					if err != nil && !errors.Is(err, kgo.ErrClientClosed) {
						feedErr.CompareAndSwap(nil, &err)
					}
				})
			sent.Add(1)
			time.Sleep(time.Millisecond)
		}
	}()

	t.Cleanup(func() {
		select {
		case <-stopFeed:
		default:
			close(stopFeed)
		}
		<-fedDone
	})

	var commits atomic.Int64
	var members []*ctpMember
	progress := func(what string, n int64) {
		t.Helper()
		target := commits.Load() + n
		waitWhy(t, 90*time.Second, what, func() (bool, string) {
			var states []string
			for _, m := range members {
				states = append(states, m.String())
			}
			return commits.Load() >= target, fmt.Sprintf("%d of %d records committed; %s", commits.Load(), target, strings.Join(states, "; "))
		})
		t.Logf("%s: %d records committed, %d fed", what, commits.Load(), sent.Load())
	}
	m0 := startCTPMember(t, c, group, in, out, "ctp-0", &commits)
	members = append(members, m0)
	progress("one member", 500)
	m1 := startCTPMember(t, c, group, in, out, "ctp-1", &commits)
	members = append(members, m1)
	progress("two members", 500)
	m2 := startCTPMember(t, c, group, in, out, "ctp-2", &commits)
	members = append(members, m2)
	progress("three members", 500)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	coord := c.Admin(t).FindTxnCoordinators(ctx, "ctp-0")
	if err := coord.Error(); err != nil {
		t.Fatal(err)
	}
	victim := c.Broker(coord["ctp-0"].NodeID)
	victim.Kill()
	progress(fmt.Sprintf("coordinator broker %d killed", victim.ID), 500)
	if err := victim.StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	waitFullISR(t, c, in, parts)
	waitFullISR(t, c, out, parts)
	progress(fmt.Sprintf("broker %d back", victim.ID), 500)
	m1.close()
	progress("member ctp-1 left", 500)

	close(stopFeed)
	<-fedDone
	if err := feeder.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := feedErr.Load(); err != nil {
		t.Fatalf("feeding the input: %v", *err)
	}
	adm := c.Admin(t)
	ends, err := adm.ListEndOffsets(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	waitWhy(t, 90*time.Second, "the group's committed offsets to reach the input's end", func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return false, err.Error()
		}
		var behind []string
		ends.Each(func(e kadm.ListedOffset) {
			if o, ok := offs.Lookup(in, e.Partition); !ok || o.At < e.Offset {
				behind = append(behind, fmt.Sprintf("%d: %d of %d", e.Partition, o.At, e.Offset))
			}
		})
		return len(behind) == 0, strings.Join(behind, ", ")
	})
	for _, m := range []*ctpMember{m0, m1, m2} {
		m.close()
		t.Log(m)
	}

	total := int(sent.Load())
	rc := readValues(t, c, out, kgo.ReadCommitted(), total)
	var missing, dups []string
	for seq := 0; seq < total; seq++ {
		switch n := rc[strconv.Itoa(seq)]; {
		case n == 0 && len(missing) < 10:
			missing = append(missing, strconv.Itoa(seq))
		case n > 1 && len(dups) < 10:
			dups = append(dups, fmt.Sprintf("%d×%d", seq, n))
		}
	}
	if len(rc) != total || len(missing) > 0 || len(dups) > 0 {
		t.Fatalf("read_committed output: %d distinct of %d input records; missing %v; duplicated %v", len(rc), total, missing, dups)
	}
	ru := readValues(t, c, out, kgo.ReadUncommitted(), total)
	extra := 0
	for _, n := range ru {
		extra += n - 1
	}
	t.Logf("%d input records, each exactly once in the read_committed output; read_uncommitted shows %d more copies from aborted transactions",
		total, extra)
}

// idempotentBatch is a magic-2 batch of an idempotent producer: producer id, epoch and base sequence set.
func idempotentBatch(pid int64, epoch int16, seq int32, values ...string) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.NewRecordBatch()
	b.PartitionLeaderEpoch = -1
	b.Magic = 2
	b.LastOffsetDelta = int32(len(values) - 1)
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, epoch, seq
	b.NumRecords = int32(len(values))
	b.Records = recs
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// Producer state and transaction state survive a clean restart of every broker in turn and then a kill -9 of the
// partition's leader: a raw retry of an already written idempotent batch still returns its original offset without
// appending, DescribeTransactions still shows the same producer ids, epochs and states, and the transaction left
// open throughout finally commits.
func TestIntegrationTxnStateSurvivesRestarts(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: txnOverrides(nil)})
	const topic = "txn-restart"
	createReplicated(t, c, topic, 1, 3, map[string]string{"min.insync.replicas": "2"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	initReq := kmsg.NewPtrInitProducerIDRequest()
	initReq.TransactionTimeoutMillis = 60000
	initResp := rawRequest(t, c.Brokers[0].Addr(), initReq).(*kmsg.InitProducerIDResponse)
	if initResp.ErrorCode != 0 {
		t.Fatalf("InitProducerId: %v", kerr.ErrorForCode(initResp.ErrorCode))
	}
	pid, epoch := initResp.ProducerID, initResp.ProducerEpoch
	batches := [][]byte{idempotentBatch(pid, epoch, 0, "a0", "a1", "a2"), idempotentBatch(pid, epoch, 3, "b0", "b1")}
	leaderAddr := func() string {
		t.Helper()
		st, err := c.PartitionState(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		return c.Broker(st.Leader).Addr()
	}
	var offsets []int64
	for i, b := range batches {
		code, off := produceCode(t, leaderAddr(), produceRequest(topic, -1, b))
		if code != 0 {
			t.Fatalf("idempotent batch %d: %v", i, kerr.ErrorForCode(code))
		}
		offsets = append(offsets, off)
	}

	committed := c.Client(t, kgo.TransactionalID("restart-committed"), kgo.DefaultProduceTopic(topic))
	open := c.Client(t, kgo.TransactionalID("restart-open"), kgo.DefaultProduceTopic(topic), kgo.TransactionTimeout(10*time.Minute))
	for i, cl := range []*kgo.Client{committed, open} {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("txn-%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	if err := committed.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// EndTxn is answered once PrepareCommit is written; the markers and CompleteCommit follow.
	waitWhy(t, 30*time.Second, "restart-committed to complete", func() (bool, string) {
		d := describeTxn(t, c, "restart-committed")
		return d.State == "CompleteCommit", d.State
	})
	want := map[string]kadm.DescribedTransaction{
		"restart-committed": describeTxn(t, c, "restart-committed"),
		"restart-open":      describeTxn(t, c, "restart-open"),
	}
	if want["restart-committed"].State != "CompleteCommit" || want["restart-open"].State != "Ongoing" {
		t.Fatalf("states before the restarts: %s, %s", want["restart-committed"].State, want["restart-open"].State)
	}
	_, hwBefore := lsoAndHW(t, c, topic, 0)

	check := func(after string, restarted bool) {
		t.Helper()
		// A producer snapshot keeps only each producer's last batch (ProducerStateManager.readSnapshot), so after a
		// restart Kafka recognises a retry of the last batch only; an older one is refused as out of order. Either
		// way nothing is appended twice.
		for i, b := range batches {
			// Right after a restart the partition's leadership may still be moving: NOT_LEADER_OR_FOLLOWER is
			// retriable, as for any client, and appends nothing.
			var code int16
			var off int64
			waitWhy(t, 30*time.Second, fmt.Sprintf("%s: the leader to take batch %d", after, i), func() (bool, string) {
				code, off = produceCode(t, leaderAddr(), produceRequest(topic, -1, b))
				return code != kerr.NotLeaderForPartition.Code, fmt.Sprint(kerr.ErrorForCode(code))
			})
			last := i == len(batches)-1
			if (code != 0 || off != offsets[i]) && (last || !restarted || code != kerr.OutOfOrderSequenceNumber.Code) {
				t.Errorf("%s: retry of batch %d answered %v at offset %d, want no error and its original offset %d",
					after, i, kerr.ErrorForCode(code), off, offsets[i])
			}
		}
		// A new leader's HW can trail until its followers fetch again; it must come back to, and not pass, the HW
		// from before (a retried batch appended again would push it past).
		waitWhy(t, 30*time.Second, after+": the HW to be what it was", func() (bool, string) {
			_, hw := lsoAndHW(t, c, topic, 0)
			if hw > hwBefore {
				t.Fatalf("%s: HW %d, was %d: a retried batch was appended again", after, hw, hwBefore)
			}
			return hw == hwBefore, fmt.Sprintf("HW %d, was %d", hw, hwBefore)
		})
		for id, w := range want {
			d := describeTxn(t, c, id)
			if d.ProducerID != w.ProducerID || d.ProducerEpoch != w.ProducerEpoch || d.State != w.State ||
				d.TimeoutMillis != w.TimeoutMillis || fmt.Sprint(d.Topics.Sorted()) != fmt.Sprint(w.Topics.Sorted()) {
				t.Errorf("%s: %s is %+v, was %+v", after, id, d, w)
			}
		}
	}
	check("before any restart", false)
	for _, b := range c.Brokers {
		if err := b.Restart(); err != nil {
			t.Fatal(err)
		}
		c.WaitForBrokers(t, len(c.Brokers))
		waitFullISR(t, c, topic, 1)
		waitFullISR(t, c, "__transaction_state", txnLogPartitions)
		check(fmt.Sprintf("after restarting broker %d", b.ID), true)
	}
	st, err := c.PartitionState(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	victim := c.Broker(st.Leader)
	victim.Kill()
	if err := victim.StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	c.WaitForBrokers(t, len(c.Brokers))
	waitFullISR(t, c, topic, 1)
	waitFullISR(t, c, "__transaction_state", txnLogPartitions)
	check(fmt.Sprintf("after kill -9 of broker %d", victim.ID), true)

	if err := open.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("committing the transaction left open across the restarts: %v", err)
	}
	waitWhy(t, 30*time.Second, "the LSO to reach the HW", func() (bool, string) {
		lso, hw := lsoAndHW(t, c, topic, 0)
		return lso == hw, fmt.Sprintf("LSO %d, HW %d", lso, hw)
	})
	rc := readValues(t, c, topic, kgo.ReadCommitted(), 7)
	for _, v := range []string{"a0", "a1", "a2", "b0", "b1", "txn-0", "txn-1"} {
		if rc[v] != 1 {
			t.Errorf("read_committed: %q seen %d times, want once (all: %v)", v, rc[v], rc)
		}
	}
}
