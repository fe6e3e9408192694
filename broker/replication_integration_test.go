package broker_test

// Replication against real broker processes and a real ZooKeeper: followers copy the leader byte for byte, the
// leader shrinks and expands the ISR, acks=all honours min.insync.replicas, fetches wait in the purgatory, and
// leader epochs let a returning replica cut a divergent tail (KIP-101) instead of forking the log.
//
// Each test judges the brokers by what Kafka promises and by what lands on disk: testcluster reads every replica's
// segment files and compares them up to the leader's high watermark.

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
	"github.com/zkafka/zkafka/zkutils"
)

// replOverrides are the broker settings of these tests plus extra: no automatic preferred elections (tests decide
// who leads), and a short ZooKeeper session so a killed broker is noticed within seconds.
func replOverrides(extra map[string]string) map[string]string {
	o := map[string]string{
		"auto.leader.rebalance.enable":         "false",
		"zookeeper.session.timeout.ms":         "4000",
		"controlled.shutdown.retry.backoff.ms": "500",
	}
	for k, v := range extra {
		o[k] = v
	}
	return o
}

// createReplicated creates a topic with the controller's own placement and topic configs, and waits until every
// partition has a leader and the full ISR in ZooKeeper and a leader in metadata.
func createReplicated(t *testing.T, c *testcluster.Cluster, topic string, partitions, rf int, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, int32(partitions), int16(rf)
	rt.Configs = topicConfigs(configs)
	req.Topics = append(req.Topics, rt)
	createTopics(t, c, req)
	waitFullISR(t, c, topic, partitions)
	c.WaitForLeaders(t, topic, partitions)
}

// createAssignedWith is createAssigned with topic configs.
func createAssignedWith(t *testing.T, c *testcluster.Cluster, topic string, assignment map[int32][]int32, configs map[string]string) {
	t.Helper()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
	for p := int32(0); p < int32(len(assignment)); p++ {
		ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		ra.Partition, ra.Replicas = p, assignment[p]
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
	}
	rt.Configs = topicConfigs(configs)
	req.Topics = append(req.Topics, rt)
	createTopics(t, c, req)
	for p, replicas := range assignment {
		waitState(t, c, topic, p, fmt.Sprintf("leader %d with full ISR", replicas[0]), func(st zkutils.LeaderIsr) bool {
			return st.Leader == replicas[0] && len(st.ISR) == len(replicas)
		})
		c.WaitForMetadataLeader(t, 30*time.Second, topic, p, replicas[0])
	}
}

func topicConfigs(configs map[string]string) []kmsg.CreateTopicsRequestTopicConfig {
	var out []kmsg.CreateTopicsRequestTopicConfig
	for k, v := range configs {
		cfg := kmsg.NewCreateTopicsRequestTopicConfig()
		cfg.Name, cfg.Value = k, kmsg.StringPtr(v)
		out = append(out, cfg)
	}
	return out
}

func createTopics(t *testing.T, c *testcluster.Cluster, req *kmsg.CreateTopicsRequest) {
	t.Helper()
	req.TimeoutMillis = 30000
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, c.Client(t))
	if err != nil {
		t.Fatalf("create topics: %v", err)
	}
	for _, rt := range resp.Topics {
		if rt.ErrorCode != 0 {
			t.Fatalf("create %s: %v", rt.Topic, kerr.ErrorForCode(rt.ErrorCode))
		}
	}
}

// sameSet reports whether a and b hold the same broker ids.
func sameSet(a, b []int32) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// waitISR waits until the partition's ISR in ZooKeeper is exactly want (as a set) and returns the state.
func waitISR(t *testing.T, c *testcluster.Cluster, topic string, p int32, timeout time.Duration, want ...int32) zkutils.LeaderIsr {
	t.Helper()
	var st zkutils.LeaderIsr
	waitWhy(t, timeout, fmt.Sprintf("ISR of %s-%d to be %v", topic, p, want), func() (bool, string) {
		s, err := c.PartitionState(topic, p)
		if err != nil {
			return false, err.Error()
		}
		st = s
		return sameSet(s.ISR, want), fmt.Sprintf("state %+v", s)
	})
	return st
}

// waitFullISR waits until every partition of the topic has a leader and every assigned replica in its ISR, which
// once the topic exists only followers that caught up can bring about.
func waitFullISR(t *testing.T, c *testcluster.Cluster, topic string, n int) {
	t.Helper()
	waitWhy(t, 60*time.Second, fmt.Sprintf("every replica of %s in the ISR", topic), func() (bool, string) {
		as, err := c.Assignment(topic)
		if err != nil {
			return false, err.Error()
		}
		states, err := c.PartitionStates(topic, n)
		if err != nil {
			return false, err.Error()
		}
		for p, st := range states {
			if st.Leader < 0 || !sameSet(st.ISR, as[p]) {
				return false, fmt.Sprintf("%s-%d: replicas %v, state %+v", topic, p, as[p], st)
			}
		}
		return true, ""
	})
}

// waitInSync compares every replica's bytes up to the HW for each partition of the topic and returns the HWs.
func waitInSync(t *testing.T, c *testcluster.Cluster, topic string, n int) map[int32]int64 {
	t.Helper()
	hws := map[int32]int64{}
	for p := int32(0); p < int32(n); p++ {
		hws[p] = c.WaitForReplicasInSync(t, 30*time.Second, topic, p)
	}
	return hws
}

