package broker

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/zkutils"
)

// fakeIsrStore stands in for ZooKeeper in these unit tests of the leader's ISR logic: it records conditional
// writes and can refuse them.
type fakeIsrStore struct {
	mu       sync.Mutex
	version  int32
	state    zkutils.LeaderIsr
	writes   []zkutils.LeaderIsr
	notified [][]zkutils.TopicPartition
	written  chan struct{}
}

func (s *fakeIsrStore) UpdatePartitionStateAsLeader(tp zkutils.TopicPartition, st zkutils.LeaderIsr) (int32, error) {
	s.mu.Lock()
	defer func() {
		s.mu.Unlock()
		s.written <- struct{}{}
	}()
	s.writes = append(s.writes, st)
	if st.ZkVersion != s.version {
		return 0, zkutils.ErrBadVersion
	}
	s.version++
	s.state = st
	s.state.ZkVersion = s.version
	return s.version, nil
}

func (s *fakeIsrStore) GetPartitionStates(tps []zkutils.TopicPartition) (map[zkutils.TopicPartition]zkutils.LeaderIsr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return map[zkutils.TopicPartition]zkutils.LeaderIsr{tps[0]: s.state}, nil
}

func (s *fakeIsrStore) CreateIsrChangeNotification(tps []zkutils.TopicPartition) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notified = append(s.notified, tps)
	return nil
}

