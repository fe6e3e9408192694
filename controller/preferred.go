package controller

import (
	"sort"
	"time"
)

// electionTrigger is who asked for a replica leader election; it decides unclean permission and whether the
// /admin/preferred_replica_election request is cleared afterwards.
type electionTrigger int

const (
	adminClientTriggered electionTrigger = iota
	zkTriggered
	autoTriggered
)

func (t electionTrigger) String() string {
	switch t {
	case adminClientTriggered:
		return "AdminClientTriggered"
	case zkTriggered:
		return "ZkTriggered"
	}
	return "AutoTriggered"
}

// firstAutoRebalanceDelay is Kafka's delay before the first rebalance check of a term.
const firstAutoRebalanceDelay = 5 * time.Second

// needsElection is Kafka's "electable" test: a preferred election is needed unless the preferred replica already
// leads; an unclean one only when the partition has no live leader.
func needsElection(electionType int8, assignment []int32, leader int32, hasLeader bool, live brokerSet) bool {
	if electionType == ElectionPreferred {
		return !hasLeader || len(assignment) == 0 || leader != assignment[0]
	}
	return !hasLeader || leader == noLeader || !live[leader]
}

// processAdminLeaderElection is the ElectLeaders API.
func (c *Controller) processAdminLeaderElection(ev replicaLeaderElectionEvent) (map[tp]error, error) {
	if !c.isActive() {
		return nil, ErrNotController
	}
	parts := ev.partitions
	if ev.all {
		parts = nil
		for _, p := range c.cc.allPartitions() {
			if !c.cc.topicsToBeDeleted[p.Topic] {
				parts = append(parts, p)
			}
		}
	}
	return c.replicaLeaderElection(parts, ev.electionType, adminClientTriggered)
}

// replicaLeaderElection is Kafka's processReplicaLeaderElection once the partitions are known.
func (c *Controller) replicaLeaderElection(parts []tp, electionType int8, trigger electionTrigger) (map[tp]error, error) {
	results := map[tp]error{}
	live := c.cc.liveSet()
	var electable []tp
	for _, p := range distinctTPs(parts) {
		if _, ok := c.cc.assignments[p.Topic][p.Partition]; !ok {
			c.infof("Skipping replica leader election (%s) for partition %s by %s since it doesn't exist.",
				electionName(electionType), tpString(p), trigger)
			results[p] = ErrUnknownTopicOrPartition
			continue
		}
		if c.cc.topicsToBeDeleted[p.Topic] {
			c.warnf("Skipping replica leader election (%s) for partition %s by %s since the respective topic is being deleted",
				electionName(electionType), tpString(p), trigger)
			results[p] = ErrTopicBeingDeleted
			continue
		}
		li, ok := c.cc.leadership[p]
		if !needsElection(electionType, c.cc.replicas(p), li.Leader, ok, live) {
			results[p] = ErrElectionNotNeeded
			continue
		}
		electable = append(electable, p)
	}
	elected, err := c.onReplicaElection(electable, electionType, trigger)
	if err != nil {
		return nil, err
	}
	failed := ErrPreferredLeaderNotAvailable
	if electionType == ElectionUnclean {
		failed = ErrEligibleLeadersNotAvailable
	}
	for _, p := range electable {
		if elected[p] {
			results[p] = nil
		} else {
			results[p] = failed
		}
	}
	return results, nil
}

func electionName(t int8) string {
	if t == ElectionUnclean {
		return "UNCLEAN"
	}
	return "PREFERRED"
}