// rawProduce sends one batch of values to partition 0 of the topic on the given broker, with acks and the
// broker-side timeout, and returns the partition's error code and base offset.
func rawProduce(t *testing.T, addr, topic string, acks int16, timeoutMs int32, values ...string) (int16, int64) {
	t.Helper()
	req := produceRequest(topic, acks, recordBatch(values...))
	req.TimeoutMillis = timeoutMs
	return produceCode(t, addr, req)
}

// produceOK sends values with acks to the partition's current leader until it succeeds (a leader that was just
// elected may not know it yet and answers NOT_LEADER_OR_FOLLOWER) and returns the base offset.
func produceOK(t *testing.T, c *testcluster.Cluster, topic string, acks int16, values ...string) int64 {
	t.Helper()
	var base int64
	waitWhy(t, 30*time.Second, fmt.Sprintf("acks=%d produce of %v to %s-0", acks, values, topic), func() (bool, string) {
		st, err := c.PartitionState(topic, 0)
		if err != nil || st.Leader < 0 {
			return false, fmt.Sprintf("state %+v %v", st, err)
		}
		code, off := rawProduce(t, c.Broker(st.Leader).Addr(), topic, acks, 10000, values...)
		switch code {
		case 0:
			base = off
			return true, ""
		case kerr.NotLeaderForPartition.Code, kerr.UnknownTopicOrPartition.Code:
			time.Sleep(50 * time.Millisecond)
			return false, fmt.Sprintf("broker %d: %v", st.Leader, kerr.ErrorForCode(code))
		default:
			t.Fatalf("acks=%d produce of %v to %s-0 on broker %d: %v", acks, values, topic, st.Leader, kerr.ErrorForCode(code))
			return false, ""
		}
	})
	return base
}

// values returns n values prefix-0, prefix-1, ...
func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// logHolds reports whether the broker's replica of topic-partition holds a batch containing value (the raw
// produces of these tests are uncompressed, so the value's bytes appear as they are).
func logHolds(t *testing.T, b *testcluster.Broker, topic string, p int32, value string) bool {
	t.Helper()
	batches, err := testcluster.ReadBatches(b.PartitionDir(topic, p))
	if err != nil {
		t.Fatal(err)
	}
	for _, lb := range batches {
		if bytes.Contains(lb.Bytes, []byte(value)) {
			return true
		}
	}
	return false
}

func logEnd(t *testing.T, b *testcluster.Broker, topic string, p int32) int64 {
	t.Helper()
	leo, err := b.LogEndOffset(topic, p)
	if err != nil {
		t.Fatal(err)
	}
	return leo
}

// fetchWaitMs is replica.fetch.wait.max.ms in the tests that freeze a follower to keep records from it.
const fetchWaitMs = 100

// freeze pauses a follower so that it takes nothing more from its leader. A fetch it sent just before may be
// parked at the leader, which would still write new records into the frozen process's socket, to be appended when
// it resumes; so freeze also waits until any such fetch has expired (replica.fetch.wait.max.ms, with margin).
func freeze(t *testing.T, b *testcluster.Broker) {
	t.Helper()
	if err := b.Pause(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * fetchWaitMs * time.Millisecond)
}

func resumeOnExit(t *testing.T, bs ...*testcluster.Broker) {
	t.Cleanup(func() {
		for _, b := range bs {
			b.Resume()
		}
	})
}

// Followers replicate: every replica of an RF=3 topic holds the leader's bytes up to the HW, and the ISR is
// complete. A follower killed with kill -9 misses records acknowledged by the other two (acks=all with
// min.insync.replicas=2), then catches up after its restart and rejoins every ISR.
func TestIntegrationReplicationFollowersReplicate(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(nil)})
	const topic, parts = "replicated", 6
	createReplicated(t, c, topic, parts, 3, map[string]string{"min.insync.replicas": "2"})

	sent := produceKeyed(t, c, topic, 5000, kgo.AllISRAcks(), "first")
	checkHWs := func(what string) {
		t.Helper()
		want := map[int32]int64{}
		for _, s := range sent {
			want[s.partition] = max(want[s.partition], s.offset+1)
		}
		hws := waitInSync(t, c, topic, parts)
		for p := int32(0); p < parts; p++ {
			if hws[p] != want[p] {
				t.Fatalf("%s: %s-%d replicas agree up to HW %d, want %d (every acknowledged record)", what, topic, p, hws[p], want[p])
			}
		}
		t.Logf("%s: replicas byte-identical up to HWs %v", what, hws)
	}
	checkHWs("after 5000 acks=all records")
	waitFullISR(t, c, topic, parts)

	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	victim := otherThan(c, ctrl)
	c.Broker(victim).Kill()
	for p := int32(0); p < parts; p++ {
		waitState(t, c, topic, p, fmt.Sprintf("a live leader and %d out of the ISR", victim), func(st zkutils.LeaderIsr) bool {
			return st.Leader >= 0 && st.Leader != victim && !slices.Contains(st.ISR, victim)
		})
	}
	leoBefore := map[int32]int64{}
	for p := int32(0); p < parts; p++ {
		leoBefore[p] = logEnd(t, c.Broker(victim), topic, p)
	}
	sent = append(sent, produceKeyed(t, c, topic, 3000, kgo.AllISRAcks(), "second")...)

	if err := c.Broker(victim).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	waitFullISR(t, c, topic, parts)
	checkHWs("after the killed follower returned")
	for p := int32(0); p < parts; p++ {
		if leo := logEnd(t, c.Broker(victim), topic, p); leo <= leoBefore[p] {
			t.Errorf("%s-%d: broker %d log end %d after its return, %d before: it did not fetch what it missed", topic, p, victim, leo, leoBefore[p])
		}
	}
	checkSame(t, sent, consumeAll(t, c, topic, len(sent)))
}

