package broker_test

// Coordinator failover: the group coordinator is the leader of the group's __consumer_offsets partition, so when
// that broker dies the partition's new leader loads the group from the replicated log and takes over. Nothing
// committed may be lost, and the group carries on where it left off.

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

// syncConsumer is a group member that commits synchronously after every poll, recording what it processed.
type syncConsumer struct {
	t    *testing.T
	cl   *kgo.Client
	mu   sync.Mutex
	seen map[int32]map[int64]int
	done chan struct{}
	stop chan struct{}
}

func startSyncConsumer(t *testing.T, c *testcluster.Cluster, group, topic string) *syncConsumer {
	t.Helper()
	s := &syncConsumer{t: t, seen: map[int32]map[int64]int{}, done: make(chan struct{}), stop: make(chan struct{})}
	cl, err := kgo.NewClient(append(kgoGroupOpts(c, group, topic, "failover-consumer"), kgo.DisableAutoCommit(),
		kgo.SessionTimeout(10*time.Second), kgo.RetryTimeout(60*time.Second))...)
	if err != nil {
		t.Fatal(err)
	}
	s.cl = cl
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 250*time.Millisecond)
			fs := cl.PollFetches(ctx)
			cancel()
			fs.EachRecord(func(r *kgo.Record) {
				s.mu.Lock()
				if s.seen[r.Partition] == nil {
					s.seen[r.Partition] = map[int64]int{}
				}
				s.seen[r.Partition][r.Offset]++
				s.mu.Unlock()
			})
			if fs.NumRecords() > 0 {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Errorf("commit: %v", err)
				}
				cancel()
			}
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *syncConsumer) close() {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	waitClosed(s.t, s.done, "the failover consumer")
	s.cl.Close()
}

// waitSeen waits until every record in sent was processed at least once.
func (s *syncConsumer) waitSeen(t *testing.T, sent []produced) {
	t.Helper()
	waitWhy(t, 60*time.Second, fmt.Sprintf("the consumer to process %d records", len(sent)), func() (bool, string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		missing := 0
		for _, p := range sent {
			if s.seen[p.partition][p.offset] == 0 {
				missing++
			}
		}
		return missing == 0, fmt.Sprintf("%d missing", missing)
	})
}

// fetchOffsets sends OffsetFetch v7 for all the group's offsets over a connection of its own; a top-level error
// is returned as an error.
func fetchOffsets(addr, group string) (*kmsg.OffsetFetchResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, addr, "failover-check")
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	resp, err := conn.Request(ctx, offsetFetchReq(group, nil))
	if err != nil {
		return nil, err
	}
	r := resp.(*kmsg.OffsetFetchResponse)
	if r.ErrorCode != 0 {
		return nil, kerr.ErrorForCode(r.ErrorCode)
	}
	return r, nil
}

// endsOf is partition → end offset of the records sent.
func endsOf(sent []produced) map[int32]int64 {
	ends := map[int32]int64{}
	for _, p := range sent {
		ends[p.partition] = max(ends[p.partition], p.offset+1)
	}
	return ends
}

// TestIntegrationGroupCoordinatorFailover: a group commits offsets with RF 3 on __consumer_offsets; its
// coordinator is killed with kill -9; another broker becomes coordinator, OffsetFetch returns every committed
// offset, the group is loaded Stable with its member, and nothing committed is consumed again.
func TestIntegrationGroupCoordinatorFailover(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: groupOverrides(map[string]string{
		"offsets.topic.replication.factor": "3",
		"zookeeper.session.timeout.ms":     "4000",
		"auto.leader.rebalance.enable":     "false",
	})})
	const topic, group, parts = "failover-topic", "failover-group", 6
	createReplicated(t, c, topic, parts, 3, nil)
	coord := groupCoordinator(t, c, group)
	waitFullISR(t, c, "__consumer_offsets", 5)

	sent := produceKeyed(t, c, topic, 600, kgo.AllISRAcks(), "before")
	cons := startSyncConsumer(t, c, group, topic)
	cons.waitSeen(t, sent)
	ends := endsOf(sent)
	check := groupDial(t, coord.Addr(), "failover-check")
	waitWhy(t, 30*time.Second, "the consumer's commits to reach the end offsets", func() (bool, string) {
		off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, check, offsetFetchReq(group, nil)))[topic]
		for p, end := range ends {
			if off[p] != end {
				return false, fmt.Sprintf("partition %d committed %d, end %d", p, off[p], end)
			}
		}
		return true, ""
	})
	_, gen := cons.cl.GroupMetadata()

	coord.Kill()
	killed := time.Now()
	var next *testcluster.Broker
	waitWhy(t, 60*time.Second, "a new coordinator with the committed offsets", func() (bool, string) {
		next = groupCoordinator(t, c, group)
		if next.ID == coord.ID {
			return false, "still the killed broker"
		}
		resp, err := fetchOffsets(next.Addr(), group)
		if err != nil {
			return false, err.Error()
		}
		off := committed(t, resp)[topic]
		for p, end := range ends {
			if off[p] != end {
				t.Fatalf("coordinator %d after failover: partition %d committed %d, before the kill %d", next.ID, p, off[p], end)
			}
		}
		return true, ""
	})
	t.Logf("broker %d took over group %s %v after the kill", next.ID, group, time.Since(killed))
	// The loaded group comes back Stable with its member (the group record). The client may still rejoin on
	// its own (a heartbeat that failed against the dead broker ends its session in some clients), which passes
	// through a rebalance: wait for Stable rather than catching that moment.
	nextConn := groupDial(t, next.Addr(), "failover-check")
	waitWhy(t, 30*time.Second, "the loaded group to be Stable with its one member", func() (bool, string) {
		d := describeOne(t, nextConn, group)
		return d.State == "Stable" && len(d.Members) == 1, fmt.Sprintf("state %s, %d members", d.State, len(d.Members))
	})

	more := produceKeyed(t, c, topic, 300, kgo.AllISRAcks(), "after")
	cons.waitSeen(t, more)
	if _, g := cons.cl.GroupMetadata(); g != gen {
		// Not an error: the coordinator loads the member as it was, but the client decides whether to rejoin.
		t.Logf("the member moved from generation %d to %d across the failover (the client rejoined)", gen, g)
	}
	cons.close()
	cons.mu.Lock()
	for _, p := range sent {
		if n := cons.seen[p.partition][p.offset]; n != 1 {
			t.Errorf("record %d-%d committed before the kill was processed %d times", p.partition, p.offset, n)
		}
	}
	cons.mu.Unlock()

	// A member started now resumes after the last record.
	ends = endsOf(append(sent, more...))
	last := produceKeyed(t, c, topic, 60, kgo.AllISRAcks(), "last")
	again := startSyncConsumer(t, c, group, topic)
	again.waitSeen(t, last)
	again.close()
	again.mu.Lock()
	defer again.mu.Unlock()
	for p, offs := range again.seen {
		for o := range offs {
			if o < ends[p] {
				t.Errorf("the restarted member consumed %d-%d, below the committed %d", p, o, ends[p])
			}
		}
	}
}
