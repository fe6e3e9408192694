package testcluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/zkutils"
)

// Pause freezes the broker process (SIGSTOP): it keeps its sockets and its ZooKeeper session until the session
// times out, which is how a long GC pause or a hung host looks to the cluster.
// It returns once every thread of the process is stopped: a signal is delivered asynchronously, and a thread
// still running could finish a fetch the caller believes the broker missed.
func (b *Broker) Pause() error {
	if err := b.signal(syscall.SIGSTOP); err != nil {
		return err
	}
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("broker %d is not running", b.ID)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(5 * time.Second)
	for !processStopped(pid) {
		if time.Now().After(deadline) {
			return fmt.Errorf("broker %d (pid %d) did not stop within 5s of SIGSTOP", b.ID, pid)
		}
		time.Sleep(time.Millisecond)
	}
	return nil
}

// processStopped reports whether every thread of pid is in the stopped state ('T' in /proc/PID/task/TID/stat).
func processStopped(pid int) bool {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) == 0 {
		return false
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			return false
		}
		// The state follows the command name, which is in parentheses and may itself contain spaces.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 || i+2 >= len(stat) || (stat[i+2] != 'T' && stat[i+2] != 't') {
			return false
		}
	}
	return true
}

// Resume continues a paused broker (SIGCONT).
func (b *Broker) Resume() error { return b.signal(syscall.SIGCONT) }

func (b *Broker) signal(sig syscall.Signal) error {
	b.mu.Lock()
	cmd := b.cmd
	b.mu.Unlock()
	if cmd == nil {
		return fmt.Errorf("broker %d is not running", b.ID)
	}
	return cmd.Process.Signal(sig)
}

// Terminate is kafka-server-stop.sh: SIGTERM, after which the broker runs its controlled shutdown (the controller
// moves its leaders away) before it stops. It waits for the process to exit, as Stop does.
func (b *Broker) Terminate() error { return b.Stop() }

// TerminateAsync sends SIGTERM and returns at once; the channel yields Stop's result once the process exited, so
// a test can watch the cluster while the broker shuts down.
func (b *Broker) TerminateAsync() <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- b.Stop() }()
	return ch
}

// ServerLog is everything the broker process has logged so far (server.log, all its runs).
func (b *Broker) ServerLog() string {
	out, _ := os.ReadFile(filepath.Join(b.Dir, "server.log"))
	return string(out)
}

// WaitForLog waits until the broker's server.log contains s.
func (b *Broker) WaitForLog(t testing.TB, timeout time.Duration, s string) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("broker %d to log %q", b.ID, s), func() bool { return strings.Contains(b.ServerLog(), s) })
}

// Broker returns the broker with the given id, or nil.
func (c *Cluster) Broker(id int32) *Broker {
	for _, b := range c.Brokers {
		if b.ID == id {
			return b
		}
	}
	return nil
}

// ZK is a ZooKeeper session on the cluster's chroot, opened on first use and closed at the end of the test. It
// reads what the brokers wrote (controller, partition states) the way an operator's zookeeper-shell would.
func (c *Cluster) ZK() (*zkutils.Client, error) {
	c.zkMu.Lock()
	defer c.zkMu.Unlock()
	if c.zk != nil {
		return c.zk, nil
	}
	cl, err := zkutils.Connect(zkutils.Config{Connect: c.ZKConnect, SessionTimeout: 30 * time.Second, ConnectionTimeout: 15 * time.Second})
	if err != nil {
		return nil, err
	}
	c.zk = cl
	c.t.Cleanup(cl.Close)
	return cl, nil
}

// ControllerID is the broker named by /controller, or -1 while there is none.
func (c *Cluster) ControllerID() (int32, error) {
	zk, err := c.ZK()
	if err != nil {
		return -1, err
	}
	id, ok, err := zk.GetControllerID()
	if err != nil || !ok {
		return -1, err
	}
	return id, nil
}

// ControllerEpoch is the value of /controller_epoch (0 when absent).
func (c *Cluster) ControllerEpoch() (int32, error) {
	zk, err := c.ZK()
	if err != nil {
		return 0, err
	}
	epoch, _, _, err := zk.GetControllerEpoch()
	return epoch, err
}

// PartitionState reads /brokers/topics/<topic>/partitions/<p>/state (leader, leader epoch, ISR, controller epoch
// and the znode's version).
func (c *Cluster) PartitionState(topic string, partition int32) (zkutils.LeaderIsr, error) {
	zk, err := c.ZK()
	if err != nil {
		return zkutils.LeaderIsr{}, err
	}
	tp := zkutils.TopicPartition{Topic: topic, Partition: partition}
	states, err := zk.GetPartitionStates([]zkutils.TopicPartition{tp})
	if err != nil {
		return zkutils.LeaderIsr{}, err
	}
	st, ok := states[tp]
	if !ok {
		return zkutils.LeaderIsr{}, fmt.Errorf("no state znode for %s-%d", topic, partition)
	}
	return st, nil
}

