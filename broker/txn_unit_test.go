package broker

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/internal/zktest"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/zkutils"
)

func quietEntry() *logrus.Entry {
	l := logrus.New()
	l.SetLevel(logrus.PanicLevel)
	return logrus.NewEntry(l)
}

// fakeBlocks hands out consecutive blocks like /latest_producer_id_block, counting calls.
type fakeBlocks struct {
	mu    sync.Mutex
	next  int64
	calls int
	fail  error
	gate  chan struct{} // if set, each allocation waits for a value
}

func (f *fakeBlocks) allocate(broker int32) (zkutils.ProducerIDBlock, error) {
	if f.gate != nil {
		<-f.gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return zkutils.ProducerIDBlock{}, f.fail
	}
	b := zkutils.ProducerIDBlock{BrokerID: broker, First: f.next, Last: f.next + zkutils.ProducerIDBlockSize - 1}
	f.next += zkutils.ProducerIDBlockSize
	return b, nil
}

func (f *fakeBlocks) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestProducerIDManagerHandsOutBlocksInOrder(t *testing.T) {
	f := &fakeBlocks{next: 5000}
	m := newProducerIDManager(1, f.allocate, quietEntry())
	defer m.close()
	for want := int64(5000); want < 5000+2500; want++ {
		got, err := m.NextProducerID()
		if err != nil || got != want {
			t.Fatalf("id %d: got %d, %v", want, got, err)
		}
	}
	m.close()
	if c := f.callCount(); c != 3 {
		t.Fatalf("%d allocations for 2.5 blocks, want 3", c)
	}
}

