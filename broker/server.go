package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcrowley/go-metrics"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

// Options are what the embedding process injects (STYLE habit 10): several brokers can share one process.
type Options struct {
	Logger  *logrus.Entry    // nil = a new logrus logger at Info
	Metrics metrics.Registry // nil = a new registry for this broker
}

// Server is one broker.
type Server struct {
	cfg     *Config
	logger  *logrus.Entry
	metrics metrics.Registry

	zk            *zkutils.Client
	clusterID     string
	brokerEpoch   atomic.Int64
	logs          *log.LogManager
	net           *network.Server
	ctrl          *controller.Controller
	cache         *metadataCache
	replicas      *ReplicaManager
	fetchSessions *fetchSessionCache
	coord         *coordinator.Coordinator
	groupLog      *groupLog
	txnCoord      *coordinator.TxnCoordinator
	txnLog        *groupLog // __transaction_state
	markers       *markerWriter
	producerIDs   *producerIDManager

	offsetsCreation offsetsTopicCreation
	txnCreation     offsetsTopicCreation

	stopping     chan struct{}
	ready        chan struct{}  // closed when start-up is complete: requests are served from then on
	wg           sync.WaitGroup // every goroutine the server owns
	shutdownOnce sync.Once
	started      bool
}

// New builds a broker from its configuration; Startup brings it up.
func New(cfg *Config, opts Options) *Server {
	logger := opts.Logger
	if logger == nil {
		l := logrus.New()
		l.SetFormatter(&logrus.TextFormatter{FullTimestamp: true})
		logger = logrus.NewEntry(l)
	}
	logger = logger.WithField("broker", cfg.BrokerID)
	reg := opts.Metrics
	if reg == nil {
		reg = metrics.NewRegistry()
	}
	return &Server{cfg: cfg, logger: logger, metrics: reg, cache: newMetadataCache(), stopping: make(chan struct{}),
		ready: make(chan struct{})}
}

