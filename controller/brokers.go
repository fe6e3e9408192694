package controller

import (
	"reflect"

	"github.com/zkafka/zkafka/zkutils"
)

// brokerWatcher is the zkutils method needed for Kafka's BrokerModificationsHandler (a data watch on
// /brokers/ids/<id>). Until zkutils has it, endpoint or feature changes of a registered broker are not noticed.
type brokerWatcher interface {
	WatchBroker(id int32) (zkutils.BrokerInfo, bool, zkutils.Watch, error)
}

// brokerDiff is the comparison of the cached live brokers with /brokers/ids.
type brokerDiff struct {
	New, Dead, Bounced []int32
}

// diffBrokers finds new, dead and bounced brokers; a bounced broker re-registered (larger czxid) between two
// looks, so it failed and started again.
func diffBrokers(cached map[int32]zkutils.BrokerInfo, current []zkutils.BrokerInfo) brokerDiff {
	var d brokerDiff
	seen := brokerSet{}
	for _, b := range current {
		seen[b.ID] = true
		old, ok := cached[b.ID]
		switch {
		case !ok:
			d.New = append(d.New, b.ID)
		case b.Epoch > old.Epoch:
			d.Bounced = append(d.Bounced, b.ID)
		}
	}
	for _, id := range sortedKeys(cached) {
		if !seen[id] {
			d.Dead = append(d.Dead, id)
		}
	}
	d.New = sortedIDs(toSet(d.New))
	d.Bounced = sortedIDs(toSet(d.Bounced))
	return d
}

func toSet(ids []int32) brokerSet {
	s := brokerSet{}
	for _, id := range ids {
		s[id] = true
	}
	return s
}

func (c *Controller) processBrokerChange() error {
	_, w, err := c.zk.WatchBrokerIDs()
	if err != nil {
		return err
	}
	c.armWatch(w, c.term.stop, brokerChangeEvent{term: c.term.id})
	current, err := c.zk.GetAllBrokers()
	if err != nil {
		return err
	}
	d := diffBrokers(c.cc.liveBrokers, current)
	byID := map[int32]zkutils.BrokerInfo{}
	ids := make([]int32, 0, len(current))
	for _, b := range current {
		byID[b.ID] = b
		ids = append(ids, b.ID)
	}
	c.infof("Newly added brokers: %v, deleted brokers: %v, bounced brokers: %v, all live brokers: %v",
		d.New, d.Dead, d.Bounced, sortedIDs(toSet(ids)))

	ch := c.term.channel
	for _, id := range d.New {
		ch.addBroker(byID[id])
	}
	for _, id := range d.Bounced {
		ch.removeBroker(id)
		ch.addBroker(byID[id])
	}
	for _, id := range d.Dead {
		ch.removeBroker(id)
	}
	if len(d.New) > 0 {
		for _, id := range d.New {
			c.cc.liveBrokers[id] = byID[id]
		}
		if err := c.onBrokerStartup(d.New); err != nil {
			return err
		}
	}
	if len(d.Bounced) > 0 {
		for _, id := range d.Bounced {
			delete(c.cc.liveBrokers, id)
		}
		if err := c.onBrokerFailure(d.Bounced); err != nil {
			return err
		}
		for _, id := range d.Bounced {
			c.cc.liveBrokers[id] = byID[id]
		}
		if err := c.onBrokerStartup(d.Bounced); err != nil {
			return err
		}
	}
	if len(d.Dead) > 0 {
		for _, id := range d.Dead {
			delete(c.cc.liveBrokers, id)
		}
		if err := c.onBrokerFailure(d.Dead); err != nil {
			return err
		}
	}
	return nil
}

