package zkutils

import (
	"errors"
	"os"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/zkafka/zkafka/internal/zktest"
)

func TestMain(m *testing.M) { os.Exit(zktest.Main(m)) }

func newClient(t *testing.T, connect string) *Client {
	t.Helper()
	return newClientTimeout(t, connect, 4*time.Second)
}

func newClientTimeout(t *testing.T, connect string, session time.Duration) *Client {
	t.Helper()
	l := logrus.New()
	l.SetLevel(logrus.WarnLevel)
	c, err := Connect(Config{Connect: connect, SessionTimeout: session, ConnectionTimeout: 10 * time.Second,
		Logger: logrus.NewEntry(l).WithField("test", t.Name())})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// setup returns a client on a fresh chroot with Kafka's top-level paths, and the connect string.
func setup(t *testing.T) (*Client, string) {
	connect := zktest.Connect(t)
	c := newClient(t, connect)
	if err := c.CreateTopLevelPaths(); err != nil {
		t.Fatal(err)
	}
	return c, connect
}

func waitFired(t *testing.T, w Watch, what string) {
	t.Helper()
	select {
	case <-w:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: watch did not fire", what)
	}
}

func notFired(t *testing.T, w Watch, what string) {
	t.Helper()
	select {
	case <-w:
		t.Fatalf("%s: watch fired early", what)
	default:
	}
}

// elect makes c the controller and returns its epochZkVersion.
func elect(t *testing.T, c *Client, id int32) int32 {
	t.Helper()
	_, v, err := c.TryElectController(id, time.Now().UnixMilli())
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestConnectCreatesChroot(t *testing.T) {
	connect := zktest.Connect(t)
	c := newClient(t, connect)
	if err := c.CreateTopLevelPaths(); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTopLevelPaths(); err != nil { // idempotent
		t.Fatal(err)
	}
	root := newClient(t, zktest.Addr())
	chroot := connect[len(zktest.Addr()):]
	for _, p := range persistentPaths {
		ok, _, err := root.impl.exists(chroot + p)
		if err != nil || !ok {
			t.Fatalf("%s%s: exists=%v err=%v", chroot, p, ok, err)
		}
	}
	if c.SessionID() == 0 || c.SessionID() == root.SessionID() {
		t.Fatalf("session ids %x %x", c.SessionID(), root.SessionID())
	}
	if _, err := Connect(Config{Connect: "127.0.0.1:1/x", SessionTimeout: time.Second,
		ConnectionTimeout: 300 * time.Millisecond}); err == nil {
		t.Fatal("connected to nothing")
	}
}

func TestClusterID(t *testing.T) {
	c1, connect := setup(t)
	c2 := newClient(t, connect)
	id1, err := c1.GetOrCreateClusterID("xtzWWN4bTjitpL3kfd9s5g")
	if err != nil || id1 != "xtzWWN4bTjitpL3kfd9s5g" {
		t.Fatalf("create: %q %v", id1, err)
	}
	id2, err := c2.GetOrCreateClusterID(NewClusterID())
	if err != nil || id2 != id1 {
		t.Fatalf("second client: %q %v", id2, err)
	}
	data, _, err := c2.impl.get(clusterIDPath)
	if err != nil || string(data) != `{"version":"1","id":"xtzWWN4bTjitpL3kfd9s5g"}` {
		t.Fatalf("raw: %s %v", data, err)
	}
}

func TestRegisterBroker(t *testing.T) {
	c1, connect := setup(t)
	c2 := newClient(t, connect)
	_, w, err := c2.WatchBrokerIDs()
	if err != nil {
		t.Fatal(err)
	}
	b := BrokerInfo{ID: 1, JMXPort: -1, Timestamp: 1700000000000,
		Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "localhost", 9092}}}
	epoch, err := c1.RegisterBroker(b)
	if err != nil || epoch <= 0 {
		t.Fatalf("register: %d %v", epoch, err)
	}
	waitFired(t, w, "broker ids")
	data, st, err := c2.impl.get(brokerPath(1))
	if err != nil || string(data) != string(encodeBroker(b)) || st.Czxid != epoch || st.EphemeralOwner != c1.SessionID() {
		t.Fatalf("znode: %s %+v %v", data, st, err)
	}
	got, ok, err := c2.GetBroker(1)
	b.Epoch, b.Features = epoch, defaultBrokerFeatures
	if err != nil || !ok || !reflect.DeepEqual(got, b) {
		t.Fatalf("GetBroker: %+v %v %v", got, ok, err)
	}
	again, err := c1.RegisterBroker(b)
	if err != nil || again != epoch {
		t.Fatalf("re-register by same session: %d %v", again, err)
	}
	if _, err := c2.RegisterBroker(b); !errors.Is(err, ErrBrokerIDInUse) {
		t.Fatalf("other session: %v", err)
	}
	epoch3, err := c2.RegisterBroker(BrokerInfo{ID: 3, JMXPort: -1, Endpoints: b.Endpoints})
	if err != nil || epoch3 <= epoch {
		t.Fatalf("broker 3: %d %v", epoch3, err)
	}
	all, err := c2.GetAllBrokers()
	if err != nil || len(all) != 2 || all[0].ID != 1 || all[1].ID != 3 || all[1].Epoch != epoch3 {
		t.Fatalf("all: %+v %v", all, err)
	}
	ids, w, err := c2.WatchBrokerIDs()
	if err != nil || !reflect.DeepEqual(ids, []int32{1, 3}) {
		t.Fatalf("ids: %v %v", ids, err)
	}
	c1.Close()
	waitFired(t, w, "broker 1 gone")
	if _, ok, err := c2.GetBroker(1); ok || err != nil {
		t.Fatalf("ephemeral survived close: %v %v", ok, err)
	}
	if _, err := c2.RegisterBroker(b); err != nil {
		t.Fatalf("register after owner left: %v", err)
	}
}

