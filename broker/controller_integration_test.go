package broker_test

// Multi-broker controller tests: controller failover after kill -9, controlled shutdown on SIGTERM, preferred
// leader election by tool and by the automatic rebalance. Each runs three broker processes on a real ZooKeeper
// and checks what Kafka promises through ZooKeeper's partition states and each broker's own Metadata answers.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkafka/zkafka/testcluster"
	"github.com/zkafka/zkafka/zkutils"
)

// rotated is a 3-partition RF=3 assignment on brokers 0..2 where each broker is the preferred leader of exactly
// one partition: partition p prefers broker p.
var rotated = map[int32][]int32{0: {0, 1, 2}, 1: {1, 2, 0}, 2: {2, 0, 1}}

// createAssigned creates a topic with a manual replica assignment and waits until ZooKeeper and every broker's
// metadata show each partition led by its preferred replica with the full ISR.
func createAssigned(t *testing.T, c *testcluster.Cluster, topic string, assignment map[int32][]int32) {
	t.Helper()
	createAssignedWith(t, c, topic, assignment, nil)
}

// waitState waits until the partition's ZooKeeper state satisfies ok.
func waitState(t *testing.T, c *testcluster.Cluster, topic string, p int32, what string, ok func(zkutils.LeaderIsr) bool) zkutils.LeaderIsr {
	t.Helper()
	var st zkutils.LeaderIsr
	waitWhy(t, 60*time.Second, fmt.Sprintf("%s-%d: %s", topic, p, what), func() (bool, string) {
		s, err := c.PartitionState(topic, p)
		if err != nil {
			return false, err.Error()
		}
		st = s
		return ok(s), fmt.Sprintf("state %+v", s)
	})
	return st
}

// waitWhy is testcluster.WaitFor whose condition also says why it does not hold yet, for the failure message.
func waitWhy(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, why)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitMetadataAgrees waits until every running broker's Metadata answer names, for each partition, the leader
// in ZooKeeper's state.
func waitMetadataAgrees(t *testing.T, c *testcluster.Cluster, topic string, n int) {
	t.Helper()
	waitWhy(t, 60*time.Second, "metadata of every broker to match ZooKeeper", func() (bool, string) {
		states, err := c.PartitionStates(topic, n)
		if err != nil {
			return false, err.Error()
		}
		for _, b := range c.Brokers {
			if !b.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			leaders, err := b.MetadataLeaders(ctx, topic)
			cancel()
			if err != nil {
				return false, fmt.Sprintf("broker %d: %v", b.ID, err)
			}
			for p, st := range states {
				if leaders[p] != st.Leader {
					return false, fmt.Sprintf("broker %d says leader of %s-%d is %d, ZooKeeper %d", b.ID, topic, p, leaders[p], st.Leader)
				}
			}
		}
		return true, ""
	})
}

// otherThan picks a broker id that is not in ids.
func otherThan(c *testcluster.Cluster, ids ...int32) int32 {
	for _, b := range c.Brokers {
		if !slices.Contains(ids, b.ID) {
			return b.ID
		}
	}
	return -1
}

// kill -9 of the controller: another broker wins /controller with a higher epoch, the killed broker's partitions
// get new leaders and it leaves their ISRs; restarted, it is a follower and every broker's metadata agrees.
func TestIntegrationControllerFailover(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{"auto.leader.rebalance.enable": "false"}})
	const topic = "failover"
	createAssigned(t, c, topic, rotated)
	old, err := c.ControllerID()
	if err != nil || old < 0 {
		t.Fatalf("controller: %d %v", old, err)
	}
	epoch0, err := c.ControllerEpoch()
	if err != nil {
		t.Fatal(err)
	}
	c.Broker(old).Kill()

	next := c.WaitForController(t, 60*time.Second, func(id int32) bool { return id != old })
	if epoch, err := c.ControllerEpoch(); err != nil || epoch <= epoch0 {
		t.Fatalf("controller epoch after failover %d (%v), want > %d", epoch, err, epoch0)
	}
	for p := range rotated {
		waitState(t, c, topic, p, fmt.Sprintf("a live leader other than %d and %d out of the ISR", old, old), func(st zkutils.LeaderIsr) bool {
			return st.Leader >= 0 && st.Leader != old && !slices.Contains(st.ISR, old)
		})
	}
	waitMetadataAgrees(t, c, topic, len(rotated))

	if err := c.Broker(old).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	c.WaitForBrokers(t, 3)
	waitMetadataAgrees(t, c, topic, len(rotated))
	for p := range rotated {
		if st, err := c.PartitionState(topic, p); err != nil || st.Leader == old || st.Leader < 0 {
			t.Errorf("%s-%d after %d restarted: %+v %v; want another live leader (rebalance is off)", topic, p, old, st, err)
		}
	}
	if id, err := c.ControllerID(); err != nil || id != next {
		t.Fatalf("controller moved to %d (%v) after the old one came back; want %d", id, err, next)
	}
}

