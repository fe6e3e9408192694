package zkutils

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/go-zookeeper/zk"
)

const topicsPath = "/brokers/topics"

func topicPath(topic string) string { return topicsPath + "/" + topic }

// encodeTopicID is Kafka's Uuid.toString: base64url without padding.
func encodeTopicID(id [16]byte) string { return base64.RawURLEncoding.EncodeToString(id[:]) }

func decodeTopicID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, fmt.Errorf("zkutils: bad topic id %q", s)
	}
	copy(id[:], b)
	return id, nil
}

// replicaMap writes a partition → replicas map as Kafka's `mutable.Map[String, List]()` iterates it.
func replicaMap(m map[int32][]int32) json.RawMessage {
	o := object{}
	keys := make([]string, 0, len(m))
	for p, rs := range m {
		k := strconv.FormatInt(int64(p), 10)
		if rs == nil {
			rs = []int32{}
		}
		o[k] = rs
		keys = append(keys, k)
	}
	return marshalOrdered(o, scalaMutableMapOrder(keys, 16))
}

func nonEmpty(m map[int32][]int32) map[int32][]int32 {
	out := map[int32][]int32{}
	for p, rs := range m {
		if len(rs) > 0 {
			out[p] = rs
		}
	}
	return out
}

// encodeTopicAssignment writes the version 3 JSON. adding_replicas and removing_replicas are always present;
// topic_id is omitted for the zero id, as Kafka omits a missing one.
func encodeTopicAssignment(a TopicAssignment) []byte {
	o := object{
		"version":           3,
		"partitions":        replicaMap(a.Partitions),
		"adding_replicas":   replicaMap(nonEmpty(a.Adding)),
		"removing_replicas": replicaMap(nonEmpty(a.Removing)),
	}
	keys := []string{"version", "partitions", "adding_replicas", "removing_replicas"}
	if a.TopicID != ([16]byte{}) {
		o["topic_id"] = encodeTopicID(a.TopicID)
		keys = append(keys, "topic_id")
	}
	return marshalOrdered(o, scalaMutableMapOrder(keys, scalaMutableFromLen(4)))
}

