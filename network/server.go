package network

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Defaults are Kafka's for the settings of the same name.
const (
	DefaultQueuedMaxRequests     = 500       // queued.max.requests
	DefaultNumIOThreads          = 8         // num.io.threads
	DefaultSocketRequestMaxBytes = 104857600 // socket.request.max.bytes
)

// Config is what the broker derives from server.properties for the network layer.
type Config struct {
	Listeners                []Listener
	QueuedMaxRequests        int           // queued.max.requests; 0 = 500
	NumIOThreads             int           // num.io.threads; 0 = 8
	SocketRequestMaxBytes    int32         // socket.request.max.bytes; 0 = 104857600
	SocketSendBufferBytes    int           // socket.send.buffer.bytes; <= 0 = OS default
	SocketReceiveBufferBytes int           // socket.receive.buffer.bytes; <= 0 = OS default
	ConnectionsMaxIdle       time.Duration // connections.max.idle.ms; 0 = never
	Logger                   *logrus.Entry // nil = discard
	Metrics                  metrics.Registry
}

// Request is one decoded request handed to the Handler.
type Request struct {
	Header     RequestHeader
	Body       kmsg.Request // decoded with SetVersion(Header.APIVersion)
	Listener   string       // name of the listener the connection came in on
	ClientAddr net.Addr
	ReceivedAt time.Time // when the whole frame had been read
	Size       int       // frame size in bytes, without the size prefix

	c *conn // the connection to answer on
}

// Handler serves decoded requests. Handle is called from the handler pool and
// may block (a Produce waiting for acks, a Fetch waiting for max.wait.ms); the
// context is cancelled on Shutdown. Returning nil sends no response (Produce
// acks=0). The response should come from req.Body.ResponseKind(); it is sent with
// the request's version.
type Handler interface {
	// Versions reports the versions served for an API key (ok=false: unsupported key).
	Versions(apiKey int16) (min, max int16, ok bool)
	Handle(ctx context.Context, req *Request) kmsg.Response
}

// AsyncHandler is an optional extension of Handler for requests that wait (a Produce with acks=all, a Fetch
// waiting for fetch.min.bytes): HandleAsync returns at once and calls respond exactly once, possibly later from
// another goroutine, so no handler thread is held while a request waits. The connection stays muted until then.
// When a Handler implements it, Handle is not called.
type AsyncHandler interface {
	HandleAsync(ctx context.Context, req *Request, respond func(kmsg.Response))
}

// Server accepts connections on every configured listener and feeds their
// requests through the bounded queue to the handler pool.
type Server struct {
	cfg     Config
	h       Handler
	log     *logrus.Entry
	metrics *serverMetrics

	ctx    context.Context // cancelled on Shutdown; the parent of every Handle call
	cancel context.CancelFunc
	queue  chan *Request // queued.max.requests; readers block when it is full
	wg     sync.WaitGroup

	mu        sync.Mutex // guards everything below
	started   bool
	stopping  bool
	listeners map[string]net.Listener
	conns     map[*conn]struct{}
}

// NewServer validates cfg, fills in Kafka's defaults and returns a server that
// is not yet listening.
func NewServer(cfg Config, h Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("network: nil Handler")
	}
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("network: no listeners configured")
	}
	seen := make(map[string]bool)
	for _, l := range cfg.Listeners {
		if l.Name == "" {
			return nil, fmt.Errorf("network: listener %s has no name", l.Addr())
		}
		if seen[l.Name] {
			return nil, fmt.Errorf("network: listener name %s configured twice", l.Name)
		}
		seen[l.Name] = true
	}
	if cfg.QueuedMaxRequests <= 0 {
		cfg.QueuedMaxRequests = DefaultQueuedMaxRequests
	}
	if cfg.NumIOThreads <= 0 {
		cfg.NumIOThreads = DefaultNumIOThreads
	}
	if cfg.SocketRequestMaxBytes <= 0 {
		cfg.SocketRequestMaxBytes = DefaultSocketRequestMaxBytes
	}
	if cfg.Logger == nil {
		l := logrus.New()
		l.SetOutput(io.Discard)
		cfg.Logger = logrus.NewEntry(l)
	}
	s := &Server{
		cfg:       cfg,
		h:         h,
		log:       cfg.Logger.WithField("component", "network"),
		queue:     make(chan *Request, cfg.QueuedMaxRequests),
		listeners: make(map[string]net.Listener),
		conns:     make(map[*conn]struct{}),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.metrics = newServerMetrics(cfg.Metrics, func() int { return len(s.queue) }, s.connCount)
	return s, nil
}

// Start binds every listener (port 0 picks a free port), then starts the
// handler pool and one acceptor per listener. On a bind error nothing is left
// running.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return errors.New("network: server already started or shut down")
	}
	var lc net.ListenConfig
	for _, l := range s.cfg.Listeners {
		ln, err := lc.Listen(s.ctx, "tcp", l.Addr())
		if err != nil {
			for _, bound := range s.listeners {
				bound.Close()
			}
			s.listeners = make(map[string]net.Listener)
			return fmt.Errorf("network: binding listener %s: %w", l, err)
		}
		s.listeners[l.Name] = ln
	}
	s.started = true
	for i := 0; i < s.cfg.NumIOThreads; i++ {
		s.goLocked(s.handlerLoop)
	}
	for name, ln := range s.listeners {
		s.goLocked(func() { s.acceptLoop(name, ln) })
	}
	s.log.Debugf("Started %d listeners and %d request handler threads", len(s.listeners), s.cfg.NumIOThreads)
	return nil
}

