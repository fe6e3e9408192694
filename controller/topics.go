package controller

import (
	"crypto/rand"
	"sort"

	"github.com/zkafka/zkafka/zkutils"
)

// batchedAssignmentWatcher is the zkutils method failover would prefer (one pipelined round trip that also arms
// the data watches); without it the watches are armed one topic at a time.
type batchedAssignmentWatcher interface {
	WatchTopicAssignments(topics []string) (map[string]zkutils.TopicAssignment, map[string]zkutils.Watch, error)
}

func sortedTopics(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for t, ok := range m {
		if ok {
			out = append(out, t)
		}
	}
	sort.Strings(out)
	return out
}

// watchTopicAssignments reads the topics' assignments and arms one data watch per topic (Kafka's
// PartitionModificationsHandler). A topic whose watch is already armed in this term is only read.
func (c *Controller) watchTopicAssignments(topics []string) (map[string]zkutils.TopicAssignment, error) {
	t := c.term
	var toWatch, toRead []string
	for _, topic := range topics {
		if t.topicWatches[topic] {
			toRead = append(toRead, topic)
		} else {
			toWatch = append(toWatch, topic)
		}
	}
	out := map[string]zkutils.TopicAssignment{}
	if len(toRead) > 0 {
		m, err := c.zk.GetTopicAssignments(toRead)
		if err != nil {
			return nil, err
		}
		for k, v := range m {
			out[k] = v
		}
	}
	if bw, ok := any(c.zk).(batchedAssignmentWatcher); ok && len(toWatch) > 0 {
		m, ws, err := bw.WatchTopicAssignments(toWatch)
		if err != nil {
			return nil, err
		}
		for topic, a := range m {
			out[topic] = a
		}
		for topic, w := range ws {
			t.topicWatches[topic] = true
			c.armWatch(w, t.stop, partitionModificationsEvent{term: t.id, topic: topic})
		}
		return out, nil
	}
	for _, topic := range toWatch {
		a, exists, w, err := c.zk.WatchTopicAssignment(topic)
		if err != nil {
			return nil, err
		}
		t.topicWatches[topic] = true
		c.armWatch(w, t.stop, partitionModificationsEvent{term: t.id, topic: topic})
		if exists {
			out[topic] = a
		}
	}
	return out, nil
}

// loadAssignments caches assignments and gives topics without an id a random one, written back fenced (as Kafka
// does from IBP 2.8 on, so LeaderAndIsr v5+ always carries an id).
func (c *Controller) loadAssignments(assignments map[string]zkutils.TopicAssignment) error {
	for _, topic := range sortedKeysStr(assignments) {
		a := assignments[topic]
		if a.TopicID == ([16]byte{}) {
			a.TopicID = newTopicID()
			v, err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, a)
			if err != nil {
				return err
			}
			a.ZkVersion = v
			c.infof("Assigned topic id %x to topic %s", a.TopicID, topic)
		}
		c.cc.topicIDs[topic] = a.TopicID
		c.cc.topicZkVer[topic] = a.ZkVersion
		c.cc.setAssignment(topic, a.Partitions)
		for part, rs := range a.Partitions {
			p := tp{Topic: topic, Partition: part}
			full := replicaAssignment{Replicas: rs, Adding: a.Adding[part], Removing: a.Removing[part]}
			c.cc.setFullAssignment(p, full)
			if full.isBeingReassigned() {
				c.cc.partitionsBeingReassigned[p] = true
			}
		}
	}
	return nil
}

func sortedKeysStr[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func newTopicID() [16]byte {
	var id [16]byte
	for id == ([16]byte{}) {
		rand.Read(id[:])
	}
	return id
}

// processTopicChange handles /brokers/topics children: new topics are created, vanished ones forgotten.
func (c *Controller) processTopicChange() error {
	topics, w, err := c.zk.WatchTopics()
	if err != nil {
		return err
	}
	c.armWatch(w, c.term.stop, topicChangeEvent{term: c.term.id})
	current := map[string]bool{}
	var newTopics []string
	for _, t := range topics {
		current[t] = true
		if !c.cc.allTopics[t] {
			newTopics = append(newTopics, t)
		}
	}
	var deleted []string
	for _, t := range sortedTopics(c.cc.allTopics) {
		if !current[t] {
			deleted = append(deleted, t)
			c.cc.removeTopic(t)
			delete(c.term.topicWatches, t)
		}
	}
	for _, t := range newTopics {
		c.cc.allTopics[t] = true
	}
	if len(newTopics) == 0 {
		if len(deleted) > 0 {
			c.infof("New topics: [[]], deleted topics: [%v]", deleted)
		}
		return nil
	}
	sort.Strings(newTopics)
	c.infof("New topics: [%v], deleted topics: [%v]", newTopics, deleted)
	assignments, err := c.watchTopicAssignments(newTopics)
	if err != nil {
		return err
	}
	if err := c.loadAssignments(assignments); err != nil {
		return err
	}
	var added []tp
	for topic := range assignments {
		added = append(added, c.cc.partitionsForTopic(topic)...)
	}
	sortTPs(added)
	return c.onNewPartitionCreation(added)
}

// processPartitionModifications handles a topic znode's data change: partitions added by CreatePartitions.
func (c *Controller) processPartitionModifications(topic string) error {
	delete(c.term.topicWatches, topic)
	if !c.cc.allTopics[topic] {
		return nil // deleted; its watch fired on the znode's removal
	}
	assignments, err := c.watchTopicAssignments([]string{topic})
	if err != nil {
		return err
	}
	a, ok := assignments[topic]
	if !ok {
		return nil
	}
	added := map[int32][]int32{}
	for p, rs := range a.Partitions {
		if _, ok := c.cc.assignments[topic][p]; !ok {
			added[p] = rs
		}
	}
	c.cc.topicZkVer[topic] = a.ZkVersion
	if c.cc.topicsToBeDeleted[topic] {
		if len(added) > 0 {
			c.warnf("Skipping adding partitions %v for topic %s since it is currently being deleted", sortedKeys(added), topic)
			restore := a
			restore.Partitions = c.cc.assignments[topic]
			v, err := c.zk.SetTopicAssignment(c.cc.epochZkVersion, restore)
			if err != nil {
				return err
			}
			c.cc.topicZkVer[topic] = v
		}
		return nil
	}
	if len(added) == 0 {
		return nil
	}
	c.infof("New partitions to be added %v", added)
	c.cc.setAssignment(topic, added)
	var ps []tp
	for p := range added {
		ps = append(ps, tp{Topic: topic, Partition: p})
	}
	sortTPs(ps)
	return c.onNewPartitionCreation(ps)
}

// onNewPartitionCreation is Kafka's sequence: New, NewReplica, Online (initialization), OnlineReplica.
func (c *Controller) onNewPartitionCreation(ps []tp) error {
	if len(ps) == 0 {
		return nil
	}
	c.infof("New partition creation callback for %v", tpsString(ps))
	if err := c.handlePartitionStateChanges(ps, newPartition, electionStrategy{}); err != nil {
		return err
	}
	replicas := c.cc.replicasForPartitions(ps)
	if err := c.handleReplicaStateChanges(replicas, newReplica); err != nil {
		return err
	}
	if err := c.handlePartitionStateChanges(ps, onlinePartition, electionStrategy{kind: offlineElection}); err != nil {
		return err
	}
	return c.handleReplicaStateChanges(replicas, onlineReplica)
}
