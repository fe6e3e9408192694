package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-zookeeper/zk"
)

const (
	isrChangePath   = "/isr_change_notification"
	isrChangePrefix = "isr_change_"
)

// encodeTopicPartitions writes {"version":1,"partitions":[{"topic":"t","partition":0},...]} (Kafka builds Map2s:
// insertion order), the format of ISR change notifications and of /admin/preferred_replica_election.
func encodeTopicPartitions(tps []TopicPartition) []byte {
	parts := make([]json.RawMessage, 0, len(tps))
	for _, tp := range tps {
		parts = append(parts, marshalOrdered(object{"topic": tp.Topic, "partition": tp.Partition},
			[]string{"topic", "partition"}))
	}
	return marshalOrdered(object{"version": 1, "partitions": parts}, []string{"version", "partitions"})
}

// decodeTopicPartitions reads that format, in order; what names the node in errors.
func decodeTopicPartitions(data []byte, what string) ([]TopicPartition, error) {
	var v struct {
		Partitions []struct {
			Topic     string `json:"topic"`
			Partition int32  `json:"partition"`
		} `json:"partitions"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("zkutils: bad %s %q: %w", what, data, err)
	}
	out := make([]TopicPartition, 0, len(v.Partitions))
	for _, p := range v.Partitions {
		out = append(out, TopicPartition{p.Topic, p.Partition})
	}
	return out, nil
}

// CreateIsrChangeNotification adds a sequential /isr_change_notification/isr_change_<seq> naming tps.
func (c *Client) CreateIsrChangeNotification(tps []TopicPartition) error {
	_, err := c.impl.create(isrChangePath+"/"+isrChangePrefix, encodeTopicPartitions(tps), zk.FlagSequence)
	if errors.Is(err, ErrNoNode) {
		err = c.impl.createRecursive(isrChangePath+"/"+isrChangePrefix, encodeTopicPartitions(tps), zk.FlagSequence)
	}
	return err
}

// WatchIsrChangeNotifications lists pending notification names (sorted, hence in sequence order) and sets a
// child watch.
func (c *Client) WatchIsrChangeNotifications() ([]string, Watch, error) {
	names, w, err := c.impl.childrenW(isrChangePath)
	if err != nil {
		return nil, nil, err
	}
	out := names[:0]
	for _, n := range names {
		if strings.HasPrefix(n, isrChangePrefix) {
			out = append(out, n)
		}
	}
	return out, w, nil
}

// GetIsrChangeNotifications reads the named notifications (pipelined) and returns their partitions without
// duplicates; notifications deleted meanwhile are skipped.
func (c *Client) GetIsrChangeNotifications(names []string) ([]TopicPartition, error) {
	lists := make([][]TopicPartition, len(names))
	errs := make([]error, len(names))
	parallel(len(names), func(i int) {
		data, _, err := c.impl.get(isrChangePath + "/" + names[i])
		if errors.Is(err, ErrNoNode) {
			return
		}
		if err != nil {
			errs[i] = err
			return
		}
		lists[i], errs[i] = decodeTopicPartitions(data, "ISR change notification")
	})
	seen := map[TopicPartition]bool{}
	var out []TopicPartition
	for i := range names {
		if errs[i] != nil {
			return nil, errs[i]
		}
		for _, tp := range lists[i] {
			if !seen[tp] {
				seen[tp] = true
				out = append(out, tp)
			}
		}
	}
	return out, nil
}

// DeleteIsrChangeNotifications deletes the named notifications, each fenced; missing ones are ignored.
func (c *Client) DeleteIsrChangeNotifications(epochZkVersion int32, names []string) error {
	return c.impl.fencedDeleteAll(epochZkVersion, isrChangePath, names)
}

// fencedDeleteAll deletes parent/<name> for every name (pipelined, each fenced), ignoring missing ones.
func (c *client) fencedDeleteAll(epochZkVersion int32, parent string, names []string) error {
	groups := make([][]any, len(names))
	for i, n := range names {
		groups[i] = []any{&zk.DeleteRequest{Path: c.abs(parent + "/" + n), Version: -1}}
	}
	_, errs, moved := c.fencedGroups(epochZkVersion, parent, groups)
	if moved {
		return ErrControllerMoved
	}
	var out []error
	for _, e := range errs {
		if e != nil && !errors.Is(e, ErrNoNode) {
			out = append(out, e)
		}
	}
	return errors.Join(out...)
}
