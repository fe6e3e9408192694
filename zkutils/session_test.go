package zkutils

import (
	"strings"
	"testing"
	"time"

	"github.com/zkafka/zkafka/internal/zktest"
)

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
	proxy := zktest.NewLinkProxy(t, zktest.Addr())
	// The server's minimum session timeout (zktest sets 1s) keeps the cut short.
	c := newClientTimeout(t, proxy.Addr()+chroot, time.Second)
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

	proxy.SetCut(true)
	// The server deletes the session's ephemerals when it expires the session.
	waitFired(t, gone, "ephemeral removed by expiry")
	proxy.SetCut(false)

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
