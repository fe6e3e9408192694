package controller

// processControlledShutdown is Kafka's doControlledShutdown: mark the broker shutting down (it stops counting as
// live for elections but keeps receiving requests), move leadership off it for its replicated partitions, take
// it out of the ISRs of the partitions it follows, and report what it still leads.
func (c *Controller) processControlledShutdown(id int32, brokerEpoch int64) ([]tp, error) {
	if !c.isActive() {
		return nil, ErrNotController
	}
	info, registered := c.cc.liveBrokers[id]
	if brokerEpoch != -1 && registered && brokerEpoch < info.Epoch {
		c.infof("Received controlled shutdown request from an old broker epoch %d for broker %d. Current broker epoch is %d.",
			brokerEpoch, id, info.Epoch)
		return nil, ErrStaleBrokerEpoch
	}
	c.infof("Shutting down broker %d", id)
	if !registered {
		return nil, ErrBrokerNotAvailable
	}
	c.cc.shuttingDown[id] = true
	c.debugf("All shutting down brokers: %v", sortedIDs(c.cc.shuttingDown))
	c.debugf("Live brokers: %v", sortedIDs(c.cc.liveSet()))

	led, followed := c.partitionsToMoveOnShutdown(id)
	if err := c.handlePartitionStateChanges(led, onlinePartition, electionStrategy{kind: controlledShutdownElection}); err != nil {
		return nil, err
	}
	b := newRequestBatch()
	for _, p := range followed {
		b.addStopReplica(c.cc, []int32{id}, p, false)
	}
	c.sendBatch(b)
	replicas := make([]partitionReplica, 0, len(followed))
	for _, p := range followed {
		replicas = append(replicas, partitionReplica{TP: p, Replica: id})
	}
	if err := c.handleReplicaStateChanges(replicas, offlineReplica); err != nil {
		return nil, err
	}
	return c.partitionLeadersOnBroker(id), nil
}

// partitionsToMoveOnShutdown splits the broker's replicated, led, not-being-deleted partitions into those it
// leads and those it follows. Single-replica partitions have nowhere to go and are left as they are.
func (c *Controller) partitionsToMoveOnShutdown(id int32) (led, followed []tp) {
	for _, p := range c.cc.allPartitions() {
		rs := c.cc.replicas(p)
		if !contains(rs, id) || len(rs) <= 1 || c.cc.topicsToBeDeleted[p.Topic] {
			continue
		}
		li, ok := c.cc.leadership[p]
		if !ok {
			continue
		}
		if li.Leader == id {
			led = append(led, p)
		} else {
			followed = append(followed, p)
		}
	}
	return led, followed
}

// partitionLeadersOnBroker is Kafka's: partitions with more than one replica, not being deleted, led by id.
func (c *Controller) partitionLeadersOnBroker(id int32) []tp {
	out := []tp{}
	for _, p := range c.cc.partitionsWithLeaders() {
		if c.cc.leadership[p].Leader == id && len(c.cc.replicas(p)) > 1 {
			out = append(out, p)
		}
	}
	return out
}
