package broker

import (
	"bytes"
	"errors"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
)

// testGroupLog is a groupLog over a ReplicaManager in which broker 1 leads __consumer_offsets-0 with the given
// replicas and ISR.
func testGroupLog(t *testing.T, replicas, isr []int32, timeout time.Duration) (*groupLog, *ReplicaManager, *Partition) {
	t.Helper()
	quiet := logrus.New()
	quiet.SetLevel(logrus.PanicLevel)
	cfg, err := NewConfig(map[string]string{"broker.id": "1", "zookeeper.connect": "unused:2181", "log.dirs": t.TempDir(),
		"offsets.commit.timeout.ms": strconv.FormatInt(timeout.Milliseconds(), 10), "offsets.load.buffer.size": "200"})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := log.NewLogManager(log.ManagerConfig{Dirs: cfg.LogDirs, Default: cfg.logConfig(nil), Logger: logrus.NewEntry(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	rm := newReplicaManager(1, cfg, lm, logrus.NewEntry(quiet), func(string) (map[string]string, error) { return offsetsTopicConfigs(cfg), nil },
		func(int32) bool { return true }, &fakeIsrStore{written: make(chan struct{}, 16)}, func(int32) (string, bool) { return "", false })
	cache := newMetadataCache()
	gl := newGroupLog(rm, cache, cfg)
	t.Cleanup(func() {
		rm.shutdown()
		gl.close()
		lm.Shutdown()
	})
	tp := topicPartition{Topic: coordinator.OffsetsTopic, Partition: 0}
	codes := rm.becomeLeaderOrFollower([]leaderAndIsrState{{tp: tp, controllerEpoch: 1, leader: 1, leaderEpoch: 4,
		isr: isr, replicas: replicas}}, nil)
	if codes[tp] != 0 {
		t.Fatalf("LeaderAndIsr: code %d", codes[tp])
	}
	return gl, rm, rm.partition(tp)
}

// appendAndWait calls Append and returns what done received; it fails if done ran before Append returned.
func appendAndWait(t *testing.T, gl *groupLog, p int32, recs []coordinator.Record, before func()) error {
	t.Helper()
	var returned atomic.Bool
	got := make(chan error, 2)
	gl.Append(p, recs, func(err error) {
		if !returned.Load() {
			t.Error("done ran before Append returned")
		}
		got <- err
	})
	returned.Store(true)
	if before != nil {
		before()
	}
	select {
	case err := <-got:
		select {
		case <-got:
			t.Fatal("done called twice")
		case <-time.After(20 * time.Millisecond):
		}
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("done was not called")
		return nil
	}
}

func TestGroupLogAppendThenLoad(t *testing.T) {
	gl, _, _ := testGroupLog(t, []int32{1}, []int32{1}, 5*time.Second)
	var want []coordinator.Record
	// Several appends of varied sizes, so Load needs several reads of offsets.load.buffer.size (200) bytes.
	for i := 0; i < 6; i++ {
		recs := []coordinator.Record{
			{Key: []byte{0, 1, byte(i)}, Value: bytes.Repeat([]byte{byte(i)}, 30*i)},
			{Key: []byte{0, 2, byte(i)}, Value: nil}, // tombstone
		}
		if err := appendAndWait(t, gl, 0, recs, nil); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		want = append(want, recs...)
	}
	var batches []coordinator.Batch
	if err := gl.Load(0, func(b coordinator.Batch) error { batches = append(batches, b); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(batches) != 6 {
		t.Fatalf("loaded %d batches, want 6", len(batches))
	}
	var got []coordinator.LoadedRecord
	for i, b := range batches {
		if b.BaseOffset != int64(2*i) || b.LastOffset != int64(2*i+1) || b.ProducerID != -1 || b.ProducerEpoch != -1 || b.Control || b.Transactional {
			t.Fatalf("batch %d: %+v", i, b)
		}
		got = append(got, b.Records...)
	}
	now := time.Now().UnixMilli()
	for i, r := range got {
		w := want[i]
		if r.Offset != int64(i) || !bytes.Equal(r.Key, w.Key) || !bytes.Equal(r.Value, w.Value) || (r.Value == nil) != (w.Value == nil) {
			t.Fatalf("record %d: %+v, want key %v value %v", i, r, w.Key, w.Value)
		}
		if r.Timestamp < now-60_000 || r.Timestamp > now {
			t.Fatalf("record %d: timestamp %d is not about now (%d)", i, r.Timestamp, now)
		}
	}

	stop := errors.New("stop")
	calls := 0
	if err := gl.Load(0, func(coordinator.Batch) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Load = %v after %d calls, want the callback's error after 1", err, calls)
	}
	if err := gl.Load(7, func(coordinator.Batch) error { return nil }); err == nil {
		t.Fatal("Load of a partition without a log succeeded")
	}
}

func TestGroupLogAppendWaitsForFollowers(t *testing.T) {
	gl, rm, p := testGroupLog(t, []int32{1, 2}, []int32{1, 2}, 10*time.Second)
	recs := []coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}
	var followerFetched atomic.Bool
	err := appendAndWait(t, gl, 0, recs, func() {
		// Not committed until follower 2 has the record: the append is parked in the purgatory, not completed.
		rm.produces.mu.Lock()
		parked := len(rm.produces.watchers[p.tp])
		rm.produces.mu.Unlock()
		if parked != 1 {
			t.Errorf("%d appends parked, want 1", parked)
		}
		// The follower's fetch from offset 1 moves the HW past the record.
		followerFetched.Store(true)
		if _, _, err := rm.updateFollowerFetchState(p, 2, 1, 0); err != nil {
			t.Error(err)
		}
		rm.produces.checkAndComplete(p.tp)
	})
	if err != nil || !followerFetched.Load() {
		t.Fatalf("append: %v (follower fetched: %v)", err, followerFetched.Load())
	}
}

func TestGroupLogAppendErrors(t *testing.T) {
	recs := []coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}
	tests := []struct {
		name     string
		replicas []int32
		isr      []int32
		acks     int16
		part     int32
		want     *kerr.Error
	}{
		{name: "follower never fetches", replicas: []int32{1, 2}, isr: []int32{1, 2}, acks: -1, want: kerr.RequestTimedOut},
		{name: "partition not hosted", replicas: []int32{1}, isr: []int32{1}, acks: -1, part: 3, want: kerr.UnknownTopicOrPartition},
		{name: "acks 1 does not wait", replicas: []int32{1, 2}, isr: []int32{1, 2}, acks: 1},
		{name: "acks 2 is refused", replicas: []int32{1, 2}, isr: []int32{1, 2}, acks: 2, want: kerr.InvalidRequiredAcks},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			gl, _, _ := testGroupLog(t, tc.replicas, tc.isr, 100*time.Millisecond)
			gl.acks = tc.acks
			err := appendAndWait(t, gl, tc.part, recs, nil)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var ke *kerr.Error
			if !errors.As(err, &ke) || ke != tc.want {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestGroupLogNotLeader(t *testing.T) {
	gl, rm, p := testGroupLog(t, []int32{1, 2}, []int32{1, 2}, 5*time.Second)
	rm.becomeLeaderOrFollower([]leaderAndIsrState{{tp: p.tp, controllerEpoch: 1, leader: 2, leaderEpoch: 5,
		isr: []int32{1, 2}, replicas: []int32{1, 2}}}, nil)
	err := appendAndWait(t, gl, 0, []coordinator.Record{{Key: []byte("k")}}, nil)
	if !errors.Is(err, kerr.NotLeaderForPartition) {
		t.Fatalf("err = %v, want NOT_LEADER_OR_FOLLOWER", err)
	}
}

// The batch the coordinator writes is one valid magic-2 batch that the log accepts and decodes back.
func TestEncodeGroupBatch(t *testing.T) {
	for _, n := range []int{1, 3, 200} {
		recs := make([]coordinator.Record, n)
		for i := range recs {
			recs[i] = coordinator.Record{Key: []byte{byte(i), 1}, Value: bytes.Repeat([]byte("x"), i)}
		}
		recs[n-1].Value = nil
		raw := encodeGroupBatch(recs, 1234)
		if err := validateProduceRecords(8, raw); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		var got []log.Record
		var info log.BatchInfo
		if _, err := log.DecodeBatches(raw, func(b log.BatchInfo, rs []log.Record) error { info, got = b, rs; return nil }); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if info.NumRecords != int32(n) || info.MaxTimestamp != 1234 || info.BaseTimestamp != 1234 || info.ProducerID != -1 || info.Compression != 0 {
			t.Fatalf("%d records: batch %+v", n, info)
		}
		for i, r := range got {
			if !bytes.Equal(r.Key, recs[i].Key) || !bytes.Equal(r.Value, recs[i].Value) || (r.Value == nil) != (recs[i].Value == nil) || r.Timestamp != 1234 {
				t.Fatalf("record %d: %+v", i, r)
			}
		}
	}
}

func TestJavaHostString(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 5000}, "/127.0.0.1"},
		{&net.TCPAddr{IP: net.IPv4(10, 1, 2, 3).To16(), Port: 1}, "/10.1.2.3"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, "/0:0:0:0:0:0:0:1"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::a:b0"), Port: 1}, "/fe80:0:0:0:0:0:a:b0"},
		{nil, ""},
	}
	for _, tc := range tests {
		if got := javaHostString(&network.Request{ClientAddr: tc.addr}); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.addr, got, tc.want)
		}
	}
}

func TestGroupCoordinatorConfig(t *testing.T) {
	base := map[string]string{"broker.id": "1", "zookeeper.connect": "zk:2181"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		props map[string]string
		ok    bool
		check func(c *Config) bool
	}{
		{name: "defaults", props: with(), ok: true, check: func(c *Config) bool {
			return c.OffsetsTopicPartitions == 50 && c.OffsetsTopicReplicationFactor == 3 && c.OffsetsTopicSegmentBytes == 104857600 &&
				c.OffsetsRetention == 10080*time.Minute && c.OffsetsRetentionCheckInterval == 600*time.Second &&
				c.OffsetCommitRequiredAcks == -1 && c.OffsetCommitTimeout == 5*time.Second && c.OffsetMetadataMaxBytes == 4096 &&
				c.OffsetsLoadBufferSize == 5242880 && c.GroupMinSessionTimeout == 6*time.Second &&
				c.GroupMaxSessionTimeout == 1800*time.Second && c.GroupInitialRebalanceDelay == 3*time.Second &&
				c.GroupMaxSize == 2147483647
		}},
		{name: "shipped single-broker values", props: with("offsets.topic.replication.factor", "1", "group.initial.rebalance.delay.ms", "0"), ok: true,
			check: func(c *Config) bool { return c.OffsetsTopicReplicationFactor == 1 && c.GroupInitialRebalanceDelay == 0 }},
		{name: "rf 0", props: with("offsets.topic.replication.factor", "0")},
		{name: "rf too large for a short", props: with("offsets.topic.replication.factor", "40000")},
		{name: "partitions 0", props: with("offsets.topic.num.partitions", "0")},
		{name: "retention 0", props: with("offsets.retention.minutes", "0")},
		{name: "load buffer 0", props: with("offsets.load.buffer.size", "0")},
		{name: "group max size 0", props: with("group.max.size", "0")},
		{name: "commit timeout 0", props: with("offsets.commit.timeout.ms", "0")},
		{name: "acks above rf", props: with("offsets.topic.replication.factor", "1", "offsets.commit.required.acks", "2")},
		{name: "acks below -1", props: with("offsets.commit.required.acks", "-2")},
		{name: "acks equal to rf", props: with("offsets.commit.required.acks", "3"), ok: true,
			check: func(c *Config) bool { return c.OffsetCommitRequiredAcks == 3 }},
		{name: "not a number", props: with("group.max.session.timeout.ms", "x")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewConfig(tc.props)
			if (err == nil) != tc.ok {
				t.Fatalf("NewConfig err = %v, want ok=%v", err, tc.ok)
			}
			if tc.ok && !tc.check(c) {
				t.Fatalf("config %+v", c)
			}
		})
	}
	c, _ := NewConfig(with("offsets.topic.num.partitions", "10"))
	if got := c.coordinatorConfig(-1, nil).OffsetsTopicPartitions; got != 10 {
		t.Fatalf("without the topic: %d partitions, want offsets.topic.num.partitions", got)
	}
	if got := c.coordinatorConfig(50, nil).OffsetsTopicPartitions; got != 50 {
		t.Fatalf("with the topic: %d partitions, want the existing topic's 50", got)
	}
}

func TestDeletedTopics(t *testing.T) {
	part := func(topic string, leader int32) kmsg.UpdateMetadataRequestTopicPartition {
		p := kmsg.NewUpdateMetadataRequestTopicPartition()
		p.Topic, p.Leader = topic, leader
		return p
	}
	old := kmsg.NewPtrUpdateMetadataRequest()
	old.Version = 4
	old.PartitionStates = []kmsg.UpdateMetadataRequestTopicPartition{part("a", -2), part("b", 1), part("a", -2), part("c", -2)}
	if got := deletedTopics(old); !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("v4: %v, want [a c]", got)
	}
	cur := kmsg.NewPtrUpdateMetadataRequest()
	cur.Version = 7
	for _, name := range []string{"x", "y"} {
		ts := kmsg.NewUpdateMetadataRequestTopicState()
		ts.Topic = name
		leader := int32(-2)
		if name == "y" {
			leader = 0
		}
		ts.PartitionStates = []kmsg.UpdateMetadataRequestTopicPartition{part("", leader), part("", leader)}
		cur.TopicStates = append(cur.TopicStates, ts)
	}
	if got := deletedTopics(cur); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("v7: %v, want [x]", got)
	}
}
