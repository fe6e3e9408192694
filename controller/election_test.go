package controller

import (
	"reflect"
	"testing"

	"github.com/zkafka/zkafka/zkutils"
)

func set(ids ...int32) brokerSet { return toSet(ids) }

func TestElectOffline(t *testing.T) {
	tests := []struct {
		name       string
		assignment []int32
		isr        []int32
		live       brokerSet
		unclean    bool
		want       electionResult
		ok         bool
	}{
		{"first live in isr", []int32{1, 2, 3}, []int32{1, 2, 3}, set(1, 2, 3), false,
			electionResult{Leader: 1, ISR: []int32{1, 2, 3}, Recipients: []int32{1, 2, 3}}, true},
		{"assignment order not isr order", []int32{3, 1, 2}, []int32{1, 2, 3}, set(1, 2), false,
			electionResult{Leader: 1, ISR: []int32{1, 2}, Recipients: []int32{1, 2}}, true},
		{"dead leader skipped, isr shrinks to live", []int32{1, 2, 3}, []int32{1, 3}, set(2, 3), false,
			electionResult{Leader: 3, ISR: []int32{3}, Recipients: []int32{2, 3}}, true},
		{"no live isr, clean", []int32{1, 2}, []int32{1}, set(2), false, electionResult{}, false},
		{"no live isr, unclean", []int32{1, 2, 3}, []int32{1}, set(3, 2), true,
			electionResult{Leader: 2, ISR: []int32{2}, Recipients: []int32{2, 3}, LeaderRecoveryState: leaderRecovering, Unclean: true}, true},
		{"unclean but clean choice exists", []int32{1, 2}, []int32{2}, set(1, 2), true,
			electionResult{Leader: 2, ISR: []int32{2}, Recipients: []int32{1, 2}}, true},
		{"nothing live", []int32{1, 2}, []int32{1, 2}, set(), true, electionResult{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := electOffline(tc.assignment, tc.isr, tc.live, tc.unclean)
			if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestElectReassign(t *testing.T) {
	tests := []struct {
		name        string
		target, isr []int32
		live        brokerSet
		leader      int32
		ok          bool
	}{
		{"target order", []int32{4, 5, 6}, []int32{1, 5, 4}, set(4, 5), 4, true},
		{"skip dead", []int32{4, 5}, []int32{4, 5}, set(5), 5, true},
		{"skip not in isr", []int32{4, 5}, []int32{5}, set(4, 5), 5, true},
		{"none", []int32{4}, []int32{1}, set(1, 4), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := electReassign(tc.target, tc.isr, tc.live)
			if ok != tc.ok || (ok && (got.Leader != tc.leader || !reflect.DeepEqual(got.ISR, tc.isr) || !reflect.DeepEqual(got.Recipients, tc.target))) {
				t.Fatalf("got %+v %v", got, ok)
			}
		})
	}
}

func TestElectPreferred(t *testing.T) {
	tests := []struct {
		name            string
		assignment, isr []int32
		live            brokerSet
		ok              bool
	}{
		{"preferred live in isr", []int32{2, 1}, []int32{1, 2}, set(1, 2), true},
		{"preferred dead", []int32{2, 1}, []int32{1, 2}, set(1), false},
		{"preferred out of sync", []int32{2, 1}, []int32{1}, set(1, 2), false},
		{"empty", nil, nil, set(1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := electPreferred(tc.assignment, tc.isr, tc.live)
			if ok != tc.ok || (ok && (got.Leader != tc.assignment[0] || !reflect.DeepEqual(got.ISR, tc.isr) || !reflect.DeepEqual(got.Recipients, tc.assignment))) {
				t.Fatalf("got %+v %v", got, ok)
			}
		})
	}
}

func TestElectControlledShutdown(t *testing.T) {
	tests := []struct {
		name            string
		assignment, isr []int32
		liveOrSD, sd    brokerSet
		want            electionResult
		ok              bool
	}{
		{"moves off shutting down leader", []int32{1, 2, 3}, []int32{1, 2, 3}, set(1, 2, 3), set(1),
			electionResult{Leader: 2, ISR: []int32{2, 3}, Recipients: []int32{1, 2, 3}}, true},
		{"skips dead", []int32{1, 2, 3}, []int32{1, 2, 3}, set(1, 3), set(1),
			electionResult{Leader: 3, ISR: []int32{2, 3}, Recipients: []int32{1, 3}}, true},
		{"only shutting down in isr", []int32{1, 2}, []int32{1}, set(1, 2), set(1), electionResult{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := electControlledShutdown(tc.assignment, tc.isr, tc.liveOrSD, tc.sd)
			if ok != tc.ok || (ok && !reflect.DeepEqual(got, tc.want)) {
				t.Fatalf("got %+v %v, want %+v", got, ok, tc.want)
			}
		})
	}
}

func TestInitialLeaderIsr(t *testing.T) {
	got, ok := initialLeaderIsr([]int32{3, 1, 2}, set(1, 2), 7)
	want := zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, ControllerEpoch: 7}
	if !ok || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v %v", got, ok)
	}
	if _, ok := initialLeaderIsr([]int32{3}, set(1), 7); ok {
		t.Fatal("initialized a partition with no live replica")
	}
}

func TestRemoveFromIsr(t *testing.T) {
	tests := []struct {
		name    string
		cur     zkutils.LeaderIsr
		replica int32
		want    zkutils.LeaderIsr
		changed bool
	}{
		{"follower leaves", zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}, ZkVersion: 9}, 2,
			zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 5, ISR: []int32{1}, ControllerEpoch: 3, ZkVersion: 9}, true},
		{"leader leaves", zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 4, ISR: []int32{1, 2}}, 1,
			zkutils.LeaderIsr{Leader: -1, LeaderEpoch: 5, ISR: []int32{2}, ControllerEpoch: 3}, true},
		{"last member keeps isr", zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 0, ISR: []int32{1}}, 1,
			zkutils.LeaderIsr{Leader: -1, LeaderEpoch: 1, ISR: []int32{1}, ControllerEpoch: 3}, true},
		{"not in isr", zkutils.LeaderIsr{Leader: 1, ISR: []int32{1}}, 2, zkutils.LeaderIsr{Leader: 1, ISR: []int32{1}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := removeFromIsr(tc.cur, tc.replica, 3)
			if changed != tc.changed || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v %v, want %+v %v", got, changed, tc.want, tc.changed)
			}
		})
	}
}

