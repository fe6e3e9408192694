package broker_test

// Bad input against a real broker process: malformed frames must close only their own connection, and invalid
// requests must get Kafka 3.7's error codes without storing anything or hurting the broker.

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

// rawRequest sends one request at the version set on req over a fresh connection, bypassing kgo (which would
// rewrite a Produce's acks and negotiate versions).
func rawRequest(t *testing.T, addr string, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := network.Dial(ctx, addr, "badinput-test")
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	resp, err := cl.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed writes raw bytes on a new connection (half-closing it when halfClose is set) and asserts the
// broker closes the connection within a few seconds without answering.
func expectClosed(t *testing.T, addr string, payload []byte, halfClose bool) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if _, err := nc.Write(payload); err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("write: %v", err)
	}
	if halfClose {
		if err := nc.(*net.TCPConn).CloseWrite(); err != nil {
			t.Fatalf("half-close: %v", err)
		}
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(nc)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("broker kept the connection open for 5s after a bad frame (read %d bytes)", len(got))
	case err != nil && !errors.Is(err, syscall.ECONNRESET):
		t.Fatalf("read: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("broker answered a bad frame with %d bytes (%x) instead of closing", len(got), got)
	}
}

// healthy produces one record to a one-partition topic with a stock client and reads it back at its offset.
func healthy(t *testing.T, c *testcluster.Cluster, topic, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pcl := c.Client(t, kgo.DefaultProduceTopic(topic))
	r, err := pcl.ProduceSync(ctx, &kgo.Record{Value: []byte(value)}).First()
	if err != nil {
		t.Fatalf("produce after bad input: %v", err)
	}
	ccl := c.Client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {r.Partition: kgo.NewOffset().At(r.Offset)}}))
	for {
		fs := ccl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume after bad input: %v", err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		var got []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) { got = append(got, r) })
		if len(got) > 0 {
			if got[0].Offset != r.Offset || string(got[0].Value) != value {
				t.Fatalf("read back offset %d %q, produced offset %d %q", got[0].Offset, got[0].Value, r.Offset, value)
			}
			return
		}
	}
}

// recordBatch encodes an uncompressed magic-2 batch of the values, as a non-idempotent producer sends it.
func recordBatch(values ...string) []byte {
	now := time.Now().UnixMilli()
	var recs []byte
	for i, v := range values {
		r := kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)}
		body := r.AppendTo(nil) // with Length 0, a one-byte varint
		r.Length = int32(len(body) - 1)
		recs = r.AppendTo(recs)
	}
	b := kmsg.NewRecordBatch()
	b.PartitionLeaderEpoch = -1
	b.Magic = 2
	b.LastOffsetDelta = int32(len(values) - 1)
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.NumRecords = int32(len(values))
	b.Records = recs
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12)) // Length: everything after itself
	// CRC-32C covers attributes through the end of the batch.
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

func produceRequest(topic string, acks int16, batch []byte) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = acks
	req.TimeoutMillis = 10000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Records = batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// produceCode returns the single partition's error code and base offset.
func produceCode(t *testing.T, addr string, req *kmsg.ProduceRequest) (int16, int64) {
	t.Helper()
	resp := rawRequest(t, addr, req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response has %d topics, want 1 with 1 partition: %+v", len(resp.Topics), resp)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

func checkCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	var wantCode int16
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Errorf("%s: error %d (%v), want %d (%v)", what, got, kerr.ErrorForCode(got), wantCode, want)
	}
}

func createTopic(t *testing.T, c *testcluster.Cluster, topic string, partitions int32) {
	t.Helper()
	resp, err := c.Admin(t).CreateTopic(context.Background(), partitions, 1, nil, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	c.WaitForLeaders(t, topic, int(partitions))
}

func metadataFor(topic string, autoCreate bool) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	req.AllowAutoTopicCreation = autoCreate
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	return req
}

// topicMeta returns the topic's entry of a Metadata v12 answer.
func topicMeta(t *testing.T, addr, topic string, autoCreate bool) kmsg.MetadataResponseTopic {
	t.Helper()
	resp := rawRequest(t, addr, metadataFor(topic, autoCreate)).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || resp.Topics[0].Topic == nil || *resp.Topics[0].Topic != topic {
		t.Fatalf("metadata for %s answered %+v", topic, resp.Topics)
	}
	return resp.Topics[0]
}

// topicListed reports whether a metadata request for all topics names the topic.
func topicListed(t *testing.T, addr, topic string) bool {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12) // nil Topics = all topics
	for _, rt := range rawRequest(t, addr, req).(*kmsg.MetadataResponse).Topics {
		if rt.Topic != nil && *rt.Topic == topic {
			return true
		}
	}
	return false
}

