package controller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/internal/zktest"
	"github.com/zkafka/zkafka/zkutils"
)

// query runs f on the node's event goroutine, where controller state may be read.
func (n *node) query(f func() bool) bool {
	out := make(chan bool, 1)
	n.ctrl.events.put(callEvent{f: func() error { out <- f(); return nil }})
	select {
	case v := <-out:
		return v
	case <-time.After(5 * time.Second):
		return false
	}
}

func waitStates(t *testing.T, zk *zkutils.Client, topic string, n int32) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d partition states of %s", n, topic), func() bool {
		for p := int32(0); p < n; p++ {
			if _, ok := readState(t, zk, topic, p); !ok {
				return false
			}
		}
		return true
	})
}

func stateIs(t *testing.T, zk *zkutils.Client, topic string, p, leader int32, isr string) bool {
	li, ok := readState(t, zk, topic, p)
	return ok && li.Leader == leader && (isr == "" || fmt.Sprint(li.ISR) == isr)
}

func mustState(t *testing.T, zk *zkutils.Client, topic string, p int32) zkutils.LeaderIsr {
	t.Helper()
	li, ok := readState(t, zk, topic, p)
	if !ok {
		t.Fatalf("no state for %s-%d", topic, p)
	}
	return li
}

func TestControlledShutdown(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	n1 := startNode(t, connect, 1, f, true)
	waitActive(t, []*node{n1})
	nodes := []*node{n1, startNode(t, connect, 2, f, true), startNode(t, connect, 3, f, true)}
	active := waitActive(t, nodes)
	admin := connectZK(t, connect)
	defer admin.Close()
	waitFor(t, "all brokers live in the controller", func() bool {
		return active.query(func() bool { return len(active.ctrl.cc.liveBrokers) == 3 })
	})
	if err := admin.CreateTopic("cs", map[int32][]int32{0: {2, 1, 3}, 1: {1, 2, 3}, 2: {2}, 3: {3, 2}}, [16]byte{3}, nil); err != nil {
		t.Fatal(err)
	}
	waitStates(t, admin, "cs", 4)
	reg, _, err := admin.GetBroker(2)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	refusals := []struct {
		name  string
		on    *node
		id    int32
		epoch int64
		want  error
	}{
		{"not the controller", nodes[1], 2, reg.Epoch, ErrNotController},
		{"stale broker epoch", active, 2, reg.Epoch - 1, ErrStaleBrokerEpoch},
		{"unknown broker", active, 42, -1, ErrBrokerNotAvailable},
	}
	for _, r := range refusals {
		if _, err := r.on.ctrl.ControlledShutdown(ctx, r.id, r.epoch); !errors.Is(err, r.want) {
			t.Fatalf("%s: %v, want %v", r.name, err, r.want)
		}
	}

	remaining, err := active.ctrl.ControlledShutdown(ctx, 2, reg.Epoch)
	if err != nil || len(remaining) != 0 {
		t.Fatalf("controlled shutdown: remaining %v, %v", remaining, err)
	}
	want := []struct {
		p, leader, epoch int32
		isr              string
	}{
		{0, 1, 1, "[1 3]"}, // led by 2: controlled-shutdown election, 2 leaves the ISR
		{1, 1, 1, "[1 3]"}, // followed by 2: OfflineReplica shrinks the ISR
		{2, 2, 0, "[2]"},   // single replica: left alone
		{3, 3, 1, "[3]"},
	}
	for _, w := range want {
		li := mustState(t, admin, "cs", w.p)
		if li.Leader != w.leader || li.LeaderEpoch != w.epoch || fmt.Sprint(li.ISR) != w.isr {
			t.Errorf("cs-%d: %+v, want leader %d epoch %d isr %s", w.p, li, w.leader, w.epoch, w.isr)
		}
	}
	// The shutting-down broker still hears about its partitions and is told to stop following.
	waitFor(t, "LeaderAndIsr and StopReplica(delete=false) to broker 2", func() bool {
		var lisr, stop1, stop3 bool
		for _, s := range f.snapshot() {
			if s.to != brokerAddr(2) {
				continue
			}
			switch r := s.req.(type) {
			case *kmsg.LeaderAndISRRequest:
				for _, ts := range r.TopicStates {
					for _, ps := range ts.PartitionStates {
						lisr = lisr || (ts.Topic == "cs" && ps.Partition == 0 && ps.Leader == 1 && ps.LeaderEpoch == 1)
					}
				}
			case *kmsg.StopReplicaRequest:
				for _, ts := range r.Topics {
					for _, ps := range ts.PartitionStates {
						if ts.Topic == "cs" && !ps.Delete && r.ControllerEpoch == active.ctrl.Epoch() {
							stop1 = stop1 || ps.Partition == 1
							stop3 = stop3 || ps.Partition == 3
						}
					}
				}
			}
		}
		return lisr && stop1 && stop3
	})
	// A retry finds nothing left to move.
	if remaining, err := active.ctrl.ControlledShutdown(ctx, 2, reg.Epoch); err != nil || len(remaining) != 0 {
		t.Fatalf("retry: %v %v", remaining, err)
	}
}