func TestApplyElection(t *testing.T) {
	cur := zkutils.LeaderIsr{Leader: -1, LeaderEpoch: 4, ISR: []int32{1}, ControllerEpoch: 1, ZkVersion: 6}
	got := applyElection(cur, electionResult{Leader: 1, ISR: []int32{1}}, 2)
	want := zkutils.LeaderIsr{Leader: 1, LeaderEpoch: 5, ISR: []int32{1}, ControllerEpoch: 2, ZkVersion: 6}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
}

func TestValidTransitions(t *testing.T) {
	partitions := []struct {
		from, to partitionState
		ok       bool
	}{
		{nonExistentPartition, newPartition, true},
		{onlinePartition, newPartition, false},
		{newPartition, onlinePartition, true},
		{offlinePartition, onlinePartition, true},
		{onlinePartition, onlinePartition, true},
		{nonExistentPartition, onlinePartition, false},
		{onlinePartition, offlinePartition, true},
		{offlinePartition, nonExistentPartition, true},
		{onlinePartition, nonExistentPartition, false},
	}
	for _, tc := range partitions {
		if got := validPartitionTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("partition %s → %s: got %v", tc.from, tc.to, got)
		}
	}
	replicas := []struct {
		from, to replicaState
		ok       bool
	}{
		{nonExistentReplica, newReplica, true},
		{onlineReplica, newReplica, false},
		{newReplica, onlineReplica, true},
		{replicaDeletionIneligible, onlineReplica, true},
		{replicaDeletionStarted, onlineReplica, false},
		{onlineReplica, offlineReplica, true},
		{offlineReplica, replicaDeletionStarted, true},
		{onlineReplica, replicaDeletionStarted, false},
		{replicaDeletionStarted, replicaDeletionSuccessful, true},
		{offlineReplica, replicaDeletionSuccessful, false},
		{replicaDeletionStarted, replicaDeletionIneligible, true},
		{onlineReplica, replicaDeletionIneligible, false},
		{replicaDeletionSuccessful, nonExistentReplica, true},
		{offlineReplica, nonExistentReplica, false},
	}
	for _, tc := range replicas {
		if got := validReplicaTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("replica %s → %s: got %v", tc.from, tc.to, got)
		}
	}
}

func TestEffectiveUnclean(t *testing.T) {
	tests := []struct {
		cfg  map[string]string
		def  bool
		want bool
	}{
		{nil, false, false},
		{nil, true, true},
		{map[string]string{"unclean.leader.election.enable": "true"}, false, true},
		{map[string]string{"unclean.leader.election.enable": "false"}, true, false},
		{map[string]string{"unclean.leader.election.enable": "junk"}, true, true},
	}
	for _, tc := range tests {
		if got := effectiveUnclean(tc.cfg, tc.def); got != tc.want {
			t.Errorf("%v default %v: got %v", tc.cfg, tc.def, got)
		}
	}
}

func TestDiffBrokers(t *testing.T) {
	cached := map[int32]zkutils.BrokerInfo{1: {ID: 1, Epoch: 10}, 2: {ID: 2, Epoch: 20}, 3: {ID: 3, Epoch: 30}}
	current := []zkutils.BrokerInfo{{ID: 1, Epoch: 10}, {ID: 3, Epoch: 35}, {ID: 4, Epoch: 40}}
	got := diffBrokers(cached, current)
	want := brokerDiff{New: []int32{4}, Dead: []int32{2}, Bounced: []int32{3}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v want %+v", got, want)
	}
}
