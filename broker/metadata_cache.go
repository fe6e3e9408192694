package broker

import (
	"sort"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataCache is what this broker knows of the cluster, fed only by the controller's UpdateMetadata (as in
// Kafka's ZK mode). Readers take a snapshot under the read lock; waiters (CreateTopics, DeleteTopics) block on
// changed(), which is closed and replaced on every update.
type metadataCache struct {
	mu           sync.RWMutex
	controllerID int32
	brokers      map[int32]*cachedBroker
	topics       map[string]*cachedTopic
	topicNames   map[[16]byte]string
	changedCh    chan struct{}
}

type cachedBroker struct {
	id        int32
	rack      *string
	endpoints map[string]hostPort // listener name → address
}

type hostPort struct {
	host string
	port int32
}

type cachedTopic struct {
	name       string
	id         [16]byte
	partitions map[int32]*partitionMeta
}

type partitionMeta struct {
	leader          int32
	leaderEpoch     int32
	isr             []int32
	replicas        []int32
	offline         []int32
	zkVersion       int32
	controllerEpoch int32
}

func newMetadataCache() *metadataCache {
	return &metadataCache{
		controllerID: -1,
		brokers:      map[int32]*cachedBroker{},
		topics:       map[string]*cachedTopic{},
		topicNames:   map[[16]byte]string{},
		changedCh:    make(chan struct{}),
	}
}

// changed returns a channel closed at the next update.
func (c *metadataCache) changed() <-chan struct{} {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.changedCh
}

// update applies an UpdateMetadata request. Partitions with leader -2 are being deleted and leave the cache.
func (c *metadataCache) update(req *kmsg.UpdateMetadataRequest) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.controllerID = req.ControllerID
	brokers := make(map[int32]*cachedBroker, len(req.LiveBrokers))
	for _, b := range req.LiveBrokers {
		cb := &cachedBroker{id: b.ID, rack: b.Rack, endpoints: map[string]hostPort{}}
		if req.Version == 0 {
			cb.endpoints["PLAINTEXT"] = hostPort{b.Host, b.Port}
		}
		for _, e := range b.Endpoints {
			name := e.ListenerName
			if req.Version < 3 {
				name = securityProtocolName(e.SecurityProtocol)
			}
			cb.endpoints[name] = hostPort{e.Host, e.Port}
		}
		brokers[b.ID] = cb
	}
	c.brokers = brokers

	topicIDs := map[string][16]byte{}
	var states []kmsg.UpdateMetadataRequestTopicPartition
	if req.Version >= 5 {
		for _, t := range req.TopicStates {
			topicIDs[t.Topic] = t.TopicID
			for _, p := range t.PartitionStates {
				p.Topic = t.Topic
				states = append(states, p)
			}
		}
	} else {
		states = req.PartitionStates
	}
	for _, p := range states {
		t := c.topics[p.Topic]
		if p.Leader == -2 {
			if t != nil {
				delete(t.partitions, p.Partition)
				if len(t.partitions) == 0 {
					delete(c.topics, p.Topic)
					delete(c.topicNames, t.id)
				}
			}
			continue
		}
		if t == nil {
			t = &cachedTopic{name: p.Topic, partitions: map[int32]*partitionMeta{}}
			c.topics[p.Topic] = t
		}
		if id, ok := topicIDs[p.Topic]; ok && id != ([16]byte{}) {
			t.id = id
			c.topicNames[id] = p.Topic
		}
		t.partitions[p.Partition] = &partitionMeta{
			leader:          p.Leader,
			leaderEpoch:     p.LeaderEpoch,
			isr:             append([]int32(nil), p.ISR...),
			replicas:        append([]int32(nil), p.Replicas...),
			offline:         append([]int32(nil), p.OfflineReplicas...),
			zkVersion:       p.ZKVersion,
			controllerEpoch: p.ControllerEpoch,
		}
	}
	close(c.changedCh)
	c.changedCh = make(chan struct{})
}

func securityProtocolName(p int16) string {
	switch p {
	case 1:
		return "SSL"
	case 2:
		return "SASL_PLAINTEXT"
	case 3:
		return "SASL_SSL"
	}
	return "PLAINTEXT"
}

func (c *metadataCache) getControllerID() int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.controllerID
}

// aliveBrokers returns the live brokers reachable on the given listener, sorted by id.
func (c *metadataCache) aliveBrokers(listener string) []kmsg.MetadataResponseBroker {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]kmsg.MetadataResponseBroker, 0, len(c.brokers))
	for _, b := range c.brokers {
		ep, ok := b.endpoints[listener]
		if !ok {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port, mb.Rack = b.id, ep.host, ep.port, b.rack
		out = append(out, mb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].NodeID < out[j].NodeID })
	return out
}

func (c *metadataCache) isBrokerAlive(id int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.brokers[id]
	return ok
}

func (c *metadataCache) numAliveBrokers() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.brokers)
}

// topic returns a copy of a topic's metadata.
func (c *metadataCache) topic(name string) (cachedTopic, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	if !ok {
		return cachedTopic{}, false
	}
	cp := cachedTopic{name: t.name, id: t.id, partitions: make(map[int32]*partitionMeta, len(t.partitions))}
	for p, m := range t.partitions {
		mm := *m
		cp.partitions[p] = &mm
	}
	return cp, true
}

func (c *metadataCache) topicName(id [16]byte) (string, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	n, ok := c.topicNames[id]
	return n, ok
}

func (c *metadataCache) topicID(name string) [16]byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if t, ok := c.topics[name]; ok {
		return t.id
	}
	return [16]byte{}
}

func (c *metadataCache) contains(name string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	_, ok := c.topics[name]
	return ok
}

func (c *metadataCache) allTopics() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.topics))
	for n := range c.topics {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// allPartitionsHaveLeaders reports whether the topic is cached with n partitions, each with a live leader.
func (c *metadataCache) allPartitionsHaveLeaders(name string, n int) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[name]
	if !ok || len(t.partitions) < n {
		return false
	}
	for _, p := range t.partitions {
		if _, alive := c.brokers[p.leader]; !alive {
			return false
		}
	}
	return true
}

// partitionLeaderNode is the live leader of a partition and its address on a listener (MetadataCache's
// getPartitionInfo then getAliveBrokerNode). topicKnown is false when the topic is not cached; ok is false
// when the partition has no leader that is alive and reachable on the listener.
func (c *metadataCache) partitionLeaderNode(topic string, partition int32, listener string) (id int32, addr hostPort, topicKnown, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, topicKnown := c.topics[topic]
	if !topicKnown {
		return -1, hostPort{}, false, false
	}
	pm, found := t.partitions[partition]
	if !found || pm.leader < 0 {
		return -1, hostPort{}, true, false
	}
	b, alive := c.brokers[pm.leader]
	if !alive {
		return -1, hostPort{}, true, false
	}
	ep, reachable := b.endpoints[listener]
	if !reachable {
		return -1, hostPort{}, true, false
	}
	return pm.leader, ep, true, true
}
