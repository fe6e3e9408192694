package coordinator

import (
	"reflect"
	"strings"
	"testing"
)

func TestByTopicStartsARunPerTopicChange(t *testing.T) {
	tests := []struct {
		name  string
		parts []TopicPartition
		want  string
	}{
		{"none", nil, ""},
		{"one topic", []TopicPartition{{"a", 0}, {"a", 1}}, "[a 0 1]"},
		{"two topics", []TopicPartition{{"a", 0}, {"b", 0}, {"b", 2}}, "[a 0][b 0 2]"},
		// Request order is kept: a topic that comes back starts a new run, as Kafka's responses do.
		{"topic again", []TopicPartition{{"a", 0}, {"b", 1}, {"a", 2}}, "[a 0][b 1][a 2]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var runs []string
			byTopic(tc.parts, topicOfPartition, func(name string) {
				runs = append(runs, "["+name)
			}, func(tp TopicPartition) {
				runs[len(runs)-1] += " " + string(rune('0'+tp.Partition))
			})
			got := ""
			if len(runs) > 0 {
				got = strings.Join(runs, "]") + "]"
			}
			if got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestCommitBatchSplitsUnknownTopics(t *testing.T) {
	var b commitBatch
	b.add(topicPartition{"a", 0}, offsetAndMetadata{offset: 1}, true)
	b.add(topicPartition{"gone", 0}, offsetAndMetadata{offset: 2}, false)
	b.add(topicPartition{"a", 1}, offsetAndMetadata{offset: 3}, true)
	b.failAll(errNotCoordinator)
	var codes []int16
	for _, e := range b.entries {
		codes = append(codes, e.code)
	}
	want := []int16{errNotCoordinator, errUnknownTopicOrPartition, errNotCoordinator}
	if !reflect.DeepEqual(codes, want) || len(b.toCommit) != 2 {
		t.Fatalf("codes %v (want %v), %d to commit (want 2)", codes, want, len(b.toCommit))
	}
}

func TestSameCodeAnswersEveryPartition(t *testing.T) {
	parts := []TopicPartition{{"a", 0}, {"b", 1}}
	got := sameCode(parts, errConcurrentTransactions)
	want := map[TopicPartition]int16{{"a", 0}: errConcurrentTransactions, {"b", 1}: errConcurrentTransactions}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
