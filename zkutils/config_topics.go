package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

const topicConfigsPath = "/config/topics"

func topicConfigPath(topic string) string { return topicConfigsPath + "/" + topic }

// encodeConfig writes {"version":1,"config":{...}} (a Map2, so insertion order). The config is a
// java.util.Properties, which iterates as a hash map.
func encodeConfig(cfg map[string]string) []byte {
	keys := make([]string, 0, len(cfg))
	o := object{}
	for k, v := range cfg {
		keys = append(keys, k)
		o[k] = v
	}
	sort.Strings(keys)
	return marshalOrdered(object{"version": 1, "config": json.RawMessage(marshalOrdered(o, javaHashMapOrder(keys)))},
		[]string{"version", "config"})
}

func decodeConfig(data []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(data) == 0 {
		return out, nil
	}
	var v struct {
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("zkutils: bad config JSON %q: %w", data, err)
	}
	for k, val := range v.Config {
		out[k] = val
	}
	return out, nil
}

// setOrCreateTopicConfig is Kafka's setOrCreateEntityConfigs for a topic: set, or create if absent.
func (c *Client) setOrCreateTopicConfig(topic string, cfg map[string]string) error {
	cl := c.impl
	data := encodeConfig(cfg)
	p := topicConfigPath(topic)
	if _, err := cl.conn.Set(cl.abs(p), data, -1); err == nil {
		return nil
	} else if err2 := mapErr("set", p, err); !errors.Is(err2, ErrNoNode) {
		return err2
	}
	err := cl.createRecursive(p, data, 0)
	if errors.Is(err, ErrNodeExists) { // created meanwhile: overwrite as Kafka does
		_, err = cl.conn.Set(cl.abs(p), data, -1)
		return mapErr("set", p, err)
	}
	return err
}

// GetTopicConfig reads a topic's config overrides; an absent node is an empty map.
func (c *Client) GetTopicConfig(topic string) (map[string]string, error) {
	data, _, err := c.impl.get(topicConfigPath(topic))
	if errors.Is(err, ErrNoNode) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	return decodeConfig(data)
}

// GetTopicConfigs reads several topics' overrides with pipelined reads; every topic gets an entry.
func (c *Client) GetTopicConfigs(topics []string) (map[string]map[string]string, error) {
	cfgs := make([]map[string]string, len(topics))
	errs := make([]error, len(topics))
	parallel(len(topics), func(i int) { cfgs[i], errs[i] = c.GetTopicConfig(topics[i]) })
	out := make(map[string]map[string]string, len(topics))
	for i, t := range topics {
		if errs[i] != nil {
			return nil, errs[i]
		}
		out[t] = cfgs[i]
	}
	return out, nil
}
