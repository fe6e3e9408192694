package controller

import (
	"errors"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

// event is one unit of controller work; only the event goroutine processes events.
type event interface{ name() string }

type (
	startupEvent            struct{}
	shutdownEvent           struct{}
	expireEvent             struct{ reply chan struct{} }
	controllerChangeEvent   struct{} // the /controller watch fired (data change or deletion)
	reelectEvent            struct{ rearm bool }
	brokerChangeEvent       struct{ term uint64 }
	brokerModificationEvent struct {
		term   uint64
		broker int32
	}
	topicChangeEvent            struct{ term uint64 }
	partitionModificationsEvent struct {
		term  uint64
		topic string
	}
	topicDeletionEvent         struct{ term uint64 }
	isrChangeNotificationEvent struct{ term uint64 }
	brokerResponseEvent        struct {
		term     uint64
		broker   int32
		req      kmsg.Request
		resp     kmsg.Response
		deletion bool
	}
	// controlledShutdownEvent is the ControlledShutdown API.
	controlledShutdownEvent struct {
		broker int32
		epoch  int64
		reply  chan shutdownReply
	}
	// replicaLeaderElectionEvent is the ElectLeaders API (Kafka's ReplicaLeaderElection, AdminClientTriggered).
	replicaLeaderElectionEvent struct {
		partitions   []tp
		all          bool
		electionType int8
		reply        chan electReply
	}
	// preferredReplicaElectionEvent: the watch on /admin/preferred_replica_election fired (ZkTriggered).
	preferredReplicaElectionEvent struct{ term uint64 }
	// zkPartitionReassignmentEvent: the watch on /admin/reassign_partitions fired.
	zkPartitionReassignmentEvent struct{ term uint64 }
	// partitionReassignmentIsrChangeEvent: a reassigning partition's state znode changed.
	partitionReassignmentIsrChangeEvent struct {
		term uint64
		tp   tp
	}
	// autoPreferredReplicaLeaderElectionEvent is the rebalance timer's tick; done is closed once it ran, so the
	// next tick is scheduled after it as Kafka's scheduler does.
	autoPreferredReplicaLeaderElectionEvent struct {
		term uint64
		done chan struct{}
	}
)

func (startupEvent) name() string                { return "Startup" }
func (shutdownEvent) name() string               { return "ShutdownEventThread" }
func (expireEvent) name() string                 { return "Expire" }
func (controllerChangeEvent) name() string       { return "ControllerChange" }
func (reelectEvent) name() string                { return "Reelect" }
func (brokerChangeEvent) name() string           { return "BrokerChange" }
func (brokerModificationEvent) name() string     { return "BrokerModification" }
func (topicChangeEvent) name() string            { return "TopicChange" }
func (partitionModificationsEvent) name() string { return "PartitionModifications" }
func (topicDeletionEvent) name() string          { return "TopicDeletion" }
func (isrChangeNotificationEvent) name() string  { return "IsrChangeNotification" }
func (brokerResponseEvent) name() string         { return "BrokerResponse" }
func (controlledShutdownEvent) name() string     { return "ControlledShutdown" }
func (replicaLeaderElectionEvent) name() string  { return "ReplicaLeaderElection" }
func (preferredReplicaElectionEvent) name() string {
	return "ReplicaLeaderElection"
}
func (zkPartitionReassignmentEvent) name() string { return "ZkPartitionReassignment" }
func (partitionReassignmentIsrChangeEvent) name() string {
	return "PartitionReassignmentIsrChange"
}
func (autoPreferredReplicaLeaderElectionEvent) name() string {
	return "AutoPreferredReplicaLeaderElection"
}

// abandonable events have a waiter that must hear something when the event is dropped unprocessed.
type abandonable interface{ abandon() }

func (e expireEvent) abandon() { close(e.reply) }
func (e controlledShutdownEvent) abandon() {
	e.reply <- shutdownReply{err: ErrNotController}
}
func (e replicaLeaderElectionEvent) abandon() { e.reply <- electReply{err: ErrNotController} }
func (e autoPreferredReplicaLeaderElectionEvent) abandon() {
	close(e.done)
}

// eventQueue is unbounded so that watch goroutines and senders never block on the controller.
type eventQueue struct {
	mu     sync.Mutex
	items  []event
	notify chan struct{}
}

func newEventQueue() *eventQueue { return &eventQueue{notify: make(chan struct{}, 1)} }

func (q *eventQueue) put(e event) {
	q.mu.Lock()
	q.items = append(q.items, e)
	q.mu.Unlock()
	q.signal()
}

// clearAndPut drops pending work that the new event makes moot (Kafka does this for Expire and shutdown). A
// dropped event with a reply channel is answered so no caller waits forever.
func (q *eventQueue) clearAndPut(e event) {
	q.mu.Lock()
	for _, old := range q.items {
		if a, ok := old.(abandonable); ok {
			a.abandon()
		}
	}
	q.items = []event{e}
	q.mu.Unlock()
	q.signal()
}

func (q *eventQueue) signal() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *eventQueue) take() (event, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil, false
	}
	e := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	return e, true
}

