package controller

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

// refreshControllerID reads /controller, re-arming its watch if the last one fired, and publishes the result.
func (c *Controller) refreshControllerID() (int32, bool, error) {
	var (
		id     int32
		exists bool
		err    error
	)
	if !c.controllerWatchArmed {
		var w zkutils.Watch
		id, exists, w, err = c.zk.WatchController()
		if err == nil {
			c.controllerWatchArmed = true
			c.armWatch(w, nil, controllerChangeEvent{})
		}
	} else {
		id, exists, err = c.zk.GetControllerID()
	}
	if err != nil {
		return -1, false, err
	}
	if !exists {
		id = -1
	}
	c.activeID.Store(id)
	return id, exists, nil
}

func (c *Controller) processStartup() error {
	return c.elect()
}

// processControllerChange runs when /controller changed or vanished: resign if someone else holds it now, and
// take part in the election if nobody does.
func (c *Controller) processControllerChange() error {
	c.controllerWatchArmed = false
	id, exists, err := c.refreshControllerID()
	if err != nil {
		return err
	}
	if c.isActive() && id != c.cfg.BrokerID {
		c.resign()
	}
	if !exists {
		return c.elect()
	}
	return nil
}

func (c *Controller) processReelect(rearm bool) error {
	if rearm {
		c.controllerWatchArmed = false
	}
	id, _, err := c.refreshControllerID()
	if err != nil {
		return err
	}
	if c.isActive() && id != c.cfg.BrokerID {
		c.resign()
	}
	return c.elect()
}

func (c *Controller) processExpire() {
	c.activeID.Store(-1)
	// The session's watches are gone with it; the next read must arm a new one.
	c.controllerWatchArmed = false
	c.resign()
}

// elect is Kafka's KafkaController.elect: give way to an existing controller, else try to win and fail over.
func (c *Controller) elect() error {
	id, exists, err := c.refreshControllerID()
	if err != nil {
		return err
	}
	if exists {
		c.debugf("Broker %d has been elected as the controller, so stopping the election process.", id)
		if id == c.cfg.BrokerID && !c.isActive() {
			c.warnf("/controller names this broker but it is not active; waiting for the znode to go away")
		}
		return nil
	}
	epoch, epochZkVersion, err := c.zk.TryElectController(c.cfg.BrokerID, c.cfg.Now().UnixMilli())
	if errors.Is(err, zkutils.ErrControllerExists) || errors.Is(err, zkutils.ErrControllerMoved) {
		id, _, rerr := c.refreshControllerID()
		if rerr != nil {
			return rerr
		}
		c.debugf("Broker %d was elected as controller instead of broker %d", id, c.cfg.BrokerID)
		return nil
	}
	if err != nil {
		c.errorf("Error while electing or becoming controller on broker %d. Trigger controller movement immediately: %v",
			c.cfg.BrokerID, err)
		c.triggerControllerMove()
		return nil
	}
	c.cc.epoch, c.cc.epochZkVersion = epoch, epochZkVersion
	c.publishEpoch.Store(epoch)
	c.activeID.Store(c.cfg.BrokerID)
	c.infof("%d successfully elected as the controller. Epoch incremented to %d and epoch zk version is now %d",
		c.cfg.BrokerID, epoch, epochZkVersion)
	if err := c.onControllerFailover(); err != nil {
		if errors.Is(err, zkutils.ErrControllerMoved) {
			return err
		}
		c.errorf("Error while electing or becoming controller on broker %d. Trigger controller movement immediately: %v",
			c.cfg.BrokerID, err)
		c.triggerControllerMove()
	}
	return nil
}

// triggerControllerMove gives up a controllership that could not be set up, so another broker (or this one,
// later) gets a clean election.
func (c *Controller) triggerControllerMove() {
	zkVersion := c.cc.epochZkVersion
	c.resign()
	c.activeID.Store(-1)
	if err := c.zk.DeleteController(zkVersion); err != nil && !errors.Is(err, zkutils.ErrNoNode) {
		c.warnf("Failed to delete /controller while moving controllership: %v", err)
	}
}

// maybeResignAfterFenceLoss runs when a fenced write failed: another controller bumped the epoch, so every write
// of this term would fail. Resign, and learn who holds /controller now.
func (c *Controller) maybeResignAfterFenceLoss() {
	wasActive := c.isActive()
	c.resign()
	id, _, err := c.refreshControllerID()
	if err != nil {
		c.errorf("Failed to read /controller after losing the controller epoch: %v", err)
		return
	}
	if wasActive && id == c.cfg.BrokerID {
		// The epoch moved without /controller moving (an operator or a test wrote it): our ephemeral would
		// block every election, so drop it; its deletion fires the watch and a new election follows.
		if _, err := c.zk.DeleteControllerIfOwner(c.cfg.BrokerID); err != nil {
			c.warnf("Failed to delete stale /controller: %v", err)
		}
	}
}

