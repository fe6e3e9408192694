package zktest

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// echoServer answers every line it reads with the same line, until the test ends.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					c.Write([]byte(line))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// roundTrip reports whether a line sent over c comes back.
func roundTrip(c net.Conn) bool {
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "ping\n"
}

func TestLinkProxyForwardsCutsAndRestores(t *testing.T) {
	p := NewLinkProxy(t, echoServer(t))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	before := dial()
	if !roundTrip(before) {
		t.Fatal("proxy does not forward")
	}
	p.SetCut(true)
	if roundTrip(before) {
		t.Fatal("connection open before the cut still forwards")
	}
	if roundTrip(dial()) {
		t.Fatal("connection made during the cut forwards")
	}
	p.SetCut(false)
	if !roundTrip(dial()) {
		t.Fatal("proxy does not forward after the link is restored")
	}
}
