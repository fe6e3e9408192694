package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

func partitionsPath(topic string) string { return topicPath(topic) + "/partitions" }

func partitionPath(tp TopicPartition) string {
	return partitionsPath(tp.Topic) + "/" + strconv.FormatInt(int64(tp.Partition), 10)
}

func partitionStatePath(tp TopicPartition) string { return partitionPath(tp) + "/state" }

// encodeLeaderIsr writes the partition state as Kafka does: an immutable Map of five (six with
// leader_recovery_state, written only when RECOVERING) entries, hence hash order.
func encodeLeaderIsr(s LeaderIsr) []byte {
	isr := s.ISR
	if isr == nil {
		isr = []int32{}
	}
	o := object{
		"version":          1,
		"leader":           s.Leader,
		"leader_epoch":     s.LeaderEpoch,
		"controller_epoch": s.ControllerEpoch,
		"isr":              isr,
	}
	keys := []string{"version", "leader", "leader_epoch", "controller_epoch", "isr"}
	if s.LeaderRecoveryState != 0 {
		o["leader_recovery_state"] = s.LeaderRecoveryState
		keys = append(keys, "leader_recovery_state")
	}
	return marshalOrdered(o, scalaImmutableMapOrder(keys))
}

func decodeLeaderIsr(data []byte) (LeaderIsr, error) {
	var v struct {
		Leader          *int32  `json:"leader"`
		LeaderEpoch     *int32  `json:"leader_epoch"`
		ISR             []int32 `json:"isr"`
		ControllerEpoch *int32  `json:"controller_epoch"`
		Recovery        int8    `json:"leader_recovery_state"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Leader == nil || v.LeaderEpoch == nil || v.ControllerEpoch == nil {
		return LeaderIsr{}, fmt.Errorf("zkutils: bad partition state %q: %v", data, err)
	}
	if v.ISR == nil {
		v.ISR = []int32{}
	}
	return LeaderIsr{Leader: *v.Leader, LeaderEpoch: *v.LeaderEpoch, ISR: v.ISR,
		ControllerEpoch: *v.ControllerEpoch, LeaderRecoveryState: v.Recovery}, nil
}

// GetPartitionStates reads the state znodes of tps with pipelined reads; missing ones are omitted.
func (c *Client) GetPartitionStates(tps []TopicPartition) (map[TopicPartition]LeaderIsr, error) {
	states := make([]LeaderIsr, len(tps))
	found := make([]bool, len(tps))
	errs := make([]error, len(tps))
	parallel(len(tps), func(i int) {
		data, st, err := c.impl.get(partitionStatePath(tps[i]))
		if errors.Is(err, ErrNoNode) {
			return
		}
		if err != nil {
			errs[i] = err
			return
		}
		states[i], errs[i] = decodeLeaderIsr(data)
		states[i].ZkVersion = st.Version
		found[i] = errs[i] == nil
	})
	out := make(map[TopicPartition]LeaderIsr, len(tps))
	for i, tp := range tps {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if found[i] {
			out[tp] = states[i]
		}
	}
	return out, nil
}

// CreatePartitionStates creates the state znodes (and the empty partitions/ and <p>/ parents, as Kafka's
// createTopicPartitions does), every write fenced. The result has an entry per partition: nil on success
// (the new node's ZkVersion is 0), else e.g. ErrNodeExists. ErrControllerMoved aborts the whole call.
func (c *Client) CreatePartitionStates(epochZkVersion int32, states map[TopicPartition]LeaderIsr) (map[TopicPartition]error, error) {
	cl := c.impl
	tps := make([]TopicPartition, 0, len(states))
	topicSet := map[string]bool{}
	var topics []string
	for tp := range states {
		tps = append(tps, tp)
		if !topicSet[tp.Topic] {
			topicSet[tp.Topic] = true
			topics = append(topics, tp.Topic)
		}
	}
	moved := func(errs []error) bool {
		for _, e := range errs {
			if errors.Is(e, ErrControllerMoved) {
				return true
			}
		}
		return false
	}
	parentErrs := make([]error, len(topics))
	parallel(len(topics), func(i int) {
		parentErrs[i] = cl.fencedCreate(epochZkVersion, partitionsPath(topics[i]), nil)
	})
	if moved(parentErrs) {
		return nil, ErrControllerMoved
	}
	errs := make([]error, len(tps))
	parallel(len(tps), func(i int) { errs[i] = cl.fencedCreate(epochZkVersion, partitionPath(tps[i]), nil) })
	if moved(errs) {
		return nil, ErrControllerMoved
	}
	parallel(len(tps), func(i int) {
		errs[i] = cl.fencedCreate(epochZkVersion, partitionStatePath(tps[i]), encodeLeaderIsr(states[tps[i]]))
	})
	if moved(errs) {
		return nil, ErrControllerMoved
	}
	out := make(map[TopicPartition]error, len(tps))
	for i, tp := range tps {
		out[tp] = errs[i]
	}
	return out, nil
}

// UpdatePartitionStates writes the states, each fenced and conditional on its ZkVersion. Successes get their
// new ZkVersion in newVersions; failures (ErrBadVersion, ErrNoNode) go to errs. ErrControllerMoved aborts.
func (c *Client) UpdatePartitionStates(epochZkVersion int32, states map[TopicPartition]LeaderIsr) (newVersions map[TopicPartition]int32, errs map[TopicPartition]error, err error) {
	cl := c.impl
	tps := make([]TopicPartition, 0, len(states))
	for tp := range states {
		tps = append(tps, tp)
	}
	vers := make([]int32, len(tps))
	es := make([]error, len(tps))
	parallel(len(tps), func(i int) {
		s := states[tps[i]]
		st, err := cl.fencedSet(epochZkVersion, partitionStatePath(tps[i]), encodeLeaderIsr(s), s.ZkVersion)
		if err != nil {
			es[i] = err
			return
		}
		vers[i] = st.Version
	})
	newVersions = map[TopicPartition]int32{}
	errs = map[TopicPartition]error{}
	for i, tp := range tps {
		if errors.Is(es[i], ErrControllerMoved) {
			return nil, nil, ErrControllerMoved
		}
		if es[i] != nil {
			errs[tp] = es[i]
		} else {
			newVersions[tp] = vers[i]
		}
	}
	return newVersions, errs, nil
}

// UpdatePartitionStateAsLeader is the partition leader's unfenced conditional write of an ISR change.
func (c *Client) UpdatePartitionStateAsLeader(tp TopicPartition, s LeaderIsr) (newZkVersion int32, err error) {
	cl := c.impl
	p := partitionStatePath(tp)
	st, err := cl.conn.Set(cl.abs(p), encodeLeaderIsr(s), s.ZkVersion)
	if err != nil {
		return 0, mapErr("set", p, err)
	}
	return st.Version, nil
}

// WatchPartitionState reads one partition's state and sets a data watch on it (the controller's
// PartitionReassignmentIsrChangeHandler, used while ISR changes travel through ZooKeeper). A missing node yields
// found=false and an exists watch.
func (c *Client) WatchPartitionState(tp TopicPartition) (LeaderIsr, bool, Watch, error) {
	data, st, found, w, err := c.impl.getW(partitionStatePath(tp))
	if err != nil || !found {
		return LeaderIsr{}, false, w, err
	}
	li, err := decodeLeaderIsr(data)
	if err != nil {
		return LeaderIsr{}, false, w, err
	}
	li.ZkVersion = st.Version
	return li, true, w, nil
}
