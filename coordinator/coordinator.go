package coordinator

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zkafka/zkafka/internal/jhash"
)

// Lock order (a lock may only be taken while holding locks above it):
//
//	Coordinator.mu   partition ownership, loading set, coordinator epochs, the groups map
//	group.mu         everything in one group (Kafka's group.inLock)
//	Coordinator.txnMu  open transactional groups per producer
//
// Functions suffixed Locked expect the group's lock held. Log.Append never calls done before it returns, so
// appends are issued under a group lock and their completions take that lock again. respond callbacks of
// parked JoinGroup/SyncGroup requests are called with the group lock held (as Kafka does): they must only
// hand the response over, never call back into the Coordinator.

// Coordinator is the group coordinator of one broker: it owns the groups of the __consumer_offsets partitions
// this broker leads.
//
// Every request method may be called from many goroutines at once. Methods with a respond callback call it
// exactly once, possibly after they return (a write to __consumer_offsets, a rebalance); responses are built
// with req.ResponseKind() so they carry the request's version.
type Coordinator struct {
	cfg        Config
	log        Log
	logContext            // "[GroupCoordinator N]: "
	mgr        logContext // "[GroupMetadataManager brokerId=N] "

	mu       sync.Mutex
	active   bool
	groups   map[string]*group
	owned    map[int32]bool
	loading  map[int32]bool
	epochs   map[int32]int32
	tasks    []func()
	workerOn bool

	txnMu         sync.Mutex
	openTxnGroups map[int64]map[string]bool

	// appendSeq stands in for the log offset of batches this coordinator appends (Log.Append does not report
	// it): it only has to order them after everything loaded and among themselves.
	appendSeq atomic.Int64

	shuttingDown atomic.Bool
	wake         chan struct{}
	stop         chan struct{}
	wg           sync.WaitGroup
}

// New builds a coordinator; Startup starts its background tasks (offset expiration) and lets it serve.
// Zero values in cfg take Kafka's defaults, except GroupInitialRebalanceDelay and GroupMinSessionTimeout,
// for which zero is a valid setting.
func New(cfg Config, l Log) *Coordinator {
	if cfg.OffsetsTopicPartitions <= 0 {
		cfg.OffsetsTopicPartitions = 50
	}
	if cfg.GroupMaxSessionTimeout == 0 {
		cfg.GroupMaxSessionTimeout = 30 * time.Minute
	}
	if cfg.GroupMaxSize <= 0 {
		cfg.GroupMaxSize = math.MaxInt32
	}
	if cfg.OffsetMetadataMaxBytes <= 0 {
		cfg.OffsetMetadataMaxBytes = 4096
	}
	if cfg.OffsetsRetention <= 0 {
		cfg.OffsetsRetention = 7 * 24 * time.Hour
	}
	if cfg.OffsetsRetentionCheckInterval <= 0 {
		cfg.OffsetsRetentionCheckInterval = 10 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	base := baseLogger(cfg.Logger)
	c := &Coordinator{
		cfg:           cfg,
		log:           l,
		logContext:    newLogContext(base.WithField("component", "group-coordinator"), "[GroupCoordinator %d]: ", cfg.BrokerID),
		mgr:           newLogContext(base.WithField("component", "group-metadata-manager"), "[GroupMetadataManager brokerId=%d] ", cfg.BrokerID),
		groups:        map[string]*group{},
		owned:         map[int32]bool{},
		loading:       map[int32]bool{},
		epochs:        map[int32]int32{},
		openTxnGroups: map[int64]map[string]bool{},
		wake:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
	}
	c.appendSeq.Store(1 << 62)
	return c
}

func (c *Coordinator) nowMs() int64 { return c.cfg.Now().UnixMilli() }

// Startup starts the offsets retention task; until it is called every group request is answered
// COORDINATOR_NOT_AVAILABLE (Kafka's isActive).
func (c *Coordinator) Startup() {
	c.infof("Starting up.")
	c.mu.Lock()
	if c.active || c.shuttingDown.Load() {
		c.mu.Unlock()
		return
	}
	c.active = true
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		t := time.NewTicker(c.cfg.OffsetsRetentionCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
				c.expireOffsets()
			}
		}
	}()
	c.infof("Startup complete.")
}

