package zkutils_test

// This file checks, against a real broker process and with a raw ZooKeeper client that knows nothing of zkutils,
// that what a running zkafka cluster leaves in ZooKeeper is Kafka 3.7's tree with Kafka's JSON
// (reference/zookeeper-layout.md): DESIGN.md's promise that `zkCli.sh ls -R /` cannot tell us from Kafka.
//
// No TestMain here: the package's internal tests (zk_test.go) already define one that starts the shared
// ZooKeeper, and internal and external test files of one directory build into a single test binary.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

// rawZK is a go-zookeeper connection rooted at a cluster's chroot.
type rawZK struct {
	t      *testing.T
	conn   *zk.Conn
	chroot string
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

func dialRaw(t *testing.T, zkConnect string) *rawZK {
	t.Helper()
	chroot := ""
	if i := strings.IndexByte(zkConnect, '/'); i >= 0 {
		chroot = zkConnect[i:]
	}
	if chroot == "" || chroot == "/" {
		t.Fatalf("cluster connect string %q has no chroot", zkConnect)
	}
	conn, events, err := zk.Connect([]string{testcluster.ZooKeeperAddr()}, 10*time.Second, zk.WithLogger(discardLogger{}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	deadline := time.After(20 * time.Second)
	for conn.State() != zk.StateHasSession {
		select {
		case <-events:
		case <-deadline:
			t.Fatalf("raw ZooKeeper client: no session (state %v)", conn.State())
		}
	}
	return &rawZK{t: t, conn: conn, chroot: chroot}
}

func (r *rawZK) exists(path string) bool {
	r.t.Helper()
	ok, _, err := r.conn.Exists(r.chroot + path)
	if err != nil {
		r.t.Fatalf("exists %s: %v", path, err)
	}
	return ok
}

func (r *rawZK) get(path string) ([]byte, *zk.Stat) {
	r.t.Helper()
	data, st, err := r.conn.Get(r.chroot + path)
	if err != nil {
		r.t.Fatalf("get %s: %v", path, err)
	}
	return data, st
}

// getJSON decodes a znode as a JSON object; numbers stay float64 and strings stay strings, so a test can tell
// Kafka's `"version":"1"` from `"version":1`.
func (r *rawZK) getJSON(path string) (map[string]any, *zk.Stat) {
	r.t.Helper()
	data, st := r.get(path)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		r.t.Fatalf("%s: not a JSON object: %v: %q", path, err, data)
	}
	return m, st
}

// checkFields compares each wanted field with the decoded value, type included (json.Number-free decoding
// gives float64 for numbers, string for strings, []any, map[string]any).
func checkFields(t *testing.T, path string, got map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: field %q missing (got %v)", path, k, got)
			continue
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: field %q = %#v (%T), want %#v (%T)", path, k, g, g, w, w)
		}
	}
}

// checkStringTimestamp asserts a millisecond timestamp that Kafka writes as a JSON string.
func checkStringTimestamp(t *testing.T, path string, got map[string]any, field string) {
	t.Helper()
	s, ok := got[field].(string)
	if !ok {
		t.Errorf("%s: %q = %#v (%T), want a decimal string", path, field, got[field], got[field])
		return
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Errorf("%s: %q = %q is not a decimal number", path, field, s)
		return
	}
	if d := time.Since(time.UnixMilli(ms)); d < -time.Minute || d > time.Hour {
		t.Errorf("%s: %q = %s is %v away from now", path, field, s, d)
	}
}

