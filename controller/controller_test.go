package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/internal/zktest"
	"github.com/zkafka/zkafka/zkutils"
)

func TestMain(m *testing.M) { os.Exit(zktest.Main(m)) }

// sent is one request a controller put on the wire.
type sent struct {
	from int32 // controller's broker id
	to   string
	req  kmsg.Request
}

// fakeBrokers is the broker side of the channel: it records requests and answers success.
type fakeBrokers struct {
	mu   sync.Mutex
	reqs []sent
}

type fakeConn struct {
	f    *fakeBrokers
	from int32
	addr string
}

func (c *fakeConn) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	c.f.mu.Lock()
	c.f.reqs = append(c.f.reqs, sent{from: c.from, to: c.addr, req: req})
	c.f.mu.Unlock()
	resp := req.ResponseKind()
	if sr, ok := req.(*kmsg.StopReplicaRequest); ok {
		r := resp.(*kmsg.StopReplicaResponse)
		for _, t := range sr.Topics {
			for _, p := range t.PartitionStates {
				rp := kmsg.NewStopReplicaResponsePartition()
				rp.Topic, rp.Partition = t.Topic, p.Partition
				r.Partitions = append(r.Partitions, rp)
			}
		}
	}
	return resp, nil
}

func (c *fakeConn) Close() error { return nil }

func (f *fakeBrokers) dial(from int32) func(ctx context.Context, addr string) (BrokerConn, error) {
	return func(ctx context.Context, addr string) (BrokerConn, error) {
		return &fakeConn{f: f, from: from, addr: addr}, nil
	}
}

func (f *fakeBrokers) snapshot() []sent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]sent(nil), f.reqs...)
}

func brokerAddr(id int32) string { return fmt.Sprintf("127.0.0.1:%d", 19000+id) }

func testLogger(t *testing.T) *logrus.Entry {
	l := logrus.New()
	l.SetLevel(logrus.DebugLevel)
	w := &testWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	l.SetOutput(w)
	return logrus.NewEntry(l)
}

// testWriter sends logs to t.Log until the test ends (ZooKeeper's goroutines may log a little later).
type testWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func connectZK(t *testing.T, connect string) *zkutils.Client {
	t.Helper()
	return connectZKTimeout(t, connect, 6*time.Second)
}