func TestControllerElection(t *testing.T) {
	const n = 3
	c0, connect := setup(t)
	clients := []*Client{c0}
	for i := 1; i < n; i++ {
		clients = append(clients, newClient(t, connect))
	}
	if _, ok, err := c0.GetControllerID(); ok || err != nil {
		t.Fatalf("controller before election: %v %v", ok, err)
	}
	_, _, w, err := c0.WatchController()
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		epoch, ver int32
		err        error
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			e, v, err := clients[i].TryElectController(int32(i), 1700000000000)
			results[i] = result{e, v, err}
		}(i)
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		switch {
		case r.err == nil:
			if winner >= 0 {
				t.Fatalf("two winners: %d and %d", winner, i)
			}
			winner = i
		case !errors.Is(r.err, ErrControllerExists):
			t.Fatalf("client %d: %v", i, r.err)
		}
	}
	if winner < 0 || results[winner].epoch != 1 {
		t.Fatalf("results %+v", results)
	}
	waitFired(t, w, "controller created")
	id, ok, w, err := c0.WatchController()
	if err != nil || !ok || id != int32(winner) {
		t.Fatalf("controller id %d %v %v", id, ok, err)
	}
	data, _, _ := c0.impl.get(controllerPath)
	if string(data) != string(encodeController(int32(winner), 1700000000000)) {
		t.Fatalf("/controller = %s", data)
	}
	epoch, ver, ok, err := c0.GetControllerEpoch()
	if err != nil || !ok || epoch != 1 || ver != results[winner].ver {
		t.Fatalf("epoch %d ver %d %v %v", epoch, ver, ok, err)
	}

	// The winner resigns; the next election gets epoch 2 and fences the old controller's writes.
	old := clients[winner]
	oldVer := results[winner].ver
	if err := old.DeleteController(oldVer); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, "controller deleted")
	next := clients[(winner+1)%n]
	e2, v2, err := next.TryElectController(int32((winner+1)%n), 1700000000001)
	if err != nil || e2 != 2 || v2 == oldVer {
		t.Fatalf("second election: %d %d %v", e2, v2, err)
	}
	if err := old.DeleteController(oldVer); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("deposed delete: %v", err)
	}
	if _, err := old.CreatePartitionStates(oldVer, map[TopicPartition]LeaderIsr{{"t", 0}: {}}); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("deposed create: %v", err)
	}
	if id, _, _ := next.GetControllerID(); id != int32((winner+1)%n) {
		t.Fatalf("controller is %d", id)
	}
	// The controller's session ends: /controller goes, a third election gets epoch 3.
	next.Close()
	third := clients[(winner+2)%n]
	_, _, w, _ = third.WatchController()
	if _, ok, _ := third.GetControllerID(); ok {
		waitFired(t, w, "controller session closed")
	}
	if e3, _, err := third.TryElectController(9, 1); err != nil || e3 != 3 {
		t.Fatalf("third election: %d %v", e3, err)
	}
}

