package controller

import (
	"sort"

	"github.com/zkafka/zkafka/zkutils"
)

type tp = zkutils.TopicPartition

// partitionReplica names one replica of one partition (Kafka's PartitionAndReplica).
type partitionReplica struct {
	TP      tp
	Replica int32
}

// controllerContext is Kafka's ControllerContext: everything the active controller caches. Only the event
// goroutine touches it.
type controllerContext struct {
	epoch          int32
	epochZkVersion int32

	liveBrokers  map[int32]zkutils.BrokerInfo // registered brokers, with their epochs (czxid)
	shuttingDown brokerSet

	allTopics   map[string]bool
	topicIDs    map[string][16]byte
	assignments map[string]map[int32][]int32 // topic → partition → replicas, znode order
	topicZkVer  map[string]int32             // /brokers/topics/<t> version, for writing the assignment back

	// KIP-455 reassignment state: assignments hold the full replica set RS; these hold AR and RR of the
	// partitions being reassigned.
	adding, removing          map[tp][]int32
	partitionsBeingReassigned map[tp]bool

	leadership      map[tp]zkutils.LeaderIsr
	partitionStates map[tp]partitionState
	replicaStates   map[partitionReplica]replicaState

	topicsToBeDeleted           map[string]bool
	topicsWithDeletionStarted   map[string]bool
	topicsIneligibleForDeletion map[string]bool
}

func newControllerContext() *controllerContext {
	c := &controllerContext{}
	c.reset()
	return c
}

// reset drops everything learnt while active; the epoch is kept so Epoch() still reports the last term won.
func (c *controllerContext) reset() {
	c.liveBrokers = map[int32]zkutils.BrokerInfo{}
	c.shuttingDown = brokerSet{}
	c.allTopics = map[string]bool{}
	c.topicIDs = map[string][16]byte{}
	c.assignments = map[string]map[int32][]int32{}
	c.topicZkVer = map[string]int32{}
	c.adding = map[tp][]int32{}
	c.removing = map[tp][]int32{}
	c.partitionsBeingReassigned = map[tp]bool{}
	c.leadership = map[tp]zkutils.LeaderIsr{}
	c.partitionStates = map[tp]partitionState{}
	c.replicaStates = map[partitionReplica]replicaState{}
	c.topicsToBeDeleted = map[string]bool{}
	c.topicsWithDeletionStarted = map[string]bool{}
	c.topicsIneligibleForDeletion = map[string]bool{}
}

// liveSet is the brokers eligible to lead or be in sync: registered and not shutting down.
func (c *controllerContext) liveSet() brokerSet {
	s := brokerSet{}
	for id := range c.liveBrokers {
		if !c.shuttingDown[id] {
			s[id] = true
		}
	}
	return s
}

// liveOrShuttingDownSet is the set of request recipients.
func (c *controllerContext) liveOrShuttingDownSet() brokerSet {
	s := brokerSet{}
	for id := range c.liveBrokers {
		s[id] = true
	}
	return s
}

func (c *controllerContext) liveOrShuttingDownIDs() []int32 {
	return sortedIDs(c.liveOrShuttingDownSet())
}

