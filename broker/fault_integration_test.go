package broker_test

// Fault tests of the controller: a controller frozen past its ZooKeeper session is replaced and, when it wakes,
// resigns without overwriting what its successor wrote. `make test-faults` (ZKAFKA_FAULTS=long) adds longer
// variants: rolling restarts with controlled shutdown and repeated controller kills.

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zkafka/zkafka/testcluster"
	"github.com/zkafka/zkafka/zkutils"
)

func longFaults(t *testing.T) {
	if os.Getenv("ZKAFKA_FAULTS") != "long" {
		t.Skip("long fault test: run with ZKAFKA_FAULTS=long (make test-faults)")
	}
}

// SIGSTOP the controller beyond zookeeper.session.timeout.ms: another broker becomes controller with a higher
// epoch and moves the frozen broker's leaders. SIGCONT: the old controller learns its session expired, resigns
// and re-registers as an ordinary broker; the partition states its successor wrote stay as they were.
func TestFaultControllerFencing(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"zookeeper.session.timeout.ms": "6000",
		"auto.leader.rebalance.enable": "false",
	}})
	const topic = "fenced"
	createAssigned(t, c, topic, rotated)
	old, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	epoch0, err := c.ControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	frozen := c.Broker(old)
	if err := frozen.Pause(); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			frozen.Resume()
		}
	}()

	next := c.WaitForController(t, 60*time.Second, func(id int32) bool { return id != old })
	epoch1, err := c.ControllerEpoch()
	if err != nil || epoch1 <= epoch0 {
		t.Fatalf("controller epoch %d (%v) after %d took over; want > %d", epoch1, err, next, epoch0)
	}
	before := map[int32]zkutils.LeaderIsr{}
	for p := range rotated {
		before[p] = waitState(t, c, topic, p, fmt.Sprintf("a leader other than %d, which left the ISR", old), func(st zkutils.LeaderIsr) bool {
			return st.Leader >= 0 && st.Leader != old && !slices.Contains(st.ISR, old)
		})
		if before[p].ControllerEpoch != epoch1 && p == old {
			t.Errorf("%s-%d was re-elected under controller epoch %d, want %d", topic, p, before[p].ControllerEpoch, epoch1)
		}
	}

	logStart := len(frozen.ServerLog())
	if err := frozen.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	testcluster.WaitFor(t, 60*time.Second, fmt.Sprintf("broker %d to resign and re-register", old), func() bool {
		log := frozen.ServerLog()[logStart:]
		return strings.Contains(log, fmt.Sprintf("[Controller id=%d] Resigning", old)) &&
			strings.Contains(log, fmt.Sprintf("Re-registered broker %d", old))
	})
	c.WaitForBrokers(t, 3)
	waitMetadataAgrees(t, c, topic, len(rotated))

	if id, err := c.ControllerID(); err != nil || id != next {
		t.Fatalf("controller is %d (%v) after the old one woke up; want %d", id, err, next)
	}
	if epoch, err := c.ControllerEpoch(); err != nil || epoch != epoch1 {
		t.Fatalf("controller epoch %d (%v) after the old controller woke up; want %d", epoch, err, epoch1)
	}
	after, err := c.PartitionStates(topic, len(rotated))
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range before {
		a := after[p]
		// Only the leader may have changed the state since (an ISR expansion carries the same leader, leader epoch
		// and controller epoch); anything written by the deposed controller would carry its older epoch.
		if a.Leader != b.Leader || a.LeaderEpoch != b.LeaderEpoch || a.ControllerEpoch < epoch1 || a.ZkVersion < b.ZkVersion {
			t.Errorf("%s-%d changed after the old controller woke up: before %+v, after %+v", topic, p, b, a)
		}
	}
}

// Rolling restart with controlled shutdown, twice round the cluster, the controller last: no partition is ever
// leaderless, and after each broker returns a preferred election puts the leaders back.
func TestFaultRollingControlledRestart(t *testing.T) {
	longFaults(t)
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"auto.leader.rebalance.enable":         "false",
		"controlled.shutdown.retry.backoff.ms": "500",
	}})
	const topic = "rolling"
	createAssigned(t, c, topic, rotated)
	bootstrap := strings.Join(c.Bootstrap(), ",")
	for round := 0; round < 2; round++ {
		ctrl, err := c.ControllerID()
		if err != nil {
			t.Fatal(err)
		}
		order := []int32{}
		for _, b := range c.Brokers {
			if b.ID != ctrl {
				order = append(order, b.ID)
			}
		}
		order = append(order, ctrl)
		for _, id := range order {
			controlledShutdown(t, c, topic, len(rotated), id)
			if err := c.Broker(id).Start(); err != nil {
				t.Fatal(err)
			}
			waitInISR(t, c, topic, len(rotated), id)
			code, out, errOut := runTool(t, "kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions")
			if code != 0 {
				t.Fatalf("round %d, broker %d: election exit %d\n%s%s", round, id, code, out, errOut)
			}
			for p, replicas := range rotated {
				c.WaitForLeader(t, 30*time.Second, topic, p, replicas[0])
			}
			waitMetadataAgrees(t, c, topic, len(rotated))
		}
	}
}

// kill -9 the controller three times in a row, restarting it each time: each failover raises /controller_epoch,
// no partition stays leaderless, and every broker's metadata ends up agreeing with ZooKeeper.
func TestFaultRepeatedControllerKill(t *testing.T) {
	longFaults(t)
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{"auto.leader.rebalance.enable": "false"}})
	const topic = "kills"
	createAssigned(t, c, topic, rotated)
	for i := 0; i < 3; i++ {
		old, err := c.ControllerID()
		if err != nil {
			t.Fatal(err)
		}
		epoch, err := c.ControllerEpoch()
		if err != nil {
			t.Fatal(err)
		}
		c.Broker(old).Kill()
		c.WaitForController(t, 60*time.Second, func(id int32) bool { return id != old })
		if e, err := c.ControllerEpoch(); err != nil || e <= epoch {
			t.Fatalf("kill %d: epoch %d (%v), want > %d", i, e, err, epoch)
		}
		for p := range rotated {
			waitState(t, c, topic, p, fmt.Sprintf("a live leader other than %d", old), func(st zkutils.LeaderIsr) bool {
				return st.Leader >= 0 && st.Leader != old
			})
		}
		if err := c.Broker(old).StartAfterKill(); err != nil {
			t.Fatal(err)
		}
		waitInISR(t, c, topic, len(rotated), old)
		c.WaitForBrokers(t, 3)
		waitMetadataAgrees(t, c, topic, len(rotated))
	}
}