// nonPreferredCluster leaves partitions 0 and 1 of topic pe (replicas [1 2]) led by broker 2 with broker 1
// back in their ISR, and pe-2 (replicas [2 1]) led by its preferred broker 2. Broker 2 is the controller.
func nonPreferredCluster(t *testing.T, mod func(*Config)) (admin *zkutils.Client, n1, n2 *node) {
	t.Helper()
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	n2 = startNodeWith(t, connectZK(t, connect), 2, f, mod)
	waitActive(t, []*node{n2})
	n1 = startNodeWith(t, connectZK(t, connect), 1, f, mod)
	waitActive(t, []*node{n1, n2})
	admin = connectZK(t, connect)
	t.Cleanup(admin.Close)
	waitFor(t, "broker 1 live", func() bool {
		return n2.query(func() bool { _, ok := n2.ctrl.cc.liveBrokers[1]; return ok })
	})
	if err := admin.CreateTopic("pe", map[int32][]int32{0: {1, 2}, 1: {1, 2}, 2: {2, 1}}, [16]byte{4}, nil); err != nil {
		t.Fatal(err)
	}
	waitStates(t, admin, "pe", 3)
	n1.kill()
	waitFor(t, "leadership moved to broker 2", func() bool {
		return stateIs(t, admin, "pe", 0, 2, "[2]") && stateIs(t, admin, "pe", 1, 2, "[2]")
	})
	n1 = startNodeWith(t, connectZK(t, connect), 1, f, mod)
	waitFor(t, "broker 1 live again", func() bool {
		return n2.query(func() bool { return n2.ctrl.cc.isReplicaOnline(1) })
	})
	// Broker 1 catches up: the leader writes the expanded ISR and a notification, as classic Kafka's leaders do.
	for p := int32(0); p < 2; p++ {
		li := mustState(t, admin, "pe", p)
		li.ISR = []int32{2, 1}
		if _, err := admin.UpdatePartitionStateAsLeader(zkutils.TopicPartition{Topic: "pe", Partition: p}, li); err != nil {
			t.Fatal(err)
		}
	}
	if err := admin.CreateIsrChangeNotification([]zkutils.TopicPartition{{Topic: "pe", Partition: 0}, {Topic: "pe", Partition: 1}}); err != nil {
		t.Fatal(err)
	}
	return admin, n1, n2
}

