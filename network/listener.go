package network

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Listener is one entry of Kafka's `listeners` setting.
type Listener struct {
	Name string // listener name, upper-cased as Kafka normalises it, e.g. "PLAINTEXT"
	Host string // "" binds all interfaces
	Port int    // 0 picks a free port
}

// Addr is the host:port to bind, with IPv6 hosts bracketed.
func (l Listener) Addr() string {
	return net.JoinHostPort(l.Host, strconv.Itoa(l.Port))
}

// String renders the listener back in `listeners` syntax.
func (l Listener) String() string {
	return l.Name + "://" + l.Addr()
}

// ParseListeners parses Kafka's `listeners` syntax, e.g.
// "PLAINTEXT://:9092,INTERNAL://127.0.0.1:9093,EXTERNAL://[::1]:9094".
// Names are upper-cased (Kafka's ListenerName.normalised) and must be unique, as
// must host:port pairs with a fixed port.
func ParseListeners(s string) ([]Listener, error) {
	var out []Listener
	names := make(map[string]bool)
	addrs := make(map[string]bool)
	for _, raw := range strings.Split(s, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		l, err := parseListener(raw)
		if err != nil {
			return nil, err
		}
		if names[l.Name] {
			return nil, fmt.Errorf("listeners %q: listener name %s appears more than once", s, l.Name)
		}
		names[l.Name] = true
		if l.Port != 0 {
			if addrs[l.Addr()] {
				return nil, fmt.Errorf("listeners %q: address %s appears more than once", s, l.Addr())
			}
			addrs[l.Addr()] = true
		}
		out = append(out, l)
	}
	if len(out) == 0 {
		return nil, errors.New("listeners: no listener given")
	}
	return out, nil
}

func parseListener(raw string) (Listener, error) {
	name, rest, ok := strings.Cut(raw, "://")
	if !ok || name == "" {
		return Listener{}, fmt.Errorf("listener %q: want NAME://host:port", raw)
	}
	for _, r := range name {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return Listener{}, fmt.Errorf("listener %q: bad character %q in listener name", raw, r)
		}
	}
	host, portStr, err := net.SplitHostPort(rest)
	if err != nil {
		return Listener{}, fmt.Errorf("listener %q: %v", raw, err)
	}
	if strings.ContainsAny(host, "/ ") {
		return Listener{}, fmt.Errorf("listener %q: bad host %q", raw, host)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return Listener{}, fmt.Errorf("listener %q: bad port %q", raw, portStr)
	}
	return Listener{Name: strings.ToUpper(name), Host: host, Port: port}, nil
}
