package zkutils

import (
	"errors"
	"reflect"
	"testing"
)

func TestPreferredReplicaElectionJSON(t *testing.T) {
	tps := []TopicPartition{{"foo", 0}, {"bar", 2}}
	got := string(encodeTopicPartitions(tps))
	want := `{"version":1,"partitions":[{"topic":"foo","partition":0},{"topic":"bar","partition":2}]}`
	if got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	dec, err := decodePreferredReplicaElection([]byte(`{"version":1,"partitions":[{"topic":"foo","partition":0},` +
		`{"topic":"bar","partition":2},{"topic":"foo","partition":0}]}`))
	if err != nil || !reflect.DeepEqual(dec, []TopicPartition{{"bar", 2}, {"foo", 0}}) {
		t.Fatalf("decode: %v %v", dec, err)
	}
	if _, err := decodePreferredReplicaElection([]byte(`{"partitions":`)); err == nil {
		t.Fatal("bad JSON decoded")
	}
}

func TestReassignPartitionsJSON(t *testing.T) {
	m := map[TopicPartition][]int32{{"foo", 1}: {3, 2}, {"foo", 0}: {1, 2, 3}}
	got := string(encodeReassignment(reassignmentList(m)))
	want := `{"version":1,"partitions":[{"topic":"foo","partition":0,"replicas":[1,2,3]},` +
		`{"topic":"foo","partition":1,"replicas":[3,2]}]}`
	if got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	// What kafka-reassign-partitions.sh --zookeeper wrote (Kafka ≤ 2.x), with extra fields it tolerates.
	dec, err := decodeReassignment([]byte(`{"version":1,"partitions":[{"topic":"foo","partition":1,` +
		`"replicas":[3,2],"log_dirs":["any","any"]}]}`))
	if err != nil || !reflect.DeepEqual(dec, map[TopicPartition][]int32{{"foo", 1}: {3, 2}}) {
		t.Fatalf("decode: %v %v", dec, err)
	}
}

func TestAdminElectionZNodes(t *testing.T) {
	c, _ := setup(t)
	_, ver, err := electOnce(t, c)
	if err != nil {
		t.Fatal(err)
	}

	exists, _, w, err := c.WatchPreferredReplicaElection()
	if err != nil || exists {
		t.Fatalf("preferred node before creation: %v %v", exists, err)
	}
	tps := []TopicPartition{{"a", 0}, {"a", 1}}
	if err := c.CreatePreferredReplicaElection(tps); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, "exists watch on creation")
	if err := c.CreatePreferredReplicaElection(tps); !errors.Is(err, ErrNodeExists) {
		t.Fatalf("second request: %v", err)
	}
	got, err := c.GetPreferredReplicaElection()
	if err != nil || !reflect.DeepEqual(got, tps) {
		t.Fatalf("read back %v %v", got, err)
	}
	exists, created, _, err := c.WatchPreferredReplicaElection()
	if err != nil || !exists || created == 0 {
		t.Fatalf("exists %v created %d %v", exists, created, err)
	}
	if err := c.DeletePreferredReplicaElection(ver + 1); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("unfenced delete: %v", err)
	}
	if err := c.DeletePreferredReplicaElection(ver); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.PreferredReplicaElectionExists(); ok || err != nil {
		t.Fatalf("after delete: %v %v", ok, err)
	}

	m := map[TopicPartition][]int32{{"a", 0}: {2, 3}, {"a", 1}: {3, 1}}
	if err := c.CreatePartitionReassignment(m); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetPartitionReassignment(); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("reassignment %v %v", got, err)
	}
	delete(m, TopicPartition{"a", 0})
	if err := c.SetOrCreatePartitionReassignment(ver, m); err != nil {
		t.Fatal(err)
	}
	if got, err := c.GetPartitionReassignment(); err != nil || !reflect.DeepEqual(got, m) {
		t.Fatalf("after set %v %v", got, err)
	}
	if err := c.DeletePartitionReassignment(ver); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.PartitionReassignmentInProgress(); ok || err != nil {
		t.Fatalf("after delete: %v %v", ok, err)
	}
	// Set-or-create recreates a vanished node.
	if err := c.SetOrCreatePartitionReassignment(ver, m); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.PartitionReassignmentInProgress(); !ok {
		t.Fatal("set-or-create did not create")
	}
}

func electOnce(t *testing.T, c *Client) (int32, int32, error) {
	t.Helper()
	return c.TryElectController(1, 1700000000000)
}

func TestDeleteControllerIfOwner(t *testing.T) {
	c, connect := setup(t)
	other := newClient(t, connect)
	if _, _, err := other.TryElectController(2, 1700000000000); err != nil {
		t.Fatal(err)
	}
	// Another broker's node, and a node of another session naming us, are left alone.
	if ok, err := c.DeleteControllerIfOwner(2); ok || err != nil {
		t.Fatalf("deleted another session's node: %v %v", ok, err)
	}
	if ok, err := other.DeleteControllerIfOwner(1); ok || err != nil {
		t.Fatalf("deleted a node naming another broker: %v %v", ok, err)
	}
	if ok, err := other.DeleteControllerIfOwner(2); !ok || err != nil {
		t.Fatalf("own node not deleted: %v %v", ok, err)
	}
	if _, exists, err := c.GetControllerID(); exists || err != nil {
		t.Fatalf("/controller still there: %v %v", exists, err)
	}
	if ok, err := c.DeleteControllerIfOwner(1); ok || err != nil {
		t.Fatalf("missing node: %v %v", ok, err)
	}
}

func TestWatchBrokerAndPartitionState(t *testing.T) {
	c, connect := setup(t)
	b := BrokerInfo{ID: 3, JMXPort: -1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 9092}}}
	reg := newClient(t, connect)
	epoch, err := reg.RegisterBroker(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, w, err := c.WatchBroker(3)
	if err != nil || !ok || got.Epoch != epoch || got.Endpoints[0].Port != 9092 {
		t.Fatalf("watch broker: %+v %v %v", got, ok, err)
	}
	reg.Close()
	waitFired(t, w, "broker watch on deregistration")
	if _, ok, _, err := c.WatchBroker(3); ok || err != nil {
		t.Fatalf("after close: %v %v", ok, err)
	}

	_, ver, err := electOnce(t, c)
	if err != nil {
		t.Fatal(err)
	}
	tp := TopicPartition{"s", 0}
	if err := c.CreateTopic("s", map[int32][]int32{0: {1}}, [16]byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePartitionStates(ver, map[TopicPartition]LeaderIsr{tp: {Leader: 1, ISR: []int32{1}, ControllerEpoch: 1}}); err != nil {
		t.Fatal(err)
	}
	li, ok, w, err := c.WatchPartitionState(tp)
	if err != nil || !ok || li.Leader != 1 || li.ZkVersion != 0 {
		t.Fatalf("watch state: %+v %v %v", li, ok, err)
	}
	li.ISR = []int32{1, 2}
	if _, err := c.UpdatePartitionStateAsLeader(tp, li); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, "state watch on ISR change")
}
