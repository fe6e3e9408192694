package controller

import (
	"context"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/zkafka/zkafka/zkutils"
)

// retryBackoff is how long a sender waits before reconnecting to a broker it could not reach (Kafka's
// RequestSendThread backs off 100 ms).
const retryBackoff = 100 * time.Millisecond

// channelManager is Kafka's ControllerChannelManager: one queue and one sender goroutine per live broker, so a
// slow or dead broker never delays the others and requests to one broker stay in order. It lives for one
// controller term; the event goroutine is its only caller.
type channelManager struct {
	dial     func(ctx context.Context, addr string) (BrokerConn, error)
	listener string
	timeout  time.Duration
	log      *logrus.Entry
	senders  map[int32]*sender
	// onResponse is called on the sender goroutine; it must only enqueue.
	onResponse func(broker int32, req kmsg.Request, resp kmsg.Response, deletion bool)
}

func (m *channelManager) addBroker(b zkutils.BrokerInfo) {
	if _, ok := m.senders[b.ID]; ok {
		return
	}
	addr := ""
	if ep, ok := endpointFor(b, m.listener); ok {
		addr = net.JoinHostPort(ep.Host, strconv.Itoa(int(ep.Port)))
	} else {
		m.log.Errorf("broker %d has no endpoint for listener %s; requests to it will be dropped", b.ID, m.listener)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sender{
		id: b.ID, addr: addr, m: m, ctx: ctx, cancel: cancel,
		notify: make(chan struct{}, 1), done: make(chan struct{}),
	}
	m.senders[b.ID] = s
	go s.run()
}

// removeBroker stops the broker's sender and waits for it: queued requests to a dead broker are dropped, as in
// Kafka.
func (m *channelManager) removeBroker(id int32) {
	s, ok := m.senders[id]
	if !ok {
		return
	}
	delete(m.senders, id)
	s.cancel()
	<-s.done
}

func (m *channelManager) shutdown() {
	for id := range m.senders {
		m.removeBroker(id)
	}
}

func (m *channelManager) send(o outgoing) {
	s, ok := m.senders[o.broker]
	if !ok {
		m.log.Warnf("not sending %s to broker %d: it is not live", kmsg.NameForKey(o.req.Key()), o.broker)
		return
	}
	s.enqueue(o)
}

// sender owns one broker's queue and connection.
type sender struct {
	id     int32
	addr   string
	m      *channelManager
	ctx    context.Context
	cancel context.CancelFunc
	notify chan struct{}
	done   chan struct{}

	mu    sync.Mutex
	queue []outgoing
}

func (s *sender) enqueue(o outgoing) {
	o.queuedAt = time.Now()
	s.mu.Lock()
	s.queue = append(s.queue, o)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

func (s *sender) next() (outgoing, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) == 0 {
		return outgoing{}, false
	}
	o := s.queue[0]
	s.queue[0] = outgoing{}
	s.queue = s.queue[1:]
	return o, true
}

func (s *sender) run() {
	defer close(s.done)
	var conn BrokerConn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	for {
		o, ok := s.next()
		if !ok {
			select {
			case <-s.notify:
				continue
			case <-s.ctx.Done():
				return
			}
		}
		if s.addr == "" {
			continue
		}
		queued := time.Since(o.queuedAt)
		// Retry until it goes through or the broker leaves the live set (which cancels ctx).
		for {
			if s.ctx.Err() != nil {
				return
			}
			if conn == nil {
				c, err := s.dial()
				if err != nil {
					s.m.log.Warnf("controller's connection to broker %d (%s) was unsuccessful: %v", s.id, s.addr, err)
					if !s.backoff() {
						return
					}
					continue
				}
				conn = c
			}
			ctx, cancel := context.WithTimeout(s.ctx, s.m.timeout)
			sent := time.Now()
			resp, err := conn.Request(ctx, o.req)
			cancel()
			s.logRoundTrip(o, time.Since(sent), queued)
			if err != nil {
				if s.ctx.Err() != nil {
					return
				}
				s.m.log.Warnf("controller failed to send %s to broker %d (%s), reconnecting: %v",
					kmsg.NameForKey(o.req.Key()), s.id, s.addr, err)
				conn.Close()
				conn = nil
				if !s.backoff() {
					return
				}
				continue
			}
			if s.m.onResponse != nil {
				s.m.onResponse(s.id, o.req, resp, o.deletion)
			}
			break
		}
	}
}

// slowRoundTrip is the round trip above which a request is logged at info: a broker that takes this long over
// a LeaderAndIsr or UpdateMetadata delays every failover and election behind it.
const slowRoundTrip = time.Second

func (s *sender) logRoundTrip(o outgoing, took, queued time.Duration) {
	log := s.m.log.Debugf
	if took >= slowRoundTrip {
		log = s.m.log.Infof
	}
	log("controller's %s to broker %d took %d ms (after %d ms in the queue)",
		requestName(o), s.id, took.Milliseconds(), queued.Milliseconds())
}

func (s *sender) dial() (BrokerConn, error) {
	ctx, cancel := context.WithTimeout(s.ctx, s.m.timeout)
	defer cancel()
	return s.m.dial(ctx, s.addr)
}

func (s *sender) backoff() bool {
	t := time.NewTimer(retryBackoff)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.ctx.Done():
		return false
	}
}

func requestName(o outgoing) string { return kmsg.NameForKey(o.req.Key()) }
