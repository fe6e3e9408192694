package broker_test

import (
	"context"
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
	restoreISR(t, c, topic, 1, 2) // followers do not replicate yet: write the ISR expansion a leader would
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

	// An in-flight reassignment (broker 0 never joins the ISR) is listed, then cancelled back to [1,2].
	stuck := write("stuck.json", `{"version":1,"partitions":[{"topic":"life","partition":1,"replicas":[0,1]}]}`)
	if code, out, errOut := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--execute", "--reassignment-json-file", stuck); code != 0 {
		t.Fatalf("execute: %d\n%s\n%s", code, out, errOut)
	}
	if a, _ := c.Assignment(topic); !reflect.DeepEqual(a[1], []int32{0, 1, 2}) {
		t.Fatalf("RS during reassignment = %v, want [0 1 2]", a[1])
	}
	if code, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--list"); code != 0 ||
		!strings.Contains(out, "life-1: replicas: 0,1,2. adding: 0. removing: 2.") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--verify", "--reassignment-json-file", stuck); !strings.Contains(out, "Reassignment of partition life-1 is still in progress.") {
		t.Fatalf("verify: %s", out)
	}
	if code, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--cancel", "--reassignment-json-file", stuck); code != 0 ||
		!strings.Contains(out, "Successfully cancelled partition reassignment for: life-1") {
		t.Fatalf("cancel: %d\n%s", code, out)
	}
	if a, err := c.Assignment(topic); err != nil || !reflect.DeepEqual(a, wantAssign) {
		t.Fatalf("assignment after cancel %v (%v), want %v", a, err, wantAssign)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--verify", "--reassignment-json-file", stuck); !strings.Contains(out, "There is no active reassignment of partition life-1, but replica set is 1,2 rather than 0,1.") {
		t.Fatalf("verify after cancel: %s", out)
	}
	if _, out, _ := runTool(t, "kafka-reassign-partitions.sh", "--bootstrap-server", boot, "--list"); !strings.Contains(out, "No partition reassignments found.") {
		t.Fatalf("list after cancel: %s", out)
	}
	waitMetadataAgrees(t, c, topic, 3)

	// Delete: the topic's znodes leave ZooKeeper and its logs leave every broker.
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
