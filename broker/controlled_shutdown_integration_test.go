package broker_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

// A producer with retries writing to every partition with acks=all (min.insync.replicas=2 on an RF=3 topic) while
// a broker leading a third of them shuts down in a controlled way: no error reaches the application, records keep
// being acknowledged by the new leaders, and afterwards every acknowledged record is at its acknowledged offset.
func TestIntegrationControlledShutdownProducerSeesNoError(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"auto.leader.rebalance.enable":         "false",
		"controlled.shutdown.retry.backoff.ms": "500",
		"min.insync.replicas":                  "2",
	}})
	const topic = "no-errors"
	createAssigned(t, c, topic, rotated)
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	victim := otherThan(c, ctrl)

	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var (
		wg       sync.WaitGroup
		acked    atomic.Int64
		errMu    sync.Mutex
		firstErr error
		records  []produced // acknowledged, guarded by errMu
	)
	stop := make(chan struct{})
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("v%d", i))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = fmt.Errorf("partition %d: %w", r.Partition, err)
					}
					errMu.Unlock()
					return
				}
				errMu.Lock()
				records = append(records, produced{"", string(r.Value), r.Partition, r.Offset})
				errMu.Unlock()
				acked.Add(1)
			})
			if i%100 == 99 {
				time.Sleep(2 * time.Millisecond)
			}
		}
	}()
	testcluster.WaitFor(t, 30*time.Second, "a steady produce stream", func() bool { return acked.Load() > 2000 })
	if err := c.Broker(victim).Terminate(); err != nil {
		t.Fatal(err)
	}
	after := acked.Load()
	testcluster.WaitFor(t, 30*time.Second, "acknowledgements from the new leaders", func() bool { return acked.Load() > after+2000 })
	close(stop)
	wg.Wait()
	if firstErr != nil {
		t.Fatalf("an error reached the producer during the controlled shutdown of broker %d: %v", victim, firstErr)
	}

	// Nothing acknowledged is lost: each record is where its acknowledgement said.
	ends, err := c.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	got := consumeTo(t, c, topic, want)
	for _, r := range records {
		if g, ok := got[r.partition][r.offset]; !ok || g.value != r.value {
			t.Fatalf("acknowledged %q at %s-%d offset %d, read back %q (present %v)", r.value, topic, r.partition, r.offset, g.value, ok)
		}
	}
	t.Logf("%d records acknowledged with acks=all, none failed, all read back at their offsets (log ends %v)", acked.Load(), want)
}
