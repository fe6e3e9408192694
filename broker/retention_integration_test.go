package broker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// produceAt writes n records with the given CreateTime, one batch each (so
// that small segments roll between them), and returns their offsets.
func produceAt(t *testing.T, cl *kgo.Client, topic string, n int, ts time.Time, prefix string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var offs []int64
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Value: []byte(fmt.Sprintf("%s-%04d-%s", prefix, i, make([]byte, 200))), Timestamp: ts}
		res := cl.ProduceSync(ctx, r)
		if err := res.FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
		offs = append(offs, res[0].Record.Offset)
	}
	return offs
}

func startOffset(t *testing.T, adm *kadm.Client, topic string) int64 {
	t.Helper()
	offs, err := adm.ListStartOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	o, ok := offs.Lookup(topic, 0)
	if !ok || o.Err != nil {
		t.Fatalf("start offset of %s-0: %+v", topic, o)
	}
	return o.Offset
}

// Retention by time deletes the segments whose newest record is older than
// retention.ms; by size, the oldest segments beyond retention.bytes. A
// consumer from the earliest offset then starts at the new log start,
// ListOffsets agrees, a Fetch below it is OFFSET_OUT_OF_RANGE, and all of
// this holds across a restart.
func TestIntegrationRetention(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{
		"log.retention.check.interval.ms": "200",
		"log.segment.delete.delay.ms":     "100",
	}})
	adm := c.Admin(t)
	ctx := context.Background()
	timeCfg := map[string]*string{"segment.bytes": kadm.StringPtr("1024"), "retention.ms": kadm.StringPtr("3600000")}
	sizeCfg := map[string]*string{"segment.bytes": kadm.StringPtr("1024"), "retention.bytes": kadm.StringPtr("3000")}
	for topic, cfg := range map[string]map[string]*string{"by-time": timeCfg, "by-size": sizeCfg} {
		if resp, err := adm.CreateTopic(ctx, 1, 1, cfg, topic); err != nil || resp.Err != nil {
			t.Fatalf("create %s: %v %v", topic, err, resp.Err)
		}
	}
	c.WaitForLeaders(t, "by-time", 1)
	c.WaitForLeaders(t, "by-size", 1)
	cl := c.Client(t, kgo.DisableIdempotentWrite(), kgo.RequiredAcks(kgo.LeaderAck()),
		kgo.ProducerBatchCompression(kgo.NoCompression()))

	// Each ~300-byte batch fills a 1 KiB segment in three appends, so segments hold offsets [3k, 3k+3).
	old := produceAt(t, cl, "by-time", 9, time.Now().Add(-2*time.Hour), "old")
	fresh := produceAt(t, cl, "by-time", 4, time.Now(), "new")
	testcluster.WaitFor(t, 20*time.Second, "time retention to delete the old segments", func() bool {
		return startOffset(t, adm, "by-time") == fresh[0]
	})
	if fresh[0] != old[len(old)-1]+1 {
		t.Fatalf("offsets not contiguous: old %v new %v", old, fresh)
	}

	sizeOffs := produceAt(t, cl, "by-size", 15, time.Now(), "s")
	// 15 batches in 5 segments of ~900 bytes; retention.bytes=3000 keeps the newest segments that fit.
	var wantStart int64
	testcluster.WaitFor(t, 20*time.Second, "size retention", func() bool {
		wantStart = startOffset(t, adm, "by-size")
		return wantStart > 0
	})
	if wantStart%3 != 0 || wantStart < 3 || wantStart > 9 {
		t.Fatalf("by-size log start %d is not a segment boundary that leaves at most 3000 bytes", wantStart)
	}

	check := func(when string) {
		t.Helper()
		got := consumeFrom(t, c, "by-time", len(fresh))
		if got[0] != fresh[0] || len(got) != len(fresh) {
			t.Fatalf("%s: consumed offsets %v, want %v", when, got, fresh)
		}
		if got := startOffset(t, adm, "by-time"); got != fresh[0] {
			t.Fatalf("%s: start offset %d, want %d", when, got, fresh[0])
		}
		if got := startOffset(t, adm, "by-size"); got != wantStart {
			t.Fatalf("%s: by-size start offset %d, want %d", when, got, wantStart)
		}
		if code := fetchErrorAt(t, c, "by-time", old[0]); code != kerr.OffsetOutOfRange.Code {
			t.Fatalf("%s: fetch at %d below the log start: error %d, want OFFSET_OUT_OF_RANGE", when, old[0], code)
		}
		if n := len(sizeOffs); consumeFrom(t, c, "by-size", n-int(wantStart))[0] != wantStart {
			t.Fatalf("%s: by-size consumer did not start at %d", when, wantStart)
		}
	}
	check("before restart")
	c.Brokers[0].Restart()
	c.WaitForLeaders(t, "by-time", 1)
	check("after restart")
}

// consumeFrom reads n records of partition 0 from the earliest offset and returns their offsets.
func consumeFrom(t *testing.T, c *testcluster.Cluster, topic string, n int) []int64 {
	t.Helper()
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var offs []int64
	for len(offs) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v of %d: %v", offs, n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) { offs = append(offs, r.Offset) })
	}
	return offs
}

// fetchErrorAt sends one raw Fetch for partition 0 at offset and returns its error code.
func fetchErrorAt(t *testing.T, c *testcluster.Cluster, topic string, offset int64) int16 {
	t.Helper()
	cl := c.Client(t)
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MaxBytes, req.ReplicaID = 10, 1<<20, -1
	md, err := kadm.NewClient(cl).Metadata(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = topic, md.Topics[topic].ID // the client picks a version with topic ids
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}
