package broker_test

// The idempotence fault test: kgo's idempotent producer (its default) writes a numbered stream with acks=all to an
// RF=3 topic with min.insync.replicas=2 while partition leaders are killed with kill -9 and restarted, and (every
// other round) frozen for a few seconds, which to the client looks like a cut connection: requests time out and are
// retried while the broker may still have written them. Afterwards every record must be in the log exactly once, in
// the order it was sent, per partition: retries the broker had already written are recognised as duplicates by
// their producer id and sequence. `make test` runs a few rounds (≈20 s); ZKAFKA_FAULTS=long runs many.

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

// startIdemStream starts a numberedStream with the idempotent producer, which expects no failures at all: kgo
// retries an idempotent batch until it is written.
func startIdemStream(t *testing.T, c *testcluster.Cluster, topic string, parts int) *numberedStream {
	// A short request timeout makes a frozen leader look like a cut connection: kgo gives up on the request and
	// retries the same batch (same producer id, epoch and sequence) on a new connection.
	return startStream(t, c, topic, parts, false, 90*time.Second,
		kgo.ProduceRequestTimeout(time.Second), kgo.RequestTimeoutOverhead(500*time.Millisecond),
		kgo.MaxBufferedRecords(2000))
}

// verifyExactlyOnce reads every partition up to its high watermark: the log must be exactly seq 0, 1, ..., sent-1
// at consecutive offsets, and every acknowledgement must name the offset its record is at.
func verifyExactlyOnce(t *testing.T, c *testcluster.Cluster, s *numberedStream) {
	t.Helper()
	if len(s.errs) > 0 {
		t.Errorf("the idempotent producer failed records (it must retry until written): %v", s.errs)
	}
	want, got := readToHW(t, c, s.topic)
	total := 0
	for p := int32(0); p < int32(s.parts); p++ {
		if want[p] != s.sent[p] {
			t.Errorf("partition %d: the log holds %d records, %d were sent", p, want[p], s.sent[p])
		}
		var prev int64 = -1
		for o := int64(0); o < want[p]; o++ {
			rec, ok := got[p][o]
			if !ok {
				t.Fatalf("partition %d: offset %d missing below the HW %d", p, o, want[p])
			}
			seq := parseSeq(t, p, rec.value)
			switch {
			case seq == prev:
				t.Fatalf("partition %d offset %d: seq %d written twice (a retry was not recognised as a duplicate)", p, o, seq)
			case seq < prev:
				t.Fatalf("partition %d offset %d: seq %d after seq %d (reordered or duplicated)", p, o, seq, prev)
			case seq != prev+1:
				t.Fatalf("partition %d offset %d: seq %d after seq %d (seq %d..%d lost)", p, o, seq, prev, prev+1, seq-1)
			}
			prev = seq
		}
		for _, a := range s.acked[p] {
			if a.offset != a.seq {
				t.Errorf("partition %d: seq %d acknowledged at offset %d, the log holds it at %d", p, a.seq, a.offset, a.seq)
				break
			}
		}
		total += len(s.acked[p])
		if hw := c.WaitForReplicasInSync(t, 30*time.Second, s.topic, p); hw < want[p] {
			t.Fatalf("partition %d: replicas agree up to HW %d, below the %d read", p, hw, want[p])
		}
	}
	t.Logf("%d records acknowledged; log ends %v; every record exactly once and in order; replicas byte-identical", total, want)
	if total == 0 {
		t.Fatal("nothing was acknowledged")
	}
}

func TestFaultIdempotentProducerKillLeaders(t *testing.T) {
	rounds := 3
	if os.Getenv("ZKAFKA_FAULTS") == "long" {
		rounds = 24
	}
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(nil)})
	const topic, parts = "idem-numbered", 3
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})
	s := startIdemStream(t, c, topic, parts)
	testcluster.WaitFor(t, 30*time.Second, "a steady stream", func() bool { return s.nAcked.Load() >= 300 })

	for round := 0; round < rounds; round++ {
		p := int32(round % parts)
		st, err := c.PartitionState(topic, p)
		if err != nil {
			t.Fatal(err)
		}
		victim := c.Broker(st.Leader)
		before := s.nAcked.Load()
		start := time.Now()
		if round%2 == 1 {
			// Freeze the leader shorter than its ZooKeeper session: it keeps leadership, the client's requests
			// time out and are retried, and when it wakes it finds the originals and the retries in its sockets.
			if err := victim.Pause(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2500 * time.Millisecond) // the fault itself: longer than the client's request timeout
			if err := victim.Resume(); err != nil {
				t.Fatal(err)
			}
		} else {
			killAndRestart(t, c, victim.ID, fmt.Sprintf("round %d: a live leader other than %d for %s-%d", round, victim.ID, topic, p), func() (bool, string) {
				st, err := c.PartitionState(topic, p)
				if err != nil {
					return false, err.Error()
				}
				return st.Leader >= 0 && st.Leader != victim.ID, fmt.Sprintf("%+v", st)
			})
		}
		s.waitRecovered(t, c, round, before)
		t.Logf("round %d: %s broker %d (leader of %s-%d); stream moved on after %v; %d acknowledged",
			round, map[bool]string{true: "froze", false: "killed"}[round%2 == 1], victim.ID, topic, p,
			time.Since(start).Round(time.Millisecond), s.nAcked.Load())
	}
	s.finish(t)
	verifyExactlyOnce(t, c, s)
}
