package zkutils

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
)

const featurePath = "/feature"

// featureNode is /feature: status 1 = enabled, 0 = disabled; features maps a name to its finalized
// max_version_level (v1 also carries min_version_level).
type featureNode struct {
	Version  int
	Status   int
	Features map[string]int16
	names    []string // insertion order of Features, as read or built
}

// defaultFeatureNode is what a 3.7 controller creates: metadata.version finalized at 19 (IBP_3_7_IV4).
func defaultFeatureNode() featureNode {
	return featureNode{Version: 2, Status: 1, Features: map[string]int16{"metadata.version": 19},
		names: []string{"metadata.version"}}
}

// encodeFeature writes Kafka's FeatureZNode.encode: a mutable.HashMap(3 pairs) outside, an immutable Map inside.
func encodeFeature(n featureNode) []byte {
	inner := object{}
	for _, name := range n.names {
		lvl := n.Features[name]
		if n.Version == 1 {
			inner[name] = json.RawMessage(marshalOrdered(object{"max_version_level": lvl, "min_version_level": lvl},
				[]string{"max_version_level", "min_version_level"}))
		} else {
			inner[name] = json.RawMessage(marshalOrdered(object{"max_version_level": lvl},
				[]string{"max_version_level"}))
		}
	}
	o := object{
		"version":  n.Version,
		"status":   n.Status,
		"features": json.RawMessage(marshalOrdered(inner, scalaImmutableMapOrder(n.names))),
	}
	return marshalOrdered(o, scalaMutableMapOrder([]string{"version", "status", "features"}, scalaMutableFromLen(3)))
}

func decodeFeature(data []byte) (featureNode, error) {
	var v struct {
		Version  int  `json:"version"`
		Status   *int `json:"status"`
		Features map[string]struct {
			Max int16 `json:"max_version_level"`
		} `json:"features"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Status == nil {
		return featureNode{}, fmt.Errorf("zkutils: bad /feature %q: %v", data, err)
	}
	n := featureNode{Version: v.Version, Status: *v.Status, Features: map[string]int16{}}
	for name, f := range v.Features {
		n.Features[name] = f.Max
		n.names = append(n.names, name)
	}
	sort.Strings(n.names) // Go maps have no order; keep rewrites deterministic
	return n, nil
}

// EnsureFeatureZNode is the failover step of Kafka's enableFeatureVersioning: create /feature with the
// default features if absent; otherwise rewrite it as v2 and enabled (keeping its features if it was enabled,
// none if it was disabled) when that changes it. Unlike Kafka, both writes are fenced: a deposed controller
// must not touch the node.
func (c *Client) EnsureFeatureZNode(epochZkVersion int32) error {
	cl := c.impl
	data, st, err := cl.get(featurePath)
	if errors.Is(err, ErrNoNode) {
		err := cl.fencedCreate(epochZkVersion, featurePath, encodeFeature(defaultFeatureNode()))
		if errors.Is(err, ErrNodeExists) {
			return c.EnsureFeatureZNode(epochZkVersion)
		}
		return err
	}
	if err != nil {
		return err
	}
	cur, err := decodeFeature(data)
	if err != nil {
		return err
	}
	want := featureNode{Version: 2, Status: 1, Features: cur.Features, names: cur.names}
	if cur.Status != 1 {
		want.Features, want.names = map[string]int16{}, nil
	}
	enc := encodeFeature(want)
	if cur.Version == 2 && cur.Status == 1 {
		return nil // already what we would write
	}
	if bytes.Equal(enc, data) {
		return nil
	}
	_, err = cl.fencedSet(epochZkVersion, featurePath, enc, st.Version)
	return err
}
