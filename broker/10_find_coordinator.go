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
// __consumer_offsets partition, that of a transactional id the leader of its __transaction_state partition
// (KafkaApis.getCoordinator). A missing internal topic is created and the client
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
// topic (__consumer_offsets for groups, __transaction_state for transactional ids), reachable on the request's
// listener.
func (s *Server) findCoordinator(keyType int8, key, listener string) (int16, int32, hostPort) {
	none := hostPort{host: "", port: -1}
	topic, partition, create := coordinator.OffsetsTopic, s.coord.PartitionFor(key), s.createOffsetsTopic
	if keyType == coordinatorTypeTransaction {
		topic, partition, create = coordinator.TxnTopic, s.txnCoord.PartitionFor(key), s.createTxnTopic
	}
	id, addr, known, ok := s.cache.partitionLeaderNode(topic, partition, listener)
	if !known {
		create()
		return kerr.CoordinatorNotAvailable.Code, -1, none
	}
	if !ok {
		return kerr.CoordinatorNotAvailable.Code, -1, none
	}
	return 0, id, addr
}

// offsetsTopicCreation keeps concurrent FindCoordinators from creating an internal topic twice at once
// (AutoTopicCreationManager's inflightTopics) and rate-limits the warning about too few brokers; the server has
// one for each internal topic.
type offsetsTopicCreation struct {
	mu       sync.Mutex
	inflight bool
	lastWarn time.Time
}

// rfWarnEvery bounds how often the "too few brokers for the offsets topic" error is logged: every consumer
// retries FindCoordinator about every 100 ms while the cluster starts.
const rfWarnEvery = 5 * time.Second

// createOffsetsTopic creates __consumer_offsets with offsets.topic.num.partitions, offsets.topic.replication.factor
// and the coordinator's topic configs (GroupCoordinator.groupMetadataTopicConfigs). It returns the error code a
// Metadata response gives the topic.
func (s *Server) createOffsetsTopic() int16 {
	return s.createInternalTopic(&s.offsetsCreation, coordinator.OffsetsTopic, s.cfg.OffsetsTopicPartitions,
		s.cfg.OffsetsTopicReplicationFactor, offsetsTopicConfigs(s.cfg), "the offsets topic", "offsets.topic.replication.factor")
}

// createTxnTopic creates __transaction_state with transaction.state.log.num.partitions,
// transaction.state.log.replication.factor and TransactionStateManager.transactionTopicConfigs.
func (s *Server) createTxnTopic() int16 {
	return s.createInternalTopic(&s.txnCreation, coordinator.TxnTopic, s.cfg.TxnLogPartitions,
		s.cfg.TxnLogReplicationFactor, txnTopicConfigs(s.cfg), "the transactions state topic", "transaction.state.log.replication.factor")
}

// createInternalTopic writes an internal topic to ZooKeeper from this broker, as ZK-mode auto-creation does. With
// fewer live brokers than the replication factor it creates nothing: the RF is not capped, so a cluster still
// starting does not end up with an under-replicated internal topic.
func (s *Server) createInternalTopic(c *offsetsTopicCreation, topic string, partitions int32, rf int16,
	configs map[string]string, what, rfKey string) int16 {
	c.mu.Lock()
	if c.inflight {
		c.mu.Unlock()
		return kerr.UnknownTopicOrPartition.Code
	}
	if alive := s.cache.numAliveBrokers(); alive < int(rf) {
		if time.Since(c.lastWarn) >= rfWarnEvery {
			c.lastWarn = time.Now()
			s.logger.Errorf("Number of alive brokers '%d' does not meet the required replication factor '%d' for %s "+
				"(configured via '%s'). This error can be ignored if the cluster is starting up "+
				"and not all brokers are up yet.", alive, rf, what, rfKey)
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
	err := s.createTopic(topic, partitions, rf, nil, configs)
	var ke *kerr.Error
	switch {
	case err == nil:
		s.logger.Infof("Created topic %s with %d partitions and replication factor %d", topic, partitions, rf)
		return kerr.LeaderNotAvailable.Code
	case errors.Is(err, zkutils.ErrTopicExists), errors.Is(err, kerr.TopicAlreadyExists):
		return kerr.LeaderNotAvailable.Code
	case errors.As(err, &ke):
		s.logger.Warnf("Creating topic %s failed: %v", topic, err)
		return ke.Code
	default:
		s.logger.Warnf("Creating topic %s failed: %v", topic, err)
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

// txnTopicConfigs is TransactionStateManager.transactionTopicConfigs.
func txnTopicConfigs(cfg *Config) map[string]string {
	return map[string]string{
		"unclean.leader.election.enable": "false",
		"compression.type":               "uncompressed",
		"cleanup.policy":                 "compact",
		"min.insync.replicas":            strconv.Itoa(cfg.TxnLogMinISR),
		"segment.bytes":                  strconv.FormatInt(cfg.TxnLogSegmentBytes, 10),
	}
}
