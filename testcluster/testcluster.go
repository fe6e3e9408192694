// Package testcluster runs a real zkafka cluster for tests: one real ZooKeeper per test package (Debian's
// package, see internal/zktest), a chroot per cluster, and N brokers as separate processes of the zkafka binary
// on free 127.0.0.1 ports, so that stop (SIGTERM), kill -9 and restart are the real thing. It is for zkafka's
// own integration tests and for users' tests alike.
package testcluster

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/zktest"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

// Main runs a test package with one shared ZooKeeper: func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }.
func Main(m *testing.M) int { return zktest.Main(m) }

// ZooKeeperAddr is the shared ZooKeeper's host:port.
func ZooKeeperAddr() string { return zktest.Addr() }

// Options shape a cluster.
type Options struct {
	Brokers   int               // number of brokers (default 1); ids are 0..Brokers-1
	Overrides map[string]string // server.properties entries for every broker
}

// Cluster is a running set of brokers on one ZooKeeper chroot.
type Cluster struct {
	t         testing.TB
	dir       string
	ZKConnect string // zookeeper.connect with this cluster's chroot
	Brokers   []*Broker
	overrides map[string]string

	zkMu sync.Mutex
	zk   *zkutils.Client // see ZK
}

// Broker is one broker process.
type Broker struct {
	ID      int32
	Port    int
	Dir     string // holds server.properties, logs/ (log.dirs) and server.log
	cluster *Cluster

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	direct *kgo.Client // talks to this broker only; see MetadataLeaders
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary returns the zkafka binary the brokers run: $ZKAFKA_BIN, or one built once per test process.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if p := os.Getenv("ZKAFKA_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "zkafka-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "zkafka")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/zkafka/zkafka/cmd/zkafka")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building zkafka: %v\n%s", err, out)
		}
	})
	return binPath, buildErr
}

// New starts a cluster and waits until every broker is registered and one is controller. Brokers are stopped at
// the end of the test.
func New(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Brokers <= 0 {
		opts.Brokers = 1
	}
	if _, err := Binary(); err != nil {
		t.Fatal(err)
	}
	c := &Cluster{t: t, dir: t.TempDir(), ZKConnect: zktest.Connect(t), overrides: opts.Overrides}
	for i := 0; i < opts.Brokers; i++ {
		port, err := zktest.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		b := &Broker{ID: int32(i), Port: port, Dir: filepath.Join(c.dir, fmt.Sprintf("broker-%d", i)), cluster: c}
		if err := os.MkdirAll(b.Dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := b.writeConfig(opts.Overrides); err != nil {
			t.Fatal(err)
		}
		c.Brokers = append(c.Brokers, b)
	}
	t.Cleanup(func() {
		for _, b := range c.Brokers {
			b.Kill()
			b.closeDirect()
		}
		if t.Failed() {
			for _, b := range c.Brokers {
				out, _ := os.ReadFile(filepath.Join(b.Dir, "server.log"))
				t.Logf("---- broker %d log (tail) ----\n%s", b.ID, zktest.Tail(string(out), tailBytes()))
			}
		}
	})
	for _, b := range c.Brokers {
		if err := b.Start(); err != nil {
			t.Fatal(err)
		}
	}
	c.WaitForBrokers(t, len(c.Brokers))
	return c
}

func (b *Broker) writeConfig(overrides map[string]string) error {
	props := map[string]string{
		"broker.id":                        fmt.Sprint(b.ID),
		"listeners":                        fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", b.Port),
		"advertised.listeners":             fmt.Sprintf("PLAINTEXT://127.0.0.1:%d", b.Port),
		"log.dirs":                         filepath.Join(b.Dir, "logs"),
		"zookeeper.connect":                b.cluster.ZKConnect,
		"zookeeper.session.timeout.ms":     "6000",
		"num.io.threads":                   "4",
		"group.initial.rebalance.delay.ms": "0",
		"offsets.topic.replication.factor": "1",
	}
	for k, v := range overrides {
		props[k] = v
	}
	keys := make([]string, 0, len(props))
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s\n", k, props[k])
	}
	return os.WriteFile(b.ConfigPath(), []byte(sb.String()), 0o644)
}

// Reconfigure rewrites the broker's server.properties with the cluster's settings plus overrides; it takes effect
// at the next Start.
func (b *Broker) Reconfigure(overrides map[string]string) error {
	merged := map[string]string{}
	for k, v := range b.cluster.overrides {
		merged[k] = v
	}
	for k, v := range overrides {
		merged[k] = v
	}
	return b.writeConfig(merged)
}

// ConfigPath is the broker's server.properties.
func (b *Broker) ConfigPath() string { return filepath.Join(b.Dir, "server.properties") }

// LogDir is the broker's log.dirs entry.
func (b *Broker) LogDir() string { return filepath.Join(b.Dir, "logs") }

// Addr is host:port of the broker's PLAINTEXT listener.
func (b *Broker) Addr() string { return fmt.Sprintf("127.0.0.1:%d", b.Port) }

