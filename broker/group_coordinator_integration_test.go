package broker_test

import (
	"context"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/jhash"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

// coordDial opens a raw connection, so requests go at exactly the version set on them and to exactly this broker.
func coordDial(t *testing.T, b *testcluster.Broker) *network.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, b.Addr(), "coord-test")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func coordRequest(t *testing.T, conn *network.Client, req kmsg.Request) kmsg.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := conn.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s v%d: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

func findCoordinatorV3(t *testing.T, conn *network.Client, keyType int8, key string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.SetVersion(3)
	req.CoordinatorKey, req.CoordinatorType = key, keyType
	return coordRequest(t, conn, req).(*kmsg.FindCoordinatorResponse)
}

func findCoordinatorV4(t *testing.T, conn *network.Client, keyType int8, keys ...string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.SetVersion(4)
	req.CoordinatorKeys, req.CoordinatorType = keys, keyType
	return coordRequest(t, conn, req).(*kmsg.FindCoordinatorResponse)
}

func strOrNil(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// waitCoordinator asks the broker until FindCoordinator v3 for group answers NONE, and returns that answer.
func waitCoordinator(t *testing.T, conn *network.Client, group string) *kmsg.FindCoordinatorResponse {
	t.Helper()
	var resp *kmsg.FindCoordinatorResponse
	testcluster.WaitFor(t, 60*time.Second, "a coordinator for "+group, func() bool {
		resp = findCoordinatorV3(t, conn, 0, group)
		if resp.ErrorCode != 0 && resp.ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("FindCoordinator: error %d", resp.ErrorCode)
		}
		return resp.ErrorCode == 0
	})
	return resp
}

func offsetsPartitionFor(group string, partitions int32) int32 {
	return jhash.Abs(jhash.String(group)) % partitions
}

// The first FindCoordinator creates __consumer_offsets (offsets.topic.* settings, the coordinator's topic configs)
// and answers COORDINATOR_NOT_AVAILABLE; once the partitions have leaders it names the leader of the group's
// partition, in the single-key (v3) and the batched (v4) form.
func TestCoordinatorFindCreatesOffsetsTopic(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	b := c.Brokers[0]
	conn := coordDial(t, b)

	first := findCoordinatorV3(t, conn, 0, "group-a")
	if first.ErrorCode != kerr.CoordinatorNotAvailable.Code || first.NodeID != -1 || first.Host != "" || first.Port != -1 ||
		strOrNil(first.ErrorMessage) != "The coordinator is not available." {
		t.Fatalf("first FindCoordinator: code %d node %d %q:%d message %q; want COORDINATOR_NOT_AVAILABLE and no node",
			first.ErrorCode, first.NodeID, first.Host, first.Port, strOrNil(first.ErrorMessage))
	}
	zk, err := c.ZK()
	if err != nil {
		t.Fatal(err)
	}
	as, err := zk.GetTopicAssignments([]string{"__consumer_offsets"})
	if err != nil {
		t.Fatal(err)
	}
	a, ok := as["__consumer_offsets"]
	if !ok || len(a.Partitions) != 50 {
		t.Fatalf("__consumer_offsets after the first FindCoordinator: exists %v, %d partitions; want 50", ok, len(a.Partitions))
	}
	for p, replicas := range a.Partitions {
		if len(replicas) != 1 {
			t.Fatalf("partition %d replicas %v, want replication factor 1 (offsets.topic.replication.factor)", p, replicas)
		}
	}
	cfg, err := zk.GetTopicConfig("__consumer_offsets")
	if err != nil {
		t.Fatal(err)
	}
	if cfg["cleanup.policy"] != "compact" || cfg["compression.type"] != "producer" || cfg["segment.bytes"] != "104857600" || len(cfg) != 3 {
		t.Fatalf("topic configs %v", cfg)
	}

	resp := waitCoordinator(t, conn, "group-a")
	if resp.NodeID != 0 || resp.Host != "127.0.0.1" || resp.Port != int32(b.Port) || strOrNil(resp.ErrorMessage) != "NONE" {
		t.Fatalf("FindCoordinator v3: node %d %s:%d message %q; want broker 0 at %s", resp.NodeID, resp.Host, resp.Port, strOrNil(resp.ErrorMessage), b.Addr())
	}
	batched := findCoordinatorV4(t, conn, 0, "group-a", "group-b", "")
	if len(batched.Coordinators) != 3 {
		t.Fatalf("FindCoordinator v4: %d coordinators, want 3", len(batched.Coordinators))
	}
	for i, co := range batched.Coordinators {
		if co.Key != []string{"group-a", "group-b", ""}[i] || co.ErrorCode != 0 || co.NodeID != 0 || co.Port != int32(b.Port) || co.ErrorMessage != nil {
			t.Fatalf("FindCoordinator v4 key %d: %+v", i, co)
		}
	}
	// Transaction coordinators do not exist yet; an unknown key type fails the request.
	if r := findCoordinatorV3(t, conn, 1, "txn"); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
		t.Fatalf("transaction key: error %d, want COORDINATOR_NOT_AVAILABLE", r.ErrorCode)
	}
	if r := findCoordinatorV4(t, conn, 7, "x", "y"); len(r.Coordinators) != 2 || r.Coordinators[1].ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("key type 7: %+v, want INVALID_REQUEST for each key", r.Coordinators)
	}

	// The topic is internal: Metadata says so and clients cannot produce to it.
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	name := "__consumer_offsets"
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = &name
	md.Topics = append(md.Topics, mt)
	mdResp := coordRequest(t, conn, md).(*kmsg.MetadataResponse)
	if len(mdResp.Topics) != 1 || !mdResp.Topics[0].IsInternal || len(mdResp.Topics[0].Partitions) != 50 {
		t.Fatalf("Metadata of __consumer_offsets: %+v", mdResp.Topics)
	}
	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(8)
	prod.Acks, prod.TimeoutMillis = 1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = name
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = coordTestBatch()
	pt.Partitions = append(pt.Partitions, pp)
	prod.Topics = append(prod.Topics, pt)
	pr := coordRequest(t, conn, prod).(*kmsg.ProduceResponse)
	if code := pr.Topics[0].Partitions[0].ErrorCode; code != kerr.InvalidTopicException.Code {
		t.Fatalf("produce to __consumer_offsets: error %d, want INVALID_TOPIC_EXCEPTION", code)
	}
}

