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

// __consumer_offsets is compacted: a group committing the same partitions over and over leaves, after the log
// cleaner ran, only about one offset record per partition in the cleaned segments, and a broker restarted on
// the cleaned log loads exactly the last committed offsets.
func TestIntegrationGroupOffsetsCompacted(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: groupOverrides(map[string]string{
		"offsets.topic.num.partitions": "1",
		"offsets.topic.segment.bytes":  "4096", // many small segments: only sealed ones are cleaned
		"log.cleaner.backoff.ms":       "100",
	})})
	const topic, group, parts, rounds = "compacted-commits", "compacted-group", 3, 300
	createReplicated(t, c, topic, parts, 1, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Broker(0).Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for r := 1; r <= rounds; r++ {
		offs := kadm.Offsets{}
		for p := int32(0); p < parts; p++ {
			offs.Add(kadm.Offset{Topic: topic, Partition: p, At: int64(r*10) + int64(p), LeaderEpoch: -1})
		}
		resp, err := adm.CommitOffsets(ctx, group, offs)
		if err == nil {
			err = resp.Error()
		}
		if err != nil {
			t.Fatalf("commit round %d: %v", r, err)
		}
	}
	want := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		want[p] = int64(rounds*10) + int64(p)
	}

	// Every commit was one batch: 300 of them before cleaning. Afterwards the sealed segments keep only the last
	// record per key; the active segment is never cleaned, so a few rounds may remain there.
	dir := c.Broker(0).PartitionDir("__consumer_offsets", 0)
	waitWhy(t, 60*time.Second, "the log cleaner to compact __consumer_offsets-0", func() (bool, string) {
		batches, err := testcluster.ReadBatches(dir)
		if err != nil {
			return false, err.Error()
		}
		return len(batches) < rounds/4, fmt.Sprintf("%d batches on disk", len(batches))
	})

	if err := c.Broker(0).Restart(); err != nil {
		t.Fatal(err)
	}
	c.WaitForBrokers(t, 1)
	waitWhy(t, 60*time.Second, "the restarted coordinator to load the compacted offsets", func() (bool, string) {
		resp, err := fetchOffsets(c.Broker(0).Addr(), group)
		if err != nil {
			return false, err.Error()
		}
		if resp.ErrorCode != 0 {
			return false, fmt.Sprintf("error code %d", resp.ErrorCode)
		}
		got := map[int32]int64{}
		for _, rt := range resp.Topics {
			for _, p := range rt.Partitions {
				if rt.Topic == topic && p.ErrorCode == 0 {
					got[p.Partition] = p.Offset
				}
			}
		}
		for p, w := range want {
			if got[p] != w {
				return false, fmt.Sprintf("partition %d: committed %d, want %d (all: %v)", p, got[p], w, got)
			}
		}
		return true, ""
	})
}