// testLeader makes broker 1 the leader of t-0 with replicas [1 2 3], the given ISR and 10 records.
func testLeader(t *testing.T, isr []int32, minISR string) (*ReplicaManager, *Partition, *fakeIsrStore) {
	t.Helper()
	quiet := logrus.New()
	quiet.SetLevel(logrus.PanicLevel)
	cfg, err := NewConfig(map[string]string{"broker.id": "1", "zookeeper.connect": "unused:2181", "log.dirs": t.TempDir(),
		"replica.lag.time.max.ms": "1000", "replica.fetch.wait.max.ms": "100", "min.insync.replicas": minISR})
	if err != nil {
		t.Fatal(err)
	}
	lm, err := log.NewLogManager(log.ManagerConfig{Dirs: cfg.LogDirs, Default: cfg.logConfig(nil), Logger: logrus.NewEntry(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	store := &fakeIsrStore{written: make(chan struct{}, 16)}
	alive := func(int32) bool { return true }
	rm := newReplicaManager(1, cfg, lm, logrus.NewEntry(quiet), func(string) (map[string]string, error) { return nil, nil },
		alive, store, func(int32) (string, bool) { return "", false })
	t.Cleanup(func() {
		rm.shutdown()
		lm.Shutdown()
	})
	tp := topicPartition{Topic: "t", Partition: 0}
	codes := rm.becomeLeaderOrFollower([]leaderAndIsrState{{tp: tp, controllerEpoch: 1, leader: 1, leaderEpoch: 3,
		isr: isr, replicas: []int32{1, 2, 3}}}, nil)
	if codes[tp] != 0 {
		t.Fatalf("LeaderAndIsr: code %d", codes[tp])
	}
	for i := 0; i < 10; i++ {
		if res := rm.appendRecords(tp, testBatch(int64(i)), 1); res.err != nil {
			t.Fatal(res.err)
		}
	}
	return rm, rm.partition(tp), store
}

func waitWrite(t *testing.T, s *fakeIsrStore) {
	t.Helper()
	select {
	case <-s.written:
	case <-time.After(5 * time.Second):
		t.Fatal("no ISR write")
	}
}

func committedISR(p *Partition) []int32 {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.isr)
}

func TestHighWatermarkIsMinimumLEOOfISR(t *testing.T) {
	rm, p, _ := testLeader(t, []int32{1, 2, 3}, "1")
	hw := func() int64 { return p.log.HighWatermark() }
	if hw() != 0 {
		t.Fatalf("HW %d before any follower fetched, want 0: followers' LEOs are unknown", hw())
	}
	steps := []struct {
		follower int32
		offset   int64
		wantHW   int64
	}{
		{2, 5, 0},   // follower 3 is unknown (-1): the HW cannot move
		{3, 8, 5},   // min(10, 5, 8)
		{2, 10, 8},  // min(10, 10, 8)
		{3, 10, 10}, // everyone at the log end
		{2, 4, 10},  // the HW never moves back
	}
	for _, s := range steps {
		if _, _, err := rm.updateFollowerFetchState(p, s.follower, s.offset, 0); err != nil {
			t.Fatal(err)
		}
		if hw() != s.wantHW {
			t.Fatalf("after follower %d fetched at %d: HW %d, want %d", s.follower, s.offset, hw(), s.wantHW)
		}
	}
	if _, _, err := rm.updateFollowerFetchState(p, 9, 10, 0); err == nil {
		t.Fatal("a fetch from a broker that is not a replica was accepted")
	}
}

func TestIsrExpandsWhenFollowerReachesHighWatermark(t *testing.T) {
	rm, p, store := testLeader(t, []int32{1, 2}, "1")
	// Only 1 and 2 are in the ISR; follower 2 at the end moves the HW to 10.
	rm.updateFollowerFetchState(p, 2, 10, 0)
	if p.log.HighWatermark() != 10 {
		t.Fatalf("HW %d, want 10", p.log.HighWatermark())
	}
	rm.updateFollowerFetchState(p, 3, 6, 0) // below the HW: not yet
	if len(store.writes) != 0 {
		t.Fatalf("ISR write for a follower below the HW: %+v", store.writes)
	}
	rm.updateFollowerFetchState(p, 3, 10, 0)
	waitWrite(t, store)
	if got := store.writes[0]; !slices.Equal(got.ISR, []int32{1, 2, 3}) || got.LeaderEpoch != 3 || got.Leader != 1 || got.ZkVersion != 0 {
		t.Fatalf("ISR write %+v, want leader 1 epoch 3 ISR [1 2 3] at version 0", got)
	}
	testWaitFor(t, "ISR [1 2 3]", func() bool { return slices.Equal(committedISR(p), []int32{1, 2, 3}) })
	rm.isr.maybePropagate(true)
	if len(store.notified) != 1 || store.notified[0][0] != p.tp {
		t.Fatalf("ISR change notifications %v, want one for %v", store.notified, p.tp)
	}
}

func TestIsrShrinksLaggingFollowerAndKeepsMaximalIsrUntilWritten(t *testing.T) {
	rm, p, store := testLeader(t, []int32{1, 2, 3}, "2")
	rm.updateFollowerFetchState(p, 2, 10, 0)
	rm.updateFollowerFetchState(p, 3, 4, 0)
	// Follower 3 stops fetching; 2 keeps up. After replica.lag.time.max.ms (1 s) 3 is out.
	time.Sleep(1100 * time.Millisecond)
	rm.updateFollowerFetchState(p, 2, 10, 0)
	store.mu.Lock() // hold the write so the in-flight state can be inspected
	rm.maybeShrinkIsr()
	isr, minISR := p.inSyncReplicas()
	if !slices.Equal(isr, []int32{1, 2, 3}) || minISR != 2 {
		t.Fatalf("maximal ISR during the shrink %v (min %d), want [1 2 3] (min 2)", isr, minISR)
	}
	store.mu.Unlock()
	waitWrite(t, store)
	testWaitFor(t, "ISR [1 2]", func() bool { return slices.Equal(committedISR(p), []int32{1, 2}) })
	// With 3 out, the HW follows the ISR only: 10.
	if p.log.HighWatermark() != 10 {
		t.Fatalf("HW %d after the shrink, want 10", p.log.HighWatermark())
	}
	// Follower 2 lags too: the ISR shrinks to the leader alone and acks=all is refused before appending.
	time.Sleep(1100 * time.Millisecond)
	rm.updateFollowerFetchState(p, 2, 10, 0) // at the end: caught up however long it waits
	rm.appendRecords(p.tp, testBatch(11), 1)
	time.Sleep(1100 * time.Millisecond)
	rm.maybeShrinkIsr()
	waitWrite(t, store)
	testWaitFor(t, "ISR [1]", func() bool { return slices.Equal(committedISR(p), []int32{1}) })
	if res := rm.appendRecords(p.tp, testBatch(12), -1); res.err != errNotEnoughReplicas {
		t.Fatalf("acks=all with ISR [1] and min.insync.replicas=2: %v, want NOT_ENOUGH_REPLICAS", res.err)
	}
	if res := rm.appendRecords(p.tp, testBatch(12), 1); res.err != nil {
		t.Fatalf("acks=1 with ISR [1]: %v", res.err)
	}
}

func TestIsrWriteConflictDropsTheChange(t *testing.T) {
	rm, p, store := testLeader(t, []int32{1, 2}, "1")
	store.mu.Lock()
	store.version = 7 // the controller changed the znode meanwhile
	store.state = zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1}, ZkVersion: 7}
	store.mu.Unlock()
	rm.updateFollowerFetchState(p, 2, 10, 0)
	rm.updateFollowerFetchState(p, 3, 10, 0)
	waitWrite(t, store)
	testWaitFor(t, "the failed change to be dropped", func() bool {
		p.mu.RLock()
		defer p.mu.RUnlock()
		return p.pending == nil
	})
	if isr := committedISR(p); !slices.Equal(isr, []int32{1, 2}) {
		t.Fatalf("ISR %v after a refused write, want [1 2]", isr)
	}
}

func testWaitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
