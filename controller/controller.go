package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rcrowley/go-metrics"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

// BrokerConn is one connection to a broker speaking the Kafka protocol (the broker passes network.Dial's client).
// Request must return when ctx is done: removing a dead broker cancels it and waits for its sender goroutine.
type BrokerConn interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Close() error
}

// Config is everything the controller needs; the broker derives it from server.properties.
type Config struct {
	BrokerID                    int32
	ZK                          *zkutils.Client
	InterBrokerListener         string // listener name whose endpoint is used to reach brokers (default "PLAINTEXT")
	Dial                        func(ctx context.Context, addr string) (BrokerConn, error)
	DeleteTopicEnable           bool          // delete.topic.enable
	UncleanLeaderElectionEnable bool          // broker default; topic override via zkutils.GetTopicConfig
	SocketTimeout               time.Duration // controller.socket.timeout.ms
	// Automatic preferred-leader rebalance: auto.leader.rebalance.enable (Kafka default true; the zero value
	// here is off, so the broker must pass it), leader.imbalance.per.broker.percentage (10) and
	// leader.imbalance.check.interval.seconds (300 s; zero or less means 300 s).
	AutoLeaderRebalanceEnable          bool
	LeaderImbalancePerBrokerPercentage int
	LeaderImbalanceCheckInterval       time.Duration
	Logger                             *logrus.Entry
	Metrics                            metrics.Registry // may be nil
	Now                                func() time.Time
}

// Controller is one broker's controller component: inactive until it wins the election.
type Controller struct {
	cfg Config
	zk  *zkutils.Client
	log *logrus.Entry

	events *eventQueue
	wg     sync.WaitGroup // the event goroutine and watch goroutines
	stop   chan struct{}  // closed when the event goroutine has been told to exit
	done   chan struct{}  // closed when the event goroutine has exited

	startOnce, shutdownOnce sync.Once
	started                 atomic.Bool

	// Published for other goroutines; written only by the event goroutine.
	active       atomic.Bool
	activeID     atomic.Int32
	publishEpoch atomic.Int32

	// Owned by the event goroutine.
	cc                   *controllerContext
	term                 *term
	termSeq              uint64
	controllerWatchArmed bool
	metrics              *controllerMetrics
}

// term is what exists only while this broker is the active controller: its watches and its channel to brokers.
// Ending a term stops both, so nothing from an old term acts in a new one.
type term struct {
	id      uint64
	stop    chan struct{}
	channel *channelManager
	// Watches armed in this term, so each znode has at most one goroutine waiting on it.
	topicWatches  map[string]bool
	brokerWatches map[int32]bool
	stateWatches  map[tp]bool // state znodes of reassigning partitions
	// czxids of the admin request znodes already acted on: Kafka reacts to their creation only, while our
	// exists watches also fire on data changes and on our own deletions.
	preferredElectionNode, reassignmentNode int64
}

// New builds a controller; Startup starts it.
func New(cfg Config) *Controller {
	if cfg.InterBrokerListener == "" {
		cfg.InterBrokerListener = "PLAINTEXT"
	}
	if cfg.SocketTimeout <= 0 {
		cfg.SocketTimeout = 30 * time.Second
	}
	if cfg.LeaderImbalanceCheckInterval <= 0 {
		cfg.LeaderImbalanceCheckInterval = 300 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		l := logrus.New()
		cfg.Logger = logrus.NewEntry(l)
	}
	c := &Controller{
		cfg:    cfg,
		zk:     cfg.ZK,
		log:    cfg.Logger.WithField("component", "controller"),
		events: newEventQueue(),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		cc:     newControllerContext(),
	}
	c.activeID.Store(-1)
	c.metrics = newControllerMetrics(cfg.Metrics)
	return c
}

// Startup starts the event goroutine and asks it to watch /controller and try to become controller.
func (c *Controller) Startup() {
	c.startOnce.Do(func() {
		c.started.Store(true)
		c.events.put(startupEvent{})
		c.wg.Add(1)
		go func() {
			defer c.wg.Done()
			defer close(c.done)
			c.run()
		}()
	})
}

// Shutdown resigns if active, then stops the event goroutine, the watch goroutines and every sender, and waits
// for them. /controller is left to vanish with the ZooKeeper session, as in Kafka.
func (c *Controller) Shutdown() {
	c.shutdownOnce.Do(func() {
		c.startOnce.Do(func() {}) // forbid a later Startup
		if c.started.Load() {
			c.events.clearAndPut(shutdownEvent{})
			<-c.done
		}
		close(c.stop)
		c.wg.Wait()
		c.metrics.unregister()
	})
}

// IsActive reports whether this broker is the active controller; safe from any goroutine.
func (c *Controller) IsActive() bool { return c.active.Load() }

// ActiveControllerID is the broker named by /controller as last seen, or −1 when there is none.
func (c *Controller) ActiveControllerID() int32 { return c.activeID.Load() }

// Epoch is the controller epoch this broker won in its latest term (0 if it never won).
func (c *Controller) Epoch() int32 { return c.publishEpoch.Load() }

// OnSessionExpired resigns and clears the controller state; it returns once that is done, so the broker can
// re-register knowing no stale controller work is running.
func (c *Controller) OnSessionExpired() {
	if !c.started.Load() {
		return
	}
	reply := make(chan struct{})
	c.events.clearAndPut(expireEvent{reply: reply})
	select {
	case <-reply:
	case <-c.done:
	case <-c.stop:
	}
}

// OnSessionReestablished asks the controller to re-arm its watch on /controller and take part in a new election;
// the broker calls it after re-registering itself.
func (c *Controller) OnSessionReestablished() { c.events.put(reelectEvent{rearm: true}) }

// prefix and statePrefix give Kafka's log prefixes.
func (c *Controller) prefix() string { return fmt.Sprintf("[Controller id=%d] ", c.cfg.BrokerID) }

func (c *Controller) infof(format string, args ...any) { c.log.Infof(c.prefix()+format, args...) }
func (c *Controller) warnf(format string, args ...any) { c.log.Warnf(c.prefix()+format, args...) }
func (c *Controller) errorf(format string, args ...any) {
	c.log.Errorf(c.prefix()+format, args...)
}
func (c *Controller) debugf(format string, args ...any) { c.log.Debugf(c.prefix()+format, args...) }

// stateChangef logs a state change as Kafka's state-change logger does.
func (c *Controller) stateChangef(format string, args ...any) {
	c.log.Debugf(fmt.Sprintf("[Controller id=%d epoch=%d] ", c.cfg.BrokerID, c.cc.epoch)+format, args...)
}

// isActive is the event goroutine's view; it is what the published atomic mirrors.
func (c *Controller) isActive() bool { return c.term != nil }

// startGoroutine runs f as a goroutine owned by the controller (waited for in Shutdown).
func (c *Controller) startGoroutine(f func()) {
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
}

// armWatch turns a ZooKeeper watch firing into an event. Watches of a term stop with the term.
func (c *Controller) armWatch(w zkutils.Watch, termStop <-chan struct{}, ev event) {
	if w == nil {
		return
	}
	c.startGoroutine(func() {
		select {
		case <-w:
			c.events.put(ev)
		case <-termStop:
		case <-c.stop:
		}
	})
}
