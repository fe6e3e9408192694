package broker_test

// Consumer groups driven by two more stock clients, each with its own idea of request versions and of the group
// protocol: IBM's sarama (ConsumerGroup) and segmentio's kafka-go (Reader with a GroupID). Each one joins, consumes,
// commits and leaves; a new instance of the same group then resumes from the committed offsets, not from the
// beginning of the topic.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/segmentio/kafka-go"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// offsetSet is what one client instance consumed: partition → offset → times.
type offsetSet struct {
	mu   sync.Mutex
	seen map[int32]map[int64]int
}

func (s *offsetSet) add(p int32, o int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen == nil {
		s.seen = map[int32]map[int64]int{}
	}
	if s.seen[p] == nil {
		s.seen[p] = map[int64]int{}
	}
	s.seen[p][o]++
}

// covers reports whether every record in sent was consumed, and how many are missing.
func (s *offsetSet) covers(sent []produced) (bool, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	missing := 0
	for _, p := range sent {
		if s.seen[p.partition][p.offset] == 0 {
			missing++
		}
	}
	return missing == 0, fmt.Sprintf("%d of %d missing", missing, len(sent))
}

// below lists consumed offsets under from (partition → first offset a resumed instance may read).
func (s *offsetSet) below(from map[int32]int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for p, offs := range s.seen {
		for o := range offs {
			if o < from[p] {
				out = append(out, fmt.Sprintf("%d-%d", p, o))
			}
		}
	}
	return out
}

// groupClient runs one instance of a stock client's group consumer until stop, recording into s.
type groupClient func(t *testing.T, c *testcluster.Cluster, group, topic string, s *offsetSet, stop <-chan struct{})

func TestIntegrationGroupStockClients(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: groupOverrides(nil)})
	for _, tc := range []struct {
		name string
		run  groupClient
	}{
		{"sarama", runSarama},
		{"kafka-go", runKafkaGo},
	} {
		t.Run(tc.name, func(t *testing.T) { testStockClientResumes(t, c, tc.name, tc.run) })
	}
}

// testStockClientResumes: an instance consumes everything and commits; a second instance of the group, started
// after more records arrived, consumes exactly those.
func testStockClientResumes(t *testing.T, c *testcluster.Cluster, name string, run groupClient) {
	topic, group := "stock-"+name, "group-"+name
	createTopic(t, c, topic, 4)
	// The clients' own retry budgets for COORDINATOR_NOT_AVAILABLE are short; have the offsets topic and the
	// group's partition ready first.
	coord := groupCoordinator(t, c, group)
	sent := produceKeyed(t, c, topic, 400, kgo.AllISRAcks(), name)

	instance := func(want []produced) *offsetSet {
		s := &offsetSet{}
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() { defer close(done); run(t, c, group, topic, s, stop) }()
		waitWhy(t, 60*time.Second, name+" to consume", func() (bool, string) { return s.covers(want) })
		close(stop)
		<-done
		return s
	}
	instance(sent)
	ends := endsOf(sent)
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, groupDial(t, coord.Addr(), "stock-check"), offsetFetchReq(group, nil)))[topic]
	for p, end := range ends {
		if off[p] != end {
			t.Errorf("%s committed %d for partition %d, end offset %d", name, off[p], p, end)
		}
	}

	more := produceKeyed(t, c, topic, 200, kgo.AllISRAcks(), name+"-more")
	s := instance(more)
	if bad := s.below(ends); len(bad) > 0 {
		t.Errorf("the second %s instance consumed %d records below the committed offsets (e.g. %v): it did not resume", name, len(bad), bad[:min(5, len(bad))])
	}
}

type saramaHandler struct {
	s *offsetSet
}

func (h saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }
func (h saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	for {
		select {
		case msg, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.s.add(msg.Partition, msg.Offset)
			sess.MarkMessage(msg, "")
			// Commit at the end of each fetched batch: sarama sends commits on the connection its fetches
			// long-poll on, so a commit per message would wait out a fetch wait each time.
			if len(claim.Messages()) == 0 {
				sess.Commit()
			}
		case <-sess.Context().Done():
			return nil
		}
	}
}

// runSarama is a sarama ConsumerGroup speaking Kafka 3.7's versions, committing synchronously after each batch.
func runSarama(t *testing.T, c *testcluster.Cluster, group, topic string, s *offsetSet, stop <-chan struct{}) {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_7_0_0
	cfg.ClientID = "sarama-test"
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = 500 * time.Millisecond
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	cfg.Consumer.Return.Errors = true
	cfg.Consumer.MaxWaitTime = 100 * time.Millisecond
	cg, err := sarama.NewConsumerGroup(c.Bootstrap(), group, cfg)
	if err != nil {
		t.Errorf("sarama: %v", err)
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for err := range cg.Errors() {
			t.Errorf("sarama group error: %v", err)
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if err := cg.Consume(ctx, []string{topic}, saramaHandler{s}); err != nil && ctx.Err() == nil {
				t.Errorf("sarama Consume: %v", err)
				return
			}
		}
	}()
	<-stop
	cancel()
	<-done
	if err := cg.Close(); err != nil {
		t.Errorf("sarama Close: %v", err)
	}
}

// runKafkaGo is a kafka-go Reader in a group, committing each message synchronously (CommitInterval 0).
func runKafkaGo(t *testing.T, c *testcluster.Cluster, group, topic string, s *offsetSet, stop <-chan struct{}) {
	r := kafka.NewReader(kafka.ReaderConfig{
		Brokers: c.Bootstrap(), GroupID: group, Topic: topic,
		StartOffset: kafka.FirstOffset, CommitInterval: 0,
		HeartbeatInterval: 500 * time.Millisecond, SessionTimeout: 6 * time.Second, RebalanceTimeout: 10 * time.Second,
		MaxWait: 250 * time.Millisecond, MinBytes: 1, MaxBytes: 1 << 20,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			m, err := r.FetchMessage(ctx)
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					t.Errorf("kafka-go FetchMessage: %v", err)
				}
				return
			}
			s.add(int32(m.Partition), m.Offset)
			if err := r.CommitMessages(ctx, m); err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("kafka-go CommitMessages: %v", err)
				return
			}
		}
	}()
	<-stop
	cancel()
	<-done
	if err := r.Close(); err != nil {
		t.Errorf("kafka-go Close: %v", err)
	}
}
