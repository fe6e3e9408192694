package broker_test

import (
	"context"
	"fmt"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// Wiring of idempotence and transactions through one real broker: the produce path's producer-state checks, the
// transaction coordinator's APIs with kgo's transactional producer, markers, the LSO in ListOffsets and Fetch.

var wiringCRC = crc32.MakeTable(crc32.Castagnoli)

// wiringBatch is a magic-2 batch of n records "v0".."v<n-1>" from a producer.
func wiringBatch(pid int64, epoch int16, baseSeq int32, n int, transactional bool) []byte {
	var body []byte
	for i := range n {
		r := kmsg.NewRecord()
		r.OffsetDelta = int32(i)
		r.Value = []byte(fmt.Sprintf("v%d", i))
		r.Length = int32(len(r.AppendTo(nil)) - 1)
		body = r.AppendTo(body)
	}
	b := kmsg.NewRecordBatch()
	b.PartitionLeaderEpoch = -1
	b.Magic = 2
	if transactional {
		b.Attributes = 0x10
	}
	b.LastOffsetDelta = int32(n - 1)
	now := time.Now().UnixMilli()
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = pid, epoch, baseSeq
	b.NumRecords = int32(n)
	b.Records = body
	b.Length = int32(49 + len(body))
	out := b.AppendTo(nil)
	crc := crc32.Checksum(out[21:], wiringCRC)
	out[17], out[18], out[19], out[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return out
}

func wiringProduce(t *testing.T, cl *kgo.Client, topic string, batch []byte, txnID *string) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis, req.TransactionID = -1, 10000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0]
}

// wiringLatest is ListOffsets LATEST for partition 0 at an isolation level.
func wiringLatest(t *testing.T, cl *kgo.Client, topic string, isolation int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("ListOffsets: %v", err)
	}
	return p.Offset
}

func TestIntegrationTxnWiringIdempotentProduce(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{})
	const topic = "idem"
	createTopic(t, c, topic, 1)

	// kgo's default producer is idempotent: every record lands once, in order.
	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 50 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprint(i))}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	if end := wiringLatest(t, cl, topic, 0); end != 50 {
		t.Fatalf("log end %d after 50 idempotent records", end)
	}

	// A retried batch (same producer, epoch and sequences) is not appended again: the original offset comes back.
	init := kmsg.NewPtrInitProducerIDRequest()
	ir, err := init.RequestWith(ctx, cl)
	if err != nil || ir.ErrorCode != 0 || ir.ProducerID < 0 {
		t.Fatalf("InitProducerId: %+v %v", ir, err)
	}
	first := wiringProduce(t, cl, topic, wiringBatch(ir.ProducerID, ir.ProducerEpoch, 0, 3, false), nil)
	if first.ErrorCode != 0 || first.BaseOffset != 50 {
		t.Fatalf("first batch: code %d base %d", first.ErrorCode, first.BaseOffset)
	}
	dup := wiringProduce(t, cl, topic, wiringBatch(ir.ProducerID, ir.ProducerEpoch, 0, 3, false), nil)
	if dup.ErrorCode != 0 || dup.BaseOffset != 50 {
		t.Fatalf("duplicate: code %d base %d, want success at 50", dup.ErrorCode, dup.BaseOffset)
	}
	if end := wiringLatest(t, cl, topic, 0); end != 53 {
		t.Fatalf("log end %d after a duplicate, want 53", end)
	}
	tests := []struct {
		name string
		seq  int32
		txn  bool
		want int16
	}{
		{"sequence gap", 10, false, kerr.OutOfOrderSequenceNumber.Code},
		{"transactional batch without transactional id", 3, true, kerr.TransactionalIDAuthorizationFailed.Code},
		{"next in sequence", 3, false, 0},
	}
	for _, tt := range tests {
		got := wiringProduce(t, cl, topic, wiringBatch(ir.ProducerID, ir.ProducerEpoch, tt.seq, 1, tt.txn), nil)
		if got.ErrorCode != tt.want {
			t.Errorf("%s: code %d, want %d", tt.name, got.ErrorCode, tt.want)
		}
	}

	// DescribeProducers lists the raw producer with its last sequence (3); an unknown topic is an error.
	dp := kmsg.NewPtrDescribeProducersRequest()
	for _, name := range []string{topic, "no-such-topic"} {
		rt := kmsg.NewDescribeProducersRequestTopic()
		rt.Topic, rt.Partitions = name, []int32{0}
		dp.Topics = append(dp.Topics, rt)
	}
	// Straight to the broker: kgo would shard the request by partition leader and fail the unknown topic itself.
	r, err := cl.Broker(0).Request(ctx, dp)
	if err != nil {
		t.Fatal(err)
	}
	dr := r.(*kmsg.DescribeProducersResponse)
	if p := dr.Topics[1].Partitions[0]; p.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: code %d", p.ErrorCode)
	}
	p := dr.Topics[0].Partitions[0]
	found := false
	for _, ap := range p.ActiveProducers {
		if ap.ProducerID == ir.ProducerID {
			found = ap.LastSequence == 3 && ap.CurrentTxnStartOffset == -1
		}
	}
	if p.ErrorCode != 0 || !found {
		t.Fatalf("DescribeProducers: code %d producers %+v, want producer %d at sequence 3", p.ErrorCode, p.ActiveProducers, ir.ProducerID)
	}
}

