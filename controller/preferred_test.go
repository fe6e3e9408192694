package controller

import (
	"reflect"
	"testing"

	"github.com/zkafka/zkafka/zkutils"
)

func TestNeedsElection(t *testing.T) {
	tests := []struct {
		name       string
		typ        int8
		assignment []int32
		leader     int32
		hasLeader  bool
		live       brokerSet
		want       bool
	}{
		{"preferred leads", ElectionPreferred, []int32{1, 2}, 1, true, set(1, 2), false},
		{"other leads", ElectionPreferred, []int32{1, 2}, 2, true, set(1, 2), true},
		{"no leadership info", ElectionPreferred, []int32{1, 2}, 0, false, set(1, 2), true},
		{"unclean live leader", ElectionUnclean, []int32{1, 2}, 2, true, set(1, 2), false},
		{"unclean no leader", ElectionUnclean, []int32{1, 2}, -1, true, set(1, 2), true},
		{"unclean dead leader", ElectionUnclean, []int32{1, 2}, 2, true, set(1), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := needsElection(tc.typ, tc.assignment, tc.leader, tc.hasLeader, tc.live); got != tc.want {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestLeaderImbalance(t *testing.T) {
	p := func(part int32) tp { return tp{Topic: "t", Partition: part} }
	assignments := map[tp][]int32{
		p(0): {1, 2}, p(1): {1, 2}, p(2): {1, 3}, p(3): {1, 3}, p(4): {1, 2}, p(5): {1, 2}, p(6): {1, 2},
		p(7): {1, 2}, p(8): {1, 2}, p(9): {1, 2}, // ten partitions prefer broker 1
		p(10): {2, 1}, p(11): {2, 1}, // two prefer broker 2
		p(12): {3, 1}, // one prefers broker 3, no leadership known
	}
	leaders := map[tp]int32{
		p(0): 2, p(1): 1, p(2): 1, p(3): 1, p(4): 1, p(5): 1, p(6): 1, p(7): 1, p(8): 1, p(9): 1, // 1 of 10 not preferred
		p(10): 1, p(11): 2, // 1 of 2
	}
	got := leaderImbalance(assignments, leaders)
	want := map[int32]imbalance{
		1: {total: 10, notPreferred: []tp{p(0)}},
		2: {total: 2, notPreferred: []tp{p(10)}},
		3: {total: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	thresholds := []struct {
		broker int32
		pct    int
		want   bool
	}{
		{1, 10, false}, // exactly 10 % is not above 10 %
		{1, 9, true},
		{2, 10, true},
		{2, 50, false},
		{3, 0, false},
	}
	for _, th := range thresholds {
		if e := got[th.broker].exceeds(th.pct); e != th.want {
			t.Errorf("broker %d at %d%%: exceeds=%v, want %v", th.broker, th.pct, e, th.want)
		}
	}
}

func TestReassignTo(t *testing.T) {
	tests := []struct {
		name   string
		cur    replicaAssignment
		target []int32
		want   replicaAssignment
	}{
		{"move one replica", replicaAssignment{Replicas: []int32{1, 2}}, []int32{3, 2},
			replicaAssignment{Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}},
		{"reorder only", replicaAssignment{Replicas: []int32{1, 2}}, []int32{2, 1},
			replicaAssignment{Replicas: []int32{2, 1}, Adding: []int32{}, Removing: []int32{}}},
		{"superseded reassignment starts from the origin",
			replicaAssignment{Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}, []int32{4, 2},
			replicaAssignment{Replicas: []int32{4, 2, 1}, Adding: []int32{4}, Removing: []int32{1}}},
		{"cancel back to origin",
			replicaAssignment{Replicas: []int32{3, 2, 1}, Adding: []int32{3}, Removing: []int32{1}}, []int32{1, 2},
			replicaAssignment{Replicas: []int32{1, 2}, Adding: []int32{}, Removing: []int32{}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cur.reassignTo(tc.target)
			if !got.equal(tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
			if !equalIDs(got.target(), tc.target) {
				t.Fatalf("target %v, want %v", got.target(), tc.target)
			}
		})
	}
}

func TestPartitionsToMoveOnShutdown(t *testing.T) {
	c := New(Config{BrokerID: 1})
	p := func(part int32) tp { return tp{Topic: "t", Partition: part} }
	c.cc.setAssignment("t", map[int32][]int32{0: {1, 2}, 1: {2, 1}, 2: {1}, 3: {2, 3}, 4: {1, 3}})
	c.cc.setAssignment("d", map[int32][]int32{0: {1, 2}})
	c.cc.topicsToBeDeleted["d"] = true
	for part, leader := range map[int32]int32{0: 1, 1: 2, 2: 1, 3: 2} {
		c.cc.leadership[p(part)] = leaderIsr(leader)
	}
	c.cc.leadership[tp{Topic: "d", Partition: 0}] = leaderIsr(1)
	led, followed := c.partitionsToMoveOnShutdown(1)
	// t-2 has one replica, t-3 is not on broker 1, t-4 has no leadership yet, d is being deleted.
	if !reflect.DeepEqual(led, []tp{p(0)}) || !reflect.DeepEqual(followed, []tp{p(1)}) {
		t.Fatalf("led %v followed %v", led, followed)
	}
	if got := c.partitionLeadersOnBroker(1); !reflect.DeepEqual(got, []tp{p(0)}) {
		t.Fatalf("leaders on broker 1: %v", got)
	}
}

func leaderIsr(leader int32) zkutils.LeaderIsr {
	return zkutils.LeaderIsr{Leader: leader, ISR: []int32{leader}}
}
