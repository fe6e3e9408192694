package zkutils

import (
	"errors"
	"fmt"
	"testing"
)

// TestPartitionStatesBatched covers writes that span several fenced multis: a conflict inside one multi must
// fail only its own partition, a leftover <p> znode must not stop its state from being created, and a moved
// controller epoch must abort the whole batch with nothing written.
func TestPartitionStatesBatched(t *testing.T) {
	c, _ := setup(t)
	ver := elect(t, c, 1)
	const n = 450 // more than two multis' worth of groups
	assignment := map[int32][]int32{}
	states := map[TopicPartition]LeaderIsr{}
	for p := int32(0); p < n; p++ {
		assignment[p] = []int32{1, 2}
		states[TopicPartition{"big", p}] = LeaderIsr{Leader: 1, ISR: []int32{1, 2}, ControllerEpoch: 1}
	}
	if err := c.CreateTopic("big", assignment, [16]byte{1}, nil); err != nil {
		t.Fatal(err)
	}
	// An earlier controller died after creating partitions/ and <p> of partition 7 but not its state.
	if err := c.impl.createRecursive(partitionPath(TopicPartition{"big", 7}), nil, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreatePartitionStates(ver+1, states); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced create: %v", err)
	}
	if got, _ := c.GetPartitionStates([]TopicPartition{{"big", 0}, {"big", 300}}); len(got) != 0 {
		t.Fatalf("a fenced create wrote %v", got)
	}
	res, err := c.CreatePartitionStates(ver, states)
	if err != nil {
		t.Fatal(err)
	}
	for tp, e := range res {
		if e != nil {
			t.Fatalf("create %v: %v", tp, e)
		}
	}
	all := make([]TopicPartition, 0, n)
	for tp := range states {
		all = append(all, tp)
	}
	got, err := c.GetPartitionStates(all)
	if err != nil || len(got) != n {
		t.Fatalf("read back %d of %d: %v", len(got), n, err)
	}

	stale := map[int32]bool{3: true, 250: true, 449: true}
	updates := map[TopicPartition]LeaderIsr{}
	for tp, s := range got {
		s.LeaderEpoch = 1
		if stale[tp.Partition] {
			s.ZkVersion = 4
		}
		updates[tp] = s
	}
	if _, _, err := c.UpdatePartitionStates(ver+1, updates); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced update: %v", err)
	}
	nv, errs, err := c.UpdatePartitionStates(ver, updates)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != len(stale) || len(nv) != n-len(stale) {
		t.Fatalf("%d conflicts, %d written; want %d and %d", len(errs), len(nv), len(stale), n-len(stale))
	}
	for p := range stale {
		if e := errs[TopicPartition{"big", p}]; !errors.Is(e, ErrBadVersion) {
			t.Fatalf("partition %d: %v", p, e)
		}
	}
	after, _ := c.GetPartitionStates(all)
	for tp, s := range after {
		want := int32(1)
		if stale[tp.Partition] {
			want = 0
		}
		if s.LeaderEpoch != want || (want == 1 && nv[tp] != s.ZkVersion) {
			t.Fatal(fmt.Sprintf("%v: %+v, want leader epoch %d and version %d", tp, s, want, nv[tp]))
		}
	}
}