func decodeTopicAssignment(topic string, data []byte) (TopicAssignment, error) {
	a := TopicAssignment{Topic: topic, Partitions: map[int32][]int32{}, Adding: map[int32][]int32{},
		Removing: map[int32][]int32{}}
	var v struct {
		TopicID    *string            `json:"topic_id"`
		Partitions map[string][]int32 `json:"partitions"`
		Adding     map[string][]int32 `json:"adding_replicas"`
		Removing   map[string][]int32 `json:"removing_replicas"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return a, fmt.Errorf("zkutils: bad assignment for topic %s %q: %w", topic, data, err)
	}
	if v.TopicID != nil {
		id, err := decodeTopicID(*v.TopicID)
		if err != nil {
			return a, err
		}
		a.TopicID = id
	}
	for _, x := range []struct {
		from map[string][]int32
		to   map[int32][]int32
	}{{v.Partitions, a.Partitions}, {v.Adding, a.Adding}, {v.Removing, a.Removing}} {
		for k, rs := range x.from {
			p, err := strconv.ParseInt(k, 10, 32)
			if err != nil {
				return a, fmt.Errorf("zkutils: bad partition %q in assignment of topic %s", k, topic)
			}
			x.to[int32(p)] = rs
		}
	}
	// Kafka reads adding/removing only for partitions that are in the assignment.
	for p := range a.Adding {
		if _, ok := a.Partitions[p]; !ok {
			delete(a.Adding, p)
		}
	}
	for p := range a.Removing {
		if _, ok := a.Partitions[p]; !ok {
			delete(a.Removing, p)
		}
	}
	return a, nil
}

// CreateTopic writes the topic's config node (always, maybe with no overrides) and then its assignment, as
// Kafka's AdminZkClient.createTopicWithAssignment does. An existing topic is ErrTopicExists.
func (c *Client) CreateTopic(topic string, assignment map[int32][]int32, topicID [16]byte, configs map[string]string) error {
	cl := c.impl
	if ok, _, err := cl.exists(topicPath(topic)); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", ErrTopicExists, topic)
	}
	if err := c.setOrCreateTopicConfig(topic, configs); err != nil {
		return err
	}
	a := TopicAssignment{Topic: topic, TopicID: topicID, Partitions: assignment}
	err := cl.createRecursive(topicPath(topic), encodeTopicAssignment(a), 0)
	if errors.Is(err, ErrNodeExists) {
		return fmt.Errorf("%w: %s", ErrTopicExists, topic)
	}
	return err
}

// TopicExists reports whether /brokers/topics/<topic> exists.
func (c *Client) TopicExists(topic string) (bool, error) {
	ok, _, err := c.impl.exists(topicPath(topic))
	return ok, err
}

// GetAllTopics lists topic names, sorted.
func (c *Client) GetAllTopics() ([]string, error) {
	ts, err := c.impl.children(topicsPath)
	if errors.Is(err, ErrNoNode) {
		return nil, nil
	}
	return ts, err
}

// WatchTopics lists topic names (sorted) and sets a child watch on /brokers/topics.
func (c *Client) WatchTopics() ([]string, Watch, error) { return c.impl.childrenW(topicsPath) }

// GetTopicAssignments reads the assignments of topics with pipelined reads; missing topics are omitted.
func (c *Client) GetTopicAssignments(topics []string) (map[string]TopicAssignment, error) {
	as := make([]TopicAssignment, len(topics))
	found := make([]bool, len(topics))
	errs := make([]error, len(topics))
	parallel(len(topics), func(i int) {
		data, st, err := c.impl.get(topicPath(topics[i]))
		if errors.Is(err, ErrNoNode) {
			return
		}
		if err != nil {
			errs[i] = err
			return
		}
		as[i], errs[i] = decodeTopicAssignment(topics[i], data)
		as[i].ZkVersion = st.Version
		found[i] = errs[i] == nil
	})
	out := make(map[string]TopicAssignment, len(topics))
	for i, t := range topics {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if found[i] {
			out[t] = as[i]
		}
	}
	return out, nil
}

// WatchTopicAssignment reads one topic's assignment and sets a data watch (an exists watch if it is missing).
func (c *Client) WatchTopicAssignment(topic string) (TopicAssignment, bool, Watch, error) {
	data, st, found, w, err := c.impl.getW(topicPath(topic))
	if err != nil || !found {
		return TopicAssignment{}, false, w, err
	}
	a, err := decodeTopicAssignment(topic, data)
	if err != nil {
		return TopicAssignment{}, false, w, err
	}
	a.ZkVersion = st.Version
	return a, true, w, nil
}

// WatchTopicAssignments is WatchTopicAssignment for many topics with pipelined reads (the controller's failover
// and topic-change paths): every topic gets a watch, an exists watch if it is missing (and no assignment).
func (c *Client) WatchTopicAssignments(topics []string) (map[string]TopicAssignment, map[string]Watch, error) {
	as := make([]TopicAssignment, len(topics))
	found := make([]bool, len(topics))
	ws := make([]Watch, len(topics))
	errs := make([]error, len(topics))
	parallel(len(topics), func(i int) { as[i], found[i], ws[i], errs[i] = c.WatchTopicAssignment(topics[i]) })
	out := make(map[string]TopicAssignment, len(topics))
	watches := make(map[string]Watch, len(topics))
	for i, t := range topics {
		if errs[i] != nil {
			return nil, nil, errs[i]
		}
		watches[t] = ws[i]
		if found[i] {
			out[t] = as[i]
		}
	}
	return out, watches, nil
}

// SetTopicAssignment rewrites a topic's assignment, fenced and conditional on a.ZkVersion (ErrBadVersion).
func (c *Client) SetTopicAssignment(epochZkVersion int32, a TopicAssignment) (newZkVersion int32, err error) {
	st, err := c.impl.fencedSet(epochZkVersion, topicPath(a.Topic), encodeTopicAssignment(a), a.ZkVersion)
	if err != nil {
		return 0, err
	}
	return st.Version, nil
}

// deleteRecursiveFenced deletes p and everything below it, each delete fenced, as Kafka's deleteRecursive.
func (c *client) deleteRecursiveFenced(epochZkVersion int32, p string) error {
	kids, err := c.children(p)
	if errors.Is(err, ErrNoNode) {
		return nil
	}
	if err != nil {
		return err
	}
	errs := make([]error, len(kids))
	parallel(len(kids), func(i int) { errs[i] = c.deleteRecursiveFenced(epochZkVersion, p+"/"+kids[i]) })
	if err := errors.Join(errs...); err != nil {
		return err
	}
	err = c.fencedDelete(epochZkVersion, p)
	if errors.Is(err, zk.ErrNotEmpty) {
		// A child appeared meanwhile (e.g. a late partition state write); go round again.
		return c.deleteRecursiveFenced(epochZkVersion, p)
	}
	return err
}
