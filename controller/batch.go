package controller

import (
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

// Versions Kafka 3.7 sends at its default inter-broker protocol (3.7-IV4 ≥ 3.4-IV0).
const (
	leaderAndIsrVersion   int16 = 7
	updateMetadataVersion int16 = 8
	stopReplicaVersion    int16 = 4
)

type lisrEntry struct {
	state            zkutils.LeaderIsr
	replicas         []int32
	adding, removing []int32
	isNew            bool
}

type umEntry struct {
	state    zkutils.LeaderIsr
	replicas []int32
	deleting bool
}

type stopEntry struct {
	leaderEpoch int32
	delete      bool
}

// requestBatch is Kafka's ControllerBrokerRequestBatch: one state change collects its requests here, then they
// are built and queued in Kafka's order (LeaderAndIsr, UpdateMetadata, StopReplica).
type requestBatch struct {
	lisr         map[int32]map[tp]lisrEntry
	umBrokers    brokerSet
	umPartitions map[tp]umEntry
	stop         map[int32]map[tp]stopEntry
}

func newRequestBatch() *requestBatch {
	return &requestBatch{
		lisr:         map[int32]map[tp]lisrEntry{},
		umBrokers:    brokerSet{},
		umPartitions: map[tp]umEntry{},
		stop:         map[int32]map[tp]stopEntry{},
	}
}

func (b *requestBatch) empty() bool {
	return len(b.lisr) == 0 && len(b.umBrokers) == 0 && len(b.stop) == 0
}

// addLeaderAndIsr also schedules UpdateMetadata for the partition to every live or shutting-down broker, as Kafka
// does, so metadata caches never lag the leaders.
func (b *requestBatch) addLeaderAndIsr(cc *controllerContext, brokers []int32, p tp, state zkutils.LeaderIsr, isNew bool) {
	for _, id := range brokers {
		if id < 0 {
			continue
		}
		m := b.lisr[id]
		if m == nil {
			m = map[tp]lisrEntry{}
			b.lisr[id] = m
		}
		prev, had := m[p]
		m[p] = lisrEntry{
			state:    state,
			replicas: append([]int32(nil), cc.replicas(p)...),
			adding:   append([]int32(nil), cc.adding[p]...),
			removing: append([]int32(nil), cc.removing[p]...),
			isNew:    isNew || (had && prev.isNew),
		}
	}
	b.addUpdateMetadata(cc, cc.liveOrShuttingDownIDs(), []tp{p})
}

// addUpdateMetadata captures the partitions' current leadership; partitions of topics being deleted carry
// leader −2 so brokers drop them.
func (b *requestBatch) addUpdateMetadata(cc *controllerContext, brokers []int32, partitions []tp) {
	for _, id := range brokers {
		b.umBrokers[id] = true
	}
	for _, p := range partitions {
		li, ok := cc.leadership[p]
		if !ok {
			continue
		}
		b.umPartitions[p] = umEntry{state: li, replicas: append([]int32(nil), cc.replicas(p)...), deleting: cc.topicsToBeDeleted[p.Topic]}
	}
}

func (b *requestBatch) addStopReplica(cc *controllerContext, brokers []int32, p tp, deletePartition bool) {
	epoch := noEpoch
	if cc.topicsToBeDeleted[p.Topic] {
		epoch = epochDuringDelete
	} else if li, ok := cc.leadership[p]; ok {
		epoch = li.LeaderEpoch
	}
	for _, id := range brokers {
		if id < 0 {
			continue
		}
		m := b.stop[id]
		if m == nil {
			m = map[tp]stopEntry{}
			b.stop[id] = m
		}
		m[p] = stopEntry{leaderEpoch: epoch, delete: deletePartition}
	}
}

// outgoing is one request for one broker.
type outgoing struct {
	broker int32
	req    kmsg.Request
	// deletion is set for StopReplica requests carrying deletePartition=true: their responses drive deletion.
	deletion bool
	// queuedAt is set by the sender's queue, for the round-trip log.
	queuedAt time.Time
}

// requestEnv is what building requests needs to know beyond the batch.
type requestEnv struct {
	controllerID int32
	epoch        int32
	listener     string
	brokers      map[int32]zkutils.BrokerInfo // live or shutting down; also the recipients
	topicIDs     map[string][16]byte
}

// build turns the batch into requests, LeaderAndIsr first, then UpdateMetadata, then StopReplica, and only for
// live or shutting-down brokers. It is pure so the exact wire content can be tested.
func (b *requestBatch) build(env requestEnv) []outgoing {
	var out []outgoing
	for _, id := range sortedKeys(b.lisr) {
		bi, ok := env.brokers[id]
		if !ok {
			continue
		}
		out = append(out, outgoing{broker: id, req: buildLeaderAndIsr(env, bi, b.lisr[id])})
	}
	if len(b.umBrokers) > 0 {
		// Every recipient gets the same partitions and broker list: build them once and share the slices
		// (requests are only read once queued), so a 10,000-partition UpdateMetadata is not rebuilt per broker.
		var shared *kmsg.UpdateMetadataRequest
		for _, id := range sortedIDs(b.umBrokers) {
			bi, ok := env.brokers[id]
			if !ok {
				continue
			}
			if shared == nil {
				shared = buildUpdateMetadata(env, bi, b.umPartitions)
				out = append(out, outgoing{broker: id, req: shared})
				continue
			}
			req := kmsg.NewPtrUpdateMetadataRequest()
			req.Version, req.ControllerID, req.ControllerEpoch = shared.Version, shared.ControllerID, shared.ControllerEpoch
			req.BrokerEpoch = bi.Epoch
			req.TopicStates, req.LiveBrokers = shared.TopicStates, shared.LiveBrokers
			out = append(out, outgoing{broker: id, req: req})
		}
	}
	for _, id := range sortedKeys(b.stop) {
		bi, ok := env.brokers[id]
		if !ok {
			continue
		}
		req, deletion := buildStopReplica(env, bi, b.stop[id])
		out = append(out, outgoing{broker: id, req: req, deletion: deletion})
	}
	return out
}

func sortedKeys[V any](m map[int32]V) []int32 {
	out := make([]int32, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func sortedTPKeys[V any](m map[tp]V) []tp {
	out := make([]tp, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sortTPs(out)
	return out
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return append([]int32(nil), s...)
}

func buildLeaderAndIsr(env requestEnv, recipient zkutils.BrokerInfo, parts map[tp]lisrEntry) *kmsg.LeaderAndISRRequest {
	req := kmsg.NewPtrLeaderAndISRRequest()
	req.Version = leaderAndIsrVersion
	req.ControllerID = env.controllerID
	req.ControllerEpoch = env.epoch
	req.BrokerEpoch = recipient.Epoch
	leaders := brokerSet{}
	byTopic := map[string]int{}
	for _, p := range sortedTPKeys(parts) {
		e := parts[p]
		ps := kmsg.NewLeaderAndISRRequestTopicPartition()
		ps.Partition = p.Partition
		ps.ControllerEpoch = e.state.ControllerEpoch
		ps.Leader = e.state.Leader
		ps.LeaderEpoch = e.state.LeaderEpoch
		ps.ISR = nonNil(e.state.ISR)
		ps.ZKVersion = e.state.ZkVersion
		ps.Replicas = nonNil(e.replicas)
		ps.AddingReplicas = nonNil(e.adding)
		ps.RemovingReplicas = nonNil(e.removing)
		ps.IsNew = e.isNew
		ps.LeaderRecoveryState = e.state.LeaderRecoveryState
		i := topicSlot(byTopic, &req.TopicStates, p.Topic, func() kmsg.LeaderAndISRRequestTopicState {
			ts := kmsg.NewLeaderAndISRRequestTopicState()
			ts.Topic, ts.TopicID = p.Topic, env.topicIDs[p.Topic]
			return ts
		})
		req.TopicStates[i].PartitionStates = append(req.TopicStates[i].PartitionStates, ps)
		leaders[e.state.Leader] = true
	}
	// liveLeaders carries the endpoints of the partitions' leaders so followers can start fetching.
	for _, id := range sortedIDs(leaders) {
		bi, ok := env.brokers[id]
		if !ok {
			continue
		}
		ep, ok := endpointFor(bi, env.listener)
		if !ok {
			continue
		}
		l := kmsg.NewLeaderAndISRRequestLiveLeader()
		l.BrokerID = id
		l.Host = ep.Host
		l.Port = ep.Port
		req.LiveLeaders = append(req.LiveLeaders, l)
	}
	return req
}

func buildUpdateMetadata(env requestEnv, recipient zkutils.BrokerInfo, parts map[tp]umEntry) *kmsg.UpdateMetadataRequest {
	req := kmsg.NewPtrUpdateMetadataRequest()
	req.Version = updateMetadataVersion
	req.ControllerID = env.controllerID
	req.ControllerEpoch = env.epoch
	req.BrokerEpoch = recipient.Epoch
	byTopic := map[string]int{}
	for _, p := range sortedTPKeys(parts) {
		e := parts[p]
		ps := kmsg.NewUpdateMetadataRequestTopicPartition()
		ps.Partition = p.Partition
		ps.ControllerEpoch = e.state.ControllerEpoch
		ps.Leader = e.state.Leader
		if e.deleting {
			ps.Leader = leaderDuringDelete
		}
		ps.LeaderEpoch = e.state.LeaderEpoch
		ps.ISR = nonNil(e.state.ISR)
		ps.ZKVersion = e.state.ZkVersion
		ps.Replicas = nonNil(e.replicas)
		ps.OfflineReplicas = filter(e.replicas, func(r int32) bool { _, ok := env.brokers[r]; return !ok })
		i := topicSlot(byTopic, &req.TopicStates, p.Topic, func() kmsg.UpdateMetadataRequestTopicState {
			ts := kmsg.NewUpdateMetadataRequestTopicState()
			ts.Topic, ts.TopicID = p.Topic, env.topicIDs[p.Topic]
			return ts
		})
		req.TopicStates[i].PartitionStates = append(req.TopicStates[i].PartitionStates, ps)
	}
	for _, id := range sortedKeys(env.brokers) {
		bi := env.brokers[id]
		lb := kmsg.NewUpdateMetadataRequestLiveBroker()
		lb.ID = id
		lb.Rack = bi.Rack
		for _, ep := range bi.Endpoints {
			e := kmsg.NewUpdateMetadataRequestLiveBrokerEndpoint()
			e.Host = ep.Host
			e.Port = ep.Port
			e.ListenerName = ep.Listener
			e.SecurityProtocol = securityProtocolID(ep.SecurityProtocol)
			lb.Endpoints = append(lb.Endpoints, e)
		}
		req.LiveBrokers = append(req.LiveBrokers, lb)
	}
	return req
}

func buildStopReplica(env requestEnv, recipient zkutils.BrokerInfo, parts map[tp]stopEntry) (*kmsg.StopReplicaRequest, bool) {
	req := kmsg.NewPtrStopReplicaRequest()
	req.Version = stopReplicaVersion
	req.ControllerID = env.controllerID
	req.ControllerEpoch = env.epoch
	req.BrokerEpoch = recipient.Epoch
	deletion := false
	byTopic := map[string]int{}
	for _, p := range sortedTPKeys(parts) {
		e := parts[p]
		ps := kmsg.NewStopReplicaRequestTopicPartitionState()
		ps.Partition = p.Partition
		ps.LeaderEpoch = e.leaderEpoch
		ps.Delete = e.delete
		deletion = deletion || e.delete
		i := topicSlot(byTopic, &req.Topics, p.Topic, func() kmsg.StopReplicaRequestTopic {
			t := kmsg.NewStopReplicaRequestTopic()
			t.Topic = p.Topic
			return t
		})
		req.Topics[i].PartitionStates = append(req.Topics[i].PartitionStates, ps)
	}
	return req, deletion
}

// topicSlot returns the index of topic's entry in *list (requests group partitions by topic), appending
// newEntry() the first time the topic is seen.
func topicSlot[T any](byTopic map[string]int, list *[]T, topic string, newEntry func() T) int {
	if i, ok := byTopic[topic]; ok {
		return i
	}
	*list = append(*list, newEntry())
	byTopic[topic] = len(*list) - 1
	return len(*list) - 1
}

func endpointFor(b zkutils.BrokerInfo, listener string) (zkutils.Endpoint, bool) {
	for _, ep := range b.Endpoints {
		if ep.Listener == listener {
			return ep, true
		}
	}
	return zkutils.Endpoint{}, false
}

// securityProtocolID is Kafka's SecurityProtocol id as carried by UpdateMetadata.
func securityProtocolID(name string) int16 {
	switch name {
	case "SSL":
		return 1
	case "SASL_PLAINTEXT":
		return 2
	case "SASL_SSL":
		return 3
	}
	return 0
}
