package broker

import (
	"context"
	"errors"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(3, 0, 12, (*Server).handleMetadata) }

func (s *Server) handleMetadata(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = s.cache.aliveBrokers(nreq.Listener)
	resp.ClusterID = &s.clusterID
	resp.ControllerID = s.cache.getControllerID()
	if resp.ControllerID >= 0 && !s.cache.isBrokerAlive(resp.ControllerID) {
		resp.ControllerID = -1
	}
	resp.AuthorizedOperations = -2147483648

	// v0: an empty list means all topics; v1+: null means all topics, empty means none.
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	var names []string
	var ids [][16]byte
	if all {
		names = s.cache.allTopics()
		ids = make([][16]byte, len(names))
	} else {
		for _, t := range req.Topics {
			name := ""
			if t.Topic != nil {
				name = *t.Topic
			} else if t.TopicID != ([16]byte{}) {
				if n, ok := s.cache.topicName(t.TopicID); ok {
					name = n
				}
			}
			names = append(names, name)
			ids = append(ids, t.TopicID)
		}
	}
	allowAuto := req.Version < 4 || req.AllowAutoTopicCreation
	for i, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		if name == "" && ids[i] != ([16]byte{}) {
			mt.TopicID = ids[i]
			mt.ErrorCode = kerr.UnknownTopicID.Code
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		n := name
		mt.Topic = &n
		mt.IsInternal = isInternalTopic(name)
		ct, ok := s.cache.topic(name)
		if !ok {
			mt.ErrorCode = s.maybeAutoCreate(name, allowAuto && !all)
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		mt.TopicID = ct.id
		mt.AuthorizedOperations = -2147483648
		parts := make([]int32, 0, len(ct.partitions))
		for p := range ct.partitions {
			parts = append(parts, p)
		}
		sort.Slice(parts, func(a, b int) bool { return parts[a] < parts[b] })
		for _, p := range parts {
			pm := ct.partitions[p]
			mp := kmsg.NewMetadataResponseTopicPartition()
			mp.Partition = p
			mp.Leader = pm.leader
			mp.LeaderEpoch = pm.leaderEpoch
			mp.Replicas = pm.replicas
			mp.ISR = pm.isr
			mp.OfflineReplicas = pm.offline
			if pm.leader < 0 || !s.cache.isBrokerAlive(pm.leader) {
				mp.ErrorCode = kerr.LeaderNotAvailable.Code
				mp.Leader = -1
			}
			mt.Partitions = append(mt.Partitions, mp)
		}
		resp.Topics = append(resp.Topics, mt)
	}
	respond(resp)
}

// maybeAutoCreate creates a missing topic when the request and auto.create.topics.enable allow it, writing the
// same znodes as CreateTopics (from this broker, as Kafka's ZK mode does); the client retries on
// LEADER_NOT_AVAILABLE until the controller has elected leaders.
func (s *Server) maybeAutoCreate(name string, allowed bool) int16 {
	if err := validateTopicName(name); err != nil {
		return kerr.InvalidTopicException.Code
	}
	if !allowed || !s.cfg.AutoCreateTopicsEnable {
		return kerr.UnknownTopicOrPartition.Code
	}
	if marked, _ := s.zk.IsTopicMarkedForDeletion(name); marked {
		return kerr.UnknownTopicOrPartition.Code
	}
	if name == coordinator.OffsetsTopic {
		// AutoTopicCreationManager.creatableTopic: the internal topic gets its own partitions, RF and configs.
		return s.createOffsetsTopic()
	}
	if name == coordinator.TxnTopic {
		return s.createTxnTopic()
	}
	rf := s.cfg.DefaultReplicationFactor
	err := s.createTopic(name, s.cfg.NumPartitions, rf, nil, map[string]string{})
	switch {
	case err == nil, errors.Is(err, zkutils.ErrTopicExists):
		s.logger.Infof("Auto-created topic %s with %d partitions and replication factor %d", name, s.cfg.NumPartitions, rf)
		return kerr.LeaderNotAvailable.Code
	default:
		var ke *kerr.Error
		if errors.As(err, &ke) {
			return ke.Code
		}
		s.logger.Warnf("Auto-creation of topic %s failed: %v", name, err)
		return kerr.LeaderNotAvailable.Code
	}
}
