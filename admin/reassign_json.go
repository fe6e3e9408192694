package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
)

// partitionTarget is one entry of a reassignment JSON file: a partition and its target replicas.
type partitionTarget struct {
	tp       topicPartition
	replicas []int32
}

// formatReassignmentJSON is ReassignPartitionsCommand.formatAsReassignmentJson: partitions sorted, log_dirs all
// "any" (we do not move replicas between log dirs).
func formatReassignmentJSON(m map[topicPartition][]int32) string {
	type entry struct {
		Topic     string   `json:"topic"`
		Partition int32    `json:"partition"`
		Replicas  []int32  `json:"replicas"`
		LogDirs   []string `json:"log_dirs"`
	}
	out := struct {
		Version    int     `json:"version"`
		Partitions []entry `json:"partitions"`
	}{Version: 1, Partitions: []entry{}}
	for _, tp := range sortedTPs(m) {
		rs := m[tp]
		if rs == nil {
			rs = []int32{}
		}
		dirs := make([]string, len(rs))
		for i := range dirs {
			dirs[i] = "any"
		}
		out.Partitions = append(out.Partitions, entry{tp.topic, tp.partition, rs, dirs})
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func sortedTPs[V any](m map[topicPartition]V) []topicPartition {
	tps := make([]topicPartition, 0, len(m))
	for tp := range m {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
	return tps
}

func tpName(tp topicPartition) string { return tp.topic + "-" + strconv.Itoa(int(tp.partition)) }

func joinReplicas(rs []int32, sep string) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = strconv.Itoa(int(r))
	}
	return strings.Join(s, sep)
}

// parseReassignmentJSON is parsePartitionReassignmentData: version 1 (the default), partitions with optional
// log_dirs whose length must match the replicas.
func parseReassignmentJSON(data string) ([]partitionTarget, error) {
	var v struct {
		Version    *int `json:"version"`
		Partitions []struct {
			Topic     *string  `json:"topic"`
			Partition *int32   `json:"partition"`
			Replicas  []int32  `json:"replicas"`
			LogDirs   []string `json:"log_dirs"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return nil, errors.New("The input string is not a valid JSON")
	}
	if v.Version != nil && *v.Version != 1 {
		return nil, fmt.Errorf("Not supported version field value %d", *v.Version)
	}
	var out []partitionTarget
	for _, p := range v.Partitions {
		if p.Topic == nil || p.Partition == nil || p.Replicas == nil {
			return nil, errors.New("Partition reassignment entries need topic, partition and replicas fields")
		}
		tp := topicPartition{*p.Topic, *p.Partition}
		if p.LogDirs != nil && len(p.LogDirs) != len(p.Replicas) {
			return nil, fmt.Errorf("Size of replicas list [%s] is different from size of log dirs list [%s] for partition %s",
				joinReplicas(p.Replicas, ", "), strings.Join(p.LogDirs, ", "), tpName(tp))
		}
		out = append(out, partitionTarget{tp, p.Replicas})
	}
	return out, nil
}

// validateExecuteTargets is parseExecuteAssignmentArgs' checks.
func validateExecuteTargets(ts []partitionTarget) (map[topicPartition][]int32, error) {
	if len(ts) == 0 {
		return nil, errors.New("Partition reassignment list cannot be empty")
	}
	out := map[topicPartition][]int32{}
	var dupParts []string
	var dupReplicas []string
	for _, t := range ts {
		if len(t.replicas) == 0 {
			return nil, errors.New("Partition replica list cannot be empty")
		}
		if _, ok := out[t.tp]; ok {
			dupParts = append(dupParts, tpName(t.tp))
		}
		out[t.tp] = t.replicas
		seen := map[int32]bool{}
		var dups []string
		for _, r := range t.replicas {
			if seen[r] {
				dups = append(dups, strconv.Itoa(int(r)))
			}
			seen[r] = true
		}
		if len(dups) > 0 {
			dupReplicas = append(dupReplicas, fmt.Sprintf("%s contains %s", tpName(t.tp), strings.Join(dups, ",")))
		}
	}
	if len(dupParts) > 0 {
		return nil, fmt.Errorf("Partition reassignment contains duplicate topic partitions: %s", strings.Join(dupParts, ","))
	}
	if len(dupReplicas) > 0 {
		return nil, fmt.Errorf("Partition replica lists may not contain duplicate entries: %s", strings.Join(dupReplicas, ","))
	}
	return out, nil
}

// parseTopicsToMove reads {"version":1,"topics":[{"topic":"foo"}]}.
func parseTopicsToMove(data string) ([]string, error) {
	var v struct {
		Version *int `json:"version"`
		Topics  []struct {
			Topic string `json:"topic"`
		} `json:"topics"`
	}
	if err := json.Unmarshal([]byte(data), &v); err != nil {
		return nil, errors.New("The input string is not a valid JSON")
	}
	if v.Version != nil && *v.Version != 1 {
		return nil, fmt.Errorf("Not supported version field value %d", *v.Version)
	}
	var out []string
	seen := map[string]bool{}
	var dups []string
	for _, t := range v.Topics {
		if seen[t.Topic] {
			dups = append(dups, t.Topic)
		}
		seen[t.Topic] = true
		out = append(out, t.Topic)
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("List of topics to reassign contains duplicate entries: %s", strings.Join(dups, ","))
	}
	return out, nil
}

// parseBrokerList reads --broker-list 0,1,2.
func parseBrokerList(s string) ([]int32, error) {
	var out []int32
	seen := map[int32]bool{}
	var dups []string
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
		if err != nil {
			return nil, fmt.Errorf("For input string: \"%s\"", strings.TrimSpace(f))
		}
		if seen[int32(n)] {
			dups = append(dups, strconv.Itoa(int(n)))
		}
		seen[int32(n)] = true
		out = append(out, int32(n))
	}
	if len(dups) > 0 {
		return nil, fmt.Errorf("Broker list contains duplicate entries: %s", strings.Join(dups, ","))
	}
	return out, nil
}

// rackedBroker is a broker for --generate: its id and rack (nil without broker.rack or with
// --disable-rack-aware).
type rackedBroker struct {
	id   int32
	rack *string
}

// assignReplicas is AdminUtils.assignReplicasToBrokers with a random start, as --generate uses it (the broker
// package has the same algorithm for CreateTopics; the tools may not import it).
func assignReplicas(brokers []rackedBroker, nPartitions, rf int, rnd func(int) int) (map[int32][]int32, error) {
	if rf > len(brokers) {
		return nil, fmt.Errorf("Replication factor: %d larger than available brokers: %d.", rf, len(brokers))
	}
	if rnd == nil {
		rnd = rand.IntN
	}
	racks := map[string]bool{}
	rackOf := map[int32]string{}
	list := make([]int32, 0, len(brokers))
	for _, b := range brokers {
		list = append(list, b.id)
		if b.rack != nil {
			racks[*b.rack] = true
			rackOf[b.id] = *b.rack
		}
	}
	aware := len(rackOf) > 0
	if aware && len(rackOf) < len(brokers) {
		return nil, errors.New("Not all brokers have rack information for replica rack aware assignment.")
	}
	numRacks := 1
	if aware {
		list = rackAlternated(rackOf)
		numRacks = len(racks)
	}
	n := len(list)
	start := rnd(n)
	shift := rnd(n)
	out := map[int32][]int32{}
	for p := 0; p < nPartitions; p++ {
		if p > 0 && p%n == 0 {
			shift++
		}
		first := (p + start) % n
		replicas := []int32{list[first]}
		if !aware {
			for j := 0; j < rf-1; j++ {
				replicas = append(replicas, list[(first+1+(shift+j)%(n-1))%n])
			}
			out[int32(p)] = replicas
			continue
		}
		racksWith := map[string]bool{rackOf[list[first]]: true}
		brokersWith := map[int32]bool{list[first]: true}
		for j, k := 0, 0; j < rf-1; j++ {
			for {
				b := list[(first+1+(shift*numRacks+k)%(n-1))%n]
				k++
				if (!racksWith[rackOf[b]] || len(racksWith) == numRacks) && (!brokersWith[b] || len(brokersWith) == n) {
					replicas = append(replicas, b)
					racksWith[rackOf[b]], brokersWith[b] = true, true
					break
				}
			}
		}
		out[int32(p)] = replicas
	}
	return out, nil
}

func rackAlternated(rackOf map[int32]string) []int32 {
	byRack := map[string][]int32{}
	for id, r := range rackOf {
		byRack[r] = append(byRack[r], id)
	}
	var racks []string
	for r, ids := range byRack {
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		racks = append(racks, r)
	}
	sort.Strings(racks)
	var out []int32
	for i := 0; len(out) < len(rackOf); i++ {
		if ids := byRack[racks[i%len(racks)]]; i/len(racks) < len(ids) {
			out = append(out, ids[i/len(racks)])
		}
	}
	return out
}