func connectZKTimeout(t *testing.T, connect string, session time.Duration) *zkutils.Client {
	t.Helper()
	// The shared ZooKeeper sometimes resets the first sessions right after it starts; Connect waits per attempt.
	var (
		zk  *zkutils.Client
		err error
	)
	for attempt := 0; attempt < 5; attempt++ {
		zk, err = zkutils.Connect(zkutils.Config{Connect: connect, SessionTimeout: session,
			ConnectionTimeout: 3 * time.Second, Logger: testLogger(t)})
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := zk.CreateTopLevelPaths(); err != nil {
		t.Fatal(err)
	}
	return zk
}

// node is one broker as far as the controller cares: a ZooKeeper session, a registration and a controller.
type node struct {
	id   int32
	zk   *zkutils.Client
	ctrl *Controller
	dead bool
}

func (n *node) kill() {
	if n.dead {
		return
	}
	n.dead = true
	n.ctrl.Shutdown()
	n.zk.Close()
}

// singleController starts broker 1 as the active controller on a fresh chroot and returns a second ZooKeeper
// client for the test to act as an admin with.
func singleController(t *testing.T, deleteEnable bool) (connect string, f *fakeBrokers, n *node, admin *zkutils.Client) {
	t.Helper()
	connect = zktest.Connect(t)
	f = &fakeBrokers{}
	n = startNode(t, connect, 1, f, deleteEnable)
	waitActive(t, []*node{n})
	admin = connectZK(t, connect)
	t.Cleanup(func() { admin.Close() })
	return connect, f, n, admin
}

func startNode(t *testing.T, connect string, id int32, f *fakeBrokers, deleteEnable bool) *node {
	t.Helper()
	return startNodeWith(t, connectZK(t, connect), id, f, func(c *Config) { c.DeleteTopicEnable = deleteEnable })
}

func registration(id int32) zkutils.BrokerInfo {
	return zkutils.BrokerInfo{
		ID:        id,
		Endpoints: []zkutils.Endpoint{{Listener: "PLAINTEXT", SecurityProtocol: "PLAINTEXT", Host: "127.0.0.1", Port: 19000 + id}},
		Timestamp: time.Now().UnixMilli(),
	}
}

// startNodeWith registers broker id on zk and starts its controller with the config edited by mod.
func startNodeWith(t *testing.T, zk *zkutils.Client, id int32, f *fakeBrokers, mod func(*Config)) *node {
	t.Helper()
	if _, err := zk.RegisterBroker(registration(id)); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		BrokerID: id, ZK: zk, Dial: f.dial(id), DeleteTopicEnable: true,
		SocketTimeout: 5 * time.Second, Logger: testLogger(t).WithField("broker", id),
	}
	if mod != nil {
		mod(&cfg)
	}
	c := New(cfg)
	c.Startup()
	n := &node{id: id, zk: zk, ctrl: c}
	t.Cleanup(n.kill)
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func activeNodes(nodes []*node) []*node {
	var out []*node
	for _, n := range nodes {
		if !n.dead && n.ctrl.IsActive() {
			out = append(out, n)
		}
	}
	return out
}

func waitActive(t *testing.T, nodes []*node) *node {
	t.Helper()
	var a *node
	waitFor(t, "one active controller", func() bool {
		act := activeNodes(nodes)
		if len(act) != 1 {
			return false
		}
		a = act[0]
		for _, n := range nodes {
			if !n.dead && n.ctrl.ActiveControllerID() != a.id {
				return false
			}
		}
		return true
	})
	if got := activeNodes(nodes); len(got) != 1 {
		t.Fatalf("%d active controllers", len(got))
	}
	return a
}

func readState(t *testing.T, zk *zkutils.Client, topic string, p int32) (zkutils.LeaderIsr, bool) {
	t.Helper()
	m, err := zk.GetPartitionStates([]zkutils.TopicPartition{{Topic: topic, Partition: p}})
	if err != nil {
		t.Fatal(err)
	}
	li, ok := m[zkutils.TopicPartition{Topic: topic, Partition: p}]
	return li, ok
}

func TestElectionFailoverAndTopicCreation(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	var nodes []*node
	for id := int32(1); id <= 3; id++ {
		nodes = append(nodes, startNode(t, connect, id, f, true))
	}
	first := waitActive(t, nodes)
	if first.ctrl.Epoch() != 1 {
		t.Fatalf("first controller epoch %d, want 1", first.ctrl.Epoch())
	}

	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("t1", map[int32][]int32{0: {1, 2}, 1: {2, 3}, 2: {3, 1}}, [16]byte{9}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partition states", func() bool {
		for p := int32(0); p < 3; p++ {
			if _, ok := readState(t, admin, "t1", p); !ok {
				return false
			}
		}
		return true
	})
	li, _ := readState(t, admin, "t1", 1)
	if li.Leader != 2 || fmt.Sprint(li.ISR) != "[2 3]" || li.LeaderEpoch != 0 || li.ControllerEpoch != 1 {
		t.Fatalf("t1-1 state %+v", li)
	}
	// LeaderAndIsr v7 with isNew=true for t1-1 must reach brokers 2 and 3, with the topic id.
	waitFor(t, "LeaderAndIsr isNew to replicas of t1-1", func() bool {
		got := map[string]bool{}
		for _, s := range f.snapshot() {
			r, ok := s.req.(*kmsg.LeaderAndISRRequest)
			if !ok || r.Version != 7 || r.ControllerEpoch != 1 {
				continue
			}
			for _, ts := range r.TopicStates {
				for _, ps := range ts.PartitionStates {
					if ts.Topic == "t1" && ts.TopicID == [16]byte{9} && ps.Partition == 1 && ps.IsNew && ps.Leader == 2 {
						got[s.to] = true
					}
				}
			}
		}
		return got[brokerAddr(2)] && got[brokerAddr(3)] && len(got) == 2
	})

	// Kill the active controller: another takes over with epoch 2 and sends UpdateMetadata before LeaderAndIsr.
	first.kill()
	second := waitActive(t, nodes)
	if second.ctrl.Epoch() != 2 {
		t.Fatalf("second controller epoch %d, want 2", second.ctrl.Epoch())
	}
	waitFor(t, "UpdateMetadata then LeaderAndIsr from the new controller", func() bool {
		var kinds []int16
		for _, s := range f.snapshot() {
			if s.from == second.id && s.to == brokerAddr(second.id) {
				kinds = append(kinds, s.req.Key())
			}
		}
		return len(kinds) >= 2 && kinds[0] == 6 && kinds[1] == 4
	})
	// The dead broker's partitions moved: t1-0 was led by 1 if 1 died, else the ISR lost the dead broker.
	waitFor(t, "dead broker removed from ISRs", func() bool {
		for p := int32(0); p < 3; p++ {
			li, ok := readState(t, admin, "t1", p)
			if !ok || li.Leader == first.id || contains(li.ISR, first.id) {
				return false
			}
		}
		return true
	})
}

