package broker

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestLocalTopicsAddAndMerge(t *testing.T) {
	type part struct {
		topic string
		p     int32
	}
	tests := []struct {
		name   string
		local  []part
		remote []part // consecutive partitions of one topic form one remote topic
		want   map[string][]int32
		order  []string
	}{
		{"remote only", nil, []part{{"a", 1}}, map[string][]int32{"a": {1}}, []string{"a"}},
		{"local only", []part{{"a", 0}, {"b", 1}, {"a", 2}}, nil, map[string][]int32{"a": {0, 2}, "b": {1}}, []string{"a", "b"}},
		{"merged by topic", []part{{"a", 0}}, []part{{"b", 3}, {"a", 1}}, map[string][]int32{"a": {0, 1}, "b": {3}}, []string{"a", "b"}},
	}
	fields := func(t *kmsg.OffsetDeleteResponseTopic) (*string, *[]kmsg.OffsetDeleteResponseTopicPartition) {
		return &t.Topic, &t.Partitions
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var topics []kmsg.OffsetDeleteResponseTopic
			l := newLocalTopics(&topics, fields, kmsg.NewOffsetDeleteResponseTopic)
			for _, p := range tc.local {
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.p
				l.add(p.topic, rp)
			}
			if l.empty() != (len(tc.local) == 0) {
				t.Fatalf("empty() = %v with %d local partitions", l.empty(), len(tc.local))
			}
			var remote []kmsg.OffsetDeleteResponseTopic
			for _, p := range tc.remote {
				if n := len(remote); n == 0 || remote[n-1].Topic != p.topic {
					rt := kmsg.NewOffsetDeleteResponseTopic()
					rt.Topic = p.topic
					remote = append(remote, rt)
				}
				rp := kmsg.NewOffsetDeleteResponseTopicPartition()
				rp.Partition = p.p
				remote[len(remote)-1].Partitions = append(remote[len(remote)-1].Partitions, rp)
			}
			l.merge(remote)
			got := map[string][]int32{}
			var order []string
			for _, rt := range topics {
				order = append(order, rt.Topic)
				for _, rp := range rt.Partitions {
					got[rt.Topic] = append(got[rt.Topic], rp.Partition)
				}
			}
			if !reflect.DeepEqual(got, tc.want) || !reflect.DeepEqual(order, tc.order) {
				t.Fatalf("got %v in order %v, want %v in order %v", got, order, tc.want, tc.order)
			}
		})
	}
}