// waitInISR waits until broker id is back in the ISR of partitions 0..n-1 of the topic, each with a leader: the
// leader adds a follower once it has caught up (a conditional write of the state znode).
func waitInISR(t *testing.T, c *testcluster.Cluster, topic string, n int, id int32) {
	t.Helper()
	for p := int32(0); p < int32(n); p++ {
		waitState(t, c, topic, p, fmt.Sprintf("%d back in the ISR", id), func(st zkutils.LeaderIsr) bool {
			return st.Leader >= 0 && slices.Contains(st.ISR, id)
		})
	}
}

// leaderWatch polls ZooKeeper and every running broker's metadata while something happens, remembering any
// moment a partition of the topic had no leader.
type leaderWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	seen []string
}

func watchLeaders(c *testcluster.Cluster, topic string, n int) *leaderWatch {
	w := &leaderWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			if states, err := c.PartitionStates(topic, n); err == nil {
				for p, st := range states {
					if st.Leader < 0 {
						w.note(fmt.Sprintf("ZooKeeper: %s-%d has no leader (%+v)", topic, p, st))
					}
				}
			}
			for _, b := range c.Brokers {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				leaders, err := b.MetadataLeaders(ctx, topic)
				cancel()
				if err != nil {
					continue // the broker shutting down stops answering
				}
				for p, l := range leaders {
					if l < 0 {
						w.note(fmt.Sprintf("broker %d metadata: %s-%d has leader %d", b.ID, topic, p, l))
					}
				}
			}
		}
	}()
	return w
}

func (w *leaderWatch) note(s string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.seen) < 20 {
		w.seen = append(w.seen, s)
	}
}

func (w *leaderWatch) finish() []string {
	close(w.stop)
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seen
}

// controlledShutdown SIGTERMs a broker and checks Kafka's promise: leadership moves before the process stops,
// so no partition is ever leaderless, and the broker leaves every ISR.
func controlledShutdown(t *testing.T, c *testcluster.Cluster, topic string, n int, id int32) {
	t.Helper()
	logStart := len(c.Broker(id).ServerLog())
	w := watchLeaders(c, topic, n)
	if err := c.Broker(id).Terminate(); err != nil {
		w.finish()
		t.Fatal(err)
	}
	if seen := w.finish(); len(seen) > 0 {
		t.Errorf("a partition was leaderless during the controlled shutdown of broker %d:\n%s", id, strings.Join(seen, "\n"))
	}
	log := c.Broker(id).ServerLog()[logStart:]
	if !strings.Contains(log, "Controlled shutdown request returned successfully after") ||
		strings.Contains(log, "Proceeding to do an unclean shutdown") {
		t.Fatalf("broker %d did not complete a controlled shutdown; its log:\n%s", id, tail(log, 4000))
	}
	// The controller moved leadership before it answered; the broker has exited since, so the states are final
	// except for the removal of the shut-down broker from ISRs it followed in, which the controller also did
	// before answering.
	states, err := c.PartitionStates(topic, n)
	if err != nil {
		t.Fatal(err)
	}
	for p, st := range states {
		if st.Leader < 0 || st.Leader == id || slices.Contains(st.ISR, id) {
			t.Errorf("%s-%d after the controlled shutdown of %d: %+v", topic, p, id, st)
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// SIGTERM of a broker leading partitions of an RF=3 topic: the controller moves its leaders while it still runs.
func TestIntegrationControlledShutdown(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"auto.leader.rebalance.enable":         "false",
		"controlled.shutdown.retry.backoff.ms": "500",
	}})
	const topic = "graceful"
	createAssigned(t, c, topic, rotated)
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	victim := otherThan(c, ctrl) // leads partition `victim` (rotated assignment)
	controlledShutdown(t, c, topic, len(rotated), victim)
	waitMetadataAgrees(t, c, topic, len(rotated))

	// The controller itself: it sends ControlledShutdown to itself, moves its leaders to the last broker, then
	// resigns, and the last broker takes over.
	controlledShutdown(t, c, topic, len(rotated), ctrl)
	last := otherThan(c, ctrl, victim)
	c.WaitForController(t, 60*time.Second, func(id int32) bool { return id == last })
	for p := range rotated {
		if st, err := c.PartitionState(topic, p); err != nil || st.Leader != last {
			t.Errorf("%s-%d with only broker %d left: %+v %v", topic, p, last, st, err)
		}
	}
	waitMetadataAgrees(t, c, topic, len(rotated))
}

