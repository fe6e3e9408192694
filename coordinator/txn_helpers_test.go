package coordinator

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnFake is the broker side of a TxnCoordinator in tests: its __transaction_state Log, its ProducerIDs and
// its MarkerWriter. Everything done is recorded in events, in order; appends and markers complete from
// another goroutine.
type txnFake struct {
	mu        sync.Mutex
	events    []string
	appends   map[int32][][]Record
	appendErr error
	batches   map[int32][]Batch
	topics    map[string]bool
	loadGate  chan struct{}
	// holdAppends keeps completed appends back until releaseAppends: a write in flight.
	holdAppends bool
	heldAppends []func()

	nextPID int64
	pidErr  error

	markers     []TxnMarker
	markerErrs  func(TopicPartition) error // nil = every marker written
	holdMarkers bool
	heldMarkers []func()
	markersDone int // done callbacks that have returned
}

func newTxnFake() *txnFake {
	return &txnFake{
		appends: map[int32][][]Record{},
		batches: map[int32][]Batch{},
		topics:  map[string]bool{"t": true, "u": true, OffsetsTopic: true},
		nextPID: 1000,
	}
}

func (f *txnFake) Append(p int32, records []Record, done func(error)) {
	f.mu.Lock()
	f.appends[p] = append(f.appends[p], records)
	for _, r := range records {
		f.events = append(f.events, describeTxnRecord(r))
	}
	err := f.appendErr
	if f.holdAppends {
		f.heldAppends = append(f.heldAppends, func() { done(err) })
		f.mu.Unlock()
		return
	}
	f.mu.Unlock()
	go done(err)
}

// releaseAppends completes the held appends and stops holding.
func (f *txnFake) releaseAppends() {
	f.mu.Lock()
	held := f.heldAppends
	f.heldAppends, f.holdAppends = nil, false
	f.mu.Unlock()
	for _, c := range held {
		go c()
	}
}

func (f *txnFake) AppendTransactional(int32, int64, int16, []Record, func(error)) {
	panic("the transaction coordinator never appends transactionally")
}

func (f *txnFake) Load(p int32, fn func(Batch) error) error {
	f.mu.Lock()
	gate := f.loadGate
	f.loadGate = nil
	bs := append([]Batch(nil), f.batches[p]...)
	f.mu.Unlock()
	return replayBatches(bs, gate, fn)
}

func (f *txnFake) TopicExists(topic string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.topics[topic]
}

func (f *txnFake) NextProducerID() (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pidErr != nil {
		return 0, f.pidErr
	}
	id := f.nextPID
	f.nextPID++
	return id, nil
}

func (f *txnFake) WriteMarkers(m TxnMarker, done func(map[TopicPartition]error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.markers = append(f.markers, m)
	f.events = append(f.events, fmt.Sprintf("markers %s pid=%d epoch=%d coordEpoch=%d %v", resultName(m.Commit), m.ProducerID, m.ProducerEpoch, m.CoordinatorEpoch, m.Partitions))
	res := map[TopicPartition]error{}
	for _, tp := range m.Partitions {
		if f.markerErrs != nil {
			res[tp] = f.markerErrs(tp)
		} else {
			res[tp] = nil
		}
	}
	complete := func() {
		go func() {
			done(res)
			f.mu.Lock()
			f.markersDone++
			f.mu.Unlock()
		}()
	}
	if f.holdMarkers {
		f.heldMarkers = append(f.heldMarkers, complete)
		return
	}
	complete()
}

// holdAllMarkers keeps marker completions back until releaseMarkers: markers in flight.
func (f *txnFake) holdAllMarkers() {
	f.mu.Lock()
	f.holdMarkers = true
	f.mu.Unlock()
}

// releaseMarkers completes the held marker writes.
func (f *txnFake) releaseMarkers() {
	f.mu.Lock()
	held := f.heldMarkers
	f.heldMarkers, f.holdMarkers = nil, false
	f.mu.Unlock()
	for _, c := range held {
		c()
	}
}

func (f *txnFake) setAppendErr(err error) {
	f.mu.Lock()
	f.appendErr = err
	f.mu.Unlock()
}

func (f *txnFake) eventList() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.events...)
}