func TestProducerIDManagerPrefetchesAtNinetyPercent(t *testing.T) {
	f := &fakeBlocks{}
	m := newProducerIDManager(1, f.allocate, quietEntry())
	defer m.close()
	tests := []struct {
		draw      int
		wantCalls int
	}{
		{draw: 1, wantCalls: 1},   // the first block, synchronously
		{draw: 898, wantCalls: 1}, // 899 of 1000 used: below the threshold
		{draw: 1, wantCalls: 2},   // the 900th starts the prefetch
	}
	for i, tt := range tests {
		for range tt.draw {
			if _, err := m.NextProducerID(); err != nil {
				t.Fatal(err)
			}
		}
		if tt.wantCalls == 2 {
			// The prefetch runs in the background: wait for it without drawing more ids.
			deadline := time.Now().Add(5 * time.Second)
			for f.callCount() < 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
		if c := f.callCount(); c != tt.wantCalls {
			t.Fatalf("step %d: %d allocations, want %d", i, c, tt.wantCalls)
		}
	}
}

func TestProducerIDManagerUsesPrefetchedBlockAndReportsErrors(t *testing.T) {
	f := &fakeBlocks{}
	m := newProducerIDManager(1, f.allocate, quietEntry())
	defer m.close()
	for range 900 {
		if _, err := m.NextProducerID(); err != nil {
			t.Fatal(err)
		}
	}
	// The prefetched block arrives while the current one still has ids: they are used first.
	for want := int64(900); want < 1100; want++ {
		got, err := m.NextProducerID()
		if err != nil || got != want {
			t.Fatalf("got %d %v, want %d", got, err, want)
		}
	}
	// No block can be claimed any more: once the current (prefetched) block is used up, the error surfaces.
	m.close()
	f.mu.Lock()
	f.fail = errors.New("zookeeper down")
	f.mu.Unlock()
	m2 := newProducerIDManager(2, f.allocate, quietEntry())
	defer m2.close()
	if _, err := m2.NextProducerID(); err == nil || err.Error() != "zookeeper down" {
		t.Fatalf("got %v, want the allocation error", err)
	}
}

// Two brokers' managers on one ZooKeeper never hand out the same id.
func TestProducerIDManagersOnOneZooKeeperNeverOverlap(t *testing.T) {
	connect := zktest.Connect(t)
	const perManager = 2500
	seen := make(map[int64]int32, 2*perManager)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, id := range []int32{1, 2} {
		c, err := zkutils.Connect(zkutils.Config{Connect: connect, SessionTimeout: 6 * time.Second, ConnectionTimeout: 10 * time.Second, Logger: quietEntry()})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.CreateTopLevelPaths(); err != nil {
			t.Fatal(err)
		}
		m := newProducerIDManager(id, c.AllocateProducerIDBlock, quietEntry())
		defer m.close()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range perManager {
				pid, err := m.NextProducerID()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if other, dup := seen[pid]; dup {
					t.Errorf("producer id %d handed out by brokers %d and %d", pid, other, id)
				}
				seen[pid] = id
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != 2*perManager {
		t.Fatalf("%d distinct ids, want %d", len(seen), 2*perManager)
	}
}

func TestMarkerOutcome(t *testing.T) {
	tests := []struct {
		code    int16
		final   bool
		wantErr error
	}{
		{0, true, nil},
		{kerr.NotLeaderForPartition.Code, false, nil},
		{kerr.UnknownTopicOrPartition.Code, false, nil},
		{kerr.NotEnoughReplicas.Code, false, nil},
		{kerr.NotEnoughReplicasAfterAppend.Code, false, nil},
		{kerr.RequestTimedOut.Code, false, nil},
		{kerr.KafkaStorageError.Code, false, nil},
		{kerr.UnsupportedForMessageFormat.Code, true, nil},
		{kerr.InvalidProducerEpoch.Code, true, kerr.InvalidProducerEpoch},
		{kerr.TransactionCoordinatorFenced.Code, true, kerr.TransactionCoordinatorFenced},
		{kerr.CorruptMessage.Code, true, kerr.CorruptMessage},
	}
	for _, tt := range tests {
		final, err := markerOutcome(tt.code)
		if final != tt.final || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
			t.Errorf("code %d: final=%v err=%v, want %v %v", tt.code, final, err, tt.final, tt.wantErr)
		}
	}
}

// fakeLeader answers WriteTxnMarkers with scripted codes per partition, one script entry per request.
type fakeLeader struct {
	mu      sync.Mutex
	scripts map[coordinator.TopicPartition][]int16
	reqs    []*kmsg.WriteTxnMarkersRequest
	failIO  int // the first failIO requests fail at the transport
}

func (f *fakeLeader) Request(ctx context.Context, r kmsg.Request) (kmsg.Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	req := r.(*kmsg.WriteTxnMarkersRequest)
	f.reqs = append(f.reqs, req)
	if f.failIO > 0 {
		f.failIO--
		return nil, errors.New("connection reset")
	}
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				tp := coordinator.TopicPartition{Topic: t.Topic, Partition: p}
				code := int16(0)
				if s := f.scripts[tp]; len(s) > 0 {
					code, f.scripts[tp] = s[0], s[1:]
				}
				rp := kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	return resp, nil
}

func (f *fakeLeader) Close() error { return nil }

func testMarkerWriter(leaders map[coordinator.TopicPartition]string, gone map[coordinator.TopicPartition]bool, conns map[string]*fakeLeader) *markerWriter {
	ctx, cancel := context.WithCancel(context.Background())
	return &markerWriter{
		leaderOf: func(tp coordinator.TopicPartition) (string, bool, bool) {
			if gone[tp] {
				return "", false, false
			}
			addr, ok := leaders[tp]
			return addr, true, ok
		},
		dial: func(ctx context.Context, addr string) (markerConn, error) {
			if c, ok := conns[addr]; ok {
				return c, nil
			}
			return nil, fmt.Errorf("no broker at %s", addr)
		},
		timeout: time.Second,
		backoff: time.Millisecond,
		logger:  quietEntry(),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[string]markerConn{},
	}
}

func TestMarkerWriterRetriesUntilWrittenOrGone(t *testing.T) {
	a0 := coordinator.TopicPartition{Topic: "a", Partition: 0}
	a1 := coordinator.TopicPartition{Topic: "a", Partition: 1}
	b0 := coordinator.TopicPartition{Topic: "b", Partition: 0}
	deleted := coordinator.TopicPartition{Topic: "deleted", Partition: 0}
	fenced := coordinator.TopicPartition{Topic: "c", Partition: 0}
	l1 := &fakeLeader{failIO: 1, scripts: map[coordinator.TopicPartition][]int16{
		a0: {kerr.NotLeaderForPartition.Code, kerr.RequestTimedOut.Code, 0},
		a1: {0},
	}}
	l2 := &fakeLeader{scripts: map[coordinator.TopicPartition][]int16{
		fenced: {kerr.TransactionCoordinatorFenced.Code},
	}}
	w := testMarkerWriter(
		map[coordinator.TopicPartition]string{a0: "l1", a1: "l1", b0: "l2", fenced: "l2"},
		map[coordinator.TopicPartition]bool{deleted: true},
		map[string]*fakeLeader{"l1": l1, "l2": l2})
	defer w.close()
	got := make(chan map[coordinator.TopicPartition]error, 1)
	m := coordinator.TxnMarker{ProducerID: 7, ProducerEpoch: 3, Commit: true, CoordinatorEpoch: 9,
		Partitions: []coordinator.TopicPartition{a0, a1, b0, deleted, fenced}}
	w.WriteMarkers(m, func(res map[coordinator.TopicPartition]error) { got <- res })
	var res map[coordinator.TopicPartition]error
	select {
	case res = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("markers never completed")
	}
	want := map[coordinator.TopicPartition]error{a0: nil, a1: nil, b0: nil, deleted: nil, fenced: kerr.TransactionCoordinatorFenced}
	if len(res) != len(want) {
		t.Fatalf("results %v", res)
	}
	for tp, err := range want {
		if got, ok := res[tp]; !ok || !errors.Is(got, err) || (err == nil && got != nil) {
			t.Errorf("%v: got %v, want %v", tp, got, err)
		}
	}
	l1.mu.Lock()
	defer l1.mu.Unlock()
	if len(l1.reqs) != 4 { // transport failure, NOT_LEADER, REQUEST_TIMED_OUT, success
		t.Fatalf("leader 1 got %d requests, want 4", len(l1.reqs))
	}
	r := l1.reqs[0]
	if r.Version != 1 || len(r.Markers) != 1 || r.Markers[0].ProducerID != 7 || r.Markers[0].ProducerEpoch != 3 ||
		!r.Markers[0].Committed || r.Markers[0].CoordinatorEpoch != 9 {
		t.Fatalf("request %+v", r)
	}
	if last := l1.reqs[3]; len(last.Markers[0].Topics) != 1 || len(last.Markers[0].Topics[0].Partitions) != 1 {
		t.Fatalf("the last retry should carry only a-0: %+v", last.Markers[0].Topics)
	}
}

func TestMarkerWriterCloseFailsPending(t *testing.T) {
	tp := coordinator.TopicPartition{Topic: "a", Partition: 0}
	w := testMarkerWriter(map[coordinator.TopicPartition]string{}, nil, nil) // no leader: retried forever
	got := make(chan map[coordinator.TopicPartition]error, 2)
	w.WriteMarkers(coordinator.TxnMarker{ProducerID: 1, Partitions: []coordinator.TopicPartition{tp}},
		func(res map[coordinator.TopicPartition]error) { got <- res })
	w.close()
	for _, what := range []string{"in flight", "after close"} {
		select {
		case res := <-got:
			if !errors.Is(res[tp], kerr.NotCoordinator) {
				t.Fatalf("%s: got %v", what, res)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: done never called", what)
		}
		if what == "in flight" {
			w.WriteMarkers(coordinator.TxnMarker{ProducerID: 2, Partitions: []coordinator.TopicPartition{tp}},
				func(res map[coordinator.TopicPartition]error) { got <- res })
		}
	}
}

func TestWriteTxnMarkersResponseMergesByProducer(t *testing.T) {
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	for _, pid := range []int64{5, 6, 5} {
		m := kmsg.NewWriteTxnMarkersRequestMarker()
		m.ProducerID = pid
		req.Markers = append(req.Markers, m)
	}
	results := [][]markerPartitionResult{
		{{tp: topicPartition{Topic: "a", Partition: 0}, code: 0}, {tp: topicPartition{Topic: "b", Partition: 1}, code: 3}},
		{{tp: topicPartition{Topic: "a", Partition: 0}, code: 6}},
		{{tp: topicPartition{Topic: "a", Partition: 1}, code: 0}, {tp: topicPartition{Topic: "b", Partition: 1}, code: 0}},
	}
	resp := writeTxnMarkersResponse(req, results)
	got := map[string]int16{}
	for _, m := range resp.Markers {
		for _, t := range m.Topics {
			for _, p := range t.Partitions {
				got[fmt.Sprintf("%d/%s-%d", m.ProducerID, t.Topic, p.Partition)] = p.ErrorCode
			}
		}
	}
	want := map[string]int16{"5/a-0": 0, "5/b-1": 0, "5/a-1": 0, "6/a-0": 6}
	if len(resp.Markers) != 2 || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %d markers %v, want 2 %v", len(resp.Markers), got, want)
	}
}

func TestFencedForOldClients(t *testing.T) {
	tests := []struct {
		code, version, since, want int16
	}{
		{kerr.ProducerFenced.Code, 3, 4, kerr.InvalidProducerEpoch.Code},
		{kerr.ProducerFenced.Code, 4, 4, kerr.ProducerFenced.Code},
		{kerr.ProducerFenced.Code, 1, 2, kerr.InvalidProducerEpoch.Code},
		{kerr.ConcurrentTransactions.Code, 0, 2, kerr.ConcurrentTransactions.Code},
		{0, 0, 4, 0},
	}
	for _, tt := range tests {
		if got := fencedForOldClients(tt.code, tt.version, tt.since); got != tt.want {
			t.Errorf("%+v: got %d", tt, got)
		}
	}
}

func TestFetchIsolationOf(t *testing.T) {
	tests := []struct {
		follower bool
		level    int8
		want     fetchIsolation
	}{
		{true, 0, fetchLogEnd},
		{true, 1, fetchLogEnd},
		{false, 0, fetchHighWatermark},
		{false, 1, fetchTxnCommitted},
	}
	for _, tt := range tests {
		if got := fetchIsolationOf(tt.follower, tt.level); got != tt.want {
			t.Errorf("%+v: got %d", tt, got)
		}
	}
}

func TestHasTransactionalBatch(t *testing.T) {
	txn := encodeTxnGroupBatch([]coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}, 1, 42, 3)
	plain := encodeGroupBatch([]coordinator.Record{{Key: []byte("k"), Value: []byte("v")}}, 1)
	tests := []struct {
		name    string
		batches [][]byte
		want    bool
	}{
		{"none", nil, false},
		{"plain", [][]byte{plain}, false},
		{"transactional", [][]byte{txn}, true},
		{"one of two", [][]byte{plain, txn}, true},
		{"too short", [][]byte{{1, 2, 3}}, false},
	}
	for _, tt := range tests {
		req := kmsg.NewPtrProduceRequest()
		tpc := kmsg.NewProduceRequestTopic()
		for i, b := range tt.batches {
			p := kmsg.NewProduceRequestTopicPartition()
			p.Partition, p.Records = int32(i), b
			tpc.Partitions = append(tpc.Partitions, p)
		}
		req.Topics = append(req.Topics, tpc)
		if got := hasTransactionalBatch(req); got != tt.want {
			t.Errorf("%s: got %v", tt.name, got)
		}
	}
}

// The TxnOffsetCommit batch is what GroupMetadataManager.storeOffsets writes: transactional, the producer's id
// and epoch, base sequence 0, a valid CRC.
func TestEncodeTxnGroupBatch(t *testing.T) {
	recs := []coordinator.Record{{Key: []byte("k1"), Value: []byte("v1")}, {Key: []byte("k2"), Value: nil}}
	raw := encodeTxnGroupBatch(recs, 1234, 77, 5)
	var got []log.BatchInfo
	var values [][]byte
	if _, err := log.DecodeBatches(raw, func(b log.BatchInfo, rs []log.Record) error {
		got = append(got, b)
		for _, r := range rs {
			values = append(values, r.Value)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d batches", len(got))
	}
	b := got[0]
	if !b.Transactional || b.Control || b.ProducerID != 77 || b.ProducerEpoch != 5 || b.BaseSequence != 0 ||
		b.NumRecords != 2 || b.MaxTimestamp != 1234 || b.Compression != 0 {
		t.Fatalf("batch %+v", b)
	}
	if string(values[0]) != "v1" || values[1] != nil {
		t.Fatalf("values %q", values)
	}
	if crc := crc32.Checksum(raw[21:], crc32c); uint32(raw[17])<<24|uint32(raw[18])<<16|uint32(raw[19])<<8|uint32(raw[20]) != crc {
		t.Fatal("bad CRC")
	}
}

func TestTransactionConfigDefaults(t *testing.T) {
	cfg, err := NewConfig(map[string]string{"zookeeper.connect": "zk:2181"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"transaction.state.log.num.partitions", cfg.TxnLogPartitions, int32(50)},
		{"transaction.state.log.replication.factor", cfg.TxnLogReplicationFactor, int16(3)},
		{"transaction.state.log.min.isr", cfg.TxnLogMinISR, 2},
		{"transaction.state.log.segment.bytes", cfg.TxnLogSegmentBytes, int64(104857600)},
		{"transaction.max.timeout.ms", cfg.TxnMaxTimeout, 900 * time.Second},
		{"transaction.abort.timed.out.transaction.cleanup.interval.ms", cfg.TxnAbortTimedOutInterval, 10 * time.Second},
		{"transactional.id.expiration.ms", cfg.TransactionalIDExpiration, 7 * 24 * time.Hour},
		{"transaction.remove.expired.transaction.cleanup.interval.ms", cfg.TxnRemoveExpiredInterval, time.Hour},
		{"producer.id.expiration.ms", cfg.ProducerIDExpirationMs, int64(86400000)},
		{"producer.id.expiration.check.interval.ms", cfg.ProducerIDExpirationCheckInterval, 10 * time.Minute},
		{"transaction.partition.verification.enable", cfg.TxnPartitionVerification, true},
		{"request.timeout.ms", cfg.RequestTimeout, 30 * time.Second},
		{"log config producer.id.expiration.ms", cfg.logConfig(nil).ProducerIDExpirationMs, int64(86400000)},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	for _, bad := range []map[string]string{
		{"transaction.state.log.num.partitions": "0"},
		{"transaction.state.log.replication.factor": "0"},
		{"transaction.max.timeout.ms": "0"},
		{"transaction.partition.verification.enable": "maybe"},
	} {
		bad["zookeeper.connect"] = "zk:2181"
		if _, err := NewConfig(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
	want := map[string]string{"unclean.leader.election.enable": "false", "compression.type": "uncompressed",
		"cleanup.policy": "compact", "min.insync.replicas": "2", "segment.bytes": "104857600"}
	if got := txnTopicConfigs(cfg); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("topic configs %v, want %v", got, want)
	}
	if err := validateTopicConfigs(txnTopicConfigs(cfg)); err != nil {
		t.Fatal(err)
	}
}
