package admin

import (
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// internalTopics are the names Kafka's Topic.isInternal recognizes.
var internalTopics = map[string]bool{"__consumer_offsets": true, "__transaction_state": true}

// topicFilter is Kafka's IncludeList: the pattern must match the whole name
// and commas act as alternation.
type topicFilter struct{ re *regexp.Regexp }

func newTopicFilter(pattern string) (*topicFilter, error) {
	p := strings.TrimSpace(pattern)
	p = strings.ReplaceAll(p, ",", "|")
	p = strings.ReplaceAll(p, " ", "")
	p = strings.TrimLeft(p, `"'`)
	p = strings.TrimRight(p, `"'`)
	re, err := regexp.Compile("^(?:" + p + ")$")
	if err != nil {
		return nil, fmt.Errorf("%s is an invalid regex.", pattern)
	}
	return &topicFilter{re: re}, nil
}

func (f *topicFilter) allowed(topic string, excludeInternal bool) bool {
	if excludeInternal && internalTopics[topic] {
		return false
	}
	return f == nil || f.re.MatchString(topic)
}

// selectTopics filters sorted names as TopicCommand.doGetTopics does.
func selectTopics(sorted []string, f *topicFilter, excludeInternal bool, isInternal func(string) bool) []string {
	var out []string
	for _, t := range sorted {
		if excludeInternal && (internalTopics[t] || (isInternal != nil && isInternal(t))) {
			continue
		}
		if f.allowed(t, false) {
			out = append(out, t)
		}
	}
	return out
}

// parseReplicaAssignment parses "1:2,2:3" into one broker list per
// partition, with TopicCommand's checks and messages.
func parseReplicaAssignment(s string) ([][]int32, error) {
	var out [][]int32
	for i, part := range strings.Split(s, ",") {
		var brokers []int32
		seen := map[int32]bool{}
		var dups []string
		for _, b := range strings.Split(part, ":") {
			n, err := strconv.ParseInt(strings.TrimSpace(b), 10, 32)
			if err != nil {
				return nil, fmt.Errorf("For input string: \"%s\"", strings.TrimSpace(b))
			}
			if seen[int32(n)] {
				dups = append(dups, strconv.Itoa(int(n)))
			}
			seen[int32(n)] = true
			brokers = append(brokers, int32(n))
		}
		if len(dups) > 0 {
			return nil, fmt.Errorf("Partition replica lists may not contain duplicate entries: %s", strings.Join(dups, ","))
		}
		out = append(out, brokers)
		if len(out[i]) != len(out[0]) {
			return nil, fmt.Errorf("Partition %d has different replication factor: %s", i, formatIntList(brokers, ", ", "[", "]"))
		}
	}
	return out, nil
}

// parseTopicConfigs splits --config values on '=' with surrounding spaces,
// as TopicCommand.parseTopicConfigsToBeAdded does.
func parseTopicConfigs(configs []string) (map[string]string, []string, error) {
	split := regexp.MustCompile(`\s*=\s*`)
	out := map[string]string{}
	var order []string
	for _, c := range configs {
		kv := split.Split(c, -1)
		// Java's String.split drops trailing empty strings.
		for len(kv) > 0 && kv[len(kv)-1] == "" {
			kv = kv[:len(kv)-1]
		}
		if len(kv) != 2 {
			return nil, nil, errors.New(`requirement failed: Invalid topic config: all configs to be added must be in the format "key=val".`)
		}
		k := strings.TrimSpace(kv[0])
		if _, dup := out[k]; !dup {
			order = append(order, k)
		}
		out[k] = strings.TrimSpace(kv[1])
	}
	return out, order, nil
}

// formatTopicID renders a topic id as Java's Uuid.toString does: URL-safe
// base64 without padding; the zero id is not printed at all.
func formatTopicID(id [16]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

func formatIntList(ids []int32, sep, open, close string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(int(id))
	}
	return open + strings.Join(parts, sep) + close
}

// configEntry is one DescribeConfigs entry of a topic.
type configEntry struct {
	name      string
	value     *string
	isDefault bool // Kafka's ConfigEntry.isDefault: source is DEFAULT_CONFIG
}

type reassignment struct{ adding, removing []int32 }

type partitionDesc struct {
	partition    int32
	leader       int32 // -1 when there is none
	replicas     []int32
	isr          []int32
	reassignment *reassignment
}

type topicDesc struct {
	name       string
	id         [16]byte
	partitions []partitionDesc // sorted by partition
	configs    []configEntry
}

// describeOpts are the --describe report filters.
type describeOpts struct {
	underReplicated, unavailable, underMinISR, atMinISR, withOverrides bool
}

func (o describeOpts) describeConfigs() bool {
	return !o.unavailable && !o.underReplicated && !o.underMinISR && !o.atMinISR
}

func (p partitionDesc) replicationFactor() int {
	if r := p.reassignment; r != nil {
		changing := map[int32]bool{}
		for _, id := range r.adding {
			changing[id] = true
		}
		for _, id := range r.removing {
			changing[id] = true
		}
		for _, id := range p.replicas {
			if changing[id] {
				return len(p.replicas) - len(r.adding)
			}
		}
	}
	return len(p.replicas)
}

func (t topicDesc) minISR() int {
	for _, c := range t.configs {
		if c.name == "min.insync.replicas" && c.value != nil {
			if n, err := strconv.Atoi(*c.value); err == nil {
				return n
			}
		}
	}
	return 1
}

// formatTopicDescription renders one topic of --describe in TopicCommand's
// exact layout; live holds the ids of brokers present in metadata.
func formatTopicDescription(t topicDesc, o describeOpts, live map[int32]bool) string {
	var b strings.Builder
	if o.describeConfigs() {
		var nonDefault []string
		for _, c := range t.configs {
			if c.isDefault {
				continue
			}
			v := "null"
			if c.value != nil {
				v = *c.value
			}
			nonDefault = append(nonDefault, c.name+"="+v)
		}
		if !o.withOverrides || len(nonDefault) > 0 {
			b.WriteString("Topic: " + t.name)
			if t.id != ([16]byte{}) {
				b.WriteString("\tTopicId: " + formatTopicID(t.id))
			}
			rf := 0
			if len(t.partitions) > 0 {
				rf = t.partitions[0].replicationFactor()
			}
			fmt.Fprintf(&b, "\tPartitionCount: %d\tReplicationFactor: %d\tConfigs: %s\n",
				len(t.partitions), rf, strings.Join(nonDefault, ","))
		}
	}
	if o.withOverrides {
		return b.String()
	}
	minISR := t.minISR()
	for _, p := range t.partitions {
		hasLeader := p.leader >= 0 && live[p.leader]
		show := o.describeConfigs() ||
			(o.underReplicated && p.replicationFactor()-len(p.isr) > 0) ||
			(o.unavailable && !hasLeader) ||
			(o.underMinISR && (!hasLeader || len(p.isr) < minISR)) ||
			(o.atMinISR && len(p.isr) == minISR)
		if !show {
			continue
		}
		leader := "none"
		if hasLeader {
			leader = strconv.Itoa(int(p.leader))
		}
		fmt.Fprintf(&b, "\tTopic: %s\tPartition: %d\tLeader: %s\tReplicas: %s\tIsr: %s",
			t.name, p.partition, leader, formatIntList(p.replicas, ",", "", ""), formatIntList(p.isr, ",", "", ""))
		if r := p.reassignment; r != nil {
			fmt.Fprintf(&b, "\tAdding Replicas: %s\tRemoving Replicas: %s",
				formatIntList(r.adding, ",", "", ""), formatIntList(r.removing, ",", "", ""))
		}
		b.WriteString("\n")
	}
	return b.String()
}