func (f *txnFake) markerList() []TxnMarker {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]TxnMarker(nil), f.markers...)
}

func (f *txnFake) records(p int32) []Record {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Record
	for _, rs := range f.appends[p] {
		out = append(out, rs...)
	}
	return out
}

// describeTxnRecord names a transaction log record: "append <id> <state> pid=.. epoch=..", or a tombstone.
func describeTxnRecord(r Record) string {
	id, _, _, err := readTxnKey(r.Key)
	if err != nil {
		return "append <bad key>"
	}
	if r.Value == nil {
		return "tombstone " + id
	}
	m, err := readTxnValue(id, r.Value)
	if err != nil {
		return "append <bad value>"
	}
	return fmt.Sprintf("append %s %v pid=%d epoch=%d %v", id, m.state, m.producerID, m.producerEpoch, sortedPartitions(m.partitions))
}

// testClock is a settable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var txnTestStart = time.UnixMilli(1700000000000)

// newTxnTest returns a started coordinator with one __transaction_state partition, loaded in leader epoch 7.
func newTxnTest(t *testing.T) (*TxnCoordinator, *txnFake, *testClock) {
	t.Helper()
	f := newTxnFake()
	clk := &testClock{t: txnTestStart}
	c := startTxn(t, f, clk, 7)
	return c, f, clk
}

func startTxn(t *testing.T, f *txnFake, clk *testClock, epoch int32) *TxnCoordinator {
	t.Helper()
	c := NewTxn(TxnConfig{
		BrokerID:               1,
		TxnLogPartitions:       1,
		OffsetsTopicPartitions: 3,
		GroupPartitionFor:      func(string) int32 { return 2 },
		// Background tasks are driven by the tests themselves.
		AbortTimedOutInterval: time.Hour,
		RemoveExpiredInterval: time.Hour,
		Now:                   clk.now,
	}, f, f, f)
	c.Startup()
	t.Cleanup(c.Shutdown)
	c.OnElection(0, epoch)
	waitFor(t, "partition 0 loaded", func() bool { return c.loaded(0) })
	return c
}

func (t *TxnCoordinator) loaded(p int32) bool {
	t.mu.RLock()
	defer t.mu.RUnlock()
	_, loading := t.loading[p]
	return !loading && t.cache[p] != nil
}

func strp(s string) *string { return &s }

func initReq(version int16, id *string, timeoutMs int32) *kmsg.InitProducerIDRequest {
	r := kmsg.NewPtrInitProducerIDRequest()
	r.Version = version
	r.TransactionalID = id
	r.TransactionTimeoutMillis = timeoutMs
	return r
}

func (t *TxnCoordinator) initPID(tb testing.TB, r *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	ch := make(chan *kmsg.InitProducerIDResponse, 1)
	t.InitProducerID(r, func(resp *kmsg.InitProducerIDResponse) { ch <- resp })
	return recvTB(tb, ch)
}

// mustInit initializes id (v4, timeout 60s) and returns its producer id and epoch.
func (t *TxnCoordinator) mustInit(tb testing.TB, id string) (int64, int16) {
	tb.Helper()
	resp := t.initPID(tb, initReq(4, strp(id), 60000))
	if resp.ErrorCode != 0 {
		tb.Fatalf("InitProducerId %s: error %s", id, errName(resp.ErrorCode))
	}
	return resp.ProducerID, resp.ProducerEpoch
}

