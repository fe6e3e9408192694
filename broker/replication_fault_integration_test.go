package broker_test

// The replication fault test: a numbered stream produced with acks=all to an RF=3 topic with
// min.insync.replicas=2 while leaders (and every third round the controller) are killed with kill -9 and
// restarted. Afterwards every acknowledged record must be in the log exactly where and in the order it was
// acknowledged, and every replica must hold the same bytes up to the high watermark. `make test` runs a few rounds;
// ZKAFKA_FAULTS=long runs many.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

// ack is one acknowledged record of the stream: its partition-local sequence number and offset.
type ack struct {
	seq    int64
	offset int64
}

// numberedStream produces value "<partition>:<seq>" to each partition in turn, seq counting per partition, with
// acks=all; startNumberedStream's without idempotence, so the broker alone stands between an acknowledgement and
// its loss, startIdemStream's with it.
type numberedStream struct {
	cl      *kgo.Client
	topic   string
	parts   int
	keyed   bool          // records carry the key "k<partition>"
	drain   time.Duration // how long finish waits for outstanding promises
	stop    chan struct{}
	loops   sync.WaitGroup // producing goroutines
	pending sync.WaitGroup // records awaiting their promise
	mu      sync.Mutex
	acked   [][]ack // per partition, in the order the promises ran
	failed  []int   // per partition
	errs    []error // the first 10 failures
	sent    []int64 // per partition: sequence numbers 0..sent-1 were handed to the client
	nAcked  atomic.Int64
}

func startNumberedStream(t *testing.T, c *testcluster.Cluster, topic string, parts int) *numberedStream {
	return startStream(t, c, topic, parts, true, 60*time.Second, kgo.DisableIdempotentWrite())
}

// startStream starts a stream of acks=all records, manually partitioned, with opts added to the client's.
func startStream(t *testing.T, c *testcluster.Cluster, topic string, parts int, keyed bool, drain time.Duration, opts ...kgo.Opt) *numberedStream {
	s := &numberedStream{
		cl: c.Client(t, append([]kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(2 * time.Millisecond)}, opts...)...),
		topic: topic, parts: parts, keyed: keyed, drain: drain, stop: make(chan struct{}),
		acked: make([][]ack, parts), failed: make([]int, parts), sent: make([]int64, parts),
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	for p := 0; p < parts; p++ {
		s.loops.Add(1)
		go s.produce(ctx, int32(p))
	}
	return s
}

// produce keeps at most 200 records of the partition in flight, so a leaderless partition pauses its stream
// instead of buffering without bound, and paces the stream at about 500 records a second.
func (s *numberedStream) produce(ctx context.Context, p int32) {
	defer s.loops.Done()
	inflight := make(chan struct{}, 200)
	for seq := int64(0); ; seq++ {
		select {
		case <-s.stop:
			return
		case inflight <- struct{}{}:
		}
		s.pending.Add(1)
		s.mu.Lock()
		s.sent[p] = seq + 1
		s.mu.Unlock()
		r := &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d:%d", p, seq))}
		if s.keyed {
			r.Key = []byte(fmt.Sprintf("k%d", p))
		}
		s.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			defer s.pending.Done()
			defer func() { <-inflight }()
			s.mu.Lock()
			defer s.mu.Unlock()
			if err != nil {
				s.failed[p]++
				if len(s.errs) < 10 {
					s.errs = append(s.errs, fmt.Errorf("partition %d seq %d: %w", p, seq, err))
				}
				return
			}
			s.acked[p] = append(s.acked[p], ack{seq: seq, offset: r.Offset})
			s.nAcked.Add(1)
		})
		time.Sleep(2 * time.Millisecond)
	}
}

// finish stops producing and waits for every outstanding promise.
func (s *numberedStream) finish(t *testing.T) {
	t.Helper()
	close(s.stop)
	s.loops.Wait()
	done := make(chan struct{})
	go func() { s.pending.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(s.drain):
		t.Fatalf("records still unacknowledged %v after the stream stopped (%d acknowledged)", s.drain, s.nAcked.Load())
	}
}