func TestTopics(t *testing.T) {
	c, connect := setup(t)
	other := newClient(t, connect)
	ver := elect(t, c, 1)
	_, tw, err := other.WatchTopics()
	if err != nil {
		t.Fatal(err)
	}
	id := [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}
	assign := map[int32][]int32{0: {1, 2}, 1: {2, 1}}
	if err := c.CreateTopic("foo", assign, id, map[string]string{"cleanup.policy": "compact"}); err != nil {
		t.Fatal(err)
	}
	waitFired(t, tw, "topics child watch")
	if err := other.CreateTopic("foo", assign, id, nil); !errors.Is(err, ErrTopicExists) {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := c.CreateTopic("bar", map[int32][]int32{0: {1}}, [16]byte{}, nil); err != nil {
		t.Fatal(err)
	}
	if ok, err := other.TopicExists("foo"); !ok || err != nil {
		t.Fatalf("exists: %v %v", ok, err)
	}
	if ok, err := other.TopicExists("nope"); ok || err != nil {
		t.Fatalf("exists nope: %v %v", ok, err)
	}
	if ts, err := other.GetAllTopics(); err != nil || !reflect.DeepEqual(ts, []string{"bar", "foo"}) {
		t.Fatalf("all: %v %v", ts, err)
	}
	as, err := other.GetTopicAssignments([]string{"foo", "nope", "bar"})
	if err != nil || len(as) != 2 || as["foo"].TopicID != id || !reflect.DeepEqual(as["foo"].Partitions, assign) ||
		as["bar"].TopicID != ([16]byte{}) {
		t.Fatalf("assignments: %+v %v", as, err)
	}
	cfgs, err := other.GetTopicConfigs([]string{"foo", "bar", "nope"})
	if err != nil || cfgs["foo"]["cleanup.policy"] != "compact" || len(cfgs["bar"]) != 0 || cfgs["nope"] == nil {
		t.Fatalf("configs: %v %v", cfgs, err)
	}
	raw, _, err := other.impl.get(topicConfigPath("bar"))
	if err != nil || string(raw) != `{"version":1,"config":{}}` {
		t.Fatalf("empty config node: %s %v", raw, err)
	}

	a, ok, aw, err := other.WatchTopicAssignment("foo")
	if err != nil || !ok || a.ZkVersion != 0 {
		t.Fatalf("watch assignment: %+v %v %v", a, ok, err)
	}
	a.Partitions[2] = []int32{1, 2}
	a.Removing = map[int32][]int32{0: {2}}
	nv, err := c.SetTopicAssignment(ver, a)
	if err != nil || nv != 1 {
		t.Fatalf("set: %d %v", nv, err)
	}
	waitFired(t, aw, "assignment data watch")
	if _, err := c.SetTopicAssignment(ver, a); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale zkVersion: %v", err)
	}
	a.ZkVersion = nv
	if _, err := c.SetTopicAssignment(ver+1, a); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("wrong epoch: %v", err)
	}
	got, _, _, _ := other.WatchTopicAssignment("foo")
	if len(got.Partitions) != 3 || !reflect.DeepEqual(got.Removing, map[int32][]int32{0: {2}}) || got.ZkVersion != 1 {
		t.Fatalf("after set: %+v", got)
	}
	// A missing topic gives an exists watch that fires on creation.
	_, ok, mw, err := other.WatchTopicAssignment("later")
	if err != nil || ok {
		t.Fatalf("missing: %v %v", ok, err)
	}
	notFired(t, mw, "missing topic")
	if err := c.CreateTopic("later", map[int32][]int32{0: {1}}, id, nil); err != nil {
		t.Fatal(err)
	}
	waitFired(t, mw, "topic created")
}