func (t *TxnCoordinator) addParts(tb testing.TB, version int16, id string, pid int64, epoch int16, tps ...TopicPartition) map[TopicPartition]int16 {
	r := kmsg.NewPtrAddPartitionsToTxnRequest()
	r.Version = version
	r.TransactionalID, r.ProducerID, r.ProducerEpoch = id, pid, epoch
	for _, tp := range tps {
		n := len(r.Topics)
		if n == 0 || r.Topics[n-1].Topic != tp.Topic {
			rt := kmsg.NewAddPartitionsToTxnRequestTopic()
			rt.Topic = tp.Topic
			r.Topics = append(r.Topics, rt)
			n++
		}
		r.Topics[n-1].Partitions = append(r.Topics[n-1].Partitions, tp.Partition)
	}
	ch := make(chan *kmsg.AddPartitionsToTxnResponse, 1)
	t.AddPartitionsToTxn(r, func(resp *kmsg.AddPartitionsToTxnResponse) { ch <- resp })
	resp := recvTB(tb, ch)
	out := map[TopicPartition]int16{}
	for _, rt := range resp.Topics {
		for _, p := range rt.Partitions {
			out[TopicPartition{rt.Topic, p.Partition}] = p.ErrorCode
		}
	}
	return out
}

// addCode adds tps and returns the one error code all of them got.
func (t *TxnCoordinator) addCode(tb testing.TB, version int16, id string, pid int64, epoch int16, tps ...TopicPartition) int16 {
	tb.Helper()
	res := t.addParts(tb, version, id, pid, epoch, tps...)
	code := int16(-2)
	for tp, c := range res {
		if code != -2 && c != code {
			tb.Fatalf("partitions answered differently: %v (at %v)", res, tp)
		}
		code = c
	}
	return code
}

func (t *TxnCoordinator) addOffsets(tb testing.TB, version int16, id string, pid int64, epoch int16, group string) int16 {
	r := kmsg.NewPtrAddOffsetsToTxnRequest()
	r.Version = version
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Group = id, pid, epoch, group
	ch := make(chan *kmsg.AddOffsetsToTxnResponse, 1)
	t.AddOffsetsToTxn(r, func(resp *kmsg.AddOffsetsToTxnResponse) { ch <- resp })
	return recvTB(tb, ch).ErrorCode
}

func (t *TxnCoordinator) endTxn(tb testing.TB, version int16, id string, pid int64, epoch int16, commit bool) int16 {
	r := kmsg.NewPtrEndTxnRequest()
	r.Version = version
	r.TransactionalID, r.ProducerID, r.ProducerEpoch, r.Commit = id, pid, epoch, commit
	ch := make(chan *kmsg.EndTxnResponse, 1)
	t.EndTxn(r, func(resp *kmsg.EndTxnResponse) { ch <- resp })
	return recvTB(tb, ch).ErrorCode
}

// mustAdd adds tps to id's transaction (v3) and fails the test unless all of them are added.
func (t *TxnCoordinator) mustAdd(tb testing.TB, id string, pid int64, epoch int16, tps ...TopicPartition) {
	tb.Helper()
	if code := t.addCode(tb, 3, id, pid, epoch, tps...); code != 0 {
		tb.Fatalf("add: %s", errName(code))
	}
}

// mustCommit ends id's transaction with a commit (v3) and fails the test unless it is accepted.
func (t *TxnCoordinator) mustCommit(tb testing.TB, id string, pid int64, epoch int16) {
	tb.Helper()
	if code := t.endTxn(tb, 3, id, pid, epoch, true); code != 0 {
		tb.Fatalf("end: %s", errName(code))
	}
}

func (t *TxnCoordinator) describeOne(id string) kmsg.DescribeTransactionsResponseTransactionState {
	r := kmsg.NewPtrDescribeTransactionsRequest()
	r.TransactionalIDs = []string{id}
	return t.DescribeTransactions(r).TransactionStates[0]
}

func (t *TxnCoordinator) stateOf(id string) string { return t.describeOne(id).State }

func recvTB[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(5 * time.Second):
		tb.Fatal("no response within 5s")
	}
	var zero T
	return zero
}

func tp(topic string, p int32) TopicPartition { return TopicPartition{topic, p} }

func (f *txnFake) doneCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.markersDone
}
