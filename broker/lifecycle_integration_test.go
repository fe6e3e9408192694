package broker_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/zkafka/zkafka/testcluster"
	"github.com/zkafka/zkafka/zkutils"
)

// A topic's life through the admin APIs and kafka-reassign-partitions.sh on 3 brokers: create, add partitions
// (placed as Kafka would), reassign to completion, cancel an in-flight reassignment, list, delete.
func TestIntegrationTopicLifecycleAndReassignment(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{"auto.leader.rebalance.enable": "false"}})
	const topic = "life"
	createAssigned(t, c, topic, map[int32][]int32{0: {0, 1}, 1: {1, 2}})
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Add a partition: Kafka continues partition 0's pattern, start = index of broker 0.
	res, err := adm.UpdatePartitions(ctx, 3, topic)
	if err != nil || res[topic].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, res)
	}
	wantAssign := map[int32][]int32{0: {0, 1}, 1: {1, 2}, 2: {2, 0}}
	if a, err := c.Assignment(topic); err != nil || !reflect.DeepEqual(a, wantAssign) {
		t.Fatalf("assignment %v (%v), want %v", a, err, wantAssign)
	}
	c.WaitForMetadataLeader(t, 30*time.Second, topic, 2, 2)
	waitMetadataAgrees(t, c, topic, 3)
	if res, err := adm.UpdatePartitions(ctx, 3, topic); err != nil || res[topic].Err == nil {
		t.Fatalf("same count must fail with INVALID_PARTITIONS: %v %+v", err, res)
	}

	// And once more with the operator's tool: 3 → 4 partitions.
	boot := strings.Join(c.Bootstrap(), ",")
	if code, out, errOut := runTool(t, "kafka-topics.sh", "--bootstrap-server", boot, "--alter", "--topic", topic, "--partitions", "4"); code != 0 {
		t.Fatalf("kafka-topics --alter: %d\n%s\n%s", code, out, errOut)
	}
	wantAssign[3] = []int32{0, 2} // partition 3 = 0 mod 3 bumps the replica shift, as Kafka does
	if a, err := c.Assignment(topic); err != nil || !reflect.DeepEqual(a, wantAssign) {
		t.Fatalf("assignment after --alter %v (%v), want %v", a, err, wantAssign)
	}
	c.WaitForMetadataLeader(t, 30*time.Second, topic, 3, 0)
	waitMetadataAgrees(t, c, topic, 4)
	if code, _, _ := runTool(t, "kafka-topics.sh", "--bootstrap-server", boot, "--alter", "--topic", topic, "--partitions", "2"); code == 0 {
		t.Fatalf("kafka-topics --alter to fewer partitions succeeded")
	}

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Reassign life-0 from [0,1] to [1,2] and complete it.
	move := write("move.json", `{"version":1,"partitions":[{"topic":"life","partition":0,"replicas":[1,2]}]}`)
	code, out, errOut := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--execute", "--reassignment-json-file", move)
	if code != 0 || !strings.Contains(out, "Successfully started partition reassignment for life-0") ||
		!strings.Contains(out, `{"version":1,"partitions":[{"topic":"life","partition":0,"replicas":[0,1],"log_dirs":["any","any"]}]}`) {
		t.Fatalf("execute: %d\n%s\n%s", code, out, errOut)
	}
	waitInISR(t, c, topic, 1, 2) // broker 2 catches up on life-0 and the leader adds it to the ISR
	waitWhy(t, 60*time.Second, "reassignment of life-0 to complete", func() (bool, string) {
		_, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--verify", "--reassignment-json-file", move)
		return strings.Contains(out, "Reassignment of partition life-0 is completed."), out
	})
	wantAssign[0] = []int32{1, 2}
	if a, err := c.Assignment(topic); err != nil || !reflect.DeepEqual(a, wantAssign) {
		t.Fatalf("assignment after reassignment %v (%v), want %v", a, err, wantAssign)
	}
	waitState(t, c, topic, 0, "leader in [1,2]", func(st zkutils.LeaderIsr) bool { return st.Leader == 1 || st.Leader == 2 })
	waitMetadataAgrees(t, c, topic, 3)

	// An in-flight reassignment is listed, then cancelled. Followers catch up at once, so the added replica is a
	// killed broker whose ZooKeeper session has not expired yet (it is still registered, so the tool accepts it,
	// but it cannot fetch): x, not the controller, and not yet a replica of partition sp ([x, rs0] replaces
	// [rs0, rs1]).
	ctrl, err := c.ControllerID()
	if err != nil {
		t.Fatal(err)
	}
	x, sp := int32(0), int32(1) // life-1 = [1 2]
	if ctrl == 0 {
		x, sp = 1, 2 // life-2 = [2 0]
	}
	rs := wantAssign[sp]
	c.Broker(x).Kill()
	t.Logf("killed broker %d at %s; stuck reassignment of life-%d", x, time.Now().Format("15:04:05.000"), sp)
	stuck := write("stuck.json", fmt.Sprintf(`{"version":1,"partitions":[{"topic":"life","partition":%d,"replicas":[%d,%d]}]}`, sp, x, rs[0]))
	if code, out, errOut := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--execute", "--reassignment-json-file", stuck); code != 0 {
		t.Fatalf("execute: %d\n%s\n%s", code, out, errOut)
	}
	if a, _ := c.Assignment(topic); !reflect.DeepEqual(a[sp], []int32{x, rs[0], rs[1]}) {
		t.Fatalf("RS during reassignment = %v, want %v", a[sp], []int32{x, rs[0], rs[1]})
	}
	if code, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--list"); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("life-%d: replicas: %d,%d,%d. adding: %d. removing: %d.", sp, x, rs[0], rs[1], x, rs[1])) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--verify", "--reassignment-json-file", stuck); !strings.Contains(out, fmt.Sprintf("Reassignment of partition life-%d is still in progress.", sp)) {
		t.Fatalf("verify: %s", out)
	}
	if code, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--cancel", "--reassignment-json-file", stuck); code != 0 ||
		!strings.Contains(out, fmt.Sprintf("Successfully cancelled partition reassignment for: life-%d", sp)) {
		t.Fatalf("cancel: %d\n%s", code, out)
	}
	if a, err := c.Assignment(topic); err != nil || !reflect.DeepEqual(a, wantAssign) {
		t.Fatalf("assignment after cancel %v (%v), want %v", a, err, wantAssign)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--verify", "--reassignment-json-file", stuck); !strings.Contains(out,
		fmt.Sprintf("There is no active reassignment of partition life-%d, but replica set is %d,%d rather than %d,%d.", sp, rs[0], rs[1], x, rs[0])) {
		t.Fatalf("verify after cancel: %s", out)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--list"); !strings.Contains(out, "No partition reassignments found.") {
		t.Fatalf("list after cancel: %s", out)
	}
	if err := c.Broker(x).StartAfterKill(); err != nil {
		t.Fatal(err)
	}
	c.WaitForBrokers(t, 3)
	waitMetadataAgrees(t, c, topic, 3)

	// Delete: the topic's znodes leave ZooKeeper and its logs leave every broker.
	ctx, cancel = context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := adm.DeleteTopics(ctx, topic); err != nil {
		t.Fatal(err)
	}
	waitWhy(t, 60*time.Second, "topic znodes and logs to be gone", func() (bool, string) {
		if a, err := c.Assignment(topic); err == nil && len(a) > 0 {
			return false, "assignment still there"
		}
		for _, b := range c.Brokers {
			ms, _ := filepath.Glob(filepath.Join(b.LogDir(), topic+"-*"))
			for _, m := range ms {
				if !strings.Contains(m, "-delete") {
					return false, "log dir " + m
				}
			}
		}
		return true, ""
	})
}
