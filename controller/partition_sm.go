package controller

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/zkafka/zkafka/zkutils"
)

type electionKind int

const (
	offlineElection electionKind = iota
	reassignElection
	preferredElection
	controlledShutdownElection
)

// electionStrategy is Kafka's PartitionLeaderElectionStrategy. allowUnclean is the explicit flag (ElectLeaders
// UNCLEAN); without it the topic's unclean.leader.election.enable decides, and only when no ISR member is live.
type electionStrategy struct {
	kind         electionKind
	allowUnclean bool
}

// maxElectionAttempts bounds re-reads after BADVERSION (a leader changed the ISR between our read and write).
const maxElectionAttempts = 10

func tpString(p tp) string { return p.Topic + "-" + strconv.Itoa(int(p.Partition)) }

func tpsString(ps []tp) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = tpString(p)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// handlePartitionStateChanges runs one batch of partition transitions and sends the requests it produced. A
// fencing failure aborts the batch unsent: another controller owns the cluster now.
func (c *Controller) handlePartitionStateChanges(ps []tp, target partitionState, strategy electionStrategy) error {
	_, err := c.partitionStateChanges(ps, target, strategy)
	return err
}

// partitionStateChanges is handlePartitionStateChanges that also reports the partitions that reached target.
func (c *Controller) partitionStateChanges(ps []tp, target partitionState, strategy electionStrategy) ([]tp, error) {
	if len(ps) == 0 {
		return nil, nil
	}
	b := newRequestBatch()
	done, err := c.doPartitionStateChanges(b, ps, target, strategy)
	if err != nil {
		return done, err
	}
	c.sendBatch(b)
	return done, nil
}

func (c *Controller) doPartitionStateChanges(b *requestBatch, ps []tp, target partitionState, strategy electionStrategy) ([]tp, error) {
	var reached []tp
	var valid []tp
	for _, p := range ps {
		cur := c.cc.partitionState(p)
		if !validPartitionTransition(cur, target) {
			c.stateChangef("Invalid state transition for partition %s from %s to %s", tpString(p), cur, target)
			continue
		}
		valid = append(valid, p)
	}
	switch target {
	case newPartition:
		for _, p := range valid {
			c.stateChangef("Changed partition %s state from %s to %s with assigned replicas %v",
				tpString(p), c.cc.partitionState(p), target, c.cc.replicas(p))
			c.cc.partitionStates[p] = newPartition
		}
	case onlinePartition:
		var uninitialized, toElect []tp
		for _, p := range valid {
			if c.cc.partitionState(p) == newPartition {
				uninitialized = append(uninitialized, p)
			} else {
				toElect = append(toElect, p)
			}
		}
		if len(uninitialized) > 0 {
			ok, err := c.initializeLeaderAndIsr(b, uninitialized)
			if err != nil {
				return reached, err
			}
			reached = append(reached, ok...)
			for _, p := range ok {
				li := c.cc.leadership[p]
				c.stateChangef("Changed partition %s from %s to %s with state LeaderAndIsr(leader=%d, leaderEpoch=%d, isr=%v, partitionEpoch=%d)",
					tpString(p), c.cc.partitionState(p), target, li.Leader, li.LeaderEpoch, li.ISR, li.ZkVersion)
				c.cc.partitionStates[p] = onlinePartition
			}
		}
		if len(toElect) > 0 {
			ok, err := c.electLeaders(b, toElect, strategy)
			if err != nil {
				return reached, err
			}
			reached = append(reached, ok...)
			for _, p := range ok {
				li := c.cc.leadership[p]
				c.stateChangef("Changed partition %s from %s to %s with state LeaderAndIsr(leader=%d, leaderEpoch=%d, isr=%v, partitionEpoch=%d)",
					tpString(p), c.cc.partitionState(p), target, li.Leader, li.LeaderEpoch, li.ISR, li.ZkVersion)
				c.cc.partitionStates[p] = onlinePartition
			}
		}
	case offlinePartition, nonExistentPartition:
		for _, p := range valid {
			c.stateChangef("Changed partition %s state from %s to %s", tpString(p), c.cc.partitionState(p), target)
			c.cc.partitionStates[p] = target
		}
		reached = valid
	}
	if target == newPartition {
		reached = valid
	}
	return reached, nil
}

