package admin

import (
	"reflect"
	"testing"
)

func TestReassignmentJSON(t *testing.T) {
	m := map[topicPartition][]int32{{"b", 0}: {2}, {"a", 1}: {1, 2}, {"a", 0}: {0, 1}}
	want := `{"version":1,"partitions":[{"topic":"a","partition":0,"replicas":[0,1],"log_dirs":["any","any"]},` +
		`{"topic":"a","partition":1,"replicas":[1,2],"log_dirs":["any","any"]},{"topic":"b","partition":0,"replicas":[2],"log_dirs":["any"]}]}`
	if got := formatReassignmentJSON(m); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
	parsed, err := parseReassignmentJSON(want)
	if err != nil {
		t.Fatal(err)
	}
	back, err := validateExecuteTargets(parsed)
	if err != nil || !reflect.DeepEqual(back, m) {
		t.Fatalf("round trip %v %v", back, err)
	}
	bad := []struct{ in, msg string }{
		{`{"version":1,"partitions":[]}`, "Partition reassignment list cannot be empty"},
		{`{"partitions":[{"topic":"a","partition":0,"replicas":[]}]}`, "Partition replica list cannot be empty"},
		{`{"partitions":[{"topic":"a","partition":0,"replicas":[1,1]}]}`, "Partition replica lists may not contain duplicate entries: a-0 contains 1"},
		{`{"partitions":[{"topic":"a","partition":0,"replicas":[1]},{"topic":"a","partition":0,"replicas":[2]}]}`, "Partition reassignment contains duplicate topic partitions: a-0"},
		{`{"version":2,"partitions":[]}`, "Not supported version field value 2"},
		{`nope`, "The input string is not a valid JSON"},
	}
	for _, b := range bad {
		ts, err := parseReassignmentJSON(b.in)
		if err == nil {
			_, err = validateExecuteTargets(ts)
		}
		if err == nil || err.Error() != b.msg {
			t.Errorf("%s: got %v, want %q", b.in, err, b.msg)
		}
	}
	if topics, err := parseTopicsToMove(`{"version":1,"topics":[{"topic":"foo"},{"topic":"bar"}]}`); err != nil || !reflect.DeepEqual(topics, []string{"foo", "bar"}) {
		t.Fatalf("topics %v %v", topics, err)
	}
	if _, err := parseBrokerList("0,1,1"); err == nil || err.Error() != "Broker list contains duplicate entries: 1" {
		t.Fatalf("broker list: %v", err)
	}
}

// --generate's assignment is AdminUtils': the javadoc table with start 0 and shift 0, and one replica per rack.
func TestGenerateAssignment(t *testing.T) {
	zero := func(int) int { return 0 }
	got, err := assignReplicas([]rackedBroker{{id: 0}, {id: 1}, {id: 2}, {id: 3}, {id: 4}}, 10, 3, zero)
	want := map[int32][]int32{0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
		5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("rack-unaware %v %v", got, err)
	}
	r := func(s string) *string { return &s }
	racked := []rackedBroker{{0, r("rack1")}, {1, r("rack3")}, {2, r("rack3")}, {3, r("rack2")}, {4, r("rack2")}, {5, r("rack1")}}
	got, err = assignReplicas(racked, 7, 3, zero)
	want = map[int32][]int32{0: {0, 3, 1}, 1: {3, 1, 5}, 2: {1, 5, 4}, 3: {5, 4, 2}, 4: {4, 2, 0}, 5: {2, 0, 3}, 6: {0, 4, 2}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("rack-aware %v %v", got, err)
	}
}