func TestBrokerFailureMovesLeadership(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	var nodes []*node
	for id := int32(1); id <= 3; id++ {
		nodes = append(nodes, startNode(t, connect, id, f, true))
	}
	active := waitActive(t, nodes)
	var victim, other *node
	for _, n := range nodes {
		if n != active && victim == nil {
			victim = n
		} else if n != active {
			other = n
		}
	}
	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("t2", map[int32][]int32{0: {victim.id, other.id, active.id}}, [16]byte{}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "t2-0 online", func() bool { li, ok := readState(t, admin, "t2", 0); return ok && li.Leader == victim.id })
	// A topic created without an id gets one, written back.
	waitFor(t, "topic id assigned", func() bool {
		a, err := admin.GetTopicAssignments([]string{"t2"})
		return err == nil && a["t2"].TopicID != [16]byte{}
	})

	victim.kill()
	waitFor(t, "offline election", func() bool {
		li, ok := readState(t, admin, "t2", 0)
		return ok && li.Leader == other.id && fmt.Sprint(li.ISR) == fmt.Sprint([]int32{other.id, active.id}) && li.LeaderEpoch == 1
	})
	waitFor(t, "LeaderAndIsr with the new leader to the survivors", func() bool {
		got := 0
		for _, s := range f.snapshot() {
			if r, ok := s.req.(*kmsg.LeaderAndISRRequest); ok {
				for _, ts := range r.TopicStates {
					for _, ps := range ts.PartitionStates {
						if ts.Topic == "t2" && ps.Leader == other.id && ps.LeaderEpoch == 1 && !ps.IsNew {
							got++
						}
					}
				}
			}
		}
		return got >= 2
	})
}

