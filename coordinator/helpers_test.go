package coordinator

import (
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/jhash"
)

// fakeLog is an in-memory Log: appends are recorded per partition and completed from another goroutine
// with appendErr; Load replays batches, optionally blocking on loadGate first.
type fakeLog struct {
	mu        sync.Mutex
	appends   map[int32][][]Record
	appendErr error
	topics    map[string]bool
	batches   map[int32][]Batch
	loadGate  chan struct{}
	loadStart chan struct{}

	txnAppends []txnAppend
}

// txnAppend is one AppendTransactional call.
type txnAppend struct {
	p       int32
	pid     int64
	epoch   int16
	records []Record
}

func newFakeLog() *fakeLog {
	return &fakeLog{
		appends: map[int32][][]Record{},
		topics:  map[string]bool{"t": true, "u": true, "v": true},
		batches: map[int32][]Batch{},
	}
}

func (f *fakeLog) Append(p int32, records []Record, done func(error)) {
	f.mu.Lock()
	f.appends[p] = append(f.appends[p], records)
	err := f.appendErr
	f.mu.Unlock()
	go done(err)
}

func (f *fakeLog) AppendTransactional(p int32, producerID int64, producerEpoch int16, records []Record, done func(error)) {
	f.mu.Lock()
	f.appends[p] = append(f.appends[p], records)
	f.txnAppends = append(f.txnAppends, txnAppend{p: p, pid: producerID, epoch: producerEpoch, records: records})
	err := f.appendErr
	f.mu.Unlock()
	go done(err)
}

func (f *fakeLog) Load(p int32, fn func(Batch) error) error {
	f.mu.Lock()
	gate, started := f.loadGate, f.loadStart
	f.loadGate, f.loadStart = nil, nil
	bs := append([]Batch(nil), f.batches[p]...)
	f.mu.Unlock()
	if started != nil {
		close(started)
	}
	return replayBatches(bs, gate, fn)
}

// replayBatches is a fake Log's Load: once gate (if any) is closed, bs are handed to fn in order.
func replayBatches(bs []Batch, gate <-chan struct{}, fn func(Batch) error) error {
	if gate != nil {
		<-gate
	}
	for _, b := range bs {
		if err := fn(b); err != nil {
			return err
		}
	}
	return nil
}

func (f *fakeLog) TopicExists(topic string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.topics[topic]
}

func (f *fakeLog) setErr(err error) {
	f.mu.Lock()
	f.appendErr = err
	f.mu.Unlock()
}

// allRecords is every record appended to p, in order.
func (f *fakeLog) allRecords(p int32) []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Record
	for _, rs := range f.appends[p] {
		out = append(out, rs...)
	}
	return out
}

func testConfig() Config {
	return Config{
		BrokerID:                   1,
		OffsetsTopicPartitions:     1,
		GroupMinSessionTimeout:     10 * time.Millisecond,
		GroupMaxSessionTimeout:     time.Minute,
		GroupInitialRebalanceDelay: 0,
	}
}

// startCoordinator returns a started coordinator that leads partition 0 (the only one) and has loaded it.
func startCoordinator(t *testing.T, cfg Config, fl *fakeLog) *Coordinator {
	t.Helper()
	c := New(cfg, fl)
	c.Startup()
	t.Cleanup(c.Shutdown)
	c.OnElection(0, 1)
	waitFor(t, "partition 0 loaded", func() bool { return c.IsOwned(0) })
	return c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func recv[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("no response within 5s")
	}
	var zero T
	return zero
}

func noRecv[T any](t *testing.T, ch <-chan T, d time.Duration) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("unexpected response %+v", v)
	case <-time.After(d):
	}
}

type joinSpec struct {
	version     int16
	group       string
	memberID    string
	instanceID  *string
	clientID    string
	sessionMs   int32
	rebalanceMs int32
	ptype       string
	protocols   []protocol
}

