package broker

import (
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/zkutils"
)

// brokerMetadata is what replica assignment knows of a broker: its id and, when broker.rack is set, its rack.
type brokerMetadata struct {
	id   int32
	rack *string
}

// errRackInfoIncomplete is Kafka's AdminOperationException for a cluster where only some brokers have a rack.
// It is not an ApiException, so Kafka answers UNKNOWN_SERVER_ERROR without a message.
var errRackInfoIncomplete = errors.New("Not all brokers have rack information for replica rack aware assignment.")

// brokerMetadatas lists registered brokers sorted by id, as AdminZkClient.getBrokerMetadatas does.
func brokerMetadatas(brokers []zkutils.BrokerInfo) []brokerMetadata {
	out := make([]brokerMetadata, 0, len(brokers))
	for _, b := range brokers {
		out = append(out, brokerMetadata{id: b.ID, rack: b.Rack})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out
}

// racksComplete is getBrokerMetadatas' RackAwareMode.Enforced check: racks on all brokers or on none.
func racksComplete(brokers []brokerMetadata) error {
	if n := withRack(brokers); n > 0 && n < len(brokers) {
		return errRackInfoIncomplete
	}
	return nil
}

func withRack(brokers []brokerMetadata) int {
	n := 0
	for _, b := range brokers {
		if b.rack != nil {
			n++
		}
	}
	return n
}

// assignReplicasToBrokers is Kafka's AdminUtils.assignReplicasToBrokers. fixedStart < 0 draws the start index
// and the replica shift from rnd (CreateTopics); CreatePartitions fixes both so new partitions continue the
// existing pattern. startPartition is the first partition id to assign. Brokers are used in the given order
// (callers sort them by id); rack-aware assignment runs when every broker has a rack.
func assignReplicasToBrokers(brokers []brokerMetadata, nPartitions int32, rf int16, fixedStart int, startPartition int32, rnd func(int) int) (map[int32][]int32, error) {
	if nPartitions <= 0 {
		return nil, newAPIError(kerr.InvalidPartitions, "Number of partitions must be larger than 0.")
	}
	if rf <= 0 {
		return nil, newAPIError(kerr.InvalidReplicationFactor, "Replication factor must be larger than 0.")
	}
	if int(rf) > len(brokers) {
		return nil, newAPIError(kerr.InvalidReplicationFactor, "Replication factor: %d larger than available brokers: %d.", rf, len(brokers))
	}
	switch racks := withRack(brokers); {
	case racks == 0:
		ids := make([]int32, len(brokers))
		for i, b := range brokers {
			ids[i] = b.id
		}
		return assignRackUnaware(ids, nPartitions, int(rf), fixedStart, startPartition, rnd), nil
	case racks < len(brokers):
		return nil, errRackInfoIncomplete
	}
	return assignRackAware(brokers, nPartitions, int(rf), fixedStart, startPartition, rnd), nil
}

// startAndShift draws the first replica's start index and the follower shift, in Kafka's order.
func startAndShift(n, fixedStart int, rnd func(int) int) (int, int) {
	if fixedStart >= 0 {
		return fixedStart, fixedStart
	}
	start := rnd(n)
	return start, rnd(n)
}

// replicaIndex places the j-th follower (j from 0) after the first replica with the given shift.
func replicaIndex(first, shift, j, n int) int {
	return (first + 1 + (shift+j)%(n-1)) % n
}

func assignRackUnaware(ids []int32, nPartitions int32, rf int, fixedStart int, startPartition int32, rnd func(int) int) map[int32][]int32 {
	n := len(ids)
	start, shift := startAndShift(n, fixedStart, rnd)
	out := make(map[int32][]int32, nPartitions)
	p := int(max(0, startPartition))
	for i := 0; i < int(nPartitions); i++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{ids[first]}
		for j := 0; j < rf-1; j++ {
			replicas = append(replicas, ids[replicaIndex(first, shift, j, n)])
		}
		out[int32(p)] = replicas
		p++
	}
	return out
}

// assignRackAware is round robin over the rack-alternated broker list; a follower is skipped while its rack (or
// the broker itself) already holds a replica and some other rack (broker) holds none.
func assignRackAware(brokers []brokerMetadata, nPartitions int32, rf int, fixedStart int, startPartition int32, rnd func(int) int) map[int32][]int32 {
	rackOf := make(map[int32]string, len(brokers))
	racks := map[string]bool{}
	for _, b := range brokers {
		rackOf[b.id] = *b.rack
		racks[*b.rack] = true
	}
	numRacks := len(racks)
	arranged := rackAlternatedBrokerList(rackOf)
	n := len(arranged)
	start, shift := startAndShift(n, fixedStart, rnd)
	out := make(map[int32][]int32, nPartitions)
	p := int(max(0, startPartition))
	for i := 0; i < int(nPartitions); i++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		leader := arranged[first]
		replicas := []int32{leader}
		racksWith := map[string]bool{rackOf[leader]: true}
		brokersWith := map[int32]bool{leader: true}
		k := 0
		for j := 0; j < rf-1; j++ {
			for {
				b := arranged[replicaIndex(first, shift*numRacks, k, n)]
				rack := rackOf[b]
				k++
				if (!racksWith[rack] || len(racksWith) == numRacks) && (!brokersWith[b] || len(brokersWith) == n) {
					replicas = append(replicas, b)
					racksWith[rack] = true
					brokersWith[b] = true
					break
				}
			}
		}
		out[int32(p)] = replicas
		p++
	}
	return out
}

// rackAlternatedBrokerList takes one broker from each rack in turn (racks sorted by name, brokers by id), so
// round robin over the list alternates racks.
func rackAlternatedBrokerList(rackOf map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for id, rack := range rackOf {
		byRack[rack] = append(byRack[rack], id)
	}
	racks := make([]string, 0, len(byRack))
	for r, ids := range byRack {
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		racks = append(racks, r)
	}
	sort.Strings(racks)
	out := make([]int32, 0, len(rackOf))
	next := make([]int, len(racks))
	for i := 0; len(out) < len(rackOf); i = (i + 1) % len(racks) {
		if ids := byRack[racks[i]]; next[i] < len(ids) {
			out = append(out, ids[next[i]])
			next[i]++
		}
	}
	return out
}