// run is the event goroutine.
func (c *Controller) run() {
	for {
		e, ok := c.events.take()
		if !ok {
			<-c.events.notify
			continue
		}
		if _, ok := e.(shutdownEvent); ok {
			c.resign()
			return
		}
		c.process(e)
	}
}

func (c *Controller) process(e event) {
	var err error
	switch ev := e.(type) {
	case startupEvent:
		err = c.processStartup()
	case expireEvent:
		c.processExpire()
		close(ev.reply)
	case controllerChangeEvent:
		err = c.processControllerChange()
	case reelectEvent:
		err = c.processReelect(ev.rearm)
	case brokerChangeEvent:
		if c.currentTerm(ev.term) {
			err = c.processBrokerChange()
		}
	case brokerModificationEvent:
		if c.currentTerm(ev.term) {
			err = c.processBrokerModification(ev.broker)
		}
	case topicChangeEvent:
		if c.currentTerm(ev.term) {
			err = c.processTopicChange()
		}
	case partitionModificationsEvent:
		if c.currentTerm(ev.term) {
			err = c.processPartitionModifications(ev.topic)
		}
	case topicDeletionEvent:
		if c.currentTerm(ev.term) {
			err = c.processTopicDeletion()
		}
	case isrChangeNotificationEvent:
		if c.currentTerm(ev.term) {
			err = c.processIsrChangeNotification()
		}
	case brokerResponseEvent:
		if c.currentTerm(ev.term) {
			err = c.processBrokerResponse(ev)
		}
	case controlledShutdownEvent:
		remaining, perr := c.processControlledShutdown(ev.broker, ev.epoch)
		ev.reply <- shutdownReply{remaining: remaining, err: replyErr(perr)}
		err = internalErr(perr)
	case replicaLeaderElectionEvent:
		results, perr := c.processAdminLeaderElection(ev)
		ev.reply <- electReply{results: results, err: replyErr(perr)}
		err = internalErr(perr)
	case preferredReplicaElectionEvent:
		if c.currentTerm(ev.term) {
			err = c.processPreferredReplicaElectionZNode()
		}
	case zkPartitionReassignmentEvent:
		if c.currentTerm(ev.term) {
			err = c.processZkPartitionReassignmentWatch()
		}
	case partitionReassignmentIsrChangeEvent:
		if c.currentTerm(ev.term) {
			err = c.processPartitionReassignmentIsrChange(ev.tp)
		}
	case autoPreferredReplicaLeaderElectionEvent:
		if c.currentTerm(ev.term) {
			err = c.processAutoPreferredReplicaLeaderElection()
		}
		close(ev.done)
	case callEvent:
		err = ev.f()
	}
	c.metrics.update(c)
	if err == nil {
		return
	}
	if errors.Is(err, zkutils.ErrControllerMoved) {
		c.infof("Controller moved to another broker when processing %s", e.name())
		c.maybeResignAfterFenceLoss()
		return
	}
	c.errorf("Error processing event %s: %v", e.name(), err)
}

// currentTerm drops events armed or sent in an earlier term.
func (c *Controller) currentTerm(id uint64) bool { return c.term != nil && c.term.id == id }

// callEvent runs f on the event goroutine, with f's error handled like a handler's. It lets other goroutines
// (and tests) act on controller state without sharing it.
type callEvent struct{ f func() error }

func (callEvent) name() string { return "Call" }