// onControllerFailover is Kafka's failover sequence (reference "Failover sequence").
func (c *Controller) onControllerFailover() error {
	st := newStepTimer("Controller failover", c.cfg.Now, c.debugf)
	defer func() { c.infof("%s", st.summary()) }()
	c.infof("Registering handlers")
	if err := c.zk.EnsureFeatureZNode(c.cc.epochZkVersion); err != nil {
		return fmt.Errorf("feature znode: %w", err)
	}
	c.termSeq++
	t := &term{id: c.termSeq, stop: make(chan struct{}), topicWatches: map[string]bool{}, brokerWatches: map[int32]bool{},
		stateWatches: map[tp]bool{}}
	t.channel = &channelManager{
		dial: c.cfg.Dial, listener: c.cfg.InterBrokerListener, timeout: c.cfg.SocketTimeout,
		log: c.log, senders: map[int32]*sender{},
		onResponse: func(broker int32, req kmsg.Request, resp kmsg.Response, deletion bool) {
			c.events.put(brokerResponseEvent{term: t.id, broker: broker, req: req, resp: resp, deletion: deletion})
		},
	}
	c.term = t
	c.active.Store(true)
	st.step("feature-znode")

	// Child watches first, so nothing that happens while loading is missed (the handlers re-read).
	_, bw, err := c.zk.WatchBrokerIDs()
	if err != nil {
		return err
	}
	c.armWatch(bw, t.stop, brokerChangeEvent{term: t.id})
	topics, tw, err := c.zk.WatchTopics()
	if err != nil {
		return err
	}
	c.armWatch(tw, t.stop, topicChangeEvent{term: t.id})
	deletions, dw, err := c.zk.WatchTopicDeletions()
	if err != nil {
		return err
	}
	c.armWatch(dw, t.stop, topicDeletionEvent{term: t.id})
	notes, iw, err := c.zk.WatchIsrChangeNotifications()
	if err != nil {
		return err
	}
	c.armWatch(iw, t.stop, isrChangeNotificationEvent{term: t.id})
	if len(notes) > 0 {
		// Pending notifications describe changes the full reload below already picks up.
		if err := c.zk.DeleteIsrChangeNotifications(c.cc.epochZkVersion, notes); err != nil {
			return err
		}
	}
	st.step("child-watches")

	c.infof("Initializing controller context")
	if err := c.initializeControllerContext(topics, st); err != nil {
		return err
	}
	if err := c.initTopicDeletion(deletions); err != nil {
		return err
	}
	st.step("init-deletion")

	c.infof("Sending update metadata request")
	b := newRequestBatch()
	b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), nil)
	c.sendBatch(b)
	st.step("update-metadata")

	if err := c.startupReplicaStateMachine(); err != nil {
		return err
	}
	st.step("replica-state-machine")
	if err := c.startupPartitionStateMachine(); err != nil {
		return err
	}
	st.step("partition-state-machine")
	c.infof("Ready to serve as the new controller with epoch %d", c.cc.epoch)
	if err := c.initializePartitionReassignments(); err != nil {
		return err
	}
	st.step("reassignments")
	if err := c.resumeDeletions(); err != nil {
		return err
	}
	st.step("deletions")
	preferredExists, preferredNode, err := c.armPreferredReplicaElectionWatch()
	if err != nil {
		return err
	}
	if preferredExists {
		c.term.preferredElectionNode = preferredNode
		pending, err := c.fetchPendingPreferredReplicaElections()
		if err != nil {
			return err
		}
		if _, err := c.onReplicaElection(pending, ElectionPreferred, zkTriggered); err != nil {
			return err
		}
	}
	st.step("preferred-elections")
	c.scheduleAutoRebalance(t)
	return nil
}

// initializeControllerContext loads brokers, topics, assignments and partition states, batched.
func (c *Controller) initializeControllerContext(topics []string, st *stepTimer) error {
	brokers, err := c.zk.GetAllBrokers()
	if err != nil {
		return err
	}
	st.step("read-brokers")
	for _, b := range brokers {
		c.cc.liveBrokers[b.ID] = b
	}
	for _, t := range topics {
		c.cc.allTopics[t] = true
	}
	assignments, err := c.watchTopicAssignments(topics)
	if err != nil {
		return err
	}
	st.step("read-topics+watches")
	if err := c.loadAssignments(assignments); err != nil {
		return err
	}
	st.step("load-assignments")
	if err := c.loadPartitionStates(c.cc.allPartitions()); err != nil {
		return err
	}
	st.step("read-partition-states")
	for _, id := range sortedKeys(c.cc.liveBrokers) {
		c.term.channel.addBroker(c.cc.liveBrokers[id])
	}
	if err := c.watchBrokers(sortedKeys(c.cc.liveBrokers)); err != nil {
		return err
	}
	st.step("broker-watches")
	c.infof("Initialized broker epochs cache: %v", brokerEpochs(c.cc.liveBrokers))
	c.infof("Currently active brokers in the cluster: %v", sortedKeys(c.cc.liveBrokers))
	c.infof("Current list of topics in the cluster: %v", sortedTopics(c.cc.allTopics))
	return nil
}

func brokerEpochs(m map[int32]zkutils.BrokerInfo) map[int32]int64 {
	out := map[int32]int64{}
	for id, b := range m {
		out[id] = b.Epoch
	}
	return out
}

func (c *Controller) loadPartitionStates(ps []tp) error {
	if len(ps) == 0 {
		return nil
	}
	states, err := c.zk.GetPartitionStates(ps)
	if err != nil {
		return err
	}
	for p, li := range states {
		c.cc.leadership[p] = li
	}
	return nil
}

// resign is Kafka's onControllerResignation: stop the term's watches and senders and forget all state.
func (c *Controller) resign() {
	t := c.term
	if t == nil {
		return
	}
	c.infof("Resigning")
	close(t.stop)
	t.channel.shutdown()
	c.term = nil
	c.active.Store(false)
	c.cc.reset()
	c.infof("Resigned")
}