// Startup follows Kafka's order: ZooKeeper, cluster id, meta.properties, log recovery, network, broker
// registration, controller election, then serving. On error everything started so far is stopped.
func (s *Server) Startup() (err error) {
	defer func() {
		if err != nil {
			s.Shutdown()
		}
	}()
	if s.cfg.BrokerID < 0 {
		return fmt.Errorf("broker.id must be set to a non-negative integer (broker id generation is not supported)")
	}
	s.logger.Infof("[KafkaServer id=%d] starting", s.cfg.BrokerID)
	s.zk, err = zkutils.Connect(zkutils.Config{
		Connect:           s.cfg.ZookeeperConnect,
		SessionTimeout:    s.cfg.ZookeeperSessionTimeout,
		ConnectionTimeout: s.cfg.ZookeeperConnectionTimeout,
		Logger:            s.logger.WithField("component", "zookeeper"),
	})
	if err != nil {
		return fmt.Errorf("connecting to ZooKeeper %s: %w", s.cfg.ZookeeperConnect, err)
	}
	if err = s.zk.CreateTopLevelPaths(); err != nil {
		return err
	}
	if s.clusterID, err = s.zk.GetOrCreateClusterID(zkutils.NewClusterID()); err != nil {
		return err
	}
	s.logger.Infof("Cluster ID = %s", s.clusterID)

	s.logs, err = log.NewLogManager(log.ManagerConfig{
		Dirs:    s.cfg.LogDirs,
		Default: s.cfg.logConfig(nil),
		Logger:  s.logger.WithField("component", "log"),
	})
	if err != nil {
		return err
	}
	if err = s.logs.CheckOrWriteMetaProperties(s.cfg.BrokerID, s.clusterID); err != nil {
		return err
	}
	sched := log.DefaultSchedulerConfig()
	sched.RetentionCheckInterval = s.cfg.LogRetentionCheckInterval
	sched.FlushCheckInterval = s.cfg.LogFlushSchedulerInterval
	sched.RecoveryPointCheckpointInterval = s.cfg.LogFlushOffsetCheckpointInterval
	sched.LogStartOffsetCheckpointInterval = s.cfg.LogFlushStartOffsetCheckpointInterval
	sched.ProducerIDExpirationCheckInterval = s.cfg.ProducerIDExpirationCheckInterval
	if s.cfg.LogRetentionCheckInterval > 0 && s.cfg.LogRetentionCheckInterval < sched.InitialDelay {
		// Kafka's InitialTaskDelayMs (30 s) is not configurable; a shorter check interval (tests, demos) starts sooner.
		sched.InitialDelay = s.cfg.LogRetentionCheckInterval
	}
	s.logs.StartSchedulers(sched)
	if err := s.logs.StartCleaner(s.cfg.CleanerConfig()); err != nil {
		return fmt.Errorf("starting the log cleaner: %w", err)
	}
	s.replicas = newReplicaManager(s.cfg.BrokerID, s.cfg, s.logs, s.logger.WithField("component", "replica-manager"),
		s.zk.GetTopicConfig, s.cache.isBrokerAlive, s.zk, s.interBrokerEndpoint)
	s.fetchSessions = newFetchSessionCache(s.cfg.MaxIncrementalFetchSessions, s.cache.topicName)
	offsetsPartitions, err := s.offsetsTopicPartitionCount()
	if err != nil {
		return fmt.Errorf("reading the partition count of %s: %w", coordinator.OffsetsTopic, err)
	}
	s.groupLog = newGroupLog(s.replicas, s.cache, s.cfg)
	s.coord = coordinator.New(s.cfg.coordinatorConfig(offsetsPartitions, s.logger.WithField("component", "group-coordinator")), s.groupLog)
	txnPartitions, err := s.topicPartitionCount(coordinator.TxnTopic)
	if err != nil {
		return fmt.Errorf("reading the partition count of %s: %w", coordinator.TxnTopic, err)
	}
	s.producerIDs = newProducerIDManager(s.cfg.BrokerID, s.zk.AllocateProducerIDBlock, s.logger.WithField("component", "producer-id-manager"))
	s.txnLog = newTxnStateLog(s.replicas, s.cache, s.cfg)
	s.markers = newMarkerWriter(s)
	s.txnCoord = coordinator.NewTxn(s.cfg.txnConfig(txnPartitions, offsetsPartitions, s.coord.PartitionFor,
		s.logger.WithField("component", "transaction-coordinator")), s.txnLog, s.producerIDs, s.markers)

	listeners, err := network.ParseListeners(s.cfg.Listeners)
	if err != nil {
		return fmt.Errorf("listeners: %w", err)
	}
	s.net, err = network.NewServer(network.Config{
		Listeners:                listeners,
		QueuedMaxRequests:        s.cfg.QueuedMaxRequests,
		NumIOThreads:             s.cfg.NumIOThreads,
		SocketRequestMaxBytes:    s.cfg.SocketRequestMaxBytes,
		SocketSendBufferBytes:    s.cfg.SocketSendBufferBytes,
		SocketReceiveBufferBytes: s.cfg.SocketReceiveBufferBytes,
		ConnectionsMaxIdle:       s.cfg.ConnectionsMaxIdle,
		Logger:                   s.logger.WithField("component", "network"),
		Metrics:                  s.metrics,
	}, requestHandler{s})
	if err != nil {
		return err
	}
	if err = s.net.Start(); err != nil {
		return err
	}

	info, err := s.brokerInfo()
	if err != nil {
		return err
	}
	epoch, err := s.zk.RegisterBroker(info)
	if err != nil {
		return fmt.Errorf("registering broker %d in ZooKeeper: %w", s.cfg.BrokerID, err)
	}
	s.brokerEpoch.Store(epoch)
	s.logger.Infof("Registered broker %d at path /brokers/ids/%d with addresses: %v, czxid (broker epoch): %d",
		s.cfg.BrokerID, s.cfg.BrokerID, info.Endpoints, epoch)

	s.ctrl = controller.New(controller.Config{
		BrokerID:                           s.cfg.BrokerID,
		ZK:                                 s.zk,
		InterBrokerListener:                s.cfg.InterBrokerListenerName,
		Dial:                               dialBroker,
		DeleteTopicEnable:                  s.cfg.DeleteTopicEnable,
		UncleanLeaderElectionEnable:        s.cfg.UncleanLeaderElectionEnable,
		SocketTimeout:                      s.cfg.ControllerSocketTimeout,
		AutoLeaderRebalanceEnable:          s.cfg.AutoLeaderRebalanceEnable,
		LeaderImbalancePerBrokerPercentage: s.cfg.LeaderImbalancePerBrokerPct,
		LeaderImbalanceCheckInterval:       s.cfg.LeaderImbalanceCheckInterval,
		Logger:                             s.logger.WithField("component", "controller"),
		Metrics:                            s.metrics,
	})
	s.ctrl.Startup()
	s.replicas.startup()
	s.coord.Startup()
	s.txnCoord.Startup()
	s.goAttach(s.watchSession)
	s.goAttach(s.checkpointHighWatermarks)
	s.goAttach(s.sweepPurgatories)
	s.started = true
	close(s.ready)
	s.logger.Infof("[KafkaServer id=%d] started", s.cfg.BrokerID)
	return nil
}