func TestPartitionStates(t *testing.T) {
	c, _ := setup(t)
	ver := elect(t, c, 1)
	if err := c.CreateTopic("t", map[int32][]int32{0: {1, 2}, 1: {2, 1}}, [16]byte{9}, nil); err != nil {
		t.Fatal(err)
	}
	tp0, tp1 := TopicPartition{"t", 0}, TopicPartition{"t", 1}
	states := map[TopicPartition]LeaderIsr{
		tp0: {Leader: 1, LeaderEpoch: 0, ISR: []int32{1, 2}, ControllerEpoch: 1},
		tp1: {Leader: 2, LeaderEpoch: 0, ISR: []int32{2, 1}, ControllerEpoch: 1},
	}
	res, err := c.CreatePartitionStates(ver, states)
	if err != nil || len(res) != 2 || res[tp0] != nil || res[tp1] != nil {
		t.Fatalf("create: %v %v", res, err)
	}
	res, err = c.CreatePartitionStates(ver, map[TopicPartition]LeaderIsr{tp0: states[tp0]})
	if err != nil || !errors.Is(res[tp0], ErrNodeExists) {
		t.Fatalf("create again: %v %v", res, err)
	}
	got, err := c.GetPartitionStates([]TopicPartition{tp0, tp1, {"t", 7}, {"nope", 0}})
	if err != nil || len(got) != 2 || !reflect.DeepEqual(got[tp0], states[tp0]) || got[tp1].ZkVersion != 0 {
		t.Fatalf("get: %+v %v", got, err)
	}
	raw, _, _ := c.impl.get(partitionStatePath(tp0))
	if string(raw) != `{"controller_epoch":1,"leader":1,"version":1,"leader_epoch":0,"isr":[1,2]}` {
		t.Fatalf("raw state %s", raw)
	}

	s0 := states[tp0]
	s0.LeaderEpoch, s0.ISR = 1, []int32{1}
	s1 := states[tp1]
	s1.ZkVersion = 5 // stale
	nv, errs, err := c.UpdatePartitionStates(ver, map[TopicPartition]LeaderIsr{tp0: s0, tp1: s1})
	if err != nil || nv[tp0] != 1 || !errors.Is(errs[tp1], ErrBadVersion) || len(errs) != 1 {
		t.Fatalf("update: %v %v %v", nv, errs, err)
	}
	if _, _, err := c.UpdatePartitionStates(ver+7, map[TopicPartition]LeaderIsr{tp0: s0}); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced update: %v", err)
	}
	// The leader's own ISR write: conditional, unfenced.
	s0.ZkVersion = 1
	s0.ISR = []int32{1, 2}
	v, err := c.UpdatePartitionStateAsLeader(tp0, s0)
	if err != nil || v != 2 {
		t.Fatalf("leader write: %d %v", v, err)
	}
	if _, err := c.UpdatePartitionStateAsLeader(tp0, s0); !errors.Is(err, ErrBadVersion) {
		t.Fatalf("stale leader write: %v", err)
	}
	got, _ = c.GetPartitionStates([]TopicPartition{tp0})
	if got[tp0].ZkVersion != 2 || !reflect.DeepEqual(got[tp0].ISR, []int32{1, 2}) || got[tp0].LeaderEpoch != 1 {
		t.Fatalf("final: %+v", got[tp0])
	}
}