// The leader shrinks the ISR when a follower stops fetching for replica.lag.time.max.ms and expands it when the
// follower catches up again; acks=all succeeds while the ISR has min.insync.replicas members and fails with
// NOT_ENOUGH_REPLICAS below that. ZooKeeper sessions are long here, so only the leader can be removing the frozen
// followers (the controller would only do it once their sessions expired).
func TestIntegrationReplicationISRShrinkExpand(t *testing.T) {
	const lagMs = 3000
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(map[string]string{
		"replica.lag.time.max.ms":      fmt.Sprint(lagMs),
		"zookeeper.session.timeout.ms": "30000",
	})})
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	// The controller leads, so freezing followers never freezes the controller.
	f1, f2 := otherThan(c, ctrl), otherThan(c, ctrl, otherThan(c, ctrl))
	const topic = "shrink"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {ctrl, f1, f2}}, map[string]string{"min.insync.replicas": "2"})
	leader := c.Broker(ctrl).Addr()
	resumeOnExit(t, c.Broker(f1), c.Broker(f2))
	appended := 0
	produceOK(t, c, topic, -1, values("warm", 5)...)
	appended += 5

	// waitShrink waits until the leader dropped the frozen follower f from the ISR (leaving rest) and checks it took
	// about replica.lag.time.max.ms from the moment f froze: a follower at the leader's log end is caught up however
	// long it is silent (Kafka's Replica.isCaughtUp), so the caller has appended a record since.
	waitShrink := func(f int32, frozen time.Time, before zkutils.LeaderIsr, rest ...int32) {
		t.Helper()
		// If the shrink never comes, say whether the frozen follower holds the leader's whole log (then it is
		// caught up by Kafka's rule, and the test raced) or not (then the leader misjudged it).
		t.Cleanup(func() {
			if t.Failed() {
				fLEO, ferr := c.Broker(f).LogEndOffset(topic, 0)
				lLEO, lerr := c.Broker(ctrl).LogEndOffset(topic, 0)
				t.Logf("on disk: frozen follower %d LEO %d (%v), leader %d LEO %d (%v)", f, fLEO, ferr, ctrl, lLEO, lerr)
			}
		})
		st := waitISR(t, c, topic, 0, 20*time.Second, rest...)
		took := time.Since(frozen)
		if st.Leader != ctrl || st.LeaderEpoch != before.LeaderEpoch {
			t.Errorf("ISR shrink changed leader or epoch: before %+v, after %+v (the leader shrinks, keeping its epoch)", before, st)
		}
		if took < lagMs*time.Millisecond*2/3 || took > (lagMs+lagMs/2+3000)*time.Millisecond {
			t.Errorf("follower %d left the ISR %v after it froze; want about replica.lag.time.max.ms=%dms (+ up to half of it for the check)", f, took, lagMs)
		}
		t.Logf("follower %d left the ISR %v after it froze", f, took.Round(time.Millisecond))
	}
	pause := func(f int32) (time.Time, zkutils.LeaderIsr) {
		t.Helper()
		before, err := c.PartitionState(topic, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Broker(f).Pause(); err != nil {
			t.Fatal(err)
		}
		return time.Now(), before
	}

	frozen, before := pause(f1)
	if code, _ := rawProduce(t, leader, topic, 1, 10000, "f1-behind"); code != 0 {
		t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(code))
	}
	appended++
	waitShrink(f1, frozen, before, ctrl, f2)
	if code, _ := rawProduce(t, leader, topic, -1, 10000, "two-in-isr"); code != 0 {
		t.Fatalf("acks=all with ISR %v and min.insync.replicas=2: %v", []int32{ctrl, f2}, kerr.ErrorForCode(code))
	}
	appended++

	// Freeze the second follower and produce at once: the record is appended while the ISR still names f2, so the
	// answer can only be NOT_ENOUGH_REPLICAS_AFTER_APPEND or REQUEST_TIMED_OUT (the data is then in the log), or
	// NOT_ENOUGH_REPLICAS if the shrink won the race (then it is not), or success if f2 fetched it before it stopped.
	frozen, before = pause(f2)
	code, _ := rawProduce(t, leader, topic, -1, 6000, "racing-shrink")
	switch code {
	case kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code:
		if !logHolds(t, c.Broker(ctrl), topic, 0, "racing-shrink") {
			t.Errorf("acks=all answered %v but the record is not in the leader's log", kerr.ErrorForCode(code))
		}
		appended++
	case kerr.NotEnoughReplicas.Code:
		if logHolds(t, c.Broker(ctrl), topic, 0, "racing-shrink") {
			t.Errorf("acks=all answered NOT_ENOUGH_REPLICAS but appended the record")
		}
	case 0:
		// Only if the follower had the record before it stopped (SIGSTOP is not instant); its files are frozen now.
		if !logHolds(t, c.Broker(f2), topic, 0, "racing-shrink") {
			t.Fatalf("acks=all acknowledged a record that the ISR member %d (frozen) does not have", f2)
		}
		appended++
	default:
		t.Fatalf("acks=all while the last follower froze: %v, want NOT_ENOUGH_REPLICAS(_AFTER_APPEND) or REQUEST_TIMED_OUT", kerr.ErrorForCode(code))
	}
	t.Logf("acks=all racing the shrink: %v", kerr.ErrorForCode(code))
	if code == kerr.NotEnoughReplicas.Code || code == 0 {
		if code, _ := rawProduce(t, leader, topic, 1, 10000, "f2-behind"); code != 0 {
			t.Fatalf("acks=1 produce: %v", kerr.ErrorForCode(code))
		}
		appended++
	}
	waitShrink(f2, frozen, before, ctrl)

	leoBefore := logEnd(t, c.Broker(ctrl), topic, 0)
	if code, _ := rawProduce(t, leader, topic, -1, 10000, "one-in-isr"); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with ISR [%d] and min.insync.replicas=2: %v, want NOT_ENOUGH_REPLICAS", ctrl, kerr.ErrorForCode(code))
	}
	if leo := logEnd(t, c.Broker(ctrl), topic, 0); leo != leoBefore || logHolds(t, c.Broker(ctrl), topic, 0, "one-in-isr") {
		t.Fatalf("NOT_ENOUGH_REPLICAS is checked before the append, but the log grew from %d to %d", leoBefore, leo)
	}
	if code, _ := rawProduce(t, leader, topic, 1, 10000, "acks-one"); code != 0 {
		t.Fatalf("acks=1 does not check min.insync.replicas, got %v", kerr.ErrorForCode(code))
	}
	appended++

	if err := c.Broker(f1).Resume(); err != nil {
		t.Fatal(err)
	}
	if err := c.Broker(f2).Resume(); err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	st := waitISR(t, c, topic, 0, 30*time.Second, ctrl, f1, f2)
	if st.Leader != ctrl {
		t.Fatalf("leader moved to %d", st.Leader)
	}
	t.Logf("both followers back in the ISR %v after they resumed", time.Since(resumed).Round(time.Millisecond))
	if code, _ := rawProduce(t, leader, topic, -1, 10000, "all-back"); code != 0 {
		t.Fatalf("acks=all after both followers rejoined: %v", kerr.ErrorForCode(code))
	}
	appended++
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != int64(appended) {
		t.Fatalf("replicas agree up to HW %d, want %d (every appended record)", hw, appended)
	}
}