// BoundAddrs maps each listener name to its actual bound address, so a broker
// configured with port 0 can advertise the real port.
func (s *Server) BoundAddrs() map[string]net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]net.Addr, len(s.listeners))
	for name, ln := range s.listeners {
		out[name] = ln.Addr()
	}
	return out
}

// Shutdown stops accepting, closes every connection, cancels in-flight Handle
// calls and waits for every goroutine the server started. Requests still queued
// are dropped. It is safe to call more than once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.stopping = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	for _, ln := range s.listeners {
		ln.Close()
	}
	s.mu.Unlock()

	s.cancel()
	for _, c := range conns {
		c.close()
	}
	s.wg.Wait()
}

// goLocked starts fn as a goroutine owned by the server; s.mu must be held and
// the server not stopping, so that Shutdown's Wait sees every Add.
func (s *Server) goLocked(fn func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		fn()
	}()
}

func (s *Server) connCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) acceptLoop(name string, ln net.Listener) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Typically EMFILE: back off rather than spin, as Kafka's acceptor does.
			if backoff == 0 {
				backoff = 5 * time.Millisecond
			} else if backoff < time.Second {
				backoff *= 2
			}
			s.log.WithError(err).Warnf("Error accepting connection on listener %s", name)
			t := time.NewTimer(backoff)
			select {
			case <-s.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			continue
		}
		backoff = 0
		s.tuneSocket(nc)
		c := newConn(s, name, nc)
		s.mu.Lock()
		if s.stopping {
			s.mu.Unlock()
			nc.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.goLocked(c.readLoop)
		s.goLocked(c.writeLoop)
		s.mu.Unlock()
	}
}

func (s *Server) tuneSocket(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	if s.cfg.SocketSendBufferBytes > 0 {
		_ = tc.SetWriteBuffer(s.cfg.SocketSendBufferBytes)
	}
	if s.cfg.SocketReceiveBufferBytes > 0 {
		_ = tc.SetReadBuffer(s.cfg.SocketReceiveBufferBytes)
	}
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// handlerLoop is one of num.io.threads request handler threads.
func (s *Server) handlerLoop() {
	for {
		select {
		case <-s.ctx.Done():
			return
		case req := <-s.queue:
			s.serve(req)
		}
	}
}

// serve runs the handler for one request and passes its response to the
// connection's writer. Encoding happens here, in the pool, so large responses
// are built in parallel and the writer only copies bytes to the socket.
func (s *Server) serve(req *Request) {
	if ah, ok := s.h.(AsyncHandler); ok {
		var once sync.Once
		respond := func(resp kmsg.Response) { once.Do(func() { s.finish(req, resp) }) }
		if s.callAsyncHandler(ah, req, respond) {
			req.c.close()
		}
		return
	}
	resp, panicked := s.callHandler(req)
	if panicked {
		req.c.close()
		return
	}
	s.finish(req, resp)
}

// finish passes a handler's response to the connection's writer (nil: no response, the connection is unmuted).
func (s *Server) finish(req *Request, resp kmsg.Response) {
	c := req.c
	if resp == nil {
		c.release()
		return
	}
	if resp.Key() != req.Header.APIKey {
		c.log.Errorf("Handler answered %s request (correlation id %d) with a %s response; closing connection",
			kmsg.NameForKey(req.Header.APIKey), req.Header.CorrelationID, kmsg.NameForKey(resp.Key()))
		c.close()
		return
	}
	resp.SetVersion(req.Header.APIVersion)
	buf := getBuf()
	f := &outFrame{buf: buf, key: req.Header.APIKey, receivedAt: req.ReceivedAt}
	if sr, ok := resp.(*SplicedResponse); ok && len(sr.Splices) > 0 {
		b, pieces, err := encodeSpliced((*buf)[:0], req.Header.CorrelationID, sr)
		if err != nil {
			putBuf(buf)
			c.log.WithError(err).Errorf("Cannot encode %s response (correlation id %d); closing connection",
				kmsg.NameForKey(req.Header.APIKey), req.Header.CorrelationID)
			c.close()
			return
		}
		*buf, f.pieces = b, pieces
		if len(pieces) == 1 {
			c.log.Warnf("%s response (correlation id %d) lists its file regions out of order; sent by copying",
				kmsg.NameForKey(req.Header.APIKey), req.Header.CorrelationID)
		}
		for _, p := range pieces {
			f.size += len(p.b) + int(p.region.Len)
		}
	} else {
		if ok {
			resp = sr.Response
		}
		*buf = AppendResponse((*buf)[:0], req.Header.CorrelationID, resp)
	}
	c.send(f)
}

func (s *Server) callAsyncHandler(h AsyncHandler, req *Request, respond func(kmsg.Response)) (panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			req.c.log.Errorf("Panic handling %s v%d request (correlation id %d): %v; closing connection",
				kmsg.NameForKey(req.Header.APIKey), req.Header.APIVersion, req.Header.CorrelationID, r)
			panicked = true
		}
	}()
	h.HandleAsync(s.ctx, req, respond)
	return false
}

func (s *Server) callHandler(req *Request) (resp kmsg.Response, panicked bool) {
	defer func() {
		if r := recover(); r != nil {
			req.c.log.Errorf("Panic handling %s v%d request (correlation id %d): %v; closing connection",
				kmsg.NameForKey(req.Header.APIKey), req.Header.APIVersion, req.Header.CorrelationID, r)
			panicked = true
		}
	}()
	return s.h.Handle(s.ctx, req), false
}
