package broker

import (
	"errors"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/zkutils"
)

func TestPlanNewPartitions(t *testing.T) {
	brokers := plain(0, 1, 2, 3)
	topic := func(parts map[int32][]int32, adding map[int32][]int32) zkutils.TopicAssignment {
		return zkutils.TopicAssignment{Topic: "t", Partitions: parts, Adding: adding, Removing: map[int32][]int32{}}
	}
	tests := []struct {
		name     string
		existing zkutils.TopicAssignment
		count    int32
		manual   [][]int32
		want     map[int32][]int32
		wantErr  error
		wantMsg  string
	}{
		{name: "continues partition 0", existing: topic(map[int32][]int32{0: {2, 3, 0, 1}}, nil), count: 3,
			want: map[int32][]int32{1: {3, 2, 0, 1}, 2: {0, 3, 1, 2}}},
		{name: "AddPartitionsTest topic2", existing: topic(map[int32][]int32{0: {1, 2}}, nil), count: 3,
			want: map[int32][]int32{1: {2, 0}, 2: {3, 1}}}, // leaders 2, 3; replica sets {0,2}, {1,3}
		{name: "manual", existing: topic(map[int32][]int32{0: {0, 1}}, nil), count: 2, manual: [][]int32{{3, 2}},
			want: map[int32][]int32{1: {3, 2}}},
		{name: "unknown topic", existing: topic(map[int32][]int32{}, nil), count: 2, wantErr: kerr.UnknownTopicOrPartition,
			wantMsg: "The topic 't' does not exist."},
		{name: "reassigning", existing: topic(map[int32][]int32{0: {0, 1}}, map[int32][]int32{0: {1}}), count: 2,
			wantErr: kerr.ReassignmentInProgress},
		{name: "same count", existing: topic(map[int32][]int32{0: {0}}, nil), count: 1, wantErr: kerr.InvalidPartitions,
			wantMsg: "Topic already has 1 partitions."},
		{name: "fewer", existing: topic(map[int32][]int32{0: {0}, 1: {1}}, nil), count: 1, wantErr: kerr.InvalidPartitions,
			wantMsg: "Topic currently has 2 partitions, which is higher than the requested 1."},
		{name: "unknown broker", existing: topic(map[int32][]int32{0: {0}}, nil), count: 2, manual: [][]int32{{9}},
			wantErr: kerr.InvalidReplicaAssignment, wantMsg: "Unknown broker(s) in replica assignment: 9."},
		{name: "wrong number of assignments", existing: topic(map[int32][]int32{0: {0}}, nil), count: 3, manual: [][]int32{{1}},
			wantErr: kerr.InvalidReplicaAssignment, wantMsg: "Increasing the number of partitions by 2 but 1 assignments provided."},
		{name: "inconsistent rf", existing: topic(map[int32][]int32{0: {0}}, nil), count: 2, manual: [][]int32{{1, 2}},
			wantErr: kerr.InvalidReplicaAssignment, wantMsg: "Inconsistent replication factor between partitions, partition 0 has 1 while partition 1 has 2."},
		{name: "duplicate", existing: topic(map[int32][]int32{0: {0, 1}}, nil), count: 2, manual: [][]int32{{1, 1}},
			wantErr: kerr.InvalidReplicaAssignment, wantMsg: "Duplicate brokers not allowed in replica assignment: 1, 1 for partition id 1."},
		{name: "rf larger than brokers", existing: topic(map[int32][]int32{0: {0, 1, 2, 3, 4}}, nil), count: 2,
			wantErr: kerr.InvalidReplicationFactor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := planNewPartitions("t", tc.existing, tc.count, tc.manual, brokers)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				if tc.wantMsg != "" && err.Error() != tc.wantMsg {
					t.Fatalf("message %q, want %q", err.Error(), tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