// fetchAt sends one consumer Fetch v12 for partition 0 of the topic at offset to addr (no session) and returns the
// partition's answer and how long it took.
func fetchAt(ctx context.Context, addr, topic string, offset int64, maxWaitMs int32) (kmsg.FetchResponseTopicPartition, time.Duration, error) {
	conn, err := network.Dial(ctx, addr, "replication-test")
	if err != nil {
		return kmsg.FetchResponseTopicPartition{}, 0, err
	}
	defer conn.Close()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.ReplicaID = -1
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWaitMs, 1, 1<<20
	req.SessionID, req.SessionEpoch = 0, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = 0, offset, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	start := time.Now()
	resp, err := conn.Request(ctx, req)
	took := time.Since(start)
	if err != nil {
		return kmsg.FetchResponseTopicPartition{}, took, err
	}
	fr := resp.(*kmsg.FetchResponse)
	if fr.ErrorCode != 0 {
		return kmsg.FetchResponseTopicPartition{}, took, kerr.ErrorForCode(fr.ErrorCode)
	}
	if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 {
		return kmsg.FetchResponseTopicPartition{}, took, fmt.Errorf("fetch answered %+v", fr.Topics)
	}
	return fr.Topics[0].Partitions[0], took, nil
}

// A consumer fetch at the log end waits in the purgatory: without new data it is answered empty after max.wait.ms;
// with a record committed meanwhile it is answered as soon as the HW covers it. A consumer fetch to a follower is
// refused, and a consumer never sees past the HW.
func TestIntegrationReplicationDelayedFetch(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 2, Overrides: replOverrides(map[string]string{
		"replica.fetch.wait.max.ms":    fmt.Sprint(fetchWaitMs),
		"zookeeper.session.timeout.ms": "10000",
	})})
	const topic = "waiting"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {0, 1}}, nil)
	produceOK(t, c, topic, -1, values("before", 3)...)
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 3 {
		t.Fatalf("HW %d after 3 acks=all records, want 3", hw)
	}
	leader := c.Broker(0).Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// Nothing arrives: empty after max.wait.ms.
	rp, took, err := fetchAt(ctx, leader, topic, 3, 500)
	if err != nil {
		t.Fatal(err)
	}
	if rp.ErrorCode != 0 || len(rp.RecordBatches) != 0 || rp.HighWatermark != 3 {
		t.Fatalf("fetch at the log end: error %v, %d bytes, HW %d; want an empty answer with HW 3", kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches), rp.HighWatermark)
	}
	if took < 450*time.Millisecond || took > 2*time.Second {
		t.Fatalf("empty fetch with max.wait.ms=500 answered after %v", took)
	}
	t.Logf("empty fetch answered after %v", took.Round(time.Millisecond))

	// A record committed while the fetch waits completes it.
	type result struct {
		rp   kmsg.FetchResponseTopicPartition
		at   time.Time
		took time.Duration
		err  error
	}
	done := make(chan result, 1)
	go func() {
		rp, took, err := fetchAt(ctx, leader, topic, 3, 500)
		done <- result{rp, time.Now(), took, err}
	}()
	time.Sleep(100 * time.Millisecond) // the fetch must be parked before the produce: this is the scenario, not a wait
	if code, off := rawProduce(t, leader, topic, -1, 10000, "wakes-the-fetch"); code != 0 || off != 3 {
		t.Fatalf("acks=all produce: %v at %d", kerr.ErrorForCode(code), off)
	}
	acked := time.Now()
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	if res.rp.ErrorCode != 0 || !bytes.Contains(res.rp.RecordBatches, []byte("wakes-the-fetch")) {
		t.Fatalf("parked fetch answered error %v with %d bytes, want the new record", kerr.ErrorForCode(res.rp.ErrorCode), len(res.rp.RecordBatches))
	}
	lag := res.at.Sub(acked)
	t.Logf("parked fetch answered %v after it was sent, %v after the produce was acknowledged", res.took.Round(time.Millisecond), lag.Round(time.Microsecond))
	if lag > 100*time.Millisecond {
		t.Errorf("the fetch got the committed record %v after the acks=all acknowledgement; want < 100ms", lag)
	}
	if res.took >= 450*time.Millisecond {
		t.Errorf("the fetch waited %v: it expired instead of completing on new data", res.took)
	}

	// A consumer fetch to the follower.
	rp, _, err = fetchAt(ctx, c.Broker(1).Addr(), topic, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	if rp.ErrorCode != kerr.NotLeaderForPartition.Code || len(rp.RecordBatches) != 0 {
		t.Fatalf("consumer fetch to the follower: %v with %d bytes, want NOT_LEADER_OR_FOLLOWER", kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches))
	}

	// A record the follower (still in the ISR) has not fetched is above the HW: a consumer neither sees it nor is
	// woken by its append; it appears once the follower catches up.
	resumeOnExit(t, c.Broker(1))
	freeze(t, c.Broker(1))
	if code, off := rawProduce(t, leader, topic, 1, 10000, "uncommitted"); code != 0 || off != 4 {
		t.Fatalf("acks=1 produce: %v at %d", kerr.ErrorForCode(code), off)
	}
	rp, took, err = fetchAt(ctx, leader, topic, 4, 500)
	if err != nil {
		t.Fatal(err)
	}
	if rp.ErrorCode != 0 || len(rp.RecordBatches) != 0 || rp.HighWatermark != 4 || took < 450*time.Millisecond {
		t.Fatalf("fetch at the HW with an uncommitted record above it: error %v, %d bytes, HW %d, after %v; want an empty answer with HW 4 after max.wait.ms",
			kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches), rp.HighWatermark, took)
	}
	if err := c.Broker(1).Resume(); err != nil {
		t.Fatal(err)
	}
	rp, took, err = fetchAt(ctx, leader, topic, 4, 5000)
	if err != nil {
		t.Fatal(err)
	}
	if rp.ErrorCode != 0 || !bytes.Contains(rp.RecordBatches, []byte("uncommitted")) || rp.HighWatermark != 5 {
		t.Fatalf("fetch after the follower resumed: error %v, %d bytes, HW %d (after %v); want the record with HW 5",
			kerr.ErrorForCode(rp.ErrorCode), len(rp.RecordBatches), rp.HighWatermark, took)
	}
}