// initializeLeaderAndIsr creates the state znodes of new partitions (fenced) and tells their replicas.
func (c *Controller) initializeLeaderAndIsr(b *requestBatch, ps []tp) ([]tp, error) {
	live := c.cc.liveSet()
	states := map[tp]zkutils.LeaderIsr{}
	for _, p := range ps {
		li, ok := initialLeaderIsr(c.cc.replicas(p), live, c.cc.epoch)
		if !ok {
			c.stateChangef("Failed to change state of partition %s from New to Online: assigned replicas are %v, "+
				"live brokers are %v. No assigned replica is alive.", tpString(p), c.cc.replicas(p), sortedIDs(live))
			continue
		}
		states[p] = li
	}
	if len(states) == 0 {
		return nil, nil
	}
	errs, err := c.zk.CreatePartitionStates(c.cc.epochZkVersion, states)
	if err != nil {
		return nil, err
	}
	var done []tp
	for _, p := range sortedTPKeys(states) {
		if perr := errs[p]; perr != nil {
			if errors.Is(perr, zkutils.ErrControllerMoved) {
				return nil, perr
			}
			c.stateChangef("Failed to initialize partition %s: %v", tpString(p), perr)
			continue
		}
		li := states[p]
		li.ZkVersion = 0
		c.cc.leadership[p] = li
		b.addLeaderAndIsr(c.cc, li.ISR, p, li, true)
		done = append(done, p)
	}
	return done, nil
}

// electLeaders is Kafka's electLeaderForPartitions: read states, decide, write conditionally, retry the
// partitions a leader changed under us.
func (c *Controller) electLeaders(b *requestBatch, ps []tp, strategy electionStrategy) ([]tp, error) {
	var done []tp
	remaining := ps
	for attempt := 0; len(remaining) > 0 && attempt < maxElectionAttempts; attempt++ {
		current, err := c.zk.GetPartitionStates(remaining)
		if err != nil {
			return done, err
		}
		var readable []tp
		for _, p := range remaining {
			li, ok := current[p]
			if !ok {
				c.stateChangef("Failed to elect leader for partition %s: its state znode does not exist", tpString(p))
				continue
			}
			if li.ControllerEpoch > c.cc.epoch {
				c.stateChangef("Aborted leader election for partition %s since the LeaderAndIsr path was already "+
					"written by another controller. This probably means that the current controller %d went through "+
					"a soft failure and another controller was elected with epoch %d.", tpString(p), c.cfg.BrokerID, li.ControllerEpoch)
				continue
			}
			readable = append(readable, p)
		}
		unclean, err := c.uncleanAllowed(readable, current, strategy)
		if err != nil {
			return done, err
		}
		updates := map[tp]zkutils.LeaderIsr{}
		results := map[tp]electionResult{}
		for _, p := range readable {
			li := current[p]
			res, ok := c.runElection(p, li, strategy, unclean[p.Topic])
			if !ok {
				c.stateChangef("Failed to elect leader for partition %s under strategy %d: assigned replicas %v, isr %v, live brokers %v",
					tpString(p), strategy.kind, c.cc.replicas(p), li.ISR, sortedIDs(c.cc.liveSet()))
				continue
			}
			updates[p] = applyElection(li, res, c.cc.epoch)
			results[p] = res
		}
		if len(updates) == 0 {
			break
		}
		written, conflicts, err := c.writePartitionStates(updates, "write leader election for")
		if err != nil {
			return done, err
		}
		remaining = conflicts
		for _, p := range sortedTPKeys(written) {
			li := written[p]
			if results[p].Unclean {
				c.metrics.uncleanElection()
				c.warnf("Unclean leader election: partition %s has leader %d, data loss may have occurred", tpString(p), li.Leader)
			}
			b.addLeaderAndIsr(c.cc, results[p].Recipients, p, li, false)
			done = append(done, p)
		}
	}
	if len(remaining) > 0 {
		c.stateChangef("Giving up leader election for %s after repeated version conflicts", tpsString(remaining))
	}
	return done, nil
}

func (c *Controller) runElection(p tp, li zkutils.LeaderIsr, strategy electionStrategy, unclean bool) (electionResult, bool) {
	assignment := c.cc.replicas(p)
	switch strategy.kind {
	case reassignElection:
		return electReassign(c.cc.fullAssignment(p).target(), li.ISR, c.cc.liveSet())
	case preferredElection:
		return electPreferred(assignment, li.ISR, c.cc.liveSet())
	case controlledShutdownElection:
		return electControlledShutdown(assignment, li.ISR, c.cc.liveOrShuttingDownSet(), c.cc.shuttingDown)
	default:
		return electOffline(assignment, li.ISR, c.cc.liveSet(), unclean)
	}
}

