package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

// The two legacy admin znodes through which operators' tools talk to the controller: a preferred-replica
// election request and a partition reassignment request. The controller watches both for existence.

const (
	preferredReplicaElectionPath = "/admin/preferred_replica_election"
	reassignPartitionsPath       = "/admin/reassign_partitions"
)

func sortedTPs(tps []TopicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
}

// decodePreferredReplicaElection reads the partitions, without duplicates, sorted. Kafka treats unparsable JSON as
// an empty set.
func decodePreferredReplicaElection(data []byte) ([]TopicPartition, error) {
	tps, err := decodeTopicPartitions(data, "preferred replica election JSON")
	if err != nil {
		return nil, err
	}
	seen := map[TopicPartition]bool{}
	out := make([]TopicPartition, 0, len(tps))
	for _, tp := range tps {
		if !seen[tp] {
			seen[tp] = true
			out = append(out, tp)
		}
	}
	sortedTPs(out)
	return out, nil
}

// WatchPreferredReplicaElection sets an exists watch on /admin/preferred_replica_election (it fires on creation,
// change or deletion) and reports whether the node exists. created (the node's czxid) tells one request from
// the next, since Kafka acts only on a node's creation.
func (c *Client) WatchPreferredReplicaElection() (exists bool, created int64, w Watch, err error) {
	return c.impl.existsW(preferredReplicaElectionPath)
}

// GetPreferredReplicaElection reads the partitions of a pending preferred replica election; a missing node or
// invalid JSON is an empty list (as Kafka).
func (c *Client) GetPreferredReplicaElection() ([]TopicPartition, error) {
	data, _, err := c.impl.get(preferredReplicaElectionPath)
	if errors.Is(err, ErrNoNode) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	tps, derr := decodePreferredReplicaElection(data)
	if derr != nil {
		c.impl.log.Warnf("ignoring preferred replica election: %v", derr)
		return nil, nil
	}
	return tps, nil
}

// PreferredReplicaElectionExists reports whether /admin/preferred_replica_election exists.
func (c *Client) PreferredReplicaElectionExists() (bool, error) {
	ok, _, err := c.impl.exists(preferredReplicaElectionPath)
	return ok, err
}

// CreatePreferredReplicaElection is what the legacy tool writes; ErrNodeExists while one is pending.
func (c *Client) CreatePreferredReplicaElection(tps []TopicPartition) error {
	return c.impl.createRecursive(preferredReplicaElectionPath, encodeTopicPartitions(tps), 0)
}

// DeletePreferredReplicaElection removes the request, fenced; a missing node is fine.
func (c *Client) DeletePreferredReplicaElection(epochZkVersion int32) error {
	return c.impl.fencedDelete(epochZkVersion, preferredReplicaElectionPath)
}

// PartitionReplicas is one entry of /admin/reassign_partitions: the target replicas of a partition.
type PartitionReplicas struct {
	TopicPartition
	Replicas []int32
}

// encodeReassignment writes Kafka's LegacyPartitionAssignment bean: {"version":1,"partitions":[{"topic":..,
// "partition":..,"replicas":[..]}]}, properties in declaration order.
func encodeReassignment(rs []PartitionReplicas) []byte {
	parts := make([]json.RawMessage, 0, len(rs))
	for _, r := range rs {
		replicas := r.Replicas
		if replicas == nil {
			replicas = []int32{}
		}
		parts = append(parts, marshalOrdered(object{"topic": r.Topic, "partition": r.Partition, "replicas": replicas},
			[]string{"topic", "partition", "replicas"}))
	}
	return marshalOrdered(object{"version": 1, "partitions": parts}, []string{"version", "partitions"})
}

func decodeReassignment(data []byte) (map[TopicPartition][]int32, error) {
	var v struct {
		Partitions []struct {
			Topic     string  `json:"topic"`
			Partition int32   `json:"partition"`
			Replicas  []int32 `json:"replicas"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("zkutils: bad partition reassignment JSON %q: %w", data, err)
	}
	out := make(map[TopicPartition][]int32, len(v.Partitions))
	for _, p := range v.Partitions {
		out[TopicPartition{p.Topic, p.Partition}] = p.Replicas
	}
	return out, nil
}

// WatchPartitionReassignment sets an exists watch on /admin/reassign_partitions and reports whether it exists
// and its czxid (see WatchPreferredReplicaElection).
func (c *Client) WatchPartitionReassignment() (exists bool, created int64, w Watch, err error) {
	return c.impl.existsW(reassignPartitionsPath)
}

// GetPartitionReassignment reads the requested reassignments (partition → target replicas). A missing node or
// invalid JSON is empty, as in Kafka.
func (c *Client) GetPartitionReassignment() (map[TopicPartition][]int32, error) {
	data, _, err := c.impl.get(reassignPartitionsPath)
	if errors.Is(err, ErrNoNode) {
		return map[TopicPartition][]int32{}, nil
	}
	if err != nil {
		return nil, err
	}
	m, derr := decodeReassignment(data)
	if derr != nil {
		c.impl.log.Warnf("ignoring partition reassignment due to invalid json: %v", derr)
		return map[TopicPartition][]int32{}, nil
	}
	return m, nil
}

// PartitionReassignmentInProgress reports whether /admin/reassign_partitions exists.
func (c *Client) PartitionReassignmentInProgress() (bool, error) {
	ok, _, err := c.impl.exists(reassignPartitionsPath)
	return ok, err
}

func reassignmentList(m map[TopicPartition][]int32) []PartitionReplicas {
	out := make([]PartitionReplicas, 0, len(m))
	for tp, rs := range m {
		out = append(out, PartitionReplicas{TopicPartition: tp, Replicas: rs})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// CreatePartitionReassignment is what the legacy tool writes; ErrNodeExists while one is in progress.
func (c *Client) CreatePartitionReassignment(m map[TopicPartition][]int32) error {
	return c.impl.createRecursive(reassignPartitionsPath, encodeReassignment(reassignmentList(m)), 0)
}

// SetOrCreatePartitionReassignment rewrites the remaining reassignments, fenced (Kafka's
// setOrCreatePartitionReassignment: set any version, or create if it vanished).
func (c *Client) SetOrCreatePartitionReassignment(epochZkVersion int32, m map[TopicPartition][]int32) error {
	data := encodeReassignment(reassignmentList(m))
	_, err := c.impl.fencedSet(epochZkVersion, reassignPartitionsPath, data, -1)
	if errors.Is(err, ErrNoNode) {
		return c.impl.fencedCreate(epochZkVersion, reassignPartitionsPath, data)
	}
	return err
}

// DeletePartitionReassignment removes /admin/reassign_partitions, fenced; a missing node is fine.
func (c *Client) DeletePartitionReassignment(epochZkVersion int32) error {
	return c.impl.fencedDelete(epochZkVersion, reassignPartitionsPath)
}

// existsW sets an exists watch on p (which fires on creation, data change or deletion) and returns p's czxid.
func (c *client) existsW(p string) (bool, int64, Watch, error) {
	ok, st, ev, err := c.conn.ExistsW(c.abs(p))
	if err != nil {
		return false, 0, nil, mapErr("exists", p, err)
	}
	var czxid int64
	if ok && st != nil {
		czxid = st.Czxid
	}
	return ok, czxid, c.newWatch(ev), nil
}