// pairOutsideController picks two brokers that are not the controller, so killing them never moves the controller.
func pairOutsideController(t *testing.T, c *testcluster.Cluster) (ctrl, a, b int32) {
	t.Helper()
	ctrl, err := c.ControllerID()
	if err != nil || ctrl < 0 {
		t.Fatalf("controller: %d %v", ctrl, err)
	}
	a = otherThan(c, ctrl)
	b = otherThan(c, ctrl, a)
	return ctrl, a, b
}

// KIP-101, scenario 1: the leader appends a record (acks=1) its frozen follower never fetches and dies. The
// follower was in the ISR, becomes leader and takes different records at the same offsets. The old leader returns:
// it must truncate its tail by leader epoch and end byte-identical to the new leader.
func TestIntegrationReplicationDivergentLeaderTail(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(map[string]string{
		"replica.lag.time.max.ms":      "60000",
		"replica.fetch.wait.max.ms":    fmt.Sprint(fetchWaitMs),
		"zookeeper.session.timeout.ms": "6000",
	})})
	_, a, b := pairOutsideController(t, c)
	const topic = "diverge"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {a, b}}, map[string]string{"min.insync.replicas": "1"})
	resumeOnExit(t, c.Broker(b))
	produceOK(t, c, topic, -1, values("committed", 4)...)
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 4 {
		t.Fatalf("HW %d, want 4", hw)
	}
	testcluster.WaitFor(t, 10*time.Second, "the follower to hold all 4 records", func() bool { return logEnd(t, c.Broker(b), topic, 0) == 4 })

	freeze(t, c.Broker(b))
	if code, off := rawProduce(t, c.Broker(a).Addr(), topic, 1, 10000, "only-on-old-leader"); code != 0 || off != 4 {
		t.Fatalf("acks=1 produce to %d: %v at %d", a, kerr.ErrorForCode(code), off)
	}
	c.Broker(a).Kill()
	if la, lb := logEnd(t, c.Broker(a), topic, 0), logEnd(t, c.Broker(b), topic, 0); la != 5 || lb != 4 {
		t.Fatalf("set-up: log ends old leader %d, follower %d; want 5 and 4", la, lb)
	}
	if err := c.Broker(b).Resume(); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, c, topic, 0, fmt.Sprintf("%d to lead", b), func(st zkutils.LeaderIsr) bool { return st.Leader == b })
	produceOK(t, c, topic, 1, "new-leader-0", "new-leader-1")
	produceOK(t, c, topic, -1, "new-leader-2")

	if err := c.Broker(a).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	st2 := waitISR(t, c, topic, 0, 30*time.Second, a, b)
	if st2.Leader != b || st2.LeaderEpoch != st.LeaderEpoch {
		t.Errorf("after the old leader returned: %+v, want leader %d at epoch %d", st2, b, st.LeaderEpoch)
	}
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 7 {
		t.Fatalf("replicas agree up to HW %d, want 7", hw)
	}
	if logHolds(t, c.Broker(a), topic, 0, "only-on-old-leader") {
		t.Errorf("broker %d kept its divergent record", a)
	}
	for _, v := range []string{"committed-3", "new-leader-0", "new-leader-2"} {
		if !logHolds(t, c.Broker(a), topic, 0, v) {
			t.Errorf("broker %d lacks %q", a, v)
		}
	}
}