// Start launches the broker process and waits until it accepts connections.
func (b *Broker) Start() error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cmd != nil {
		return fmt.Errorf("broker %d is already running", b.ID)
	}
	logPath := filepath.Join(b.Dir, "server.log")
	var logStart int64
	if st, err := os.Stat(logPath); err == nil {
		logStart = st.Size()
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, "kafka-server-start", b.ConfigPath())
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), "ZKAFKA_LOG_LEVEL="+envOr("ZKAFKA_TEST_LOG_LEVEL", "info"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	b.cmd, b.done = cmd, done
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			b.cmd = nil
			out, _ := os.ReadFile(filepath.Join(b.Dir, "server.log"))
			return fmt.Errorf("broker %d exited during start-up:\n%s", b.ID, zktest.Tail(string(out), 4000))
		default:
		}
		// Listening is not enough: the broker binds before it registers in ZooKeeper. "started" is logged once
		// registration and the controller are up.
		if started(logPath, logStart, b.ID) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("broker %d did not start within 60s", b.ID)
}

func started(logPath string, from int64, id int32) bool {
	f, err := os.Open(logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	if _, err := f.Seek(from, 0); err != nil {
		return false
	}
	out, err := io.ReadAll(f)
	return err == nil && strings.Contains(string(out), fmt.Sprintf("[KafkaServer id=%d] started", id))
}

// StartAfterKill starts a broker that was killed with kill -9. Until ZooKeeper expires the killed process's
// session, its /brokers/ids registration still exists and the broker refuses to start (as Kafka does), so this
// retries for up to a minute.
func (b *Broker) StartAfterKill() error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := b.Start()
		if err == nil || !strings.Contains(err.Error(), "registered by another live session") || time.Now().After(deadline) {
			return err
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// Running reports whether the broker process is alive.
func (b *Broker) Running() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.cmd != nil
}

func (b *Broker) signalAndWait(sig syscall.Signal, timeout time.Duration) error {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.mu.Unlock()
	if cmd == nil {
		return nil
	}
	cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		b.mu.Lock()
		b.cmd = nil
		b.mu.Unlock()
		return fmt.Errorf("broker %d did not exit within %v of %v; killed", b.ID, timeout, sig)
	}
	b.mu.Lock()
	b.cmd = nil
	b.mu.Unlock()
	return nil
}

// Stop sends SIGTERM (a clean shutdown, as kafka-server-stop.sh does) and waits for the process to exit.
func (b *Broker) Stop() error { return b.signalAndWait(syscall.SIGTERM, 60*time.Second) }

// Kill is kill -9: no flush, no checkpoints, no deregistration (ZooKeeper expires the session).
func (b *Broker) Kill() { b.signalAndWait(syscall.SIGKILL, 30*time.Second) }

// Restart stops the broker cleanly and starts it again with the same id, port and log dirs.
func (b *Broker) Restart() error {
	if err := b.Stop(); err != nil {
		return err
	}
	return b.Start()
}

// Bootstrap lists every broker's address.
func (c *Cluster) Bootstrap() []string {
	out := make([]string, len(c.Brokers))
	for i, b := range c.Brokers {
		out[i] = b.Addr()
	}
	return out
}

// Client returns a franz-go client bootstrapped on the cluster, closed at the end of the test.
func (c *Cluster) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.Bootstrap()...)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns a kadm client on the cluster.
func (c *Cluster) Admin(t testing.TB) *kadm.Client {
	return kadm.NewClient(c.Client(t))
}

// WaitFor polls cond until it holds or the timeout passes (then the test fails with msg).
func WaitFor(t testing.TB, timeout time.Duration, msg string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, msg)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// WaitForBrokers waits until every running broker's own metadata lists n brokers and a controller. Each broker is
// asked directly (not through a client that routes to "any broker"), so a broker that missed an UpdateMetadata
// cannot hide behind the others, and a timeout reports what each one saw.
func (c *Cluster) WaitForBrokers(t testing.TB, n int) {
	t.Helper()
	views := map[int32]string{}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ok := true
		for _, b := range c.Brokers {
			if !b.Running() {
				continue
			}
			brokers, controller, err := b.ownMetadata()
			views[b.ID] = fmt.Sprintf("brokers %v, controller %d, error %v", brokers, controller, err)
			if err != nil || len(brokers) != n || controller < 0 {
				ok = false
			}
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 60s waiting for %d brokers and a controller in every broker's metadata: %v", n, views)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// ownMetadata asks this broker, over a connection of its own, which brokers and controller its metadata cache holds.
func (b *Broker) ownMetadata() (brokers []int32, controller int32, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := network.Dial(ctx, b.Addr(), "testcluster")
	if err != nil {
		return nil, -1, err
	}
	defer conn.Close()
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(12)
	resp, err := conn.Request(ctx, req)
	if err != nil {
		return nil, -1, err
	}
	m := resp.(*kmsg.MetadataResponse)
	for _, br := range m.Brokers {
		brokers = append(brokers, br.NodeID)
	}
	return brokers, m.ControllerID, nil
}

// WaitForLeaders waits until every partition of the topic has a leader in metadata.
func (c *Cluster) WaitForLeaders(t testing.TB, topic string, partitions int) {
	t.Helper()
	adm := c.Admin(t)
	WaitFor(t, 60*time.Second, "leaders for "+topic, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		td, ok := m.Topics[topic]
		if !ok || td.Err != nil || len(td.Partitions) != partitions {
			return false
		}
		for _, p := range td.Partitions {
			if p.Leader < 0 || p.Err != nil {
				return false
			}
		}
		return true
	})
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// tailBytes is how much of each broker's server.log a failed test prints: ZKAFKA_TEST_LOG_TAIL bytes, or 6000.
func tailBytes() int {
	if n, err := strconv.Atoi(os.Getenv("ZKAFKA_TEST_LOG_TAIL")); err == nil && n > 0 {
		return n
	}
	return 6000
}
