package controller

import "github.com/zkafka/zkafka/zkutils"

// Leader elections are pure: they see the assignment, the ISR read from ZooKeeper and who is alive, and return
// the new leader, ISR and the brokers that must hear about it. The caller bumps the leader epoch and writes.

// Sentinel leader ids of Kafka's LeaderAndIsr.
const (
	noLeader           int32 = -1
	leaderDuringDelete int32 = -2
	epochDuringDelete  int32 = -2
	noEpoch            int32 = -1
)

// Leader recovery states (KIP-704): an unclean leader starts RECOVERING.
const (
	leaderRecovered  int8 = 0
	leaderRecovering int8 = 1
)

// electionResult is one partition's outcome.
type electionResult struct {
	Leader              int32
	ISR                 []int32
	LeaderRecoveryState int8
	Recipients          []int32 // brokers that get LeaderAndIsr
	Unclean             bool
}

type brokerSet map[int32]bool

func contains(s []int32, id int32) bool {
	for _, x := range s {
		if x == id {
			return true
		}
	}
	return false
}

func filter(s []int32, keep func(int32) bool) []int32 {
	out := make([]int32, 0, len(s))
	for _, x := range s {
		if keep(x) {
			out = append(out, x)
		}
	}
	return out
}

// electOffline is Kafka's offline election: the first assigned replica that is live and in the ISR; failing
// that, and only if allowUnclean, the first live assigned replica, which then becomes the whole ISR and starts
// in the RECOVERING state.
func electOffline(assignment, isr []int32, live brokerSet, allowUnclean bool) (electionResult, bool) {
	liveReplicas := filter(assignment, func(r int32) bool { return live[r] })
	for _, r := range assignment {
		if live[r] && contains(isr, r) {
			return electionResult{
				Leader:     r,
				ISR:        filter(isr, func(x int32) bool { return live[x] }),
				Recipients: liveReplicas,
			}, true
		}
	}
	if allowUnclean && len(liveReplicas) > 0 {
		return electionResult{
			Leader:              liveReplicas[0],
			ISR:                 []int32{liveReplicas[0]},
			LeaderRecoveryState: leaderRecovering,
			Recipients:          liveReplicas,
			Unclean:             true,
		}, true
	}
	return electionResult{}, false
}

// electReassign picks the first replica of the target set (in target order) that is live and in the ISR; the ISR
// is unchanged and the target set hears about it.
func electReassign(target, isr []int32, live brokerSet) (electionResult, bool) {
	for _, r := range target {
		if live[r] && contains(isr, r) {
			return electionResult{Leader: r, ISR: append([]int32(nil), isr...), Recipients: append([]int32(nil), target...)}, true
		}
	}
	return electionResult{}, false
}

// electPreferred elects only the preferred replica (the first assigned one), and only if it is live and in ISR.
func electPreferred(assignment, isr []int32, live brokerSet) (electionResult, bool) {
	if len(assignment) == 0 {
		return electionResult{}, false
	}
	p := assignment[0]
	if !live[p] || !contains(isr, p) {
		return electionResult{}, false
	}
	return electionResult{Leader: p, ISR: append([]int32(nil), isr...), Recipients: append([]int32(nil), assignment...)}, true
}

// electControlledShutdown moves leadership off shutting-down brokers: the first replica that is live (or shutting
// down), in the ISR and not shutting down; shutting-down brokers leave the ISR. liveOrShuttingDown includes the
// shutting-down brokers, as Kafka's recipient set does.
func electControlledShutdown(assignment, isr []int32, liveOrShuttingDown, shuttingDown brokerSet) (electionResult, bool) {
	recipients := filter(assignment, func(r int32) bool { return liveOrShuttingDown[r] })
	for _, r := range assignment {
		if liveOrShuttingDown[r] && contains(isr, r) && !shuttingDown[r] {
			return electionResult{
				Leader:     r,
				ISR:        filter(isr, func(x int32) bool { return !shuttingDown[x] }),
				Recipients: recipients,
			}, true
		}
	}
	return electionResult{}, false
}

// initialLeaderIsr is the New → Online initialization: leader = first live assigned replica, ISR = all live
// assigned replicas, leader epoch 0. It fails when no assigned replica is live.
func initialLeaderIsr(assignment []int32, live brokerSet, controllerEpoch int32) (zkutils.LeaderIsr, bool) {
	liveReplicas := filter(assignment, func(r int32) bool { return live[r] })
	if len(liveReplicas) == 0 {
		return zkutils.LeaderIsr{}, false
	}
	return zkutils.LeaderIsr{
		Leader:          liveReplicas[0],
		LeaderEpoch:     0,
		ISR:             liveReplicas,
		ControllerEpoch: controllerEpoch,
	}, true
}

// applyElection turns an election result into the state to write: a new leader epoch, the chosen leader and ISR,
// stamped with this controller's epoch. ZkVersion stays the one read, for the conditional write.
func applyElection(cur zkutils.LeaderIsr, r electionResult, controllerEpoch int32) zkutils.LeaderIsr {
	return zkutils.LeaderIsr{
		Leader:              r.Leader,
		LeaderEpoch:         cur.LeaderEpoch + 1,
		ISR:                 r.ISR,
		ControllerEpoch:     controllerEpoch,
		LeaderRecoveryState: r.LeaderRecoveryState,
		ZkVersion:           cur.ZkVersion,
	}
}

// removeFromIsr is what OfflineReplica does to a partition's state: the replica leaves the ISR unless it is the
// last member (the ISR is never emptied), and if it led, the partition becomes leaderless. changed is false when
// the replica was not in the ISR, in which case nothing is written.
func removeFromIsr(cur zkutils.LeaderIsr, replica, controllerEpoch int32) (next zkutils.LeaderIsr, changed bool) {
	if !contains(cur.ISR, replica) {
		return cur, false
	}
	isr := cur.ISR
	if len(isr) > 1 {
		isr = filter(isr, func(x int32) bool { return x != replica })
	}
	leader := cur.Leader
	if leader == replica {
		leader = noLeader
	}
	return zkutils.LeaderIsr{
		Leader:              leader,
		LeaderEpoch:         cur.LeaderEpoch + 1,
		ISR:                 append([]int32(nil), isr...),
		ControllerEpoch:     controllerEpoch,
		LeaderRecoveryState: cur.LeaderRecoveryState,
		ZkVersion:           cur.ZkVersion,
	}, true
}
