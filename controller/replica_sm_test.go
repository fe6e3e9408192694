package controller

import (
	"fmt"
	"testing"

	"github.com/zkafka/zkafka/zkutils"
)

// removeReplicaFromIsr decides from the cache first; a cache that lags ZooKeeper must still give ZooKeeper's
// answer: a changed znode fails the conditional write and is re-read, and a cached ISR without the replica is
// checked against ZooKeeper rather than trusted.
func TestRemoveReplicaFromIsrWithStaleCache(t *testing.T) {
	_, _, n, admin := singleController(t, true)
	// Brokers 2 and 3 are not registered: the controller only bookkeeps their replicas.
	if err := admin.CreateTopic("s", map[int32][]int32{0: {1, 2, 3}, 1: {1, 2, 3}, 2: {1, 2, 3}}, [16]byte{}, nil); err != nil {
		t.Fatal(err)
	}
	waitStates(t, admin, "s", 3)
	tps := []tp{{Topic: "s", Partition: 0}, {Topic: "s", Partition: 1}, {Topic: "s", Partition: 2}}
	// Only broker 1 is live, so the ISRs start as [1]: write full ones as a leader would, and load them.
	for _, p := range tps {
		st := mustState(t, admin, "s", p.Partition)
		st.ISR = []int32{1, 2, 3}
		if _, err := admin.UpdatePartitionStateAsLeader(p, st); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	n.query(func() bool { err = n.ctrl.loadPartitionStates(tps); return true })
	if err != nil {
		t.Fatal(err)
	}
	cached := map[tp]zkutils.LeaderIsr{}
	n.query(func() bool {
		for _, p := range tps {
			cached[p] = n.ctrl.cc.leadership[p]
		}
		return true
	})
	// Partition 0: as the cache has it. Partition 1: the leader rewrote the ISR behind the cache's back (same
	// members, new version). Partition 2: the cache lost replica 3 from the ISR, ZooKeeper still has it.
	p1 := mustState(t, admin, "s", 1)
	if _, err := admin.UpdatePartitionStateAsLeader(tps[1], p1); err != nil {
		t.Fatal(err)
	}
	n.query(func() bool {
		li := n.ctrl.cc.leadership[tps[2]]
		li.ISR = []int32{1, 2}
		n.ctrl.cc.leadership[tps[2]] = li
		return true
	})

	var got map[tp]zkutils.LeaderIsr
	n.query(func() bool { got, err = n.ctrl.removeReplicaFromIsr(3, tps); return true })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		p       tp
		wantIsr string
	}{
		{tps[0], "[1 2]"},
		{tps[1], "[1 2]"},
		{tps[2], "[1 2]"}, // the stale cache said "not in ISR": ZooKeeper was read, and it was.
	}
	for _, tc := range tests {
		zkState := mustState(t, admin, "s", tc.p.Partition)
		if s := fmt.Sprint(zkState.ISR); s != tc.wantIsr {
			t.Errorf("%s: ZooKeeper ISR %s, want %s", tpString(tc.p), s, tc.wantIsr)
		}
		if g := got[tc.p]; g.ZkVersion != zkState.ZkVersion || fmt.Sprint(g.ISR) != fmt.Sprint(zkState.ISR) {
			t.Errorf("%s: returned %+v, ZooKeeper has %+v", tpString(tc.p), g, zkState)
		}
		if zkState.LeaderEpoch != cached[tc.p].LeaderEpoch+1 {
			t.Errorf("%s: leader epoch %d, want %d", tpString(tc.p), zkState.LeaderEpoch, cached[tc.p].LeaderEpoch+1)
		}
	}
}