// checkUUID asserts a Kafka Uuid as written in ZooKeeper: 16 bytes, base64url without padding (22 chars).
func checkUUID(t *testing.T, path string, got map[string]any, field string) {
	t.Helper()
	s, ok := got[field].(string)
	if !ok {
		t.Errorf("%s: %q = %#v (%T), want a string", path, field, got[field], got[field])
		return
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if len(s) != 22 || err != nil || len(b) != 16 {
		t.Errorf("%s: %q = %q is not a 22-char base64url 16-byte id (err %v)", path, field, s, err)
	}
}

func TestIntegrationZooKeeperLayout(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	adm := c.Admin(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const topic, doomed = "layout", "doomed"
	retention := "86400000"
	resp, err := adm.CreateTopic(ctx, 3, 1, map[string]*string{"retention.ms": &retention}, topic)
	if err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", topic, err, resp.Err)
	}
	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, doomed); err != nil || resp.Err != nil {
		t.Fatalf("create %s: %v %v", doomed, err, resp.Err)
	}
	c.WaitForLeaders(t, topic, 3)
	c.WaitForLeaders(t, doomed, 2)

	cl := c.Client(t, kgo.DefaultProduceTopic(topic))
	for i := 0; i < 6; i++ {
		r := &kgo.Record{Partition: int32(i % 3), Value: []byte(fmt.Sprintf("v%d", i))}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	del, err := adm.DeleteTopics(ctx, doomed)
	if err != nil {
		t.Fatal(err)
	}
	if err := del.Error(); err != nil {
		t.Fatalf("delete %s: %v", doomed, err)
	}

	z := dialRaw(t, c.ZKConnect)
	port := float64(c.Brokers[0].Port)

	t.Run("PersistentPaths", func(t *testing.T) {
		for _, p := range []string{"/consumers", "/brokers/ids", "/brokers/topics", "/config/changes",
			"/admin/delete_topics", "/brokers/seqid", "/isr_change_notification", "/latest_producer_id_block",
			"/log_dir_event_notification", "/config/topics", "/config/clients", "/config/users",
			"/config/brokers", "/config/ips"} {
			if !z.exists(p) {
				t.Errorf("persistent path %s is missing", p)
			}
		}
	})

	t.Run("ClusterID", func(t *testing.T) {
		m, _ := z.getJSON("/cluster/id")
		checkFields(t, "/cluster/id", m, map[string]any{"version": "1"})
		checkUUID(t, "/cluster/id", m, "id")
	})

	t.Run("Controller", func(t *testing.T) {
		m, st := z.getJSON("/controller")
		checkFields(t, "/controller", m, map[string]any{"version": 2.0, "brokerid": 0.0, "kraftControllerEpoch": -1.0})
		checkStringTimestamp(t, "/controller", m, "timestamp")
		if st.EphemeralOwner == 0 {
			t.Errorf("/controller is persistent, want ephemeral")
		}
		data, st := z.get("/controller_epoch")
		if string(data) != "1" {
			t.Errorf("/controller_epoch = %q, want plain decimal %q", data, "1")
		}
		if st.EphemeralOwner != 0 {
			t.Errorf("/controller_epoch is ephemeral, want persistent")
		}
	})

	t.Run("Feature", func(t *testing.T) {
		m, _ := z.getJSON("/feature")
		checkFields(t, "/feature", m, map[string]any{"version": 2.0, "status": 1.0,
			"features": map[string]any{"metadata.version": map[string]any{"max_version_level": 19.0}}})
	})

	t.Run("BrokerRegistration", func(t *testing.T) {
		m, st := z.getJSON("/brokers/ids/0")
		if st.EphemeralOwner == 0 {
			t.Errorf("/brokers/ids/0 is persistent, want ephemeral")
		}
		endpoint := fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", c.Brokers[0].Port)
		checkFields(t, "/brokers/ids/0", m, map[string]any{
			"version":                        5.0,
			"host":                           "127.0.0.1",
			"port":                           port,
			"jmx_port":                       -1.0,
			"endpoints":                      []any{endpoint},
			"listener_security_protocol_map": map[string]any{"PLAINTEXT": "PLAINTEXT"},
			"features":                       map[string]any{"metadata.version": map[string]any{"min_version": 1.0, "max_version": 19.0}},
		})
		checkStringTimestamp(t, "/brokers/ids/0", m, "timestamp")
		if _, ok := m["rack"]; ok {
			t.Errorf("/brokers/ids/0 has a rack without broker.rack set: %v", m["rack"])
		}
	})

	t.Run("TopicAssignment", func(t *testing.T) {
		path := "/brokers/topics/" + topic
		m, st := z.getJSON(path)
		if st.EphemeralOwner != 0 {
			t.Errorf("%s is ephemeral, want persistent", path)
		}
		checkFields(t, path, m, map[string]any{
			"version":           3.0,
			"partitions":        map[string]any{"0": []any{0.0}, "1": []any{0.0}, "2": []any{0.0}},
			"adding_replicas":   map[string]any{},
			"removing_replicas": map[string]any{},
		})
		checkUUID(t, path, m, "topic_id")
	})

	t.Run("PartitionState", func(t *testing.T) {
		for p := 0; p < 3; p++ {
			path := fmt.Sprintf("/brokers/topics/%s/partitions/%d/state", topic, p)
			m, _ := z.getJSON(path)
			checkFields(t, path, m, map[string]any{
				"controller_epoch": 1.0, "leader": 0.0, "version": 1.0, "leader_epoch": 0.0, "isr": []any{0.0},
			})
			if _, ok := m["leader_recovery_state"]; ok {
				t.Errorf("%s: leader_recovery_state present for a RECOVERED partition", path)
			}
			// The parents are created empty, as Kafka's controller does.
			for _, parent := range []string{fmt.Sprintf("/brokers/topics/%s/partitions/%d", topic, p), "/brokers/topics/" + topic + "/partitions"} {
				if data, _ := z.get(parent); len(data) != 0 {
					t.Errorf("%s holds %q, want empty", parent, data)
				}
			}
		}
	})

	t.Run("TopicConfig", func(t *testing.T) {
		path := "/config/topics/" + topic
		m, _ := z.getJSON(path)
		checkFields(t, path, m, map[string]any{"version": 1.0})
		cfg, ok := m["config"].(map[string]any)
		if !ok {
			t.Fatalf("%s: config = %#v, want an object", path, m["config"])
		}
		if got := cfg["retention.ms"]; got != retention {
			t.Errorf("%s: config retention.ms = %#v (%T), want %q", path, got, got, retention)
		}
	})

	t.Run("DeletedTopicGone", func(t *testing.T) {
		gone := []string{"/brokers/topics/" + doomed, "/config/topics/" + doomed, "/admin/delete_topics/" + doomed}
		testcluster.WaitFor(t, 30*time.Second, "deletion of "+doomed+" to complete in ZooKeeper", func() bool {
			for _, p := range gone {
				ok, _, err := z.conn.Exists(z.chroot + p)
				if err != nil || ok {
					return false
				}
			}
			return true
		})
		// The surviving topic is untouched.
		if !z.exists("/brokers/topics/" + topic) {
			t.Errorf("/brokers/topics/%s vanished with the deleted topic", topic)
		}
	})
}