// killAndRestart kill -9s broker victim, waits up to a minute for failedOver (what names it), restarts the broker
// and returns how long the failover took.
func killAndRestart(t *testing.T, c *testcluster.Cluster, victim int32, what string, failedOver func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	c.Broker(victim).Kill()
	waitWhy(t, 60*time.Second, what, failedOver)
	took := time.Since(start)
	if err := c.Broker(victim).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	return took
}

// readToHW reads every partition of the topic from the start up to its high watermark: the high watermarks, and
// the records by partition and offset.
func readToHW(t *testing.T, c *testcluster.Cluster, topic string) (map[int32]int64, map[int32]map[int64]produced) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ends, err := c.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	return want, consumeTo(t, c, topic, want)
}

// waitRecovered ends a fault round: every replica back in every ISR, and the stream acknowledging again (200 more
// than before the fault).
func (s *numberedStream) waitRecovered(t *testing.T, c *testcluster.Cluster, round int, before int64) {
	t.Helper()
	waitFullISR(t, c, s.topic, s.parts)
	testcluster.WaitFor(t, 60*time.Second, fmt.Sprintf("round %d: the stream to move on", round), func() bool { return s.nAcked.Load() >= before+200 })
}

// verifyNumbered reads every partition from the start up to its high watermark and checks the stream against it.
func verifyNumbered(t *testing.T, c *testcluster.Cluster, s *numberedStream) {
	t.Helper()
	want, got := readToHW(t, c, s.topic)

	var totalAcked, dupAcked, dupUnacked, presentUnacked, failed int
	var dupDetails []string
	for p := int32(0); p < int32(s.parts); p++ {
		acked := s.acked[p]
		totalAcked += len(acked)
		failed += s.failed[p]
		// Promises of one partition run in order: acknowledged sequence numbers and offsets both increase.
		for i := 1; i < len(acked); i++ {
			if acked[i].seq <= acked[i-1].seq || acked[i].offset <= acked[i-1].offset {
				t.Fatalf("partition %d: acknowledgement %d (seq %d at %d) after seq %d at %d", p, i, acked[i].seq, acked[i].offset, acked[i-1].seq, acked[i-1].offset)
			}
		}
		// Walk the log: each record is a sequence number this test sent to this partition; first copies appear in
		// sending order; a later copy is a retry the client made after it lost the answer to the first.
		count := map[int64]int{}
		where := map[int64][]int64{} // seq → offsets holding it
		var lastFirst int64 = -1
		for o := int64(0); o < want[p]; o++ {
			rec, ok := got[p][o]
			if !ok {
				t.Fatalf("partition %d: offset %d missing below the HW %d", p, o, want[p])
			}
			seq := parseSeq(t, p, rec.value)
			if seq >= s.sent[p] {
				t.Fatalf("partition %d offset %d holds seq %d, never sent (sent %d)", p, o, seq, s.sent[p])
			}
			if count[seq] == 0 {
				if seq <= lastFirst {
					t.Fatalf("partition %d offset %d: seq %d first appears after seq %d (reordered)", p, o, seq, lastFirst)
				}
				lastFirst = seq
			}
			count[seq]++
			where[seq] = append(where[seq], o)
		}
		isAcked := map[int64]bool{}
		for _, a := range acked {
			isAcked[a.seq] = true
			rec, ok := got[p][a.offset]
			if !ok || parseSeq(t, p, rec.value) != a.seq {
				t.Fatalf("partition %d: seq %d acknowledged at offset %d, the log holds %q there (present %v; HW %d)", p, a.seq, a.offset, rec.value, ok, want[p])
			}
			// A client retry re-sends a record whose first copy was written but not acknowledged: every other copy
			// of an acknowledged record lies before the acknowledged one.
			if offs := where[a.seq]; offs[len(offs)-1] != a.offset {
				t.Fatalf("partition %d: seq %d acknowledged at offset %d but also written after it, at %v", p, a.seq, a.offset, offs)
			}
			if n := len(where[a.seq]); n > 1 && len(dupDetails) < 10 {
				dupDetails = append(dupDetails, fmt.Sprintf("%d:%d at %v", p, a.seq, where[a.seq]))
			}
		}
		for seq, n := range count {
			switch {
			case isAcked[seq] && n > 1:
				dupAcked += n - 1
			case !isAcked[seq]:
				presentUnacked++
				dupUnacked += n - 1
			}
		}
		if hw := c.WaitForReplicasInSync(t, 30*time.Second, s.topic, p); hw < want[p] {
			t.Fatalf("partition %d: replicas agree up to HW %d, below the %d read", p, hw, want[p])
		}
	}
	t.Logf("%d records acknowledged, %d failed; log ends %v; %d extra copies of acknowledged records (client retries), "+
		"%d records present without acknowledgement (%d extra copies); every replica byte-identical up to the HW",
		totalAcked, failed, want, dupAcked, presentUnacked, dupUnacked)
	if len(dupDetails) > 0 {
		t.Logf("acknowledged records written more than once (partition:seq at offsets; the last is the acknowledged one): %s", strings.Join(dupDetails, ", "))
	}
	if totalAcked == 0 {
		t.Fatal("nothing was acknowledged")
	}
}