func TestTopicDeletion(t *testing.T) {
	_, f, _, admin := singleController(t, true)
	if err := admin.CreateTopic("gone", map[int32][]int32{0: {1}, 1: {1}}, [16]byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partitions online", func() bool { _, ok := readState(t, admin, "gone", 1); return ok })
	if err := admin.MarkTopicForDeletion("gone"); err != nil {
		t.Fatal(err)
	}
	if err := admin.MarkTopicForDeletion("never-existed"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "topic znodes and markers gone", func() bool {
		ex, err := admin.TopicExists("gone")
		m1, err1 := admin.IsTopicMarkedForDeletion("gone")
		m2, err2 := admin.IsTopicMarkedForDeletion("never-existed")
		return err == nil && err1 == nil && err2 == nil && !ex && !m1 && !m2
	})
	var sawLeaderMinus2, sawDelete bool
	for _, s := range f.snapshot() {
		switch r := s.req.(type) {
		case *kmsg.UpdateMetadataRequest:
			for _, ts := range r.TopicStates {
				for _, ps := range ts.PartitionStates {
					if ts.Topic == "gone" && ps.Leader == -2 {
						sawLeaderMinus2 = true
					}
				}
			}
		case *kmsg.StopReplicaRequest:
			for _, ts := range r.Topics {
				for _, ps := range ts.PartitionStates {
					if ts.Topic == "gone" && ps.Delete && ps.LeaderEpoch == -2 {
						sawDelete = true
					}
				}
			}
		}
	}
	if !sawLeaderMinus2 || !sawDelete {
		t.Fatalf("UpdateMetadata leader=-2: %v, StopReplica delete: %v", sawLeaderMinus2, sawDelete)
	}
}

func TestTopicDeletionDisabledRemovesMarker(t *testing.T) {
	_, _, _, admin := singleController(t, false)
	if err := admin.CreateTopic("kept", map[int32][]int32{0: {1}}, [16]byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partition online", func() bool { _, ok := readState(t, admin, "kept", 0); return ok })
	if err := admin.MarkTopicForDeletion("kept"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "marker removed", func() bool {
		m, err := admin.IsTopicMarkedForDeletion("kept")
		return err == nil && !m
	})
	if ex, err := admin.TopicExists("kept"); err != nil || !ex {
		t.Fatalf("topic deleted with delete.topic.enable=false: %v %v", ex, err)
	}
}

func TestSingleBrokerRestart(t *testing.T) {
	connect, _, n, admin := singleController(t, true)
	if err := admin.CreateTopic("r", map[int32][]int32{0: {1}}, [16]byte{5}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partition online", func() bool { _, ok := readState(t, admin, "r", 0); return ok })
	n.kill()
	f2 := &fakeBrokers{}
	n2 := startNode(t, connect, 1, f2, true)
	waitActive(t, []*node{n2})
	if n2.ctrl.Epoch() != 2 {
		t.Fatalf("epoch %d, want 2", n2.ctrl.Epoch())
	}
	li, ok := readState(t, admin, "r", 0)
	if !ok || li.Leader != 1 || fmt.Sprint(li.ISR) != "[1]" {
		t.Fatalf("state after restart %+v", li)
	}
	waitFor(t, "LeaderAndIsr to the restarted broker", func() bool {
		for _, s := range f2.snapshot() {
			if r, ok := s.req.(*kmsg.LeaderAndISRRequest); ok && r.ControllerEpoch == 2 && len(r.TopicStates) == 1 &&
				r.TopicStates[0].PartitionStates[0].Leader == 1 {
				return true
			}
		}
		return false
	})
}

func TestDeposedControllerCannotWrite(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	n := startNode(t, connect, 1, f, true)
	waitActive(t, []*node{n})
	other := connectZK(t, connect)
	defer other.Close()

	// Hold the event loop while another "controller" takes over, then let the old one try a fenced write.
	paused, resume, result := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	n.ctrl.events.put(callEvent{f: func() error {
		close(paused)
		<-resume
		err := n.ctrl.processTopicChange()
		result <- err
		return err
	}})
	<-paused
	_, ver, _, err := other.GetControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	if err := other.DeleteController(ver); err != nil {
		t.Fatal(err)
	}
	if epoch, _, err := other.TryElectController(99, time.Now().UnixMilli()); err != nil || epoch != 2 {
		t.Fatalf("usurper election: %d %v", epoch, err)
	}
	if err := other.CreateTopic("late", map[int32][]int32{0: {1}}, [16]byte{2}, nil); err != nil {
		t.Fatal(err)
	}
	close(resume)
	if err := <-result; !errors.Is(err, zkutils.ErrControllerMoved) {
		t.Fatalf("write after losing the epoch: %v, want ErrControllerMoved", err)
	}
	waitFor(t, "resigned", func() bool { return !n.ctrl.IsActive() && n.ctrl.ActiveControllerID() == 99 })
	if _, ok := readState(t, other, "late", 0); ok {
		t.Fatal("deposed controller created a partition state")
	}
}

func TestIsrChangeNotificationAndAddedPartitions(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	nodes := []*node{startNode(t, connect, 1, f, true), startNode(t, connect, 2, f, true)}
	waitActive(t, nodes)
	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("i", map[int32][]int32{0: {1, 2}}, [16]byte{7}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "partition online", func() bool { _, ok := readState(t, admin, "i", 0); return ok })

	// The leader shrinks the ISR itself and leaves a notification, as classic Kafka's leaders do.
	li, _ := readState(t, admin, "i", 0)
	li.ISR = []int32{1}
	if _, err := admin.UpdatePartitionStateAsLeader(zkutils.TopicPartition{Topic: "i", Partition: 0}, li); err != nil {
		t.Fatal(err)
	}
	if err := admin.CreateIsrChangeNotification([]zkutils.TopicPartition{{Topic: "i", Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "UpdateMetadata with the shrunk ISR to both brokers, notification removed", func() bool {
		got := map[string]bool{}
		for _, s := range f.snapshot() {
			if r, ok := s.req.(*kmsg.UpdateMetadataRequest); ok {
				for _, ts := range r.TopicStates {
					for _, ps := range ts.PartitionStates {
						if ts.Topic == "i" && fmt.Sprint(ps.ISR) == "[1]" && ps.ZKVersion == 1 {
							got[s.to] = true
						}
					}
				}
			}
		}
		names, _, err := admin.WatchIsrChangeNotifications()
		return err == nil && len(names) == 0 && len(got) == 2
	})

	// CreatePartitions adds partition 1 to the topic znode; the controller brings it online.
	a, err := admin.GetTopicAssignments([]string{"i"})
	if err != nil {
		t.Fatal(err)
	}
	ta := a["i"]
	ta.Partitions[1] = []int32{2, 1}
	_, ver, _, err := admin.GetControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.SetTopicAssignment(ver, ta); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "added partition online", func() bool {
		li, ok := readState(t, admin, "i", 1)
		return ok && li.Leader == 2 && fmt.Sprint(li.ISR) == "[2 1]"
	})
}
