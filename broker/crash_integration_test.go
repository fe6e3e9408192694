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

// kill -9 in the middle of a produce stream, with flush.messages=1 so that
// every acknowledged batch was fsynced: after restart every acknowledged
// record is at its acknowledged offset, offsets have no holes (records whose
// acknowledgement was lost may be there, and retries may duplicate them), and
// appends continue where the log ends.
func TestIntegrationKill9MidStream(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{"log.segment.bytes": "32768"}})
	adm := c.Admin(t)
	const topic = "midstream"
	cfg := map[string]*string{"flush.messages": kadm.StringPtr("1")}
	if resp, err := adm.CreateTopic(context.Background(), 3, 1, cfg, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.WaitForLeaders(t, topic, 3)

	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(60*time.Second), kgo.ProducerLinger(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	var (
		mu    sync.Mutex
		acked []produced
		wg    sync.WaitGroup
		n     atomic.Int64
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
			r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%31)), Value: []byte(fmt.Sprintf("mid-%07d", i))}
			cl.Produce(ctx, r, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					mu.Lock()
					acked = append(acked, produced{string(r.Key), string(r.Value), r.Partition, r.Offset})
					mu.Unlock()
					n.Add(1)
				}
			})
			if i%200 == 199 {
				time.Sleep(time.Millisecond) // keep the stream steady rather than buffering everything
			}
		}
	}()
	testcluster.WaitFor(t, 30*time.Second, "3000 acknowledged records", func() bool { return n.Load() >= 3000 })
	c.Brokers[0].Kill()
	if err := c.Brokers[0].StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	before := n.Load()
	testcluster.WaitFor(t, 30*time.Second, "acknowledgements after the restart", func() bool { return n.Load() >= before+2000 })
	close(stop)
	wg.Wait()

	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	got := consumeTo(t, c, topic, want)
	for _, a := range acked {
		g, ok := got[a.partition][a.offset]
		if !ok || g != a {
			t.Fatalf("acknowledged %+v, read back %+v (present %v)", a, g, ok)
		}
	}
	for p, end := range want {
		for o := int64(0); o < end; o++ {
			if _, ok := got[p][o]; !ok {
				t.Fatalf("partition %d: offset %d missing below the log end %d", p, o, end)
			}
		}
	}
	t.Logf("%d records acknowledged across the kill, log ends %v", len(acked), want)
}

// consumeTo reads each partition from the start up to its end offset.
func consumeTo(t *testing.T, c *testcluster.Cluster, topic string, ends map[int32]int64) map[int32]map[int64]produced {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[int32]map[int64]produced{}
	done := func() bool {
		for p, end := range ends {
			if int64(len(got[p])) < end {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consuming to %v: %v", ends, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if got[r.Partition] == nil {
				got[r.Partition] = map[int64]produced{}
			}
			got[r.Partition][r.Offset] = produced{string(r.Key), string(r.Value), r.Partition, r.Offset}
		})
	}
	return got
}
