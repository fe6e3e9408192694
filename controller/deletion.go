package controller

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Topic deletion is Kafka's TopicDeletionManager, run on the event goroutine: a queued topic's partitions go
// offline, brokers are told to drop it (UpdateMetadata leader −2, StopReplica delete), and once every replica
// confirmed, the topic's znodes and its marker are removed, fenced.

// initTopicDeletion loads the markers found at failover.
func (c *Controller) initTopicDeletion(markers []string) error {
	known, unknown := c.splitKnownTopics(markers)
	if len(unknown) > 0 {
		c.warnf("Ignoring and removing deletion markers of non-existent topics %v", unknown)
		if err := c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, unknown); err != nil {
			return err
		}
	}
	if !c.cfg.DeleteTopicEnable {
		if len(known) > 0 {
			c.infof("Removing %v since delete topic is disabled", known)
			return c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, known)
		}
		return nil
	}
	for _, t := range known {
		c.cc.topicsToBeDeleted[t] = true
		for _, r := range c.cc.replicasForTopic(t) {
			if !c.cc.isReplicaOnline(r.Replica) {
				c.cc.topicsIneligibleForDeletion[t] = true
				break
			}
		}
	}
	if len(known) > 0 {
		c.infof("List of topics to be deleted: %v; ineligible for deletion: %v", known, sortedTopics(c.cc.topicsIneligibleForDeletion))
	}
	return nil
}

func (c *Controller) splitKnownTopics(topics []string) (known, unknown []string) {
	for _, t := range topics {
		if c.cc.allTopics[t] {
			known = append(known, t)
		} else {
			unknown = append(unknown, t)
		}
	}
	return known, unknown
}

// processTopicDeletion handles /admin/delete_topics children.
func (c *Controller) processTopicDeletion() error {
	markers, w, err := c.zk.WatchTopicDeletions()
	if err != nil {
		return err
	}
	c.armWatch(w, c.term.stop, topicDeletionEvent{term: c.term.id})
	known, unknown := c.splitKnownTopics(markers)
	if len(unknown) > 0 {
		c.warnf("Ignoring request to delete non-existing topics %v", unknown)
		if err := c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, unknown); err != nil {
			return err
		}
	}
	if len(known) == 0 {
		return nil
	}
	if !c.cfg.DeleteTopicEnable {
		c.infof("Removing %v since delete topic is disabled", known)
		return c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, known)
	}
	var added []string
	for _, t := range known {
		if !c.cc.topicsToBeDeleted[t] {
			c.cc.topicsToBeDeleted[t] = true
			added = append(added, t)
		}
	}
	if len(added) > 0 {
		c.infof("Starting topic deletion for topics %v", added)
	}
	return c.resumeDeletions()
}

func (c *Controller) replicasInState(topic string, s replicaState) (all, any bool) {
	rs := c.cc.replicasForTopic(topic)
	all = len(rs) > 0
	for _, r := range rs {
		if c.cc.replicaState(r) == s {
			any = true
		} else {
			all = false
		}
	}
	return all, any
}

// resumeDeletions is Kafka's resumeDeletions: finish topics whose replicas are all deleted, retry ineligible
// replicas, start deletion of eligible topics.
func (c *Controller) resumeDeletions() error {
	if !c.cfg.DeleteTopicEnable {
		return nil
	}
	var retry, eligible []string
	for _, t := range sortedTopics(c.cc.topicsToBeDeleted) {
		allDone, _ := c.replicasInState(t, replicaDeletionSuccessful)
		if allDone {
			if err := c.completeDeleteTopic(t); err != nil {
				return err
			}
			continue
		}
		_, started := c.replicasInState(t, replicaDeletionStarted)
		if !started {
			if _, inel := c.replicasInState(t, replicaDeletionIneligible); inel {
				retry = append(retry, t)
			}
		}
		if !started && !c.cc.topicsIneligibleForDeletion[t] {
			eligible = append(eligible, t)
		}
	}
	if len(retry) > 0 {
		var failed []partitionReplica
		for _, t := range retry {
			delete(c.cc.topicsIneligibleForDeletion, t)
			for _, r := range c.cc.replicasForTopic(t) {
				if c.cc.replicaState(r) == replicaDeletionIneligible {
					failed = append(failed, r)
				}
			}
		}
		c.infof("Retrying deletion of topics %v", retry)
		if err := c.handleReplicaStateChanges(failed, offlineReplica); err != nil {
			return err
		}
	}
	if len(eligible) > 0 {
		return c.onTopicDeletion(eligible)
	}
	return nil
}

func (c *Controller) onTopicDeletion(topics []string) error {
	c.infof("Topic deletion callback for %v", topics)
	var unseen, all []tp
	for _, t := range topics {
		ps := c.cc.partitionsForTopic(t)
		all = append(all, ps...)
		if !c.cc.topicsWithDeletionStarted[t] {
			unseen = append(unseen, ps...)
			c.cc.topicsWithDeletionStarted[t] = true
		}
	}
	if err := c.handlePartitionStateChanges(unseen, offlinePartition, electionStrategy{}); err != nil {
		return err
	}
	if err := c.handlePartitionStateChanges(unseen, nonExistentPartition, electionStrategy{}); err != nil {
		return err
	}
	// Leader −2 tells every broker to drop the topic from its metadata before the replicas go.
	b := newRequestBatch()
	b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), all)
	c.sendBatch(b)
	return c.onPartitionDeletion(topics)
}

