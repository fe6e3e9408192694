package broker_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// offsetsBase is the CreateTime of the records of TestIntegrationListOffsetsAndDeleteRecords; each record i gets
// offsetsBase + offsetsDeltas[i], one batch per record, so offset i carries exactly that timestamp.
const offsetsBase = int64(1_700_000_000_000)

var offsetsDeltas = []int64{1000, 2000, 3000, 4000, 9000, 5000, 6000, 7000}

func listOffsetsRaw(t *testing.T, cl *kgo.Client, topic string, parts ...kmsg.ListOffsetsRequestTopicPartition) []kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rt.Partitions = parts
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl.Broker(0))
	if err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != len(parts) {
		t.Fatalf("ListOffsets answered %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions
}

func listOffsetsPartition(ts int64, currentEpoch int32) kmsg.ListOffsetsRequestTopicPartition {
	p := kmsg.NewListOffsetsRequestTopicPartition()
	p.Timestamp, p.CurrentLeaderEpoch = ts, currentEpoch
	return p
}

func TestIntegrationListOffsetsAndDeleteRecords(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const topic = "times"
	if resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.WaitForLeaders(t, topic, 1)
	prod := c.Client(t, kgo.DefaultProduceTopic(topic))
	for i, d := range offsetsDeltas {
		r := &kgo.Record{Value: []byte{byte('a' + i)}, Timestamp: time.UnixMilli(offsetsBase + d)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
		if r.Offset != int64(i) {
			t.Fatalf("record %d got offset %d", i, r.Offset)
		}
	}
	cl := c.Client(t)

	t.Run("ListOffsets", func(t *testing.T) {
		one := func(o kadm.ListedOffsets, err error) kadm.ListedOffset {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
			lo, ok := o.Lookup(topic, 0)
			if !ok || lo.Err != nil {
				t.Fatalf("no answer for %s-0: %+v", topic, o)
			}
			return lo
		}
		if got := one(adm.ListStartOffsets(ctx, topic)); got.Offset != 0 {
			t.Errorf("start offset %d, want 0", got.Offset)
		}
		if got := one(adm.ListEndOffsets(ctx, topic)); got.Offset != int64(len(offsetsDeltas)) || got.LeaderEpoch != 0 {
			t.Errorf("end offset %d epoch %d, want %d epoch 0", got.Offset, got.LeaderEpoch, len(offsetsDeltas))
		}
		for _, tc := range []struct {
			after      int64
			offset, ts int64
		}{
			{0, 0, 1000}, {1000, 0, 1000}, {2500, 2, 3000}, {4000, 3, 4000}, {4001, 4, 9000}, {5500, 4, 9000}, {9000, 4, 9000},
		} {
			got := one(adm.ListOffsetsAfterMilli(ctx, offsetsBase+tc.after, topic))
			if got.Offset != tc.offset || got.Timestamp != offsetsBase+tc.ts {
				t.Errorf("after +%d: offset %d ts %d, want offset %d ts +%d", tc.after, got.Offset, got.Timestamp, tc.offset, tc.ts)
			}
		}
		// Past every record: the broker answers "none" (kadm would substitute the end offset).
		var parts []kmsg.ListOffsetsResponseTopicPartition
		for _, p := range []kmsg.ListOffsetsRequestTopicPartition{
			listOffsetsPartition(offsetsBase+9001, -1), listOffsetsPartition(-3, -1), listOffsetsPartition(-2, 5),
		} {
			parts = append(parts, listOffsetsRaw(t, cl, topic, p)...)
		}
		if p := parts[0]; p.ErrorCode != 0 || p.Offset != -1 || p.Timestamp != -1 {
			t.Errorf("after the last timestamp: %+v, want offset -1 timestamp -1", p)
		}
		if p := parts[1]; p.ErrorCode != 0 || p.Offset != 4 || p.Timestamp != offsetsBase+9000 || p.LeaderEpoch != 0 {
			t.Errorf("max timestamp: %+v, want offset 4 timestamp +9000 epoch 0", p)
		}
		if p := parts[2]; p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
			t.Errorf("current leader epoch 5: error %d, want UNKNOWN_LEADER_EPOCH", p.ErrorCode)
		}
		// A partition named twice: both answers are INVALID_REQUEST.
		dup := listOffsetsRaw(t, cl, topic, listOffsetsPartition(-1, -1), listOffsetsPartition(-2, -1))
		for _, p := range dup {
			if p.ErrorCode != kerr.InvalidRequest.Code || p.Offset != -1 {
				t.Errorf("duplicate partition: %+v, want INVALID_REQUEST", p)
			}
		}
	})

	deleteTo := func(t *testing.T, offset int64) kadm.DeleteRecordsResponse {
		t.Helper()
		o := kadm.Offsets{}
		o.AddOffset(topic, 0, offset, -1)
		resps, err := adm.DeleteRecords(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		r, ok := resps.Lookup(topic, 0)
		if !ok {
			t.Fatalf("no DeleteRecords answer for %s-0", topic)
		}
		return r
	}
	startOffset := func(t *testing.T) int64 {
		t.Helper()
		o, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		lo, _ := o.Lookup(topic, 0)
		return lo.Offset
	}

	t.Run("DeleteRecords", func(t *testing.T) {
		if r := deleteTo(t, 3); r.Err != nil || r.LowWatermark != 3 {
			t.Fatalf("delete to 3: low watermark %d err %v", r.LowWatermark, r.Err)
		}
		if got := startOffset(t); got != 3 {
			t.Fatalf("start offset after delete: %d, want 3", got)
		}
		// Deleting below the start is a no-op that answers the current start.
		if r := deleteTo(t, 1); r.Err != nil || r.LowWatermark != 3 {
			t.Fatalf("delete to 1: low watermark %d err %v, want 3", r.LowWatermark, r.Err)
		}
		if r := deleteTo(t, 100); !errors.Is(r.Err, kerr.OffsetOutOfRange) {
			t.Fatalf("delete past the high watermark: %v, want OFFSET_OUT_OF_RANGE", r.Err)
		}

		// A consumer from the earliest offset starts at the new log start.
		cons := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		fs := cons.PollRecords(ctx, 1)
		if err := fs.Err0(); err != nil {
			t.Fatal(err)
		}
		if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 3 || recs[0].Timestamp.UnixMilli() != offsetsBase+4000 {
			t.Fatalf("first consumed record: %+v, want offset 3", recs)
		}

		// A fetch below the log start is out of range.
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		freq := kmsg.NewPtrFetchRequest()
		freq.ReplicaID, freq.MaxWaitMillis, freq.MinBytes, freq.MaxBytes, freq.SessionEpoch = -1, 0, 1, 1<<20, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = topic, md.Topics[topic].ID
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = 1, 1<<20, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		freq.Topics = append(freq.Topics, ft)
		fresp, err := freq.RequestWith(ctx, cl.Broker(0))
		if err != nil {
			t.Fatal(err)
		}
		if len(fresp.Topics) != 1 || len(fresp.Topics[0].Partitions) != 1 {
			t.Fatalf("fetch answered %+v", fresp)
		}
		if p := fresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.OffsetOutOfRange.Code || p.LogStartOffset != 3 {
			t.Fatalf("fetch below the log start: error %d log start %d, want OFFSET_OUT_OF_RANGE and 3", p.ErrorCode, p.LogStartOffset)
		}

		// Unknown topics and internal topics are refused per partition.
		dreq := kmsg.NewPtrDeleteRecordsRequest()
		dreq.TimeoutMillis = 10000
		for _, name := range []string{"no-such-topic"} {
			dt := kmsg.NewDeleteRecordsRequestTopic()
			dt.Topic = name
			dp := kmsg.NewDeleteRecordsRequestTopicPartition()
			dp.Offset = 0
			dt.Partitions = append(dt.Partitions, dp)
			dreq.Topics = append(dreq.Topics, dt)
		}
		dresp, err := dreq.RequestWith(ctx, cl.Broker(0))
		if err != nil {
			t.Fatal(err)
		}
		if p := dresp.Topics[0].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code || p.LowWatermark != -1 {
			t.Fatalf("unknown topic: %+v, want UNKNOWN_TOPIC_OR_PARTITION", p)
		}
	})

	t.Run("LogStartSurvivesRestart", func(t *testing.T) {
		if err := c.Brokers[0].Restart(); err != nil {
			t.Fatal(err)
		}
		c.WaitForLeaders(t, topic, 1)
		testcluster.WaitFor(t, 30*time.Second, "start offset after restart", func() bool { return startOffset(t) == 3 })
		// -1 means "up to the high watermark": everything goes.
		if r := deleteTo(t, -1); r.Err != nil || r.LowWatermark != int64(len(offsetsDeltas)) {
			t.Fatalf("delete to the high watermark: low watermark %d err %v", r.LowWatermark, r.Err)
		}
		if got := startOffset(t); got != int64(len(offsetsDeltas)) {
			t.Fatalf("start offset %d, want %d", got, len(offsetsDeltas))
		}
	})
}
