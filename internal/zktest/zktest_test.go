package zktest

import (
	"net"
	"strings"
	"testing"
)

func TestStartServesAndStops(t *testing.T) {
	s, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if !ruok(s.Addr()) {
		t.Fatal("server does not answer ruok")
	}
	s.Stop()
	if c, err := net.Dial("tcp", s.Addr()); err == nil {
		c.Close()
		t.Fatal("server still accepts connections after Stop")
	}
}

func TestConnectGivesDistinctChroots(t *testing.T) {
	shared = &Server{addr: "127.0.0.1:1"}
	defer func() { shared = nil }()
	a, b := Connect(t), Connect(t)
	if a == b || !strings.HasPrefix(a, "127.0.0.1:1/test-testconnectgivesdistinctchroots-") {
		t.Fatalf("chroots %q %q", a, b)
	}
}