func sortedIDs(s brokerSet) []int32 {
	out := make([]int32, 0, len(s))
	for id, ok := range s {
		if ok {
			out = append(out, id)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (c *controllerContext) isReplicaOnline(replica int32) bool {
	_, ok := c.liveBrokers[replica]
	return ok && !c.shuttingDown[replica]
}

func (c *controllerContext) replicas(p tp) []int32 { return c.assignments[p.Topic][p.Partition] }

func (c *controllerContext) partitionsForTopic(topic string) []tp {
	parts := c.assignments[topic]
	out := make([]tp, 0, len(parts))
	for p := range parts {
		out = append(out, tp{Topic: topic, Partition: p})
	}
	sortTPs(out)
	return out
}

func (c *controllerContext) allPartitions() []tp {
	var out []tp
	for t := range c.assignments {
		out = append(out, c.partitionsForTopic(t)...)
	}
	sortTPs(out)
	return out
}

func (c *controllerContext) replicasForPartitions(ps []tp) []partitionReplica {
	var out []partitionReplica
	for _, p := range ps {
		for _, r := range c.replicas(p) {
			out = append(out, partitionReplica{TP: p, Replica: r})
		}
	}
	return out
}

// replicasOnBrokers lists every replica hosted by the given brokers.
func (c *controllerContext) replicasOnBrokers(brokers brokerSet) []partitionReplica {
	var out []partitionReplica
	for _, p := range c.allPartitions() {
		for _, r := range c.replicas(p) {
			if brokers[r] {
				out = append(out, partitionReplica{TP: p, Replica: r})
			}
		}
	}
	return out
}

func (c *controllerContext) replicasForTopic(topic string) []partitionReplica {
	return c.replicasForPartitions(c.partitionsForTopic(topic))
}

func (c *controllerContext) partitionState(p tp) partitionState {
	if s, ok := c.partitionStates[p]; ok {
		return s
	}
	return nonExistentPartition
}

func (c *controllerContext) replicaState(r partitionReplica) replicaState {
	if s, ok := c.replicaStates[r]; ok {
		return s
	}
	return nonExistentReplica
}

// partitionsWithOfflineLeader are partitions, not being deleted, whose leader is not a live broker.
func (c *controllerContext) partitionsWithOfflineLeader() []tp {
	var out []tp
	for _, p := range c.allPartitions() {
		if c.topicsToBeDeleted[p.Topic] {
			continue
		}
		li, ok := c.leadership[p]
		if ok && !c.isReplicaOnline(li.Leader) {
			out = append(out, p)
		}
	}
	return out
}

// partitionsWithLeaders is what a new broker must learn: every partition with leadership info not being deleted.
func (c *controllerContext) partitionsWithLeaders() []tp {
	var out []tp
	for p := range c.leadership {
		if !c.topicsToBeDeleted[p.Topic] {
			out = append(out, p)
		}
	}
	sortTPs(out)
	return out
}

func (c *controllerContext) offlinePartitionCount() int {
	n := 0
	for p, s := range c.partitionStates {
		if s == offlinePartition && !c.topicsToBeDeleted[p.Topic] {
			n++
		}
	}
	return n
}

func (c *controllerContext) setAssignment(topic string, parts map[int32][]int32) {
	m := c.assignments[topic]
	if m == nil {
		m = map[int32][]int32{}
		c.assignments[topic] = m
	}
	for p, rs := range parts {
		m[p] = append([]int32(nil), rs...)
	}
}

// removeTopic forgets a topic entirely (after deletion completed or when its znode disappeared).
func (c *controllerContext) removeTopic(topic string) {
	for _, p := range c.partitionsForTopic(topic) {
		for _, r := range c.replicas(p) {
			delete(c.replicaStates, partitionReplica{TP: p, Replica: r})
		}
		delete(c.leadership, p)
		delete(c.partitionStates, p)
		delete(c.adding, p)
		delete(c.removing, p)
		delete(c.partitionsBeingReassigned, p)
	}
	delete(c.assignments, topic)
	delete(c.allTopics, topic)
	delete(c.topicIDs, topic)
	delete(c.topicZkVer, topic)
	delete(c.topicsToBeDeleted, topic)
	delete(c.topicsWithDeletionStarted, topic)
	delete(c.topicsIneligibleForDeletion, topic)
}

func sortTPs(s []tp) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].Topic != s[j].Topic {
			return s[i].Topic < s[j].Topic
		}
		return s[i].Partition < s[j].Partition
	})
}

// replicaAssignment is Kafka's ReplicaAssignment: the full replica set RS with the adding (AR) and removing (RR)
// replicas of an ongoing reassignment.
type replicaAssignment struct {
	Replicas, Adding, Removing []int32
}

// origin is ORS = RS − AR.
func (a replicaAssignment) origin() []int32 { return diff(a.Replicas, a.Adding) }

// target is TRS = RS − RR.
func (a replicaAssignment) target() []int32 { return diff(a.Replicas, a.Removing) }

func (a replicaAssignment) isBeingReassigned() bool { return len(a.Adding) > 0 || len(a.Removing) > 0 }

// reassignTo is Kafka's ReplicaAssignment.reassignTo: RS = distinct(TRS ++ ORS), AR = RS − ORS, RR = RS − TRS.
// Reassigning an ongoing reassignment starts from its origin, so a superseded target's replicas are dropped.
func (a replicaAssignment) reassignTo(target []int32) replicaAssignment {
	origin := a.origin()
	full := distinct(append(append([]int32(nil), target...), origin...))
	return replicaAssignment{Replicas: full, Adding: diff(full, origin), Removing: diff(full, target)}
}

func (a replicaAssignment) equal(b replicaAssignment) bool {
	return equalIDs(a.Replicas, b.Replicas) && equalIDs(a.Adding, b.Adding) && equalIDs(a.Removing, b.Removing)
}

func equalIDs(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// diff is Scala's Seq.diff for sets of distinct ids: a's elements not in b, in a's order.
func diff(a, b []int32) []int32 {
	return filter(a, func(x int32) bool { return !contains(b, x) })
}

func distinct(s []int32) []int32 {
	seen := brokerSet{}
	return filter(s, func(x int32) bool {
		if seen[x] {
			return false
		}
		seen[x] = true
		return true
	})
}

func (c *controllerContext) fullAssignment(p tp) replicaAssignment {
	return replicaAssignment{
		Replicas: append([]int32(nil), c.replicas(p)...),
		Adding:   append([]int32(nil), c.adding[p]...),
		Removing: append([]int32(nil), c.removing[p]...),
	}
}

// setFullAssignment replaces one partition's RS/AR/RR in the cache.
func (c *controllerContext) setFullAssignment(p tp, a replicaAssignment) {
	c.setAssignment(p.Topic, map[int32][]int32{p.Partition: a.Replicas})
	if len(a.Adding) > 0 {
		c.adding[p] = append([]int32(nil), a.Adding...)
	} else {
		delete(c.adding, p)
	}
	if len(a.Removing) > 0 {
		c.removing[p] = append([]int32(nil), a.Removing...)
	} else {
		delete(c.removing, p)
	}
}