func TestIntegrationTxnWiringTransactions(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Overrides: map[string]string{
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"transaction.state.log.num.partitions":     "3",
	}})
	const topic = "txn"
	createTopic(t, c, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	prod := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.TransactionalID("wiring-txn"),
		kgo.TransactionTimeout(60*time.Second))
	txn := func(prefix string, n int, end kgo.TransactionEndTry) {
		t.Helper()
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", prefix, i))}).FirstErr(); err != nil {
				t.Fatalf("%s: produce: %v", prefix, err)
			}
		}
		if err := prod.EndTransaction(ctx, end); err != nil {
			t.Fatalf("%s: end: %v", prefix, err)
		}
	}
	txn("committed", 5, kgo.TryCommit) // offsets 0-4, marker 5
	txn("aborted", 4, kgo.TryAbort)    // offsets 6-9, marker 10

	// An open transaction holds the LSO at its first offset (11) while the HW moves past it.
	if err := prod.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(fmt.Sprintf("open-%d", i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	admin := c.Client(t)
	if hw, lso := wiringLatest(t, admin, topic, 0), wiringLatest(t, admin, topic, 1); hw != 14 || lso != 11 {
		t.Fatalf("open transaction: read_uncommitted latest %d (want 14), read_committed latest %d (want 11)", hw, lso)
	}
	// The coordinator's view of the open transaction, through ListTransactions and DescribeTransactions.
	lt, err := kmsg.NewPtrListTransactionsRequest().RequestWith(ctx, admin)
	if err != nil || lt.ErrorCode != 0 || len(lt.TransactionStates) != 1 ||
		lt.TransactionStates[0].TransactionalID != "wiring-txn" || lt.TransactionStates[0].TransactionState != "Ongoing" {
		t.Fatalf("ListTransactions: %+v %v", lt, err)
	}
	dt := kmsg.NewPtrDescribeTransactionsRequest()
	dt.TransactionalIDs = []string{"wiring-txn"}
	if resp, err := dt.RequestWith(ctx, admin); err != nil || len(resp.TransactionStates) != 1 ||
		resp.TransactionStates[0].ErrorCode != 0 || len(resp.TransactionStates[0].Topics) != 1 {
		t.Fatalf("DescribeTransactions: %+v %v", resp, err)
	}
	if err := prod.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	// The marker is written after EndTxn is answered: the LSO reaches the log end once it is.
	testcluster.WaitFor(t, 30*time.Second, "the LSO to pass the last marker", func() bool {
		return wiringLatest(t, admin, topic, 1) == 15
	})

	// A raw read_committed fetch reports the aborted transaction and the LSO.
	fetch := kmsg.NewPtrFetchRequest()
	fetch.Version, fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MaxBytes, fetch.IsolationLevel = 11, -1, 100, 1<<20, 1
	// kgo sends the highest version both sides support (topic ids from v13): name the topic both ways.
	md, err := c.Admin(t).Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = topic, md.Topics[topic].ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	fr, err := fetch.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	rp := fr.Topics[0].Partitions[0]
	if rp.ErrorCode != 0 || rp.LastStableOffset != 15 || rp.HighWatermark != 15 {
		t.Fatalf("fetch: code %d LSO %d HW %d", rp.ErrorCode, rp.LastStableOffset, rp.HighWatermark)
	}
	foundAbort := false
	for _, a := range rp.AbortedTransactions {
		if a.FirstOffset == 6 {
			foundAbort = true
		}
	}
	if !foundAbort {
		t.Fatalf("aborted transactions %+v, want one starting at offset 6", rp.AbortedTransactions)
	}

	// Stock consumers: read_committed hides the aborted records (and all markers), read_uncommitted does not.
	consume := func(level kgo.IsolationLevel, want int) []string {
		cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(level))
		var got []string
		for len(got) < want {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %v, want %d records", got, want)
			}
			fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
			fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
		}
		return got
	}
	committed := consume(kgo.ReadCommitted(), 8)
	want := []string{"committed-0", "committed-1", "committed-2", "committed-3", "committed-4", "open-0", "open-1", "open-2"}
	if fmt.Sprint(committed) != fmt.Sprint(want) {
		t.Fatalf("read_committed got %v, want %v", committed, want)
	}
	if all := consume(kgo.ReadUncommitted(), 12); len(all) != 12 || all[5] != "aborted-0" {
		t.Fatalf("read_uncommitted got %v", all)
	}
}