// waitLeaderless waits until ZooKeeper shows the partition without a leader.
func waitLeaderless(t *testing.T, c *testcluster.Cluster, topic string) zkutils.LeaderIsr {
	t.Helper()
	return waitState(t, c, topic, 0, "no leader", func(st zkutils.LeaderIsr) bool { return st.Leader < 0 })
}

// KIP-101, scenario 2, with two quick leader changes: both replicas crash with different uncommitted tails; the
// shorter one returns first and leads (unclean election enabled on the topic) and takes a tail of its own, then
// crashes; the other returns and leads with its older tail. When both are back they must agree byte for byte, and
// every record acknowledged with acks=all must be there.
func TestIntegrationReplicationDivergentTailsBothCrash(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(map[string]string{
		"replica.lag.time.max.ms":      "60000",
		"zookeeper.session.timeout.ms": "4000",
	})})
	_, a, b := pairOutsideController(t, c)
	const topic = "crashes"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {a, b}}, map[string]string{
		"min.insync.replicas":            "1",
		"unclean.leader.election.enable": "true",
	})
	resumeOnExit(t, c.Broker(b))
	var ackedAll []string
	ackedAll = append(ackedAll, values("base", 5)...)
	produceOK(t, c, topic, -1, ackedAll...)
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 5 {
		t.Fatalf("HW %d, want 5", hw)
	}
	testcluster.WaitFor(t, 10*time.Second, "the follower to hold all 5 records", func() bool { return logEnd(t, c.Broker(b), topic, 0) == 5 })
	st0, _ := c.PartitionState(topic, 0)

	// a takes a tail b never sees; both crash.
	if err := c.Broker(b).Pause(); err != nil {
		t.Fatal(err)
	}
	if code, off := rawProduce(t, c.Broker(a).Addr(), topic, 1, 10000, "tail-a-0", "tail-a-1", "tail-a-2"); code != 0 || off != 5 {
		t.Fatalf("acks=1 produce to %d: %v at %d", a, kerr.ErrorForCode(code), off)
	}
	c.Broker(a).Kill()
	c.Broker(b).Kill()
	if la, lb := logEnd(t, c.Broker(a), topic, 0), logEnd(t, c.Broker(b), topic, 0); la != 8 || lb != 5 {
		t.Fatalf("set-up: log ends %d on %d, %d on %d; want 8 and 5", la, a, lb, b)
	}

	// Leader change 1: b returns alone and leads; it takes a tail of its own (acks=1: an unclean election may drop it).
	if err := c.Broker(b).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	st1 := waitState(t, c, topic, 0, fmt.Sprintf("%d to lead", b), func(st zkutils.LeaderIsr) bool { return st.Leader == b })
	if code, off := rawProduce(t, c.Broker(b).Addr(), topic, 1, 10000, "tail-b-0", "tail-b-1"); code != 0 || off != 5 {
		t.Fatalf("acks=1 produce to %d: %v at %d", b, kerr.ErrorForCode(code), off)
	}
	c.Broker(b).Kill()
	waitLeaderless(t, c, topic)

	// Leader change 2: a returns alone; it is not in the ISR, so only an unclean election lets it lead.
	if err := c.Broker(a).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	st2 := waitState(t, c, topic, 0, fmt.Sprintf("%d to lead", a), func(st zkutils.LeaderIsr) bool { return st.Leader == a })
	if !(st0.LeaderEpoch < st1.LeaderEpoch && st1.LeaderEpoch < st2.LeaderEpoch) {
		t.Errorf("leader epochs %d, %d, %d: want increasing", st0.LeaderEpoch, st1.LeaderEpoch, st2.LeaderEpoch)
	}
	ackedAll = append(ackedAll, "tail-c-0")
	if off := produceOK(t, c, topic, -1, "tail-c-0"); off != 8 {
		t.Fatalf("acks=all produce to %d landed at %d, want 8 (after its own tail)", a, off)
	}

	if err := c.Broker(b).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	waitISR(t, c, topic, 0, 30*time.Second, a, b)
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 9 {
		t.Fatalf("replicas agree up to HW %d, want 9", hw)
	}
	for _, id := range []int32{a, b} {
		for _, v := range append(slices.Clone(ackedAll), "tail-a-2") {
			if !logHolds(t, c.Broker(id), topic, 0, v) {
				t.Errorf("broker %d lacks %q", id, v)
			}
		}
		if logHolds(t, c.Broker(id), topic, 0, "tail-b-0") {
			t.Errorf("broker %d kept b's divergent tail", id)
		}
	}
}

// epochEntry is one (epoch, start offset) of a leader-epoch cache.
type epochEntry struct{ epoch, start int64 }