func parseSeq(t *testing.T, p int32, value string) int64 {
	t.Helper()
	prefix := fmt.Sprintf("%d:", p)
	if !strings.HasPrefix(value, prefix) {
		t.Fatalf("partition %d holds %q, a record of another partition or not of this test", p, value)
	}
	seq, err := strconv.ParseInt(strings.TrimPrefix(value, prefix), 10, 64)
	if err != nil {
		t.Fatalf("partition %d holds %q: %v", p, value, err)
	}
	return seq
}

// kill -9 the leader of a partition (every third round the controller) while the stream runs; wait for new
// leaders, restart the broker, wait until it is back in every ISR and the stream moved on; repeat.
func TestFaultReplicationKillLeaders(t *testing.T) {
	rounds := 4
	if os.Getenv("ZKAFKA_FAULTS") == "long" {
		rounds = 30
	}
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(nil)})
	const topic, parts = "numbered", 4
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	s := startNumberedStream(t, c, topic, parts)
	testcluster.WaitFor(t, 30*time.Second, "a steady stream", func() bool { return s.nAcked.Load() >= 500 })

	for round := 0; round < rounds; round++ {
		p := int32(round % parts)
		st, err := c.PartitionState(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		victim, what := st.Leader, fmt.Sprintf("the leader of %s-%d", topic, p)
		if round%3 == 2 {
			if victim, err = c.ControllerID(); err != nil {
				t.Fatal(err)
			}
			what = "the controller"
		}
		before := s.nAcked.Load()
		start := time.Now()
		failover := killAndRestart(t, c, victim, fmt.Sprintf("round %d: live leaders other than %d", round, victim), func() (bool, string) {
			states, err := c.PartitionStates(topic, parts)
			if err != nil {
				return false, err.Error()
			}
			for q, st := range states {
				if st.Leader < 0 || st.Leader == victim {
					return false, fmt.Sprintf("%s-%d: %+v", topic, q, st)
				}
			}
			return true, ""
		})
		s.waitRecovered(t, c, round, before)
		t.Logf("round %d: killed broker %d (%s), new leaders after %v, back in every ISR after %v; %d acknowledged",
			round, victim, what, failover.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), s.nAcked.Load())
	}
	s.finish(t)
	if states, err := c.PartitionStates(topic, parts); err == nil {
		for p, st := range states {
			if st.Leader < 0 || !slices.Contains(st.ISR, st.Leader) {
				t.Errorf("%s-%d ended as %+v", topic, p, st)
			}
		}
	}
	verifyNumbered(t, c, s)
}