// runTool runs a script from scripts/ against the test binary.
func runTool(t *testing.T, script string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join("..", "scripts", script), args...)
	cmd.Env = append(os.Environ(), "ZKAFKA_BIN="+bin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", script, err)
	}
	return code, out.String(), errb.String()
}

// restartNonPreferred stops and restarts broker id (a controlled shutdown) and waits until it has caught up and
// is back in every ISR; it then leads nothing.
func restartNonPreferred(t *testing.T, c *testcluster.Cluster, topic string, id int32) {
	t.Helper()
	if err := c.Broker(id).Restart(); err != nil {
		t.Fatal(err)
	}
	waitInISR(t, c, topic, len(rotated), id)
}

// After a restart the broker leads nothing; kafka-leader-election.sh --election-type PREFERRED puts the preferred
// leaders back and prints Kafka's lines.
func TestIntegrationPreferredLeaderElectionTool(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"auto.leader.rebalance.enable":         "false",
		"controlled.shutdown.retry.backoff.ms": "500",
	}})
	const topic = "prefer"
	createAssigned(t, c, topic, rotated)
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	id := otherThan(c, ctrl)
	restartNonPreferred(t, c, topic, id)
	if st, _ := c.PartitionState(topic, id); st.Leader == id {
		t.Fatalf("%s-%d is led by %d right after its restart; the test needs it moved", topic, id, id)
	}

	bootstrap := strings.Join(c.Bootstrap(), ",")
	code, out, errOut := runTool(t, "kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions")
	want := fmt.Sprintf("Successfully completed leader election (PREFERRED) for partitions %s-%d\n", topic, id)
	if code != 0 || out != want {
		t.Fatalf("kafka-leader-election.sh: exit %d\nstdout %q\nwant   %q\nstderr %s", code, out, want, errOut)
	}
	for p, replicas := range rotated {
		if st, err := c.PartitionState(topic, p); err != nil || st.Leader != replicas[0] {
			t.Errorf("%s-%d after the election: %+v %v; want leader %d", topic, p, st, err, replicas[0])
		}
	}
	waitMetadataAgrees(t, c, topic, len(rotated))

	// Nothing left to do: a named partition is reported as already elected; --all-topic-partitions prints nothing.
	code, out, errOut = runTool(t, "kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type", "preferred", "--topic", topic, "--partition", "0")
	if want := fmt.Sprintf("Valid replica already elected for partitions %s-0\n", topic); code != 0 || out != want {
		t.Fatalf("second election: exit %d stdout %q want %q stderr %s", code, out, want, errOut)
	}
	code, out, errOut = runTool(t, "kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--all-topic-partitions")
	if code != 0 || out != "" {
		t.Fatalf("election with nothing to do: exit %d stdout %q stderr %s", code, out, errOut)
	}
	// An unknown partition is an error line and a failing exit code.
	code, out, _ = runTool(t, "kafka-leader-election.sh", "--bootstrap-server", bootstrap, "--election-type", "PREFERRED", "--topic", topic, "--partition", "9")
	if want := fmt.Sprintf("Error completing leader election (PREFERRED) for partition: %s-9: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partition does not exist.\n", topic); code != 1 || out != want {
		t.Fatalf("unknown partition: exit %d stdout %q want %q", code, out, want)
	}

	// The old tool does the same through the same API.
	restartNonPreferred(t, c, topic, id)
	code, out, errOut = runTool(t, "kafka-preferred-replica-election.sh", "--bootstrap-server", bootstrap)
	want = "This tool is deprecated. Please use kafka-leader-election tool. Tracking issue: KAFKA-8405\n" +
		fmt.Sprintf("Successfully completed preferred leader election for partitions %s-%d\n", topic, id)
	if code != 0 || out != want {
		t.Fatalf("kafka-preferred-replica-election.sh: exit %d\nstdout %q\nwant   %q\nstderr %s", code, out, want, errOut)
	}
	c.WaitForLeader(t, 30*time.Second, topic, id, id)
}

// With leader.imbalance.check.interval.seconds=1 the controller restores the preferred leaders by itself.
func TestIntegrationAutoLeaderRebalance(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		"auto.leader.rebalance.enable":            "true",
		"leader.imbalance.check.interval.seconds": "1",
		"controlled.shutdown.retry.backoff.ms":    "500",
	}})
	const topic = "rebalance"
	createAssigned(t, c, topic, rotated)
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	id := otherThan(c, ctrl)
	controlledShutdown(t, c, topic, len(rotated), id)
	if err := c.Broker(id).Start(); err != nil {
		t.Fatal(err)
	}
	waitInISR(t, c, topic, len(rotated), id)
	// Kafka's first check runs 5 s after failover, then every interval; the broker must also catch up first.
	c.WaitForLeader(t, 60*time.Second, topic, id, id)
	waitMetadataAgrees(t, c, topic, len(rotated))
}