func dialBroker(ctx context.Context, addr string) (controller.BrokerConn, error) {
	return network.Dial(ctx, addr, "controller")
}

// brokerInfo builds the /brokers/ids registration from advertised.listeners: a blank host means this machine's
// hostname, port 0 means the port the listener actually bound.
func (s *Server) brokerInfo() (zkutils.BrokerInfo, error) {
	adv, err := network.ParseListeners(s.cfg.AdvertisedListeners)
	if err != nil {
		return zkutils.BrokerInfo{}, fmt.Errorf("advertised.listeners: %w", err)
	}
	bound := s.net.BoundAddrs()
	info := zkutils.BrokerInfo{ID: s.cfg.BrokerID, JMXPort: -1, Timestamp: time.Now().UnixMilli(),
		Features: map[string][2]int16{"metadata.version": {1, 19}}}
	if s.cfg.BrokerRack != "" {
		r := s.cfg.BrokerRack
		info.Rack = &r
	}
	for _, l := range adv {
		name := l.Name
		proto, ok := s.cfg.ListenerSecurityProtocolMap[name]
		if !ok {
			return info, fmt.Errorf("listener %s is not in listener.security.protocol.map", name)
		}
		host := l.Host
		if host == "" {
			if host, err = os.Hostname(); err != nil {
				return info, err
			}
		}
		port := l.Port
		if port == 0 {
			if a, ok := bound[name].(*net.TCPAddr); ok {
				port = a.Port
			}
		}
		info.Endpoints = append(info.Endpoints, zkutils.Endpoint{Listener: name, SecurityProtocol: proto, Host: host, Port: int32(port)})
	}
	return info, nil
}

// watchSession reacts to ZooKeeper session expiry: the controller resigns; with the new session the broker
// registers again (a new broker epoch) and the controller re-elects.
func (s *Server) watchSession() {
	for {
		select {
		case <-s.stopping:
			return
		case ev, ok := <-s.zk.SessionEvents():
			if !ok {
				return
			}
			switch ev {
			case zkutils.SessionExpired:
				s.logger.Warn("ZooKeeper session expired")
				s.ctrl.OnSessionExpired()
			case zkutils.SessionReestablished:
				info, err := s.brokerInfo()
				if err == nil {
					var epoch int64
					if epoch, err = s.zk.RegisterBroker(info); err == nil {
						s.brokerEpoch.Store(epoch)
						s.logger.Infof("Re-registered broker %d with broker epoch %d", s.cfg.BrokerID, epoch)
					}
				}
				if err != nil {
					s.logger.Errorf("Re-registering broker %d after session expiry failed: %v", s.cfg.BrokerID, err)
				}
				s.ctrl.OnSessionReestablished()
			}
		}
	}
}

func (s *Server) checkpointHighWatermarks() {
	every := s.cfg.HighWatermarkCheckpointEvery
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case <-t.C:
			if err := s.logs.CheckpointHighWatermarks(); err != nil {
				s.logger.Errorf("Checkpointing high watermarks failed: %v", err)
			}
		}
	}
}

// sweepPurgatories drops expired operations from watch lists of quiet partitions.
func (s *Server) sweepPurgatories() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.stopping:
			return
		case <-t.C:
			s.replicas.fetches.sweep()
			s.replicas.produces.sweep()
			s.replicas.deletes.sweep()
		}
	}
}