func (c *Controller) onPartitionDeletion(topics []string) error {
	for _, t := range topics {
		var dead, retry []partitionReplica
		for _, r := range c.cc.replicasForTopic(t) {
			switch {
			case !c.cc.isReplicaOnline(r.Replica):
				dead = append(dead, r)
			case c.cc.replicaState(r) != replicaDeletionSuccessful:
				retry = append(retry, r)
			}
		}
		if err := c.handleReplicaStateChanges(dead, replicaDeletionIneligible); err != nil {
			return err
		}
		if err := c.handleReplicaStateChanges(retry, offlineReplica); err != nil {
			return err
		}
		if err := c.handleReplicaStateChanges(retry, replicaDeletionStarted); err != nil {
			return err
		}
		if len(dead) > 0 {
			c.infof("Halted deletion of topic %s since replicas %v are dead", t, replicaIDs(dead))
			c.cc.topicsIneligibleForDeletion[t] = true
		}
	}
	return nil
}

func replicaIDs(rs []partitionReplica) []int32 {
	s := brokerSet{}
	for _, r := range rs {
		s[r.Replica] = true
	}
	return sortedIDs(s)
}

func (c *Controller) completeReplicaDeletion(rs []partitionReplica) error {
	if err := c.handleReplicaStateChanges(rs, replicaDeletionSuccessful); err != nil {
		return err
	}
	return c.resumeDeletions()
}

func (c *Controller) failReplicaDeletion(rs []partitionReplica) error {
	var queued []partitionReplica
	topics := map[string]bool{}
	for _, r := range rs {
		if c.cc.topicsToBeDeleted[r.TP.Topic] {
			queued = append(queued, r)
			topics[r.TP.Topic] = true
		}
	}
	if len(queued) == 0 {
		return nil
	}
	c.infof("Deletion of topics %v halted: replica deletion failed or a replica went offline", sortedTopics(topics))
	if err := c.handleReplicaStateChanges(queued, replicaDeletionIneligible); err != nil {
		return err
	}
	for t := range topics {
		c.cc.topicsIneligibleForDeletion[t] = true
	}
	return c.resumeDeletions()
}

// completeDeleteTopic removes the topic from ZooKeeper (fenced) and from the cache.
func (c *Controller) completeDeleteTopic(topic string) error {
	if err := c.handleReplicaStateChanges(c.cc.replicasForTopic(topic), nonExistentReplica); err != nil {
		return err
	}
	if err := c.zk.DeleteTopicZNodes(c.cc.epochZkVersion, topic); err != nil {
		return err
	}
	if err := c.zk.DeleteTopicDeletionMarkers(c.cc.epochZkVersion, []string{topic}); err != nil {
		return err
	}
	c.cc.removeTopic(topic)
	delete(c.term.topicWatches, topic)
	c.infof("Deletion of topic %s successfully completed", topic)
	return nil
}

// processBrokerResponse hands StopReplica(delete) results to deletion; other responses are only logged.
func (c *Controller) processBrokerResponse(ev brokerResponseEvent) error {
	switch resp := ev.resp.(type) {
	case *kmsg.StopReplicaResponse:
		req, ok := ev.req.(*kmsg.StopReplicaRequest)
		if !ok || !ev.deletion {
			return nil
		}
		failedPart := map[tp]bool{}
		for _, p := range resp.Partitions {
			if p.ErrorCode != 0 {
				failedPart[tp{Topic: p.Topic, Partition: p.Partition}] = true
			}
		}
		var ok1, failed []partitionReplica
		for _, t := range req.Topics {
			if !c.cc.topicsToBeDeleted[t.Topic] {
				continue
			}
			for _, ps := range t.PartitionStates {
				if !ps.Delete {
					continue
				}
				r := partitionReplica{TP: tp{Topic: t.Topic, Partition: ps.Partition}, Replica: ev.broker}
				if resp.ErrorCode != 0 || failedPart[r.TP] {
					failed = append(failed, r)
				} else {
					ok1 = append(ok1, r)
				}
			}
		}
		c.debugf("Delete topic callback invoked on StopReplica response received from broker %d: %d deleted, %d failed",
			ev.broker, len(ok1), len(failed))
		if len(failed) > 0 {
			if err := c.failReplicaDeletion(failed); err != nil {
				return err
			}
		}
		if len(ok1) > 0 {
			return c.completeReplicaDeletion(ok1)
		}
	case *kmsg.LeaderAndISRResponse:
		if resp.ErrorCode != 0 {
			c.warnf("Broker %d answered LeaderAndIsr with error code %d", ev.broker, resp.ErrorCode)
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if p.ErrorCode != 0 {
					c.debugf("Broker %d answered LeaderAndIsr for partition %d of topic id %x with error code %d",
						ev.broker, p.Partition, t.TopicID, p.ErrorCode)
				}
			}
		}
	case *kmsg.UpdateMetadataResponse:
		if resp.ErrorCode != 0 {
			c.warnf("Broker %d answered UpdateMetadata with error code %d", ev.broker, resp.ErrorCode)
		}
	}
	return nil
}
