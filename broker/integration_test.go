package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

type produced struct {
	key, value string
	partition  int32
	offset     int64
}

// produceKeyed writes n keyed records with the given acks and returns them as acknowledged.
func produceKeyed(t *testing.T, c *testcluster.Cluster, topic string, n int, acks kgo.Acks, prefix string) []produced {
	t.Helper()
	opts := []kgo.Opt{kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(acks)}
	if acks != kgo.AllISRAcks() {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	cl := c.Client(t, opts...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out := make([]produced, n)
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		i := i
		r := &kgo.Record{Key: []byte(fmt.Sprintf("%s-key-%d", prefix, i%97)), Value: []byte(fmt.Sprintf("%s-value-%06d", prefix, i))}
		cl.Produce(ctx, r, func(r *kgo.Record, err error) {
			if err == nil {
				out[i] = produced{string(r.Key), string(r.Value), r.Partition, r.Offset}
			}
			errs <- err
		})
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	return out
}

// consumeAll reads every partition of the topic from the start until want records arrived.
func consumeAll(t *testing.T, c *testcluster.Cluster, topic string, want int) map[int32][]produced {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[int32][]produced{}
	n := 0
	for n < want {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", n, want, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			got[r.Partition] = append(got[r.Partition], produced{string(r.Key), string(r.Value), r.Partition, r.Offset})
			n++
		})
	}
	return got
}

func checkSame(t *testing.T, sent []produced, got map[int32][]produced) {
	t.Helper()
	byPartition := map[int32][]produced{}
	for _, p := range sent {
		byPartition[p.partition] = append(byPartition[p.partition], p)
	}
	total := 0
	for p, recs := range byPartition {
		// Acknowledged offsets per partition, in order, must be exactly what a consumer reads back.
		idx := map[int64]produced{}
		for _, r := range recs {
			idx[r.offset] = r
		}
		g := got[p]
		if len(g) != len(recs) {
			t.Fatalf("partition %d: consumed %d records, produced %d", p, len(g), len(recs))
		}
		for i, r := range g {
			want, ok := idx[r.offset]
			if !ok || want != r {
				t.Fatalf("partition %d record %d: got %+v, produced %+v", p, i, r, want)
			}
			if i > 0 && r.offset != g[i-1].offset+1 {
				t.Fatalf("partition %d: offsets not contiguous: %d after %d", p, r.offset, g[i-1].offset)
			}
		}
		total += len(g)
	}
	if total != len(sent) {
		t.Fatalf("consumed %d records, produced %d", total, len(sent))
	}
}

func TestIntegrationProduceConsumeRestart(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	adm := c.Admin(t)
	ctx := context.Background()
	const topic = "orders"
	resp, err := adm.CreateTopic(ctx, 3, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.WaitForLeaders(t, topic, 3)

	sent := produceKeyed(t, c, topic, 10000, kgo.LeaderAck(), "acks1")
	sent = append(sent, produceKeyed(t, c, topic, 10000, kgo.AllISRAcks(), "acksall")...)
	parts := map[int32]bool{}
	for _, p := range sent {
		parts[p.partition] = true
	}
	if len(parts) != 3 {
		t.Fatalf("keyed records landed in %d partitions, want 3", len(parts))
	}
	checkSame(t, sent, consumeAll(t, c, topic, len(sent)))

	if err := c.Brokers[0].Restart(); err != nil {
		t.Fatal(err)
	}
	c.WaitForLeaders(t, topic, 3)
	checkSame(t, sent, consumeAll(t, c, topic, len(sent)))

	// End offsets agree with what was acknowledged.
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != int64(len(sent)) {
		t.Fatalf("end offsets sum to %d, want %d", total, len(sent))
	}
}

// kill -9 skips the clean-shutdown path: the restarted broker recovers its logs and serves everything that was
// acknowledged (the page cache survives a process kill), then keeps appending at the right offsets.
func TestIntegrationKill9Recovery(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{"log.segment.bytes": "65536"}})
	adm := c.Admin(t)
	const topic = "crashy"
	if resp, err := adm.CreateTopic(context.Background(), 2, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.WaitForLeaders(t, topic, 2)
	sent := produceKeyed(t, c, topic, 5000, kgo.AllISRAcks(), "before")
	c.Brokers[0].Kill()
	if err := c.Brokers[0].StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	c.WaitForLeaders(t, topic, 2)
	checkSame(t, sent, consumeAll(t, c, topic, len(sent)))
	sent = append(sent, produceKeyed(t, c, topic, 1000, kgo.LeaderAck(), "after")...)
	checkSame(t, sent, consumeAll(t, c, topic, len(sent)))
}