func joinReq(s joinSpec) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = s.version
	if r.Version == 0 {
		r.Version = 9
	}
	r.Group = s.group
	if r.Group == "" {
		r.Group = "g"
	}
	r.MemberID = s.memberID
	r.InstanceID = s.instanceID
	r.SessionTimeoutMillis = s.sessionMs
	if r.SessionTimeoutMillis == 0 {
		r.SessionTimeoutMillis = 10000
	}
	r.RebalanceTimeoutMillis = s.rebalanceMs
	if r.RebalanceTimeoutMillis == 0 {
		r.RebalanceTimeoutMillis = 10000
	}
	r.ProtocolType = s.ptype
	if r.ProtocolType == "" {
		r.ProtocolType = "consumer"
	}
	ps := s.protocols
	if ps == nil {
		ps = []protocol{{"range", subscription("t")}}
	}
	for _, p := range ps {
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p.name, p.metadata
		r.Protocols = append(r.Protocols, jp)
	}
	return r
}

func subscription(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = topics
	return m.AppendTo(nil)
}

func (c *Coordinator) joinAsync(s joinSpec) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	clientID := s.clientID
	if clientID == "" {
		clientID = "client"
	}
	c.JoinGroup(joinReq(s), Client{ClientID: clientID, ClientHost: "/127.0.0.1"}, func(r *kmsg.JoinGroupResponse) { ch <- r })
	return ch
}

// joinNew does the v4+ MEMBER_ID_REQUIRED dance and returns the channel of the real join.
func (c *Coordinator) joinNew(t *testing.T, s joinSpec) <-chan *kmsg.JoinGroupResponse {
	t.Helper()
	first := recv(t, c.joinAsync(s))
	if first.ErrorCode != kerr.MemberIDRequired.Code || first.MemberID == "" {
		t.Fatalf("first join: error %d member %q, want MEMBER_ID_REQUIRED with an id", first.ErrorCode, first.MemberID)
	}
	s.memberID = first.MemberID
	return c.joinAsync(s)
}

func syncReq(group, memberID string, gen int32, assignments map[string][]byte) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group = group
	r.MemberID = memberID
	r.Generation = gen
	pt, pn := "consumer", "range"
	r.ProtocolType, r.Protocol = &pt, &pn
	for id, a := range assignments {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		r.GroupAssignment = append(r.GroupAssignment, ga)
	}
	return r
}

func (c *Coordinator) syncAsync(r *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	c.SyncGroup(r, func(resp *kmsg.SyncGroupResponse) { ch <- resp })
	return ch
}

func (c *Coordinator) heartbeatCode(group, memberID string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.Version = 4
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	return c.Heartbeat(r).ErrorCode
}

func commitReq(group, memberID string, gen int32, offsets map[topicPartition]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = 8
	r.Group, r.MemberID, r.Generation = group, memberID, gen
	byTopic := map[string]*kmsg.OffsetCommitRequestTopic{}
	var tps []topicPartition
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sortTPs(tps)
	for _, tp := range tps {
		rt := byTopic[tp.topic]
		if rt == nil {
			r.Topics = append(r.Topics, kmsg.NewOffsetCommitRequestTopic())
			rt = &r.Topics[len(r.Topics)-1]
			rt.Topic = tp.topic
			byTopic[tp.topic] = rt
		}
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset = tp.partition, offsets[tp]
		rt.Partitions = append(rt.Partitions, p)
	}
	return r
}

func (c *Coordinator) commit(t *testing.T, r *kmsg.OffsetCommitRequest) map[topicPartition]int16 {
	t.Helper()
	ch := make(chan *kmsg.OffsetCommitResponse, 1)
	c.OffsetCommit(r, func(resp *kmsg.OffsetCommitResponse) { ch <- resp })
	resp := recv(t, ch)
	out := map[topicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[topicPartition{rt.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

// stableGroup forms group g with one member (v9) and returns its member id and generation.
func stableGroup(t *testing.T, c *Coordinator, s joinSpec) (string, int32) {
	t.Helper()
	j := recv(t, c.joinNew(t, s))
	if j.ErrorCode != 0 {
		t.Fatalf("join: error %d", j.ErrorCode)
	}
	g := s.group
	if g == "" {
		g = "g"
	}
	sr := recv(t, c.syncAsync(syncReq(g, j.MemberID, j.Generation, map[string][]byte{j.MemberID: {1}})))
	if sr.ErrorCode != 0 {
		t.Fatalf("sync: error %d", sr.ErrorCode)
	}
	return j.MemberID, j.Generation
}

func int32FromJava(s string) int32 { return jhash.String(s) }