func TestIsrChangeNotifications(t *testing.T) {
	c, _ := setup(t)
	ver := elect(t, c, 1)
	names, w, err := c.WatchIsrChangeNotifications()
	if err != nil || len(names) != 0 {
		t.Fatalf("initial: %v %v", names, err)
	}
	if err := c.CreateIsrChangeNotification([]TopicPartition{{"a", 0}, {"b", 1}}); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, "isr change")
	if err := c.CreateIsrChangeNotification([]TopicPartition{{"b", 1}, {"c", 2}}); err != nil {
		t.Fatal(err)
	}
	names, _, err = c.WatchIsrChangeNotifications()
	if err != nil || len(names) != 2 || names[0] >= names[1] || names[0][:len(isrChangePrefix)] != isrChangePrefix ||
		len(names[0]) != len(isrChangePrefix)+10 {
		t.Fatalf("names: %v %v", names, err)
	}
	tps, err := c.GetIsrChangeNotifications(append(names, "isr_change_9999999999"))
	if err != nil || !reflect.DeepEqual(tps, []TopicPartition{{"a", 0}, {"b", 1}, {"c", 2}}) {
		t.Fatalf("get: %v %v", tps, err)
	}
	if err := c.DeleteIsrChangeNotifications(ver+1, names); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced delete: %v", err)
	}
	if err := c.DeleteIsrChangeNotifications(ver, names); err != nil {
		t.Fatal(err)
	}
	if names, _, _ := c.WatchIsrChangeNotifications(); len(names) != 0 {
		t.Fatalf("left: %v", names)
	}
}

func TestTopicDeletion(t *testing.T) {
	c, connect := setup(t)
	other := newClient(t, connect)
	ver := elect(t, c, 1)
	if err := c.CreateTopic("gone", map[int32][]int32{0: {1}, 1: {1}}, [16]byte{1}, map[string]string{"a": "b"}); err != nil {
		t.Fatal(err)
	}
	tps := map[TopicPartition]LeaderIsr{{"gone", 0}: {Leader: 1, ISR: []int32{1}}, {"gone", 1}: {Leader: 1, ISR: []int32{1}}}
	if _, err := c.CreatePartitionStates(ver, tps); err != nil {
		t.Fatal(err)
	}
	marked, w, err := c.WatchTopicDeletions()
	if err != nil || len(marked) != 0 {
		t.Fatalf("initial: %v %v", marked, err)
	}
	if err := other.MarkTopicForDeletion("gone"); err != nil {
		t.Fatal(err)
	}
	waitFired(t, w, "delete_topics")
	if err := other.MarkTopicForDeletion("gone"); !errors.Is(err, ErrNodeExists) {
		t.Fatalf("mark twice: %v", err)
	}
	if ok, err := c.IsTopicMarkedForDeletion("gone"); !ok || err != nil {
		t.Fatalf("marked: %v %v", ok, err)
	}
	if err := c.DeleteTopicZNodes(ver+1, "gone"); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced: %v", err)
	}
	if err := c.DeleteTopicZNodes(ver, "gone"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.TopicExists("gone"); ok {
		t.Fatal("topic survived")
	}
	if ok, _, _ := c.impl.exists(topicConfigPath("gone")); ok {
		t.Fatal("config survived")
	}
	if err := c.DeleteTopicZNodes(ver, "gone"); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := c.DeleteTopicDeletionMarkers(ver, []string{"gone", "never"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.IsTopicMarkedForDeletion("gone"); ok {
		t.Fatal("marker survived")
	}
}

func TestFeatureZNode(t *testing.T) {
	c, _ := setup(t)
	ver := elect(t, c, 1)
	if err := c.EnsureFeatureZNode(ver + 1); !errors.Is(err, ErrControllerMoved) {
		t.Fatalf("fenced create: %v", err)
	}
	if err := c.EnsureFeatureZNode(ver); err != nil {
		t.Fatal(err)
	}
	raw, st, _ := c.impl.get(featurePath)
	if string(raw) != `{"features":{"metadata.version":{"max_version_level":19}},"version":2,"status":1}` || st.Version != 0 {
		t.Fatalf("created: %s v%d", raw, st.Version)
	}
	if err := c.EnsureFeatureZNode(ver); err != nil {
		t.Fatal(err)
	}
	if _, st, _ := c.impl.get(featurePath); st.Version != 0 {
		t.Fatal("unchanged node rewritten")
	}
	// A disabled node is enabled with no features.
	if _, err := c.impl.conn.Set(c.impl.abs(featurePath), []byte(`{"version":1,"status":0,"features":{}}`), -1); err != nil {
		t.Fatal(err)
	}
	if err := c.EnsureFeatureZNode(ver); err != nil {
		t.Fatal(err)
	}
	if raw, _, _ := c.impl.get(featurePath); string(raw) != `{"features":{},"version":2,"status":1}` {
		t.Fatalf("re-enabled: %s", raw)
	}
}