func distinctTPs(ps []tp) []tp {
	seen := map[tp]bool{}
	out := make([]tp, 0, len(ps))
	for _, p := range ps {
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	sortTPs(out)
	return out
}

// onReplicaElection is Kafka's: Preferred election, or Offline with unclean allowed only when an admin asked
// for it. Requests that came through ZooKeeper are cleared afterwards, whatever the outcome.
func (c *Controller) onReplicaElection(ps []tp, electionType int8, trigger electionTrigger) (map[tp]bool, error) {
	c.infof("Starting replica leader election (%s) for partitions %s triggered by %s", electionName(electionType), tpsString(ps), trigger)
	strategy := electionStrategy{kind: preferredElection}
	if electionType == ElectionUnclean {
		strategy = electionStrategy{kind: offlineElection, allowUnclean: trigger == adminClientTriggered}
	}
	done, err := c.partitionStateChanges(ps, onlinePartition, strategy)
	elected := map[tp]bool{}
	for _, p := range done {
		elected[p] = true
	}
	if trigger != adminClientTriggered && err == nil {
		err = c.removePartitionsFromPreferredReplicaElection(ps, trigger == autoTriggered)
	}
	return elected, err
}

func (c *Controller) removePartitionsFromPreferredReplicaElection(ps []tp, auto bool) error {
	for _, p := range ps {
		li, ok := c.cc.leadership[p]
		rs := c.cc.replicas(p)
		if !ok || len(rs) == 0 {
			continue
		}
		if li.Leader == rs[0] {
			c.infof("Partition %s completed preferred replica leader election. New leader is %d", tpString(p), rs[0])
		} else {
			c.warnf("Partition %s failed to complete preferred replica leader election to %d. Leader is still %d",
				tpString(p), rs[0], li.Leader)
		}
	}
	if auto {
		return nil
	}
	// Deleting the node fires our exists watch, which re-arms it for the next request.
	return c.zk.DeletePreferredReplicaElection(c.cc.epochZkVersion)
}

// armPreferredReplicaElectionWatch sets the exists watch and reports the node's identity.
func (c *Controller) armPreferredReplicaElectionWatch() (bool, int64, error) {
	exists, created, w, err := c.zk.WatchPreferredReplicaElection()
	if err != nil {
		return false, 0, err
	}
	c.armWatch(w, c.term.stop, preferredReplicaElectionEvent{term: c.term.id})
	return exists, created, nil
}

// processPreferredReplicaElectionZNode runs when the watch fired. Kafka acts on the node's creation only; a data
// change or our own deletion just re-arms the watch.
func (c *Controller) processPreferredReplicaElectionZNode() error {
	exists, created, err := c.armPreferredReplicaElectionWatch()
	if err != nil {
		return err
	}
	if !exists || created == c.term.preferredElectionNode {
		return nil
	}
	c.term.preferredElectionNode = created
	parts, err := c.zk.GetPreferredReplicaElection()
	if err != nil {
		return err
	}
	_, err = c.replicaLeaderElection(parts, ElectionPreferred, zkTriggered)
	return err
}

// fetchPendingPreferredReplicaElections is the failover step: a request left in ZooKeeper, minus partitions that
// already completed, were deleted, or belong to topics being deleted.
func (c *Controller) fetchPendingPreferredReplicaElections() ([]tp, error) {
	parts, err := c.zk.GetPreferredReplicaElection()
	if err != nil {
		return nil, err
	}
	var pending []tp
	for _, p := range parts {
		rs := c.cc.replicas(p)
		if len(rs) == 0 {
			continue
		}
		if li, ok := c.cc.leadership[p]; ok && li.Leader == rs[0] {
			continue
		}
		if c.cc.topicsToBeDeleted[p.Topic] {
			continue
		}
		pending = append(pending, p)
	}
	c.infof("Partitions undergoing preferred replica election: %s", tpsString(parts))
	c.infof("Resuming preferred replica election for partitions: %s", tpsString(pending))
	return pending, nil
}

// imbalance is one preferred broker's share of the cluster: the partitions whose first replica it is, and those
// of them it does not lead.
type imbalance struct {
	total        int
	notPreferred []tp
}

// exceeds is Kafka's test: the ratio of not-preferred-led partitions is above leader.imbalance.per.broker.percentage.
func (i imbalance) exceeds(percentage int) bool {
	if i.total == 0 {
		return false
	}
	return float64(len(i.notPreferred))/float64(i.total) > float64(percentage)/100
}

// leaderImbalance groups partitions by preferred replica (the first assigned one) and counts, for each, the
// partitions with known leadership led by another broker. Partitions without leadership count in the total only.
func leaderImbalance(assignments map[tp][]int32, leaders map[tp]int32) map[int32]imbalance {
	out := map[int32]imbalance{}
	ps := make([]tp, 0, len(assignments))
	for p := range assignments {
		ps = append(ps, p)
	}
	sortTPs(ps)
	for _, p := range ps {
		rs := assignments[p]
		if len(rs) == 0 {
			continue
		}
		im := out[rs[0]]
		im.total++
		if l, ok := leaders[p]; ok && l != rs[0] {
			im.notPreferred = append(im.notPreferred, p)
		}
		out[rs[0]] = im
	}
	return out
}

// checkAndTriggerAutoLeaderRebalance is Kafka's: for each preferred broker above the imbalance threshold, elect
// the preferred replica of its partitions where that replica is live and in the ISR.
func (c *Controller) checkAndTriggerAutoLeaderRebalance() error {
	assignments := map[tp][]int32{}
	leaders := map[tp]int32{}
	for _, p := range c.cc.allPartitions() {
		if c.cc.topicsToBeDeleted[p.Topic] {
			continue
		}
		assignments[p] = c.cc.replicas(p)
		if li, ok := c.cc.leadership[p]; ok {
			leaders[p] = li.Leader
		}
	}
	byBroker := leaderImbalance(assignments, leaders)
	brokers := make([]int32, 0, len(byBroker))
	for b := range byBroker {
		brokers = append(brokers, b)
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i] < brokers[j] })
	live := c.cc.liveSet()
	for _, b := range brokers {
		im := byBroker[b]
		c.debugf("Topics not in preferred replica for broker %d %s", b, tpsString(im.notPreferred))
		if !im.exceeds(c.cfg.LeaderImbalancePerBrokerPercentage) {
			continue
		}
		var candidates []tp
		for _, p := range im.notPreferred {
			if c.cc.topicsToBeDeleted[p.Topic] || !c.cc.allTopics[p.Topic] {
				continue
			}
			if _, ok := electPreferred(c.cc.replicas(p), c.cc.leadership[p].ISR, live); ok {
				candidates = append(candidates, p)
			}
		}
		if len(candidates) == 0 {
			continue
		}
		if _, err := c.onReplicaElection(candidates, ElectionPreferred, autoTriggered); err != nil {
			return err
		}
	}
	return nil
}

func (c *Controller) processAutoPreferredReplicaLeaderElection() error {
	if !c.isActive() {
		return nil
	}
	c.infof("Processing automatic preferred replica leader election")
	return c.checkAndTriggerAutoLeaderRebalance()
}

// scheduleAutoRebalance starts the term's rebalance timer: first check after 5 s (sooner if the interval is
// shorter), then one interval after each check finished, as Kafka's scheduler re-arms it.
func (c *Controller) scheduleAutoRebalance(t *term) {
	if !c.cfg.AutoLeaderRebalanceEnable {
		return
	}
	interval := c.cfg.LeaderImbalanceCheckInterval
	delay := min(firstAutoRebalanceDelay, interval)
	c.startGoroutine(func() {
		for {
			timer := time.NewTimer(delay)
			select {
			case <-timer.C:
			case <-t.stop:
				timer.Stop()
				return
			case <-c.stop:
				timer.Stop()
				return
			}
			done := make(chan struct{})
			c.events.put(autoPreferredReplicaLeaderElectionEvent{term: t.id, done: done})
			select {
			case <-done:
			case <-t.stop:
				return
			case <-c.stop:
				return
			}
			delay = interval
		}
	})
}
