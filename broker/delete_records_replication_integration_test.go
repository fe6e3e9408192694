package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// DeleteRecords on a replicated partition answers only once every live replica's log start has moved (Kafka's
// DelayedDeleteRecords): with all followers fetching the low watermark is the new log start; with one follower
// frozen (still registered, so still counted) the request times out.
func TestIntegrationDeleteRecordsWaitsForFollowers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(map[string]string{
		"zookeeper.session.timeout.ms": "30000",
		"replica.fetch.wait.max.ms":    "100",
	})})
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	f1, f2 := otherThan(c, ctrl), otherThan(c, ctrl, otherThan(c, ctrl))
	const topic = "delrep"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {ctrl, f1, f2}}, nil)
	produceOK(t, c, topic, -1, values("r", 20)...)

	cl := c.Client(t, kgo.SeedBrokers(c.Broker(ctrl).Addr()))
	leader := cl.SeedBrokers()[0] // the leader only: a frozen broker must not be asked anything
	deleteTo := func(offset int64, timeout time.Duration) (int16, int64, time.Duration) {
		req := kmsg.NewPtrDeleteRecordsRequest()
		req.TimeoutMillis = int32(timeout.Milliseconds())
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewDeleteRecordsRequestTopicPartition()
		rp.Partition, rp.Offset = 0, offset
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), timeout+30*time.Second)
		defer cancel()
		start := time.Now()
		resp, err := req.RequestWith(ctx, leader)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, p.LowWatermark, time.Since(start)
	}
	if code, low, took := deleteTo(5, 10*time.Second); code != 0 || low != 5 {
		t.Fatalf("DeleteRecords to 5: %v low watermark %d after %v, want 5 (every follower's log start at 5)", kerr.ErrorForCode(code), low, took)
	}

	if err := c.Broker(f2).Pause(); err != nil {
		t.Fatal(err)
	}
	resumeOnExit(t, c.Broker(f2))
	code, low, took := deleteTo(8, 1500*time.Millisecond)
	if code != kerr.RequestTimedOut.Code || took < 1400*time.Millisecond {
		t.Fatalf("DeleteRecords to 8 with follower %d frozen: %v low watermark %d after %v, want REQUEST_TIMED_OUT after 1.5 s",
			f2, kerr.ErrorForCode(code), low, took)
	}
	if err := c.Broker(f2).Resume(); err != nil {
		t.Fatal(err)
	}
	if code, low, _ := deleteTo(10, 10*time.Second); code != 0 || low != 10 {
		t.Fatalf("DeleteRecords to 10 after follower %d resumed: %v low watermark %d, want 10", f2, kerr.ErrorForCode(code), low)
	}
}