// endOffsetFor is Kafka's LeaderEpochFileCache.endOffsetFor over the given cache and log end offset.
func endOffsetFor(cache []epochEntry, leo int64, epoch int32) (int32, int64) {
	e := int64(epoch)
	switch {
	case epoch < 0 || len(cache) == 0:
		return -1, -1
	case e == cache[len(cache)-1].epoch:
		return epoch, leo
	case e > cache[len(cache)-1].epoch:
		return -1, -1
	case e < cache[0].epoch:
		return epoch, cache[0].start
	}
	i := sort.Search(len(cache), func(i int) bool { return cache[i].epoch > e }) // first larger epoch
	return int32(cache[i-1].epoch), cache[i].start
}

// offsetForLeaderEpoch asks one broker (kgo negotiates the version) for the end offset of each epoch, as a consumer
// does (replica id -1).
func offsetForLeaderEpoch(t *testing.T, c *testcluster.Cluster, id int32, topic string, current int32, epochs ...int32) []kmsg.OffsetForLeaderEpochResponseTopicPartition {
	t.Helper()
	cl := c.Client(t, kgo.SeedBrokers(c.Broker(id).Addr()))
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	var out []kmsg.OffsetForLeaderEpochResponseTopicPartition
	for _, e := range epochs {
		// One request per epoch: a partition may appear only once in a request.
		req.Topics = nil
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = topic
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, e
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
		cancel()
		if err != nil {
			t.Fatalf("OffsetForLeaderEpoch to %d: %v", id, err)
		}
		if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
			t.Fatalf("OffsetForLeaderEpoch to %d answered %+v", id, resp.Topics)
		}
		out = append(out, resp.Topics[0].Partitions[0])
	}
	return out
}

// OffsetForLeaderEpoch after two leader changes (controlled shutdown, then a preferred election back): the
// leader's answers follow the epochs ZooKeeper recorded and the offsets where each started; a stale current
// epoch is fenced, a newer one unknown, and a follower refuses.
func TestIntegrationReplicationOffsetForLeaderEpoch(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(nil)})
	_, a, b := pairOutsideController(t, c)
	const topic = "epochs"
	createAssignedWith(t, c, topic, map[int32][]int32{0: {a, b}}, nil)
	st0, err := c.PartitionState(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	produceOK(t, c, topic, -1, values("e0", 5)...)

	// Leader change 1: a shuts down cleanly, b leads; a returns as a follower and rejoins the ISR.
	if err := c.Broker(a).Terminate(); err != nil {
		t.Fatal(err)
	}
	if err := c.Broker(a).Start(); err != nil {
		t.Fatal(err)
	}
	st1 := waitISR(t, c, topic, 0, 30*time.Second, a, b)
	if st1.Leader != b {
		t.Fatalf("after the controlled shutdown of %d: %+v, want leader %d", a, st1, b)
	}
	produceOK(t, c, topic, -1, values("e1", 7)...)
	if st, err := c.PartitionState(topic, 0); err != nil || st.LeaderEpoch != st1.LeaderEpoch {
		t.Fatalf("leader epoch moved while producing: %+v %v, want %d", st, err, st1.LeaderEpoch)
	}
	c.WaitForReplicasInSync(t, 30*time.Second, topic, 0)

	// Leader change 2: a preferred election gives a its leadership back.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Admin(t).ElectLeaders(ctx, kadm.ElectPreferredReplica, kadm.TopicsSet{topic: {0: {}}}); err != nil {
		t.Fatal(err)
	}
	st2 := waitState(t, c, topic, 0, fmt.Sprintf("%d to lead again", a), func(st zkutils.LeaderIsr) bool { return st.Leader == a })
	produceOK(t, c, topic, -1, values("e2", 3)...)
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, topic, 0); hw != 15 {
		t.Fatalf("replicas agree up to HW %d, want 15", hw)
	}
	if !(st0.LeaderEpoch < st1.LeaderEpoch && st1.LeaderEpoch < st2.LeaderEpoch) {
		t.Fatalf("leader epochs %d, %d, %d: want increasing", st0.LeaderEpoch, st1.LeaderEpoch, st2.LeaderEpoch)
	}

	// The epochs stamped into the batches on disk are those ZooKeeper recorded, starting where each leader began.
	batches, err := testcluster.ReadBatches(c.Broker(a).PartitionDir(topic, 0))
	if err != nil {
		t.Fatal(err)
	}
	var cache []epochEntry
	for _, lb := range batches {
		if len(cache) == 0 || cache[len(cache)-1].epoch != int64(lb.LeaderEpoch) {
			cache = append(cache, epochEntry{int64(lb.LeaderEpoch), lb.BaseOffset})
		}
	}
	want := []epochEntry{{int64(st0.LeaderEpoch), 0}, {int64(st1.LeaderEpoch), 5}, {int64(st2.LeaderEpoch), 12}}
	if !slices.Equal(cache, want) {
		t.Fatalf("leader epochs in the batches (epoch, first offset) %v, want %v from ZooKeeper", cache, want)
	}

	t.Logf("leader epochs (epoch, start offset) in ZooKeeper and on disk: %v", cache)
	var epochs []int32
	for e := int32(0); e <= st2.LeaderEpoch+1; e++ {
		epochs = append(epochs, e)
	}
	for i, rp := range offsetForLeaderEpoch(t, c, a, topic, st2.LeaderEpoch, epochs...) {
		wantEpoch, wantEnd := endOffsetFor(cache, 15, epochs[i])
		if rp.ErrorCode != 0 || rp.LeaderEpoch != wantEpoch || rp.EndOffset != wantEnd {
			t.Errorf("end offset for epoch %d: error %v, (epoch %d, offset %d); want (%d, %d)", epochs[i], kerr.ErrorForCode(rp.ErrorCode), rp.LeaderEpoch, rp.EndOffset, wantEpoch, wantEnd)
		}
	}
	if rp := offsetForLeaderEpoch(t, c, a, topic, st2.LeaderEpoch-1, st1.LeaderEpoch)[0]; rp.ErrorCode != kerr.FencedLeaderEpoch.Code {
		t.Errorf("stale current leader epoch %d: %v, want FENCED_LEADER_EPOCH", st2.LeaderEpoch-1, kerr.ErrorForCode(rp.ErrorCode))
	}
	if rp := offsetForLeaderEpoch(t, c, a, topic, st2.LeaderEpoch+1, st1.LeaderEpoch)[0]; rp.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Errorf("future current leader epoch %d: %v, want UNKNOWN_LEADER_EPOCH", st2.LeaderEpoch+1, kerr.ErrorForCode(rp.ErrorCode))
	}
	if rp := offsetForLeaderEpoch(t, c, b, topic, st2.LeaderEpoch, st1.LeaderEpoch)[0]; rp.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Errorf("OffsetForLeaderEpoch to the follower %d: %v, want NOT_LEADER_OR_FOLLOWER", b, kerr.ErrorForCode(rp.ErrorCode))
	}
}

