package broker

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func racked(m map[int32]string) []brokerMetadata {
	var out []brokerMetadata
	for id := int32(0); id < 64; id++ {
		if r, ok := m[id]; ok {
			r := r
			out = append(out, brokerMetadata{id: id, rack: &r})
		}
	}
	return out
}

func plain(ids ...int32) []brokerMetadata {
	out := make([]brokerMetadata, len(ids))
	for i, id := range ids {
		out[i] = brokerMetadata{id: id}
	}
	return out
}

// The expected maps are Kafka's own: AdminUtils' javadoc table, AdminRackAwareTest and AddPartitionsTest.
func TestAssignReplicasToBrokersKnownOutputs(t *testing.T) {
	rack6 := map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}
	tests := []struct {
		name       string
		brokers    []brokerMetadata
		partitions int32
		rf         int16
		fixed      int
		startPart  int32
		want       map[int32][]int32
	}{
		{"rack-unaware javadoc table", plain(0, 1, 2, 3, 4), 10, 3, 0, 0, map[int32][]int32{
			0: {0, 1, 2}, 1: {1, 2, 3}, 2: {2, 3, 4}, 3: {3, 4, 0}, 4: {4, 0, 1},
			5: {0, 2, 3}, 6: {1, 3, 4}, 7: {2, 4, 0}, 8: {3, 0, 1}, 9: {4, 1, 2}}},
		{"rack-aware AdminRackAwareTest", racked(rack6), 7, 3, 0, 0, map[int32][]int32{
			0: {0, 3, 1}, 1: {3, 1, 5}, 2: {1, 5, 4}, 3: {5, 4, 2}, 4: {4, 2, 0}, 5: {2, 0, 3}, 6: {0, 4, 2}}},
		// AddPartitionsTest.testReplicaPlacementAllServers (partition 0 is [2,3,0,1], so start = index of broker 2);
		// the test lists each partition's replicas in this order.
		{"create partitions continues the pattern", plain(0, 1, 2, 3), 6, 4, 2, 1, map[int32][]int32{
			1: {3, 2, 0, 1}, 2: {0, 3, 1, 2}, 3: {1, 0, 2, 3}, 4: {2, 3, 0, 1}, 5: {3, 0, 1, 2}, 6: {0, 1, 2, 3}}},
		{"single broker", plain(7), 2, 1, 0, 0, map[int32][]int32{0: {7}, 1: {7}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := assignReplicasToBrokers(tc.brokers, tc.partitions, tc.rf, tc.fixed, tc.startPart, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRackAlternatedBrokerList(t *testing.T) {
	tests := []struct {
		racks map[int32]string
		want  []int32
	}{
		{map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2", 5: "rack1"}, []int32{0, 3, 1, 5, 4, 2}},
		{map[int32]string{0: "rack1", 1: "rack3", 2: "rack3", 3: "rack2", 4: "rack2"}, []int32{0, 3, 1, 4, 2}},
		{map[int32]string{0: "a", 1: "a", 2: "a"}, []int32{0, 1, 2}},
	}
	for _, tc := range tests {
		if got := rackAlternatedBrokerList(tc.racks); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %v, want %v", tc.racks, got, tc.want)
		}
	}
}

// Every partition of a rack-aware assignment with rf = number of racks has one replica per rack, whatever the
// random start (Kafka's checkReplicaDistribution).
func TestRackAwareSpreadsAcrossRacks(t *testing.T) {
	racks := map[int32]string{0: "rack1", 1: "rack2", 2: "rack2", 3: "rack3", 4: "rack3", 5: "rack1"}
	for start := 0; start < 6; start++ {
		for shift := 0; shift < 6; shift++ {
			draws := []int{start, shift}
			rnd := func(int) int { d := draws[0]; draws = draws[1:]; return d }
			got, err := assignReplicasToBrokers(racked(racks), 12, 3, -1, 0, rnd)
			if err != nil {
				t.Fatal(err)
			}
			leaders := map[int32]int{}
			for p, rs := range got {
				seen := map[string]bool{}
				for _, r := range rs {
					seen[racks[r]] = true
				}
				if len(seen) != 3 {
					t.Fatalf("start %d shift %d: partition %d replicas %v not on 3 racks", start, shift, p, rs)
				}
				leaders[rs[0]]++
			}
			for b, n := range leaders {
				if n != 2 {
					t.Fatalf("start %d shift %d: broker %d leads %d partitions, want 2", start, shift, b, n)
				}
			}
		}
	}
}

func TestAssignReplicasToBrokersErrors(t *testing.T) {
	r := "r1"
	mixed := []brokerMetadata{{id: 0, rack: &r}, {id: 1}}
	tests := []struct {
		name    string
		brokers []brokerMetadata
		parts   int32
		rf      int16
		want    error
	}{
		{"no partitions", plain(0, 1), 0, 1, kerr.InvalidPartitions},
		{"rf zero", plain(0, 1), 1, 0, kerr.InvalidReplicationFactor},
		{"rf too large", plain(0, 1), 1, 3, kerr.InvalidReplicationFactor},
		{"mixed racks", mixed, 1, 2, errRackInfoIncomplete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := assignReplicasToBrokers(tc.brokers, tc.parts, tc.rf, 0, 0, nil)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if err := racksComplete(mixed); !errors.Is(err, errRackInfoIncomplete) {
		t.Fatalf("racksComplete(mixed) = %v", err)
	}
	if err := racksComplete(plain(0, 1)); err != nil {
		t.Fatalf("racksComplete(no racks) = %v", err)
	}
}
