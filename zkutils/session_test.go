package zkutils

import (
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zkafka/zkafka/internal/zktest"
)

// linkProxy forwards TCP to ZooKeeper and can cut the link, so a real server expires a real session:
// go-zookeeper cannot attach a second connection to an existing session id to force it.
type linkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newLinkProxy(t *testing.T, target string) *linkProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); p.setCut(true); <-done })
	return p
}

func (p *linkProxy) serve(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cut {
		c.Close()
		return
	}
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.conns = append(p.conns, c, s)
	go func() { io.Copy(s, c); s.Close() }()
	go func() { io.Copy(c, s); c.Close() }()
}

func (p *linkProxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func waitEvent(t *testing.T, c *Client, want SessionEvent) {
	t.Helper()
	select {
	case ev := <-c.SessionEvents():
		if ev != want {
			t.Fatalf("session event %v, want %v", ev, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("no session event %v", want)
	}
}

func TestSessionExpiry(t *testing.T) {
	direct, connect := setup(t)
	chroot := connect[strings.IndexByte(connect, '/'):]
	proxy := newLinkProxy(t, zktest.Addr())
	// The server's minimum session timeout (zktest sets 1s) keeps the cut short.
	c := newClientTimeout(t, proxy.ln.Addr().String()+chroot, time.Second)
	b := BrokerInfo{ID: 1, JMXPort: -1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 9092}}}
	epoch1, err := c.RegisterBroker(b)
	if err != nil {
		t.Fatal(err)
	}
	oldSession := c.SessionID()
	_, pending, err := c.WatchTopics()
	if err != nil {
		t.Fatal(err)
	}
	_, _, found, gone, err := direct.impl.getW(brokerPath(1))
	if err != nil || !found {
		t.Fatalf("broker node: %v %v", found, err)
	}

	proxy.setCut(true)
	// The server deletes the session's ephemerals when it expires the session.
	waitFired(t, gone, "ephemeral removed by expiry")
	proxy.setCut(false)

	waitEvent(t, c, SessionExpired)
	waitFired(t, pending, "pending watch on expiry")
	waitEvent(t, c, SessionReestablished)
	if c.SessionID() == oldSession || c.SessionID() == 0 {
		t.Fatalf("session id %x after expiry of %x", c.SessionID(), oldSession)
	}
	epoch2, err := c.RegisterBroker(b)
	if err != nil || epoch2 <= epoch1 {
		t.Fatalf("re-register: %d (was %d) %v", epoch2, epoch1, err)
	}
}

// TestRegisterReplacesPreviousSession covers Kafka's KAFKA-7165 path: the node is still owned by this client's
// expired session (ZOOKEEPER-2985), so it is deleted and recreated rather than refused.
func TestRegisterReplacesPreviousSession(t *testing.T) {
	c, connect := setup(t)
	other := newClient(t, connect)
	b := BrokerInfo{ID: 4, JMXPort: -1, Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 9092}}}
	if _, err := other.RegisterBroker(b); err != nil {
		t.Fatal(err)
	}
	// Pretend other's session was one of c's earlier sessions.
	c.impl.mu.Lock()
	c.impl.pastIDs[other.SessionID()] = true
	c.impl.mu.Unlock()
	epoch, err := c.RegisterBroker(b)
	if err != nil {
		t.Fatal(err)
	}
	got, ok, err := c.GetBroker(4)
	if err != nil || !ok || got.Epoch != epoch {
		t.Fatalf("after replace: %+v %v %v", got, ok, err)
	}
	_, st, _ := c.impl.get(brokerPath(4))
	if st.EphemeralOwner != c.SessionID() {
		t.Fatalf("owner %x, want %x", st.EphemeralOwner, c.SessionID())
	}
}
