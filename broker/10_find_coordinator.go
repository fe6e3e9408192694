package broker

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

// FindCoordinator v0–v3 (one key) and v4 (batched keys, KIP-699): the coordinator of a group is the leader of its
// __consumer_offsets partition (KafkaApis.getCoordinator). A missing internal topic is created and the client
// told COORDINATOR_NOT_AVAILABLE until it has leaders.
func init() { register(10, 0, 4, (*Server).handleFindCoordinator) }

const (
	coordinatorTypeGroup       = 0
	coordinatorTypeTransaction = 1
)

func (s *Server) handleFindCoordinator(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.FindCoordinatorRequest)
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	if req.CoordinatorType != coordinatorTypeGroup && req.CoordinatorType != coordinatorTypeTransaction {
		// CoordinatorType.forId throws InvalidRequestException, which fails the whole request.
		s.logger.Debugf("FindCoordinator from %s: unknown coordinator type %d", clientIDOf(nreq), req.CoordinatorType)
		if req.Version < 4 {
			setOldCoordinator(resp, kerr.InvalidRequest.Code, -1, hostPort{host: "", port: -1})
		} else {
			for _, key := range req.CoordinatorKeys {
				c := kmsg.NewFindCoordinatorResponseCoordinator()
				c.Key, c.ErrorCode, c.NodeID, c.Port = key, kerr.InvalidRequest.Code, -1, -1
				c.ErrorMessage = &kerr.InvalidRequest.Description
				resp.Coordinators = append(resp.Coordinators, c)
			}
		}
		respond(resp)
		return
	}
	if req.Version < 4 {
		code, id, addr := s.findCoordinator(req.CoordinatorType, req.CoordinatorKey, nreq.Listener)
		setOldCoordinator(resp, code, id, addr)
		respond(resp)
		return
	}
	for _, key := range req.CoordinatorKeys {
		code, id, addr := s.findCoordinator(req.CoordinatorType, key, nreq.Listener)
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		// The batched path sets no error message, unlike the single-key one.
		c.Key, c.ErrorCode, c.NodeID, c.Host, c.Port = key, code, id, addr.host, addr.port
		resp.Coordinators = append(resp.Coordinators, c)
	}
	respond(resp)
}

// setOldCoordinator fills a v0–v3 response as FindCoordinatorResponse.prepareOldResponse does: the message is
// Errors.message(), which is "NONE" on success; errors carry Node.noNode (-1, "", -1).
func setOldCoordinator(resp *kmsg.FindCoordinatorResponse, code int16, id int32, addr hostPort) {
	resp.ErrorCode = code
	msg := "NONE"
	if code != 0 {
		id, addr = -1, hostPort{host: "", port: -1}
		if e, ok := kerr.ErrorForCode(code).(*kerr.Error); ok {
			msg = e.Description
		}
	}
	resp.ErrorMessage = &msg
	resp.NodeID, resp.Host, resp.Port = id, addr.host, addr.port
}

// findCoordinator is KafkaApis.getCoordinator for one key: the leader of the key's partition of the internal
// topic, reachable on the request's listener.
func (s *Server) findCoordinator(keyType int8, key, listener string) (int16, int32, hostPort) {
	none := hostPort{host: "", port: -1}
	if keyType == coordinatorTypeTransaction {
		return kerr.CoordinatorNotAvailable.Code, -1, none // the transaction coordinator does not exist yet
	}
	partition := s.coord.PartitionFor(key)
	id, addr, known, ok := s.cache.partitionLeaderNode(coordinator.OffsetsTopic, partition, listener)
	if !known {
		s.createOffsetsTopic()
		return kerr.CoordinatorNotAvailable.Code, -1, none
	}
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, -1, none
	}
	return 0, id, addr
}

// offsetsTopicCreation keeps concurrent FindCoordinators from creating __consumer_offsets twice at once
// (AutoTopicCreationManager's inflightTopics) and rate-limits the warning about too few brokers.
type offsetsTopicCreation struct {
	mu       sync.Mutex
	inflight bool
	lastWarn time.Time
}

// rfWarnEvery bounds how often the "too few brokers for the offsets topic" error is logged: every consumer
// retries FindCoordinator about every 100 ms while the cluster starts.
const rfWarnEvery = 5 * time.Second

// createOffsetsTopic creates __consumer_offsets with offsets.topic.num.partitions, offsets.topic.replication.factor
// and the coordinator's topic configs (GroupCoordinator.groupMetadataTopicConfigs), written to ZooKeeper from this
// broker as ZK-mode auto-creation does. With fewer live brokers than the replication factor it creates nothing:
// the RF is not capped, so a cluster still starting does not end up with an under-replicated offsets topic. It
// returns the error code a Metadata response gives the topic.
func (s *Server) createOffsetsTopic() int16 {
	c := &s.offsetsCreation
	c.mu.Lock()
	if c.inflight {
		c.mu.Unlock()
		return kerr.UnknownTopicOrPartition.Code
	}
	rf := s.cfg.OffsetsTopicReplicationFactor
	if alive := s.cache.numAliveBrokers(); alive < int(rf) {
		if time.Since(c.lastWarn) >= rfWarnEvery {
			c.lastWarn = time.Now()
			s.logger.Errorf("Number of alive brokers '%d' does not meet the required replication factor '%d' for the offsets topic "+
				"(configured via 'offsets.topic.replication.factor'). This error can be ignored if the cluster is starting up "+
				"and not all brokers are up yet.", alive, rf)
		}
		c.mu.Unlock()
		return kerr.InvalidReplicationFactor.Code
	}
	c.inflight = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.inflight = false
		c.mu.Unlock()
	}()
	configs := offsetsTopicConfigs(s.cfg)
	err := s.createTopic(coordinator.OffsetsTopic, s.cfg.OffsetsTopicPartitions, rf, nil, configs)
	var ke *kerr.Error
	switch {
	case err == nil:
		s.logger.Infof("Created topic %s with %d partitions and replication factor %d", coordinator.OffsetsTopic, s.cfg.OffsetsTopicPartitions, rf)
		return kerr.LeaderNotAvailable.Code
	case errors.Is(err, zkutils.ErrTopicExists), errors.Is(err, kerr.TopicAlreadyExists):
		return kerr.LeaderNotAvailable.Code
	case errors.As(err, &ke):
		s.logger.Warnf("Creating topic %s failed: %v", coordinator.OffsetsTopic, err)
		return ke.Code
	default:
		s.logger.Warnf("Creating topic %s failed: %v", coordinator.OffsetsTopic, err)
		return kerr.UnknownTopicOrPartition.Code
	}
}

// offsetsTopicConfigs is GroupCoordinator.groupMetadataTopicConfigs.
func offsetsTopicConfigs(cfg *Config) map[string]string {
	return map[string]string{
		"cleanup.policy":   "compact",
		"compression.type": "producer",
		"segment.bytes":    strconv.FormatInt(cfg.OffsetsTopicSegmentBytes, 10),
	}
}