// Shutdown unloads every group (parked requests are answered NOT_COORDINATOR) and stops background tasks:
// a running load is abandoned, queued loads and unloads are dropped.
func (c *Coordinator) Shutdown() {
	c.infof("Shutting down.")
	if c.shuttingDown.Swap(true) {
		return
	}
	c.mu.Lock()
	c.active = false
	c.tasks = nil
	c.mu.Unlock()
	close(c.stop)
	c.wg.Wait()

	c.mu.Lock()
	for id, g := range c.groups {
		c.onGroupUnloaded(g)
		delete(c.groups, id)
	}
	c.owned = map[int32]bool{}
	c.loading = map[int32]bool{}
	c.mu.Unlock()
	c.infof("Shutdown complete.")
}

// PartitionFor is the __consumer_offsets partition of a group: abs(javaHashCode(groupID)) % partitions.
func (c *Coordinator) PartitionFor(groupID string) int32 {
	return jhash.Abs(jhash.String(groupID)) % c.cfg.OffsetsTopicPartitions
}

// GroupState is the state of a group as DescribeGroups names it ("Dead" when this coordinator does not
// hold it).
func (c *Coordinator) GroupState(groupID string) string {
	g := c.getGroup(groupID)
	if g == nil {
		return stateDead.String()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.state.String()
}

// IsLoading tells whether partition p of __consumer_offsets is being loaded.
func (c *Coordinator) IsLoading(p int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.loading[p]
}

// IsOwned tells whether partition p of __consumer_offsets is loaded and served by this coordinator.
func (c *Coordinator) IsOwned(p int32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.owned[p]
}

// groupAPI tells validateGroupStatus whether an empty group id is acceptable (Kafka accepts it, for
// compatibility, in OffsetCommit, OffsetFetch, DescribeGroups and DeleteGroups).
type groupAPI bool

const (
	emptyIDAllowed groupAPI = true
	emptyIDInvalid groupAPI = false
)

// validateGroupStatus is Kafka's check that a group id is valid, and that its partition is loaded here.
func (c *Coordinator) validateGroupStatus(groupID string, api groupAPI) int16 {
	if groupID == "" && api == emptyIDInvalid {
		return errInvalidGroupID
	}
	p := c.PartitionFor(groupID)
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.active:
		return errCoordinatorNotAvailable
	case c.loading[p]:
		return errCoordinatorLoadInProgress
	case !c.owned[p]:
		return errNotCoordinator
	}
	return errNone
}

func (c *Coordinator) getGroup(id string) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.groups[id]
}

// getOrCreateGroup returns the group, creating an Empty one if create is set.
func (c *Coordinator) getOrCreateGroup(id string, create bool) *group {
	c.mu.Lock()
	defer c.mu.Unlock()
	g := c.groups[id]
	if g == nil && create {
		g = newGroup(id, c.PartitionFor(id), c.nowMs())
		c.groups[id] = g
	}
	return g
}

// groupNotExists is true when this coordinator owns the group's partition and holds no live group of that id
// (GROUP_ID_NOT_FOUND rather than NOT_COORDINATOR).
func (c *Coordinator) groupNotExists(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.owned[c.PartitionFor(id)] {
		return false
	}
	g := c.groups[id]
	if g == nil {
		return true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.is(stateDead)
}

// removeGroupIfSame drops g from the groups map if it is still the one registered under its id.
func (c *Coordinator) removeGroupIfSame(g *group) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
		return true
	}
	return false
}

// enqueue runs task on the coordinator's single background worker, after every task enqueued before it,
// as Kafka's one-thread group-metadata-manager scheduler does: loads and unloads of a partition apply in
// the order the elections and resignations arrived.
func (c *Coordinator) enqueue(task func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shuttingDown.Load() {
		return
	}
	c.tasks = append(c.tasks, task)
	if !c.workerOn {
		c.workerOn = true
		c.wg.Add(1)
		go c.worker()
	}
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *Coordinator) worker() {
	defer c.wg.Done()
	for {
		c.mu.Lock()
		var task func()
		if len(c.tasks) > 0 {
			task = c.tasks[0]
			c.tasks = c.tasks[1:]
		}
		c.mu.Unlock()
		if task != nil {
			task()
			continue
		}
		select {
		case <-c.stop:
			return
		case <-c.wake:
		}
	}
}

func groupTopicName(p int32) string { return fmt.Sprintf("%s-%d", OffsetsTopic, p) }