// Transactional offsets: AddOffsetsToTxn, TxnOffsetCommit, then the COMMIT marker on __consumer_offsets makes
// the group coordinator expose the offset (OnTxnCompleted); before the marker OffsetFetch does not see it.
func TestIntegrationTxnWiringOffsets(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Overrides: map[string]string{
		"transaction.state.log.replication.factor": "1",
		"transaction.state.log.min.isr":            "1",
		"transaction.state.log.num.partitions":     "2",
		"offsets.topic.num.partitions":             "2",
	}})
	const topic, group, txnID = "txn-offsets", "wiring-group", "wiring-offsets"
	createTopic(t, c, topic, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl := c.Client(t)

	var pid int64
	var epoch int16
	testcluster.WaitFor(t, 30*time.Second, "InitProducerId", func() bool {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.TransactionTimeoutMillis = kmsg.StringPtr(txnID), 60000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			return false
		}
		pid, epoch = resp.ProducerID, resp.ProducerEpoch
		return true
	})
	add := kmsg.NewPtrAddOffsetsToTxnRequest()
	add.TransactionalID, add.ProducerID, add.ProducerEpoch, add.Group = txnID, pid, epoch, group
	if resp, err := add.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("AddOffsetsToTxn: %+v %v", resp, err)
	}
	var commitCode int16 = -1
	testcluster.WaitFor(t, 30*time.Second, "TxnOffsetCommit", func() bool {
		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, pid, epoch
		req.Generation = -1
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = 0, 42, -1
		unknown := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		unknown.Partition, unknown.Offset, unknown.LeaderEpoch = 7, 1, -1
		rt.Partitions = append(rt.Partitions, rp, unknown)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil || len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 2 {
			return false
		}
		codes := map[int32]int16{}
		for _, p := range resp.Topics[0].Partitions {
			codes[p.Partition] = p.ErrorCode
		}
		if codes[7] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("partition 7 of a 1-partition topic: code %d", codes[7])
		}
		commitCode = codes[0]
		return codes[0] != kerr.CoordinatorLoadInProgress.Code && codes[0] != kerr.CoordinatorNotAvailable.Code
	})
	if commitCode != 0 {
		t.Fatalf("TxnOffsetCommit: code %d", commitCode)
	}
	fetched := func() int64 {
		resp, err := c.Admin(t).FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := resp.Lookup(topic, 0); ok && o.Err == nil {
			return o.At
		}
		return -1
	}
	if got := fetched(); got != -1 {
		t.Fatalf("offset %d visible before the transaction committed", got)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = txnID, pid, epoch, true
	if resp, err := end.RequestWith(ctx, cl); err != nil || resp.ErrorCode != 0 {
		t.Fatalf("EndTxn: %+v %v", resp, err)
	}
	testcluster.WaitFor(t, 30*time.Second, "the committed offset after the marker", func() bool { return fetched() == 42 })
}