// goAttach runs fn as a goroutine owned by the server: Shutdown waits for it (STYLE habit 8).
func (s *Server) goAttach(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

// Shutdown stops the broker cleanly: controlled shutdown first (the controller moves leadership away while this
// broker still serves), then stop serving, stop the controller, flush logs and write checkpoints and the
// clean-shutdown marker, then close the ZooKeeper session (which removes the broker's registration).
func (s *Server) Shutdown() {
	s.shutdownOnce.Do(func() {
		s.logger.Infof("[KafkaServer id=%d] shutting down", s.cfg.BrokerID)
		s.controlledShutdown()
		close(s.stopping)
		if s.net != nil {
			s.net.Shutdown()
		}
		// As KafkaServer.shutdown: the coordinators stop before the ReplicaManager, whose shutdown then
		// completes their parked appends. The transaction coordinator stops first, then its marker channel
		// (TransactionCoordinator.shutdown's order).
		if s.txnCoord != nil {
			s.txnCoord.Shutdown()
		}
		if s.markers != nil {
			s.markers.close()
		}
		if s.producerIDs != nil {
			s.producerIDs.close()
		}
		if s.coord != nil {
			s.coord.Shutdown()
		}
		if s.replicas != nil {
			s.replicas.shutdown()
		}
		if s.groupLog != nil {
			s.groupLog.close()
		}
		if s.txnLog != nil {
			s.txnLog.close()
		}
		if s.ctrl != nil {
			s.ctrl.Shutdown()
		}
		s.wg.Wait()
		if s.logs != nil {
			if err := s.logs.Shutdown(); err != nil {
				s.logger.Errorf("Log manager shutdown: %v", err)
			}
		}
		if s.zk != nil {
			s.zk.Close()
		}
		s.logger.Infof("[KafkaServer id=%d] shut down completed", s.cfg.BrokerID)
	})
}

// ID is the broker id.
func (s *Server) ID() int32 { return s.cfg.BrokerID }

// ClusterID is the cluster id read from (or written to) ZooKeeper.
func (s *Server) ClusterID() string { return s.clusterID }

// Addr is the bound address of a listener (e.g. "PLAINTEXT").
func (s *Server) Addr(listener string) string {
	if a, ok := s.net.BoundAddrs()[listener]; ok {
		return a.String()
	}
	return ""
}

// IsController reports whether this broker is the active controller.
func (s *Server) IsController() bool { return s.ctrl != nil && s.ctrl.IsActive() }

// Metrics is the broker's registry.
func (s *Server) Metrics() metrics.Registry { return s.metrics }

func (s *Server) bytesIn(topic string, n, records int) {
	metrics.GetOrRegisterMeter("kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec", s.metrics).Mark(int64(n))
	metrics.GetOrRegisterMeter("kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic="+topic, s.metrics).Mark(int64(n))
	metrics.GetOrRegisterMeter("kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec", s.metrics).Mark(int64(records))
}

func (s *Server) bytesOut(topic string, n int) {
	metrics.GetOrRegisterMeter("kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec", s.metrics).Mark(int64(n))
	metrics.GetOrRegisterMeter("kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic="+topic, s.metrics).Mark(int64(n))
}

// requestHandler adapts the API registry to the network layer.
type requestHandler struct{ s *Server }

func (h requestHandler) Versions(key int16) (int16, int16, bool) {
	a, ok := apis[key]
	return a.min, a.max, ok
}

// Handle is unused: the network layer calls HandleAsync, so waiting requests hold no handler thread.
func (h requestHandler) Handle(ctx context.Context, req *network.Request) kmsg.Response {
	ch := make(chan kmsg.Response, 1)
	h.HandleAsync(ctx, req, func(r kmsg.Response) { ch <- r })
	select {
	case r := <-ch:
		return r
	case <-ctx.Done():
		return nil
	}
}

// HandleAsync serves a request once the broker has started. The listener is bound before the broker registers in
// ZooKeeper (the registration names the bound port), but as in Kafka no request is processed before start-up is
// complete: a controller still retrying a request meant for this broker's previous incarnation must not have it
// applied by a process that is not registered yet.
func (h requestHandler) HandleAsync(ctx context.Context, req *network.Request, respond func(kmsg.Response)) {
	fn := apis[req.Header.APIKey].fn
	select {
	case <-h.s.ready:
		fn(h.s, ctx, req, respond)
	default:
		go func() {
			select {
			case <-h.s.ready:
				fn(h.s, ctx, req, respond)
			case <-h.s.stopping:
				respond(nil)
			}
		}()
	}
}

// interBrokerEndpoint is where this broker reaches another for replication.
func (s *Server) interBrokerEndpoint(id int32) (string, bool) {
	return s.cache.brokerEndpoint(id, s.cfg.InterBrokerListenerName)
}