// With fewer live brokers than offsets.topic.replication.factor the topic is not created with a smaller
// replication factor: FindCoordinator keeps answering COORDINATOR_NOT_AVAILABLE and the broker says why.
func TestCoordinatorNotAvailableWithTooFewBrokers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{"offsets.topic.replication.factor": "3"}})
	b := c.Brokers[0]
	conn := coordDial(t, b)
	for i := 0; i < 3; i++ {
		if r := findCoordinatorV3(t, conn, 0, "group-a"); r.ErrorCode != kerr.CoordinatorNotAvailable.Code {
			t.Fatalf("FindCoordinator %d: error %d, want COORDINATOR_NOT_AVAILABLE", i, r.ErrorCode)
		}
	}
	b.WaitForLog(t, 10*time.Second, "Number of alive brokers '1' does not meet the required replication factor '3' for the offsets topic")
	zk, err := c.ZK()
	if err != nil {
		t.Fatal(err)
	}
	as, err := zk.GetTopicAssignments([]string{"__consumer_offsets"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := as["__consumer_offsets"]; ok {
		t.Fatal("__consumer_offsets was created with fewer brokers than its replication factor")
	}
}

// In a three-broker cluster with replication factor 3 every broker names the same coordinator: the leader of the
// group's partition as ZooKeeper has it.
func TestCoordinatorThreeBrokers(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{"offsets.topic.replication.factor": "3"}})
	conns := []*network.Client{coordDial(t, c.Brokers[0]), coordDial(t, c.Brokers[1]), coordDial(t, c.Brokers[2])}
	for _, group := range []string{"orders", "payments", "g-17"} {
		resp := waitCoordinator(t, conns[0], group)
		p := offsetsPartitionFor(group, 50)
		st, err := c.PartitionState("__consumer_offsets", p)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.ISR) != 3 || resp.NodeID != st.Leader {
			t.Fatalf("group %s (partition %d): coordinator %d, partition state %+v; want its leader with ISR of 3", group, p, resp.NodeID, st)
		}
		if want := c.Broker(resp.NodeID); want == nil || resp.Port != int32(want.Port) || resp.Host != "127.0.0.1" {
			t.Fatalf("group %s: coordinator at %s:%d", group, resp.Host, resp.Port)
		}
		for i, conn := range conns[1:] {
			other := waitCoordinator(t, conn, group)
			if other.NodeID != resp.NodeID {
				t.Fatalf("group %s: broker %d names coordinator %d, broker 0 names %d", group, i+1, other.NodeID, resp.NodeID)
			}
		}
	}
	zk, err := c.ZK()
	if err != nil {
		t.Fatal(err)
	}
	as, err := zk.GetTopicAssignments([]string{"__consumer_offsets"})
	if err != nil {
		t.Fatal(err)
	}
	for p, replicas := range as["__consumer_offsets"].Partitions {
		if len(replicas) != 3 {
			t.Fatalf("partition %d replicas %v, want 3", p, replicas)
		}
	}
	if n := len(as["__consumer_offsets"].Partitions); n != 50 {
		t.Fatalf("%d partitions, want 50", n)
	}
}

