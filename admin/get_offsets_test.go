package admin

import "testing"

func TestParseOffsetSpec(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"latest", -1, false}, {"earliest", -2, false}, {"max-timestamp", -3, false},
		{"-1", -1, false}, {"-2", -2, false}, {"-3", -3, false}, {"1700000000000", 1700000000000, false},
		{"now", 0, true}, {"", 0, true},
	}
	for _, tc := range tests {
		got, err := parseOffsetSpec(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%q: %d, %v", tc.in, got, err)
		}
	}
}

func TestTopicPartitionFilters(t *testing.T) {
	type tp struct {
		topic string
		p     int32
	}
	tests := []struct {
		name        string
		rules       string // --topic-partitions, or topic|partitions for --topic/--partitions
		topic, part string
		allowed     []tp
		denied      []tp
	}{
		{name: "all", topic: ".*", allowed: []tp{{"a", 0}, {"b", 7}}},
		{name: "topic regex is anchored", topic: "foo", allowed: []tp{{"foo", 3}}, denied: []tp{{"foobar", 0}, {"xfoo", 0}}},
		{name: "commas are alternatives", topic: "a,b", allowed: []tp{{"a", 0}, {"b", 0}}, denied: []tp{{"c", 0}}},
		{name: "partition set", topic: "foo", part: "0,2", allowed: []tp{{"foo", 0}, {"foo", 2}}, denied: []tp{{"foo", 1}}},
		{name: "rule with one partition", rules: "foo:1", allowed: []tp{{"foo", 1}}, denied: []tp{{"foo", 0}, {"bar", 1}}},
		{name: "rule with a range", rules: "foo:1-3", allowed: []tp{{"foo", 1}, {"foo", 2}}, denied: []tp{{"foo", 0}, {"foo", 3}}},
		{name: "open ranges and any topic", rules: "foo:2-,:-1", allowed: []tp{{"foo", 2}, {"foo", 9}, {"bar", 0}}, denied: []tp{{"foo", 1}, {"bar", 1}}},
		{name: "rule without partitions", rules: "ba.*", allowed: []tp{{"bar", 5}}, denied: []tp{{"foo", 0}}},
	}
	for _, tc := range tests {
		var f topicPartitionFilter
		var err error
		if tc.rules != "" {
			f, err = parseTopicPartitionRules(tc.rules)
		} else {
			f, err = topicAndPartitionsFilter(tc.topic, tc.part)
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		for _, a := range tc.allowed {
			if !f.partitionAllowed(a.topic, a.p) {
				t.Errorf("%s: %s-%d not allowed", tc.name, a.topic, a.p)
			}
		}
		for _, d := range tc.denied {
			if f.partitionAllowed(d.topic, d.p) {
				t.Errorf("%s: %s-%d allowed", tc.name, d.topic, d.p)
			}
		}
	}
	for _, bad := range []string{"foo:x", "a:1:2"} {
		if _, err := parseTopicPartitionRules(bad); err == nil {
			t.Errorf("rule %q accepted", bad)
		}
	}
	if _, err := topicAndPartitionsFilter("foo", "0,x"); err == nil || err.Error() != "--partitions expects a comma separated list of numeric partition ids, but received: 0,x" {
		t.Errorf("bad --partitions: %v", err)
	}
}
