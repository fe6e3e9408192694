package zktest

import (
	"io"
	"net"
	"sync"
	"testing"
)

// LinkProxy forwards TCP to ZooKeeper and can cut the link, so the real server expires a real session:
// go-zookeeper cannot attach a second connection to an existing session id to force it.
type LinkProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

// NewLinkProxy listens on a free 127.0.0.1 port and forwards every connection to target until the test ends.
func NewLinkProxy(t testing.TB, target string) *LinkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &LinkProxy{ln: ln, target: target}
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
	t.Cleanup(func() { ln.Close(); p.SetCut(true); <-done })
	return p
}

// Addr is the proxy's host:port, to use in place of the target's.
func (p *LinkProxy) Addr() string { return p.ln.Addr().String() }

func (p *LinkProxy) serve(c net.Conn) {
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

// SetCut closes every forwarded connection and refuses new ones while cut is true; false lets clients reconnect.
func (p *LinkProxy) SetCut(cut bool) {
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