// onBrokerStartup is Kafka's: metadata first (so the new broker knows leaders' endpoints), then its replicas
// online, then elections for partitions that were waiting for it.
func (c *Controller) onBrokerStartup(newBrokers []int32) error {
	c.infof("New broker startup callback for %v", newBrokers)
	newSet := toSet(newBrokers)
	var existing []int32
	for _, id := range c.cc.liveOrShuttingDownIDs() {
		if !newSet[id] {
			existing = append(existing, id)
		}
	}
	b := newRequestBatch()
	b.addUpdateMetadata(c.cc, existing, nil)
	c.sendBatch(b)
	b = newRequestBatch()
	b.addUpdateMetadata(c.cc, newBrokers, c.cc.partitionsWithLeaders())
	c.sendBatch(b)

	replicas := c.cc.replicasOnBrokers(newSet)
	if err := c.handleReplicaStateChanges(replicas, onlineReplica); err != nil {
		return err
	}
	if err := c.triggerOnlinePartitionStateChange(); err != nil {
		return err
	}
	resume := map[string]bool{}
	for _, r := range replicas {
		if c.cc.topicsToBeDeleted[r.TP.Topic] {
			resume[r.TP.Topic] = true
		}
	}
	if len(resume) > 0 {
		for t := range resume {
			delete(c.cc.topicsIneligibleForDeletion, t)
		}
		if err := c.resumeDeletions(); err != nil {
			return err
		}
	}
	if err := c.maybeResumeReassignments(func(_ tp, ra replicaAssignment) bool {
		for _, r := range ra.target() {
			if newSet[r] {
				return true
			}
		}
		return false
	}); err != nil {
		return err
	}
	return c.watchBrokers(newBrokers)
}

// onBrokerFailure is Kafka's: the dead brokers' replicas go offline.
func (c *Controller) onBrokerFailure(dead []int32) error {
	c.infof("Broker failure callback for %v", dead)
	for _, id := range dead {
		delete(c.cc.shuttingDown, id)
		delete(c.term.brokerWatches, id)
	}
	return c.onReplicasBecomeOffline(c.cc.replicasOnBrokers(toSet(dead)))
}

func (c *Controller) onReplicasBecomeOffline(replicas []partitionReplica) error {
	var forDeletion, notForDeletion []partitionReplica
	for _, r := range replicas {
		if c.cc.topicsToBeDeleted[r.TP.Topic] {
			forDeletion = append(forDeletion, r)
		} else {
			notForDeletion = append(notForDeletion, r)
		}
	}
	offlineLeader := c.cc.partitionsWithOfflineLeader()
	if err := c.handlePartitionStateChanges(offlineLeader, offlinePartition, electionStrategy{}); err != nil {
		return err
	}
	if err := c.triggerOnlinePartitionStateChange(); err != nil {
		return err
	}
	if err := c.handleReplicaStateChanges(notForDeletion, offlineReplica); err != nil {
		return err
	}
	if len(forDeletion) > 0 {
		if err := c.failReplicaDeletion(forDeletion); err != nil {
			return err
		}
	}
	if len(offlineLeader) == 0 {
		// Nothing above told the brokers; they still must learn the new broker list.
		b := newRequestBatch()
		b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), nil)
		c.sendBatch(b)
	}
	return nil
}

// watchBrokers arms a data watch per broker, if zkutils offers one.
func (c *Controller) watchBrokers(ids []int32) error {
	bw, ok := any(c.zk).(brokerWatcher)
	if !ok {
		return nil
	}
	for _, id := range ids {
		if c.term.brokerWatches[id] {
			continue
		}
		_, exists, w, err := bw.WatchBroker(id)
		if err != nil {
			return err
		}
		if !exists {
			continue
		}
		c.term.brokerWatches[id] = true
		c.armWatch(w, c.term.stop, brokerModificationEvent{term: c.term.id, broker: id})
	}
	return nil
}

// processBrokerModification handles a registered broker's data change (endpoints, features): everyone gets the
// new broker list.
func (c *Controller) processBrokerModification(id int32) error {
	delete(c.term.brokerWatches, id)
	old, ok := c.cc.liveBrokers[id]
	if !ok {
		return nil
	}
	bw, ok := any(c.zk).(brokerWatcher)
	if !ok {
		return nil
	}
	cur, exists, w, err := bw.WatchBroker(id)
	if err != nil || !exists {
		return err
	}
	c.term.brokerWatches[id] = true
	c.armWatch(w, c.term.stop, brokerModificationEvent{term: c.term.id, broker: id})
	if reflect.DeepEqual(old.Endpoints, cur.Endpoints) && reflect.DeepEqual(old.Features, cur.Features) {
		return nil
	}
	c.infof("Updated broker epochs cache: %d endpoints changed", id)
	cur.Epoch = old.Epoch
	c.cc.liveBrokers[id] = cur
	b := newRequestBatch()
	b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), nil)
	c.sendBatch(b)
	return nil
}