// PartitionStates reads the state znodes of partitions 0..n-1 of a topic.
func (c *Cluster) PartitionStates(topic string, n int) (map[int32]zkutils.LeaderIsr, error) {
	zk, err := c.ZK()
	if err != nil {
		return nil, err
	}
	tps := make([]zkutils.TopicPartition, n)
	for i := range tps {
		tps[i] = zkutils.TopicPartition{Topic: topic, Partition: int32(i)}
	}
	states, err := zk.GetPartitionStates(tps)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]zkutils.LeaderIsr, len(states))
	for tp, st := range states {
		out[tp.Partition] = st
	}
	if len(out) != n {
		return out, fmt.Errorf("%s has %d of %d partition state znodes", topic, len(out), n)
	}
	return out, nil
}

// Assignment is the topic's replica assignment from /brokers/topics/<topic> (partition → replicas, preferred
// first).
func (c *Cluster) Assignment(topic string) (map[int32][]int32, error) {
	zk, err := c.ZK()
	if err != nil {
		return nil, err
	}
	as, err := zk.GetTopicAssignments([]string{topic})
	if err != nil {
		return nil, err
	}
	a, ok := as[topic]
	if !ok {
		return nil, fmt.Errorf("topic %s has no assignment znode", topic)
	}
	return a.Partitions, nil
}

// WaitForController waits until /controller names a broker that satisfies ok, and returns it.
func (c *Cluster) WaitForController(t testing.TB, timeout time.Duration, ok func(id int32) bool) int32 {
	t.Helper()
	var id int32 = -1
	WaitFor(t, timeout, "a controller", func() bool {
		var err error
		id, err = c.ControllerID()
		return err == nil && id >= 0 && ok(id)
	})
	return id
}

// WaitForLeader waits until ZooKeeper's state of topic-partition names leader.
func (c *Cluster) WaitForLeader(t testing.TB, timeout time.Duration, topic string, partition, leader int32) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("leader of %s-%d to be %d", topic, partition, leader), func() bool {
		st, err := c.PartitionState(topic, partition)
		return err == nil && st.Leader == leader
	})
}

// WaitForMetadataLeader waits until every running broker's Metadata answer names leader for topic-partition.
func (c *Cluster) WaitForMetadataLeader(t testing.TB, timeout time.Duration, topic string, partition, leader int32) {
	t.Helper()
	WaitFor(t, timeout, fmt.Sprintf("metadata leader of %s-%d to be %d on every broker", topic, partition, leader), func() bool {
		for _, b := range c.Brokers {
			if !b.Running() {
				continue
			}
			l, err := b.MetadataLeader(topic, partition)
			if err != nil || l != leader {
				return false
			}
		}
		return true
	})
}

// MetadataLeader asks this broker alone (not the cluster) who leads topic-partition.
func (b *Broker) MetadataLeader(topic string, partition int32) (int32, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	leaders, err := b.MetadataLeaders(ctx, topic)
	if err != nil {
		return -1, err
	}
	l, ok := leaders[partition]
	if !ok {
		return -1, fmt.Errorf("broker %d has no metadata for %s-%d", b.ID, topic, partition)
	}
	return l, nil
}

// MetadataLeaders sends a Metadata request for topic to this broker only and returns partition → leader (-1 when
// leaderless), so a test sees each broker's own view rather than whichever broker a client picked.
func (b *Broker) MetadataLeaders(ctx context.Context, topic string) (map[int32]int32, error) {
	cl, err := b.directClient()
	if err != nil {
		return nil, err
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		return nil, err
	}
	out := map[int32]int32{}
	for _, t := range resp.Topics {
		if t.Topic == nil || *t.Topic != topic {
			continue
		}
		if t.ErrorCode != 0 {
			return nil, kerr.ErrorForCode(t.ErrorCode)
		}
		for _, p := range t.Partitions {
			out[p.Partition] = p.Leader
		}
	}
	return out, nil
}

func (b *Broker) directClient() (*kgo.Client, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.direct != nil {
		return b.direct, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		return nil, err
	}
	b.direct = cl
	return cl, nil
}

func (b *Broker) closeDirect() {
	b.mu.Lock()
	cl := b.direct
	b.direct = nil
	b.mu.Unlock()
	if cl != nil {
		cl.Close()
	}
}
