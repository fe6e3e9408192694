package zkutils

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/sirupsen/logrus"
)

// client is the state behind a Client. Lock order: mu is a leaf; no zk call is made while holding it.
type client struct {
	conn    *zk.Conn
	chroot  string // "" or "/kafka": prefixed to every path, since go-zookeeper has no chroot support
	servers []string
	log     *logrus.Entry

	connReady chan struct{} // closed once conn is assigned; session callbacks wait for it
	firstSess chan struct{} // closed on the first session
	events    chan SessionEvent

	mu        sync.Mutex
	sessionID int64
	expired   bool
	closed    bool
	pastIDs   map[int64]bool // this client's earlier sessions, whose ephemerals we may replace
	watches   map[*watch]struct{}
}

type watch struct {
	ch   chan struct{}
	once sync.Once
}

func (w *watch) fire() { w.once.Do(func() { close(w.ch) }) }

// zkLogger routes go-zookeeper's chatter to the owner's logger at Debug.
type zkLogger struct{ e *logrus.Entry }

func (l zkLogger) Printf(format string, args ...any) { l.e.Debugf("zookeeper: "+format, args...) }

// parseConnect splits Kafka's zookeeper.connect ("h1:2181,h2:2181/chroot") into servers and chroot.
func parseConnect(s string) (servers []string, chroot string, err error) {
	hosts := s
	if i := strings.IndexByte(s, '/'); i >= 0 {
		hosts, chroot = s[:i], s[i:]
	}
	chroot = strings.TrimRight(chroot, "/")
	for _, h := range strings.Split(hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			servers = append(servers, h)
		}
	}
	if len(servers) == 0 {
		return nil, "", fmt.Errorf("zkutils: no servers in zookeeper.connect %q", s)
	}
	if strings.Contains(chroot, "//") {
		return nil, "", fmt.Errorf("zkutils: invalid chroot in zookeeper.connect %q", s)
	}
	return servers, chroot, nil
}

// Connect opens a session, waits for it up to ConnectionTimeout and creates the chroot if absent.
func Connect(cfg Config) (*Client, error) {
	servers, chroot, err := parseConnect(cfg.Connect)
	if err != nil {
		return nil, err
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 18 * time.Second
	}
	if cfg.ConnectionTimeout <= 0 {
		cfg.ConnectionTimeout = cfg.SessionTimeout
	}
	log := cfg.Logger
	if log == nil {
		l := logrus.New()
		l.Out = io.Discard
		log = logrus.NewEntry(l)
	}
	c := &client{
		servers:   servers,
		log:       log,
		connReady: make(chan struct{}),
		firstSess: make(chan struct{}),
		events:    make(chan SessionEvent, 16),
		pastIDs:   map[int64]bool{},
		watches:   map[*watch]struct{}{},
	}
	conn, _, err := zk.Connect(servers, cfg.SessionTimeout,
		zk.WithLogger(zkLogger{log}), zk.WithLogInfo(false), zk.WithEventCallback(c.onEvent))
	if err != nil {
		return nil, fmt.Errorf("zkutils: connect to %s: %w", strings.Join(servers, ","), err)
	}
	c.conn = conn
	close(c.connReady)
	select {
	case <-c.firstSess:
	case <-time.After(cfg.ConnectionTimeout):
		c.close()
		return nil, fmt.Errorf("zkutils: timed out after %v waiting for a session with ZooKeeper servers %s",
			cfg.ConnectionTimeout, strings.Join(servers, ","))
	}
	// The chroot is created with absolute paths before any relative path is used.
	if chroot != "" {
		if err := c.createRecursive(chroot, nil, 0, false); err != nil && !errors.Is(err, ErrNodeExists) {
			c.close()
			return nil, fmt.Errorf("zkutils: create chroot %s: %w", chroot, err)
		}
	}
	c.chroot = chroot
	return &Client{impl: c}, nil
}

// onEvent runs on go-zookeeper's connection goroutine for every event; it must not call back into the Conn
// except for SessionID, and must not block.
func (c *client) onEvent(ev zk.Event) {
	if ev.Type != zk.EventSession {
		return
	}
	switch ev.State {
	case zk.StateExpired:
		c.mu.Lock()
		if c.sessionID != 0 {
			c.pastIDs[c.sessionID] = true
		}
		c.expired = true
		ws := c.watches
		c.watches = map[*watch]struct{}{}
		c.mu.Unlock()
		c.log.Warn("ZooKeeper session expired")
		for w := range ws {
			w.fire()
		}
		c.emit(SessionExpired)
	case zk.StateHasSession:
		<-c.connReady
		id := c.conn.SessionID()
		c.mu.Lock()
		prev := c.sessionID
		renewed := prev != 0 && id != prev
		if renewed {
			c.pastIDs[prev] = true
		}
		c.sessionID = id
		c.expired = false
		c.mu.Unlock()
		if prev == 0 && !renewed {
			select {
			case <-c.firstSess:
				// A session after an expiry: go-zookeeper reset its id to 0 before reconnecting.
				c.log.Infof("ZooKeeper session 0x%x established after expiry", id)
				c.emit(SessionReestablished)
			default:
				close(c.firstSess)
			}
			return
		}
		if renewed {
			c.log.Infof("ZooKeeper session 0x%x replaces 0x%x", id, prev)
			c.emit(SessionReestablished)
		}
	}
}

func (c *client) emit(ev SessionEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	select {
	case c.events <- ev:
	default:
		c.log.Errorf("session event channel full; dropped %v", ev)
	}
}

func (c *client) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	close(c.events)
	ws := c.watches
	c.watches = map[*watch]struct{}{}
	c.mu.Unlock()
	c.conn.Close()
	for w := range ws {
		w.fire()
	}
}

// Close ends the session (its ephemeral nodes go away) and fires every pending watch.
func (c *Client) Close() { c.impl.close() }

// SessionEvents reports session expiry and re-establishment; it is closed by Close.
func (c *Client) SessionEvents() <-chan SessionEvent { return c.impl.events }

// SessionID is the current session's id (0 between an expiry and the next session).
func (c *Client) SessionID() int64 { return c.impl.conn.SessionID() }

// newWatch turns a go-zookeeper watch channel into a Watch that also fires on expiry and Close.
func (c *client) newWatch(ev <-chan zk.Event) Watch {
	w := &watch{ch: make(chan struct{})}
	c.mu.Lock()
	if c.closed || c.expired {
		c.mu.Unlock()
		w.fire()
		return w.ch
	}
	c.watches[w] = struct{}{}
	c.mu.Unlock()
	// go-zookeeper closes ev on the event, on expiry and on Close, so this goroutine always ends.
	go func() {
		<-ev
		c.mu.Lock()
		delete(c.watches, w)
		c.mu.Unlock()
		w.fire()
	}()
	return w.ch
}

func (c *client) abs(path string) string { return c.chroot + path }

// mapErr translates go-zookeeper errors into ours, keeping the operation and path for context.
func mapErr(op, path string, err error) error {
	if err == nil {
		return nil
	}
	var e error
	switch {
	case errors.Is(err, zk.ErrNoNode):
		e = ErrNoNode
	case errors.Is(err, zk.ErrNodeExists):
		e = ErrNodeExists
	case errors.Is(err, zk.ErrBadVersion):
		e = ErrBadVersion
	case errors.Is(err, zk.ErrSessionExpired):
		e = ErrSessionExpired
	default:
		return fmt.Errorf("zkutils: %s %s: %w", op, path, err)
	}
	return fmt.Errorf("%w (%s %s)", e, op, path)
}