// coordTestBatch is one uncompressed record batch with one record, as a client would produce it.
func coordTestBatch() []byte {
	rec := kmsg.NewRecord()
	rec.Key, rec.Value = []byte("k"), []byte("v")
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	now := time.Now().UnixMilli()
	b := kmsg.NewRecordBatch()
	b.Magic, b.PartitionLeaderEpoch = 2, -1
	b.FirstTimestamp, b.MaxTimestamp = now, now
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = -1, -1, -1
	b.NumRecords = 1
	b.Records = rec.AppendTo(nil)
	b.Length = int32(49 + len(b.Records))
	raw := b.AppendTo(nil)
	crc := crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli))
	raw[17], raw[18], raw[19], raw[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return raw
}

// Offsets committed through the coordinator are appended to __consumer_offsets and read back by the load after
// a restart (the broker's Append and Load under the real coordinator).
func TestCoordinatorOffsetsSurviveRestart(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{"offsets.topic.num.partitions": "3"}})
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, "events"); err != nil || resp.Err != nil {
		t.Fatalf("create topic: %v %v", err, resp.Err)
	}
	c.WaitForLeaders(t, "events", 2)
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "events", Partition: 0, At: 0, LeaderEpoch: -1, Metadata: "m0"})
	offsets.Add(kadm.Offset{Topic: "events", Partition: 1, At: 0, LeaderEpoch: -1, Metadata: "m1"})
	for round, at := range []int64{5, 9} {
		offsets["events"][0] = kadm.Offset{Topic: "events", Partition: 0, At: at, LeaderEpoch: -1, Metadata: "m0"}
		var resps kadm.OffsetResponses
		var err error
		testcluster.WaitFor(t, 30*time.Second, "an offset commit", func() bool {
			resps, err = adm.CommitOffsets(ctx, "loaded-group", offsets)
			return err == nil && resps.Error() == nil
		})
		if err != nil || resps.Error() != nil {
			t.Fatalf("round %d: commit: %v %v", round, err, resps.Error())
		}
	}
	check := func(when string) {
		t.Helper()
		var got kadm.OffsetResponses
		testcluster.WaitFor(t, 30*time.Second, "offsets of loaded-group "+when, func() bool {
			var err error
			got, err = adm.FetchOffsets(ctx, "loaded-group")
			return err == nil && got.Error() == nil && len(got["events"]) == 2
		})
		for p, want := range map[int32]struct {
			at   int64
			meta string
		}{0: {9, "m0"}, 1: {0, "m1"}} {
			o := got["events"][p]
			if o.At != want.at || o.Metadata != want.meta {
				t.Fatalf("%s: events-%d committed %d %q, want %d %q", when, p, o.At, o.Metadata, want.at, want.meta)
			}
		}
	}
	check("before the restart")
	if err := c.Brokers[0].Restart(); err != nil {
		t.Fatal(err)
	}
	check("after the restart")
}