func TestIntegrationBadInput(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{
		"socket.request.max.bytes":  "1048576",
		"auto.create.topics.enable": "false",
	}})
	b := c.Brokers[0]
	addr := b.Addr()
	const health = "health"
	createTopic(t, c, health, 1)
	healthy(t, c, health, "before")

	t.Run("MalformedFrames", func(t *testing.T) {
		rng := rand.New(rand.NewSource(1))
		garbage := make([]byte, 16)
		binary.BigEndian.PutUint32(garbage, 12)
		rng.Read(garbage[4:])
		garbage[4], garbage[5] = 0x7f, 0x7f // an API key no broker has, whatever the seed gives

		oversized := make([]byte, 4+1024)
		binary.BigEndian.PutUint32(oversized, 2<<20) // 2 MiB > socket.request.max.bytes
		copy(oversized[4:], "not a request")

		truncated := make([]byte, 4+10)
		binary.BigEndian.PutUint32(truncated, 100)
		copy(truncated[4:], []byte{0, 18, 0, 3, 0, 0, 0, 1, 0, 0}) // a plausible ApiVersions header, cut short

		negative := binary.BigEndian.AppendUint32(nil, 0xffffffff) // size -1
		empty := binary.BigEndian.AppendUint32(nil, 0)             // a frame too short for any header

		for _, tc := range []struct {
			name      string
			payload   []byte
			halfClose bool
		}{
			{"garbage", garbage, false},
			{"oversized", oversized, false},
			{"truncated", truncated, true},
			{"negative-size", negative, false},
			{"empty", empty, false},
		} {
			t.Run(tc.name, func(t *testing.T) {
				expectClosed(t, addr, tc.payload, tc.halfClose)
				healthy(t, c, health, "after-"+tc.name)
			})
		}
	})

	t.Run("CorruptCRC", func(t *testing.T) {
		const topic = "crc"
		createTopic(t, c, topic, 1)
		bad := recordBatch("a", "b", "c")
		bad[len(bad)-1] ^= 0x01 // last byte of the last value: structure intact, CRC wrong
		code, _ := produceCode(t, addr, produceRequest(topic, 1, bad))
		checkCode(t, "produce with a corrupt CRC", code, kerr.CorruptMessage)

		adm := c.Admin(t)
		ends, err := adm.ListEndOffsets(context.Background(), topic)
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := ends.Lookup(topic, 0); !ok || o.Err != nil || o.Offset != 0 {
			t.Fatalf("end offset after a rejected batch: %+v (found %v), want 0", o, ok)
		}

		code, base := produceCode(t, addr, produceRequest(topic, 1, recordBatch("x", "y", "z")))
		checkCode(t, "produce of a valid batch", code, nil)
		if base != 0 {
			t.Fatalf("valid batch stored at offset %d, want 0", base)
		}
		got := consumeAll(t, c, topic, 3)[0]
		for i, want := range []string{"x", "y", "z"} {
			if got[i].offset != int64(i) || got[i].value != want {
				t.Fatalf("record %d: offset %d value %q, want offset %d value %q", i, got[i].offset, got[i].value, i, want)
			}
		}
	})

	t.Run("MetadataNoAutoCreate", func(t *testing.T) {
		const topic = "never-created"
		for i := 0; i < 2; i++ {
			tm := topicMeta(t, addr, topic, true)
			checkCode(t, "metadata for an unknown topic with auto-create off", tm.ErrorCode, kerr.UnknownTopicOrPartition)
		}
		if topicListed(t, addr, topic) {
			t.Fatalf("%s was created although auto.create.topics.enable=false", topic)
		}
	})

	t.Run("CreateTopicsErrors", func(t *testing.T) {
		createTopic(t, c, "taken", 1)
		longOK := strings.Repeat("y", 249)
		unknownCfg := kmsg.NewCreateTopicsRequestTopicConfig()
		unknownCfg.Name, unknownCfg.Value = "no.such.config", kmsg.StringPtr("1")
		cases := []struct {
			name       string
			partitions int32
			rf         int16
			configs    []kmsg.CreateTopicsRequestTopicConfig
			want       *kerr.Error
		}{
			{"", 1, 1, nil, kerr.InvalidTopicException},
			{".", 1, 1, nil, kerr.InvalidTopicException},
			{"..", 1, 1, nil, kerr.InvalidTopicException},
			{"a b", 1, 1, nil, kerr.InvalidTopicException},
			{strings.Repeat("x", 250), 1, 1, nil, kerr.InvalidTopicException},
			{"é", 1, 1, nil, kerr.InvalidTopicException},
			{longOK, 1, 1, nil, nil},
			{"rf-two", 1, 2, nil, kerr.InvalidReplicationFactor},
			{"zero-partitions", 0, 1, nil, kerr.InvalidPartitions},
			{"taken", 1, 1, nil, kerr.TopicAlreadyExists},
			{"bad-config", 1, 1, []kmsg.CreateTopicsRequestTopicConfig{unknownCfg}, kerr.InvalidConfig},
		}
		req := kmsg.NewPtrCreateTopicsRequest()
		req.SetVersion(7)
		req.TimeoutMillis = 10000
		for _, tc := range cases {
			rt := kmsg.NewCreateTopicsRequestTopic()
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor, rt.Configs = tc.name, tc.partitions, tc.rf, tc.configs
			req.Topics = append(req.Topics, rt)
		}
		resp := rawRequest(t, addr, req).(*kmsg.CreateTopicsResponse)
		got := map[string]int16{}
		for _, rt := range resp.Topics {
			got[rt.Topic] = rt.ErrorCode
		}
		for _, tc := range cases {
			code, ok := got[tc.name]
			if !ok {
				t.Errorf("no result for topic %.20q", tc.name)
				continue
			}
			checkCode(t, fmt.Sprintf("create %.20q (partitions %d, rf %d)", tc.name, tc.partitions, tc.rf), code, tc.want)
		}
		c.WaitForLeaders(t, longOK, 1)
		for _, tc := range cases {
			if tc.want != nil && tc.want != kerr.TopicAlreadyExists && topicListed(t, addr, tc.name) {
				t.Errorf("rejected topic %q exists", tc.name)
			}
		}

		vreq := kmsg.NewPtrCreateTopicsRequest()
		vreq.SetVersion(7)
		vreq.ValidateOnly = true
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "validate-only", 2, 1
		vreq.Topics = append(vreq.Topics, rt)
		vresp := rawRequest(t, addr, vreq).(*kmsg.CreateTopicsResponse)
		if len(vresp.Topics) != 1 {
			t.Fatalf("validate-only answered %d topics", len(vresp.Topics))
		}
		checkCode(t, "validate-only create", vresp.Topics[0].ErrorCode, nil)
		// A creation would reach metadata within the time a real one took above; check twice across it.
		if topicListed(t, addr, "validate-only") {
			t.Fatal("validate_only=true created the topic")
		}
		createTopic(t, c, "after-validate", 1)
		if topicListed(t, addr, "validate-only") {
			t.Fatal("validate_only=true created the topic")
		}
	})

	t.Run("ProduceErrors", func(t *testing.T) {
		code, _ := produceCode(t, addr, produceRequest(health, 2, recordBatch("acks-two")))
		checkCode(t, "produce with acks=2", code, kerr.InvalidRequiredAcks)
		code, _ = produceCode(t, addr, produceRequest("no-such-topic", 1, recordBatch("lost")))
		checkCode(t, "produce to an unknown topic", code, kerr.UnknownTopicOrPartition)
		req := produceRequest(health, 1, recordBatch("lost"))
		req.Topics[0].Partitions[0].Partition = 7
		code, _ = produceCode(t, addr, req)
		checkCode(t, "produce to an unknown partition", code, kerr.UnknownTopicOrPartition)
		if topicListed(t, addr, "no-such-topic") {
			t.Error("produce created no-such-topic")
		}
	})

	t.Run("FetchOutOfRange", func(t *testing.T) {
		for _, offset := range []int64{1 << 40, -5} { // beyond the log end; below the log start
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(12)
			req.MaxWaitMillis = 0
			req.MinBytes = 1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = health
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.FetchOffset = offset
			rp.PartitionMaxBytes = 1 << 20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp := rawRequest(t, addr, req).(*kmsg.FetchResponse)
			checkCode(t, "fetch top-level", resp.ErrorCode, nil)
			if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
				t.Fatalf("fetch answered %+v", resp.Topics)
			}
			p := resp.Topics[0].Partitions[0]
			checkCode(t, fmt.Sprintf("fetch at offset %d", offset), p.ErrorCode, kerr.OffsetOutOfRange)
			if len(p.RecordBatches) != 0 {
				t.Errorf("out-of-range fetch at %d returned %d bytes of records", offset, len(p.RecordBatches))
			}
		}
	})

	if !b.Running() {
		t.Fatal("broker process exited during the bad-input tests")
	}
	healthy(t, c, health, "after-all")
}

func TestIntegrationMetadataAutoCreate(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{"num.partitions": "3"}})
	addr := c.Brokers[0].Addr()
	const topic = "auto-created"

	tm := topicMeta(t, addr, "not-requested", false)
	checkCode(t, "metadata with allow_auto_topic_creation=false", tm.ErrorCode, kerr.UnknownTopicOrPartition)

	tm = topicMeta(t, addr, topic, true)
	checkCode(t, "first metadata for an auto-created topic", tm.ErrorCode, kerr.LeaderNotAvailable)
	testcluster.WaitFor(t, 30*time.Second, topic+" with leaders for num.partitions partitions", func() bool {
		tm := topicMeta(t, addr, topic, true)
		if tm.ErrorCode != 0 || len(tm.Partitions) != 3 {
			return false
		}
		for _, p := range tm.Partitions {
			if p.ErrorCode != 0 || p.Leader != 0 {
				return false
			}
		}
		return true
	})
	if topicListed(t, addr, "not-requested") {
		t.Error("metadata with allow_auto_topic_creation=false created the topic")
	}
	healthy(t, c, topic, "auto")
}