// uncleanAllowed decides, per topic, whether the Offline election may pick an out-of-sync replica. The topic
// config is read only for partitions with no live ISR member, as Kafka does.
func (c *Controller) uncleanAllowed(ps []tp, current map[tp]zkutils.LeaderIsr, strategy electionStrategy) (map[string]bool, error) {
	out := map[string]bool{}
	if strategy.kind != offlineElection {
		return out, nil
	}
	live := c.cc.liveSet()
	need := map[string]bool{}
	for _, p := range ps {
		hasLiveISR := false
		for _, r := range current[p].ISR {
			if live[r] {
				hasLiveISR = true
				break
			}
		}
		if !hasLiveISR {
			need[p.Topic] = true
		}
	}
	if len(need) == 0 {
		return out, nil
	}
	if strategy.allowUnclean {
		for t := range need {
			out[t] = true
		}
		return out, nil
	}
	configs, err := c.zk.GetTopicConfigs(sortedTopics(need))
	if err != nil {
		return nil, fmt.Errorf("reading topic configs for unclean election: %w", err)
	}
	for t := range need {
		out[t] = effectiveUnclean(configs[t], c.cfg.UncleanLeaderElectionEnable)
	}
	return out, nil
}

// effectiveUnclean is the topic override of unclean.leader.election.enable over the broker default.
func effectiveUnclean(topicConfig map[string]string, brokerDefault bool) bool {
	v, ok := topicConfig["unclean.leader.election.enable"]
	if !ok {
		return brokerDefault
	}
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return brokerDefault
	}
	return b
}

// triggerOnlinePartitionStateChange moves every New or Offline partition not being deleted to Online.
func (c *Controller) triggerOnlinePartitionStateChange() error {
	var ps []tp
	for _, p := range c.cc.allPartitions() {
		s := c.cc.partitionState(p)
		if (s == newPartition || s == offlinePartition) && !c.cc.topicsToBeDeleted[p.Topic] {
			ps = append(ps, p)
		}
	}
	return c.handlePartitionStateChanges(ps, onlinePartition, electionStrategy{kind: offlineElection})
}

// startupPartitionStateMachine sets each partition's initial state from the cache, then brings New and Offline
// ones online.
func (c *Controller) startupPartitionStateMachine() error {
	for _, p := range c.cc.allPartitions() {
		li, ok := c.cc.leadership[p]
		switch {
		case !ok:
			c.cc.partitionStates[p] = newPartition
		case c.cc.isReplicaOnline(li.Leader):
			c.cc.partitionStates[p] = onlinePartition
		default:
			c.cc.partitionStates[p] = offlinePartition
		}
	}
	return c.triggerOnlinePartitionStateChange()
}

// sendBatch queues the batch's requests on the per-broker senders, in Kafka's order.
func (c *Controller) sendBatch(b *requestBatch) {
	if c.term == nil || b.empty() {
		return
	}
	env := requestEnv{
		controllerID: c.cfg.BrokerID,
		epoch:        c.cc.epoch,
		listener:     c.cfg.InterBrokerListener,
		brokers:      c.cc.liveBrokers,
		topicIDs:     c.cc.topicIDs,
	}
	for _, o := range b.build(env) {
		c.stateChangef("Sending %s to broker %d", requestName(o), o.broker)
		c.term.channel.send(o)
	}
}

// writePartitionStates writes decided partition states conditionally and fenced, and caches the written ones.
// Partitions whose znode changed under us (a version conflict) come back in conflicts for a re-read and retry;
// other per-partition failures are logged as "Failed to <what> partition P". A moved controller epoch aborts.
func (c *Controller) writePartitionStates(updates map[tp]zkutils.LeaderIsr, what string) (written map[tp]zkutils.LeaderIsr, conflicts []tp, err error) {
	versions, errs, err := c.zk.UpdatePartitionStates(c.cc.epochZkVersion, updates)
	if err != nil {
		return nil, nil, err
	}
	written = make(map[tp]zkutils.LeaderIsr, len(updates))
	for _, p := range sortedTPKeys(updates) {
		if perr := errs[p]; perr != nil {
			switch {
			case errors.Is(perr, zkutils.ErrBadVersion):
				conflicts = append(conflicts, p)
			case errors.Is(perr, zkutils.ErrControllerMoved):
				return written, conflicts, perr
			default:
				c.stateChangef("Failed to %s partition %s: %v", what, tpString(p), perr)
			}
			continue
		}
		li := updates[p]
		li.ZkVersion = versions[p]
		c.cc.leadership[p] = li
		written[p] = li
	}
	return written, conflicts, nil
}