func TestPreferredElectionZNodeAndAPI(t *testing.T) {
	admin, n1, n2 := nonPreferredCluster(t, nil)
	waitFor(t, "controller saw the ISR change", func() bool {
		return n2.query(func() bool { return len(n2.ctrl.cc.leadership[tp{Topic: "pe", Partition: 1}].ISR) == 2 })
	})
	if err := admin.CreatePreferredReplicaElection([]zkutils.TopicPartition{{Topic: "pe", Partition: 0}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "pe-0 back on broker 1 and the request removed", func() bool {
		ok, err := admin.PreferredReplicaElectionExists()
		return err == nil && !ok && stateIs(t, admin, "pe", 0, 1, "[2 1]")
	})
	if li := mustState(t, admin, "pe", 0); li.LeaderEpoch != 2 {
		t.Fatalf("pe-0 leader epoch %d, want 2", li.LeaderEpoch)
	}
	if !stateIs(t, admin, "pe", 1, 2, "") {
		t.Fatal("pe-1 moved without being asked")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	unknown := zkutils.TopicPartition{Topic: "nope", Partition: 0}
	pe := func(p int32) zkutils.TopicPartition { return zkutils.TopicPartition{Topic: "pe", Partition: p} }
	res, err := n2.ctrl.ElectLeaders(ctx, ElectionPreferred, []zkutils.TopicPartition{pe(1), pe(2), unknown})
	if err != nil {
		t.Fatal(err)
	}
	want := map[zkutils.TopicPartition]error{pe(1): nil, pe(2): ErrElectionNotNeeded, unknown: ErrUnknownTopicOrPartition}
	if len(res) != len(want) {
		t.Fatalf("results %v", res)
	}
	for p, w := range want {
		if got, ok := res[p]; !ok || !errors.Is(got, w) {
			t.Errorf("%v: %v, want %v", p, got, w)
		}
	}
	if !stateIs(t, admin, "pe", 1, 1, "") {
		t.Fatalf("pe-1 after ElectLeaders: %+v", mustState(t, admin, "pe", 1))
	}
	res, err = n2.ctrl.ElectLeaders(ctx, ElectionUnclean, []zkutils.TopicPartition{pe(0)})
	if err != nil || !errors.Is(res[pe(0)], ErrElectionNotNeeded) {
		t.Fatalf("unclean with a live leader: %v %v", res, err)
	}
	if _, err := n1.ctrl.ElectLeaders(ctx, ElectionPreferred, nil); !errors.Is(err, ErrNotController) {
		t.Fatalf("on a non-controller: %v", err)
	}
	if _, err := n2.ctrl.ElectLeaders(ctx, 7, nil); !errors.Is(err, ErrInvalidElectionType) {
		t.Fatalf("election type 7: %v", err)
	}
	// nil means every partition: all are led by their preferred replica now.
	res, err = n2.ctrl.ElectLeaders(ctx, ElectionPreferred, nil)
	if err != nil || len(res) != 3 {
		t.Fatalf("all partitions: %v %v", res, err)
	}
	for p, e := range res {
		if !errors.Is(e, ErrElectionNotNeeded) {
			t.Errorf("%v: %v", p, e)
		}
	}
	// The watch was re-armed: a second request is handled (and removed) too.
	if err := admin.CreatePreferredReplicaElection([]zkutils.TopicPartition{pe(2)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "second request removed", func() bool {
		ok, err := admin.PreferredReplicaElectionExists()
		return err == nil && !ok
	})
}

func TestAutoLeaderRebalance(t *testing.T) {
	admin, _, _ := nonPreferredCluster(t, func(c *Config) {
		c.AutoLeaderRebalanceEnable = true
		c.LeaderImbalancePerBrokerPercentage = 10
		c.LeaderImbalanceCheckInterval = 100 * time.Millisecond
	})
	waitFor(t, "auto rebalance restores preferred leaders", func() bool {
		return stateIs(t, admin, "pe", 0, 1, "[2 1]") && stateIs(t, admin, "pe", 1, 1, "[2 1]") &&
			stateIs(t, admin, "pe", 2, 2, "")
	})
}

func TestPartitionReassignmentViaZNode(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	n1 := startNode(t, connect, 1, f, true)
	waitActive(t, []*node{n1})
	nodes := []*node{n1, startNode(t, connect, 2, f, true), startNode(t, connect, 3, f, true)}
	waitActive(t, nodes)
	waitFor(t, "all brokers live in the controller", func() bool {
		return n1.query(func() bool { return len(n1.ctrl.cc.liveBrokers) == 3 })
	})
	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("ra", map[int32][]int32{0: {1, 2}, 1: {2, 3}}, [16]byte{5}, nil); err != nil {
		t.Fatal(err)
	}
	waitStates(t, admin, "ra", 2)
	ra0 := zkutils.TopicPartition{Topic: "ra", Partition: 0}
	if err := admin.CreatePartitionReassignment(map[zkutils.TopicPartition][]int32{ra0: {3, 2}}); err != nil {
		t.Fatal(err)
	}
	assignment := func() zkutils.TopicAssignment {
		a, err := admin.GetTopicAssignments([]string{"ra"})
		if err != nil {
			t.Fatal(err)
		}
		return a["ra"]
	}
	waitFor(t, "RS/AR/RR in the topic znode", func() bool {
		a := assignment()
		return fmt.Sprint(a.Partitions[0], a.Adding[0], a.Removing[0]) == "[3 2 1] [3] [1]"
	})
	waitFor(t, "LeaderAndIsr isNew with adding replicas to broker 3", func() bool {
		for _, s := range f.snapshot() {
			if r, ok := s.req.(*kmsg.LeaderAndISRRequest); ok && s.to == brokerAddr(3) {
				for _, ts := range r.TopicStates {
					for _, ps := range ts.PartitionStates {
						if ts.Topic == "ra" && ps.Partition == 0 && ps.IsNew && fmt.Sprint(ps.AddingReplicas) == "[3]" &&
							fmt.Sprint(ps.Replicas) == "[3 2 1]" && ps.LeaderEpoch == 1 {
							return true
						}
					}
				}
			}
		}
		return false
	})
	if ok, _ := admin.PartitionReassignmentInProgress(); !ok {
		t.Fatal("request removed before completion")
	}
	// Broker 3 caught up: the leader adds it to the ISR.
	li := mustState(t, admin, "ra", 0)
	li.ISR = []int32{1, 2, 3}
	if _, err := admin.UpdatePartitionStateAsLeader(ra0, li); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reassignment completed and request removed", func() bool {
		a := assignment()
		ok, err := admin.PartitionReassignmentInProgress()
		return err == nil && !ok && fmt.Sprint(a.Partitions[0]) == "[3 2]" && len(a.Adding) == 0 && len(a.Removing) == 0
	})
	final := mustState(t, admin, "ra", 0)
	if final.Leader != 3 || fmt.Sprint(final.ISR) != "[2 3]" {
		t.Fatalf("ra-0 after reassignment: %+v", final)
	}
	waitFor(t, "StopReplica(delete=true) to the removed replica", func() bool {
		for _, s := range f.snapshot() {
			if r, ok := s.req.(*kmsg.StopReplicaRequest); ok && s.to == brokerAddr(1) {
				for _, ts := range r.Topics {
					for _, ps := range ts.PartitionStates {
						if ts.Topic == "ra" && ps.Partition == 0 && ps.Delete {
							return true
						}
					}
				}
			}
		}
		return false
	})
	if !n1.query(func() bool { return len(n1.ctrl.cc.partitionsBeingReassigned) == 0 }) {
		t.Fatal("partition still marked reassigning")
	}
}

func TestSessionExpiryDeposesController(t *testing.T) {
	connect := zktest.Connect(t)
	chroot := connect[strings.IndexByte(connect, '/'):]
	proxy := zktest.NewLinkProxy(t, zktest.Addr())
	zk1 := connectZKTimeout(t, proxy.Addr()+chroot, time.Second)
	f := &fakeBrokers{}
	n1 := startNodeWith(t, zk1, 1, f, nil)
	waitActive(t, []*node{n1})
	// What the broker does with session events.
	go func() {
		for ev := range zk1.SessionEvents() {
			switch ev {
			case zkutils.SessionExpired:
				n1.ctrl.OnSessionExpired()
			case zkutils.SessionReestablished:
				if _, err := zk1.RegisterBroker(registration(1)); err == nil {
					n1.ctrl.OnSessionReestablished()
				}
			}
		}
	}()
	n2 := startNode(t, connect, 2, f, true)
	waitActive(t, []*node{n1, n2})
	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("se", map[int32][]int32{0: {1, 2}}, [16]byte{6}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "se-0 online", func() bool { return stateIs(t, admin, "se", 0, 1, "[1 2]") })

	// Pause broker 1's controller (a long GC, say) while its session expires and broker 2 takes over.
	paused, resume, result := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	n1.ctrl.events.put(callEvent{f: func() error {
		close(paused)
		<-resume
		err := n1.ctrl.processTopicChange()
		result <- err
		return err
	}})
	<-paused
	oldSession := zk1.SessionID()
	proxy.SetCut(true)
	waitFor(t, "broker 2 elected", func() bool { return n2.ctrl.IsActive() && n2.ctrl.Epoch() == 2 })
	waitFor(t, "broker 2 moved se-0", func() bool { return stateIs(t, admin, "se", 0, 2, "[2]") })
	if err := admin.CreateTopic("late", map[int32][]int32{0: {2}}, [16]byte{7}, nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "late-0 created by broker 2", func() bool { return stateIs(t, admin, "late", 0, 2, "[2]") })
	proxy.SetCut(false)
	waitFor(t, "broker 1's new session", func() bool { id := zk1.SessionID(); return id != 0 && id != oldSession })

	close(resume)
	if err := <-result; !errors.Is(err, zkutils.ErrControllerMoved) {
		t.Fatalf("deposed controller's write: %v, want ErrControllerMoved", err)
	}
	waitFor(t, "broker 1 resigned and follows broker 2", func() bool {
		return !n1.ctrl.IsActive() && n1.ctrl.ActiveControllerID() == 2
	})
	waitFor(t, "broker 1 live again in broker 2's controller", func() bool {
		return n2.query(func() bool { return n2.ctrl.cc.isReplicaOnline(1) })
	})
	if li := mustState(t, admin, "late", 0); li.ControllerEpoch != 2 || li.LeaderEpoch != 0 {
		t.Fatalf("late-0 %+v: the deposed controller wrote", li)
	}
	if li := mustState(t, admin, "se", 0); li.ControllerEpoch != 2 || li.Leader != 2 {
		t.Fatalf("se-0 %+v", li)
	}
	if !n1.query(func() bool { return len(n1.ctrl.cc.allTopics) == 0 && n1.ctrl.term == nil }) {
		t.Fatal("deposed controller kept its state")
	}
	// With its new session broker 1 takes part in the next election.
	n2.kill()
	waitFor(t, "broker 1 re-elected", func() bool { return n1.ctrl.IsActive() && n1.ctrl.Epoch() == 3 })
}

func TestReassignmentResumedAtFailover(t *testing.T) {
	connect := zktest.Connect(t)
	f := &fakeBrokers{}
	n1 := startNode(t, connect, 1, f, true)
	waitActive(t, []*node{n1})
	nodes := []*node{n1}
	for id := int32(2); id <= 4; id++ {
		nodes = append(nodes, startNode(t, connect, id, f, true))
	}
	waitActive(t, nodes)
	waitFor(t, "all brokers live in the controller", func() bool {
		return n1.query(func() bool { return len(n1.ctrl.cc.liveBrokers) == 4 })
	})
	admin := connectZK(t, connect)
	defer admin.Close()
	if err := admin.CreateTopic("rf", map[int32][]int32{0: {2, 3}}, [16]byte{8}, nil); err != nil {
		t.Fatal(err)
	}
	waitStates(t, admin, "rf", 1)
	rf0 := zkutils.TopicPartition{Topic: "rf", Partition: 0}
	if err := admin.CreatePartitionReassignment(map[zkutils.TopicPartition][]int32{rf0: {4, 2}}); err != nil {
		t.Fatal(err)
	}
	assignment := func() zkutils.TopicAssignment {
		a, err := admin.GetTopicAssignments([]string{"rf"})
		if err != nil {
			t.Fatal(err)
		}
		return a["rf"]
	}
	waitFor(t, "phase A written", func() bool {
		a := assignment()
		return fmt.Sprint(a.Partitions[0], a.Adding[0], a.Removing[0]) == "[4 2 3] [4] [3]"
	})
	// The controller dies mid-reassignment; its successor must pick the reassignment up and finish it.
	n1.kill()
	next := waitActive(t, nodes)
	waitFor(t, "successor watches the reassigning partition", func() bool {
		return next.query(func() bool { return next.ctrl.cc.partitionsBeingReassigned[rf0] && next.ctrl.term.stateWatches[rf0] })
	})
	li := mustState(t, admin, "rf", 0)
	li.ISR = []int32{2, 3, 4}
	if _, err := admin.UpdatePartitionStateAsLeader(rf0, li); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reassignment completed by the new controller", func() bool {
		a := assignment()
		ok, err := admin.PartitionReassignmentInProgress()
		return err == nil && !ok && fmt.Sprint(a.Partitions[0]) == "[4 2]" && len(a.Adding) == 0 && len(a.Removing) == 0
	})
	if final := mustState(t, admin, "rf", 0); final.Leader != 2 || fmt.Sprint(final.ISR) != "[2 4]" || final.ControllerEpoch != 2 {
		t.Fatalf("rf-0 after reassignment: %+v", final)
	}
}