// Unclean leader election: the follower falls out of the ISR and the leader dies. With the topic's
// unclean.leader.election.enable=false the partition stays leaderless until the old leader returns; with it true
// the out-of-sync replica leads at once, and the old leader, when it returns, drops what the new one never had.
func TestIntegrationReplicationUncleanElection(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: replOverrides(map[string]string{
		"replica.lag.time.max.ms":      "2000",
		"replica.fetch.wait.max.ms":    fmt.Sprint(fetchWaitMs),
		"zookeeper.session.timeout.ms": "8000", // the frozen follower keeps its session while the leader shrinks it out
	})})
	_, a, b := pairOutsideController(t, c)
	const clean, unclean = "clean", "unclean"
	createAssignedWith(t, c, clean, map[int32][]int32{0: {a, b}}, map[string]string{"unclean.leader.election.enable": "false"})
	createAssignedWith(t, c, unclean, map[int32][]int32{0: {a, b}}, map[string]string{"unclean.leader.election.enable": "true"})
	resumeOnExit(t, c.Broker(b))
	for _, topic := range []string{clean, unclean} {
		produceOK(t, c, topic, -1, values("synced", 3)...)
	}

	freeze(t, c.Broker(b))
	for _, topic := range []string{clean, unclean} {
		if code, _ := rawProduce(t, c.Broker(a).Addr(), topic, 1, 10000, "only-on-"+fmt.Sprint(a)); code != 0 {
			t.Fatalf("acks=1 produce to %s: %v", topic, kerr.ErrorForCode(code))
		}
	}
	for _, topic := range []string{clean, unclean} {
		waitISR(t, c, topic, 0, 6*time.Second, a) // the leader shrinks it, before ZooKeeper expires its session
	}
	c.Broker(a).Kill()
	if lb := logEnd(t, c.Broker(b), unclean, 0); lb != 3 {
		t.Fatalf("set-up: the frozen follower's log ends at %d, want 3", lb)
	}
	if err := c.Broker(b).Resume(); err != nil {
		t.Fatal(err)
	}

	stU := waitState(t, c, unclean, 0, fmt.Sprintf("unclean election of %d", b), func(st zkutils.LeaderIsr) bool { return st.Leader == b })
	if !sameSet(stU.ISR, []int32{b}) {
		t.Errorf("%s after the unclean election: %+v, want ISR [%d]", unclean, stU, b)
	}
	stC := waitLeaderless(t, c, clean)
	if slices.Contains(stC.ISR, b) {
		t.Errorf("%s without a leader: %+v; the stale replica %d must not be in the ISR", clean, stC, b)
	}
	// It stays leaderless: the live replica is out of sync and unclean election is off.
	c.WaitForMetadataLeader(t, 30*time.Second, unclean, 0, b)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if st, err := c.PartitionState(clean, 0); err != nil || st.Leader >= 0 {
			t.Fatalf("%s got leader %d (%v) while only the out-of-sync replica %d was alive", clean, st.Leader, err, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	produceOK(t, c, unclean, 1, "after-unclean-0", "after-unclean-1")

	if err := c.Broker(a).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	waitState(t, c, clean, 0, fmt.Sprintf("%d to lead again", a), func(st zkutils.LeaderIsr) bool { return st.Leader == a })
	for _, topic := range []string{clean, unclean} {
		waitISR(t, c, topic, 0, 30*time.Second, a, b)
	}
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, clean, 0); hw != 4 {
		t.Errorf("%s: replicas agree up to HW %d, want 4", clean, hw)
	}
	if hw := c.WaitForReplicasInSync(t, 30*time.Second, unclean, 0); hw != 5 {
		t.Errorf("%s: replicas agree up to HW %d, want 5", unclean, hw)
	}
	if st, _ := c.PartitionState(unclean, 0); st.Leader != b {
		t.Errorf("%s: leader %d after the old leader returned, want %d", unclean, st.Leader, b)
	}
	only := "only-on-" + fmt.Sprint(a)
	if !logHolds(t, c.Broker(b), clean, 0, only) {
		t.Errorf("%s: %d did not fetch the record it missed", clean, b)
	}
	if logHolds(t, c.Broker(a), unclean, 0, only) {
		t.Errorf("%s: %d kept the record the unclean leader never had", unclean, a)
	}
}
