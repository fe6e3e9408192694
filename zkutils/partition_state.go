package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
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
//
// Each partition's <p> and <p>/state go in one group, and groups share fenced multis (fencedGroups), so 10,000
// new partitions cost a few dozen pipelined transactions rather than 20,000 round trips.
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
	sortedTPs(tps)
	create := func(p string, data []byte) *zk.CreateRequest {
		return &zk.CreateRequest{Path: cl.abs(p), Data: data, Acl: openACL}
	}
	// partitions/ exists already when partitions are added to a topic: that group fails alone, harmlessly.
	parents := make([][]any, len(topics))
	for i, t := range topics {
		parents[i] = []any{create(partitionsPath(t), nil)}
	}
	if _, _, moved := cl.fencedGroups(epochZkVersion, "partitions", parents); moved {
		return nil, ErrControllerMoved
	}
	groups := make([][]any, len(tps))
	for i, tp := range tps {
		groups[i] = []any{create(partitionPath(tp), nil), create(partitionStatePath(tp), encodeLeaderIsr(states[tp]))}
	}
	_, errs, moved := cl.fencedGroups(epochZkVersion, "partition state", groups)
	if moved {
		return nil, ErrControllerMoved
	}
	// A group that failed may have failed on <p> (left by an earlier, interrupted creation): the state alone.
	var again []int
	for i, err := range errs {
		if errors.Is(err, ErrNodeExists) {
			again = append(again, i)
		}
	}
	if len(again) > 0 {
		retry := make([][]any, len(again))
		for k, i := range again {
			retry[k] = groups[i][1:]
		}
		_, rerrs, moved := cl.fencedGroups(epochZkVersion, "partition state", retry)
		if moved {
			return nil, ErrControllerMoved
		}
		for k, i := range again {
			errs[i] = rerrs[k]
		}
	}
	out := make(map[TopicPartition]error, len(tps))
	for i, tp := range tps {
		out[tp] = errs[i]
	}
	return out, nil
}

// UpdatePartitionStates writes the states, each fenced and conditional on its ZkVersion. Successes get their
// new ZkVersion in newVersions; failures (ErrBadVersion, ErrNoNode) go to errs. ErrControllerMoved aborts.
// The conditional setDatas share fenced multis (fencedGroups): a conflict on one znode sends its neighbours
// again one by one, so only the conflicting partitions fail.
func (c *Client) UpdatePartitionStates(epochZkVersion int32, states map[TopicPartition]LeaderIsr) (newVersions map[TopicPartition]int32, errs map[TopicPartition]error, err error) {
	cl := c.impl
	tps := make([]TopicPartition, 0, len(states))
	for tp := range states {
		tps = append(tps, tp)
	}
	sortedTPs(tps)
	groups := make([][]any, len(tps))
	for i, tp := range tps {
		s := states[tp]
		groups[i] = []any{&zk.SetDataRequest{Path: cl.abs(partitionStatePath(tp)), Data: encodeLeaderIsr(s), Version: s.ZkVersion}}
	}
	res, es, moved := cl.fencedGroups(epochZkVersion, "partition state", groups)
	if moved {
		return nil, nil, ErrControllerMoved
	}
	newVersions = make(map[TopicPartition]int32, len(tps))
	errs = map[TopicPartition]error{}
	for i, tp := range tps {
		if es[i] != nil {
			errs[tp] = es[i]
		} else {
			newVersions[tp] = res[i][0].Stat.Version
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
