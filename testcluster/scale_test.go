package testcluster_test

// The controller scale run: three broker processes, 10,000 partitions (100 topics x 100 partitions, RF 3), and
// the times of topic creation, a controlled shutdown, a kill -9 of a broker and a kill -9 of the controller.
// It runs only with ZKAFKA_SCALE=1 (see controller/scale_results.txt for the command and the numbers kept).

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
	"github.com/zkafka/zkafka/zkutils"
)

func envInt(k string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(k)); err == nil && v > 0 {
		return v
	}
	return def
}

// scaleRun holds what the phases share.
type scaleRun struct {
	t         *testing.T
	c         *testcluster.Cluster
	topics    []string
	parts     int
	all       []zkutils.TopicPartition
	preferred map[zkutils.TopicPartition]int32
	profDir   string
	profSecs  int
	clients   map[int32]*kgo.Client
	clientsMu sync.Mutex
}

func TestScaleControllerOperations(t *testing.T) {
	if os.Getenv("ZKAFKA_SCALE") != "1" {
		t.Skip("set ZKAFKA_SCALE=1 to run the 10k-partition controller scale run")
	}
	nTopics := envInt("ZKAFKA_SCALE_TOPICS", 100)
	nParts := envInt("ZKAFKA_SCALE_PARTITIONS", 100)
	rf := envInt("ZKAFKA_SCALE_RF", 3)
	r := &scaleRun{t: t, parts: nParts, profDir: os.Getenv("ZKAFKA_SCALE_PROFILE_DIR"),
		profSecs: envInt("ZKAFKA_SCALE_PROFILE_SECONDS", 15), clients: map[int32]*kgo.Client{}}
	if r.profDir != "" {
		// Inherited by the broker processes (testcluster passes its environment on).
		t.Setenv("ZKAFKA_PPROF", "1")
		if err := os.MkdirAll(r.profDir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r.c = testcluster.New(t, testcluster.Options{Brokers: 3, Overrides: map[string]string{
		// The rebalance would move leaders back in the middle of a measurement.
		"auto.leader.rebalance.enable": "false",
	}})
	defer func() {
		for _, cl := range r.clients {
			cl.Close()
		}
	}()
	for i := 0; i < nTopics; i++ {
		r.topics = append(r.topics, fmt.Sprintf("scale-%03d", i))
	}
	t.Logf("cluster up: %d brokers, creating %d topics x %d partitions, RF %d", len(r.c.Brokers), nTopics, nParts, rf)

	// Creation: one CreateTopics for all topics, done when every broker's metadata has a leader for all.
	stopProf := r.profile("create")
	start := time.Now()
	r.createTopics(int32(nParts), int16(rf))
	created := time.Since(start)
	r.waitMetadata("leaders after creation", nil, func(int32) bool { return true })
	createdMD := time.Since(start)
	stopProf()
	r.loadAssignments()
	t.Logf("RESULT create %d partitions: CreateTopics answered in %v, all brokers' metadata in %v",
		len(r.all), created.Round(time.Millisecond), createdMD.Round(time.Millisecond))

	ctrl := r.controller()
	victim := (ctrl + 1) % int32(len(r.c.Brokers))

	// (b) Controlled shutdown of a broker that leads a third of the partitions.
	led := r.ledBy(victim)
	stopProf = r.profile("controlled-shutdown")
	start = time.Now()
	exited := r.c.Broker(victim).TerminateAsync()
	r.waitMetadata("leaders off the shutting-down broker", brokerSet(victim), func(l int32) bool { return l >= 0 && l != victim })
	moved := time.Since(start)
	if err := <-exited; err != nil {
		t.Fatal(err)
	}
	gone := time.Since(start)
	stopProf()
	r.checkZK(victim)
	t.Logf("RESULT controlled shutdown of broker %d leading %d partitions: leaders moved (ZK + all metadata) in %v, process exited in %v",
		victim, led, moved.Round(time.Millisecond), gone.Round(time.Millisecond))
	r.restoreBroker(victim, false)

	// (a) kill -9 of a broker that leads a third of the partitions.
	led = r.ledBy(victim)
	stopProf = r.profile("kill-broker")
	start = time.Now()
	r.c.Broker(victim).Kill()
	r.waitDeregistered(victim)
	expired := time.Since(start)
	r.waitMetadata("leaders off the killed broker", brokerSet(victim), func(l int32) bool { return l >= 0 && l != victim })
	done := time.Since(start)
	stopProf()
	r.checkZK(victim)
	t.Logf("RESULT kill -9 of broker %d leading %d partitions: session expired after %v, all partitions led (ZK + all metadata) %v after expiry (%v after the kill)",
		victim, led, expired.Round(time.Millisecond), (done - expired).Round(time.Millisecond), done.Round(time.Millisecond))
	r.restoreBroker(victim, true)

	// (c) kill -9 of the controller (which also leads a third of the partitions).
	ctrl = r.controller()
	led = r.ledBy(ctrl)
	stopProf = r.profile("kill-controller")
	start = time.Now()
	r.c.Broker(ctrl).Kill()
	newCtrl := r.c.WaitForController(t, 2*time.Minute, func(id int32) bool { return id != ctrl })
	elected := time.Since(start)
	r.waitMetadata("leaders after controller failover", brokerSet(ctrl), func(l int32) bool { return l >= 0 && l != ctrl })
	done = time.Since(start)
	stopProf()
	r.checkZK(ctrl)
	t.Logf("RESULT kill -9 of controller %d leading %d partitions: broker %d elected %v after the kill, all partitions led (ZK + all metadata) %v after election (%v after the kill)",
		ctrl, led, newCtrl, elected.Round(time.Millisecond), (done - elected).Round(time.Millisecond), done.Round(time.Millisecond))
	r.logFailoverSteps(newCtrl, time.Now().Add(-done))
}

func brokerSet(ids ...int32) map[int32]bool {
	m := map[int32]bool{}
	for _, id := range ids {
		m[id] = true
	}
	return m
}

func (r *scaleRun) controller() int32 {
	id, err := r.c.ControllerID()
	if err != nil || id < 0 {
		r.t.Fatalf("no controller: %v", err)
	}
	return id
}

func (r *scaleRun) createTopics(parts int32, rf int16) {
	req := kmsg.NewPtrCreateTopicsRequest()
	for _, name := range r.topics {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, parts, rf
		req.Topics = append(req.Topics, rt)
	}
	req.TimeoutMillis = 600000
	ctx, cancel := context.WithTimeout(context.Background(), 11*time.Minute)
	defer cancel()
	cl := r.c.Client(r.t, kgo.RequestTimeoutOverhead(11*time.Minute))
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		r.t.Fatalf("CreateTopics: %v", err)
	}
	for _, tr := range resp.Topics {
		if tr.ErrorCode != 0 {
			r.t.Fatalf("CreateTopics %s: %v", tr.Topic, kerr.ErrorForCode(tr.ErrorCode))
		}
	}
}

func (r *scaleRun) loadAssignments() {
	zk, err := r.c.ZK()
	if err != nil {
		r.t.Fatal(err)
	}
	as, err := zk.GetTopicAssignments(r.topics)
	if err != nil {
		r.t.Fatal(err)
	}
	r.all = nil
	r.preferred = map[zkutils.TopicPartition]int32{}
	for _, topic := range r.topics {
		for p, rs := range as[topic].Partitions {
			tp := zkutils.TopicPartition{Topic: topic, Partition: p}
			r.all = append(r.all, tp)
			r.preferred[tp] = rs[0]
		}
	}
}

// client talks to one broker only, so each broker's own metadata cache is what is checked.
func (r *scaleRun) client(id int32) *kgo.Client {
	r.clientsMu.Lock()
	defer r.clientsMu.Unlock()
	if cl, ok := r.clients[id]; ok {
		return cl
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.c.Broker(id).Addr()))
	if err != nil {
		r.t.Fatal(err)
	}
	r.clients[id] = cl
	return cl
}

// leaders is one broker's metadata answer for every partition of the run's topics.
func (r *scaleRun) leaders(id int32) (map[zkutils.TopicPartition]int32, error) {
	req := kmsg.NewPtrMetadataRequest()
	for _, name := range r.topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, r.client(id).SeedBrokers()[0])
	if err != nil {
		return nil, err
	}
	out := map[zkutils.TopicPartition]int32{}
	for _, t := range resp.Topics {
		if t.Topic == nil || t.ErrorCode != 0 {
			continue
		}
		for _, p := range t.Partitions {
			out[zkutils.TopicPartition{Topic: *t.Topic, Partition: p.Partition}] = p.Leader
		}
	}
	return out, nil
}

// waitMetadata waits until every running broker not in skip reports, for all partitions of the run, a leader
// that satisfies ok.
func (r *scaleRun) waitMetadata(what string, skip map[int32]bool, ok func(leader int32) bool) {
	r.t.Helper()
	want := len(r.topics) * r.parts
	why := ""
	testcluster.WaitFor(r.t, 10*time.Minute, what, func() bool {
		for _, b := range r.c.Brokers {
			if skip[b.ID] || !b.Running() {
				continue
			}
			ls, err := r.leaders(b.ID)
			if err != nil {
				why = err.Error()
				return false
			}
			if len(ls) != want {
				why = fmt.Sprintf("broker %d knows %d of %d partitions", b.ID, len(ls), want)
				return false
			}
			for tp, l := range ls {
				if !ok(l) {
					why = fmt.Sprintf("broker %d: %s-%d has leader %d", b.ID, tp.Topic, tp.Partition, l)
					return false
				}
			}
		}
		return true
	})
	if why != "" {
		r.t.Logf("%s: last wait was on %s", what, why)
	}
}

// ledBy counts the partitions the controller's view says id leads.
func (r *scaleRun) ledBy(id int32) int {
	ls, err := r.leaders(r.controller())
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, l := range ls {
		if l == id {
			n++
		}
	}
	return n
}

// checkZK asserts that ZooKeeper names a leader other than dead for every partition. The controller writes
// ZooKeeper before it tells the brokers, so once the metadata is right ZooKeeper must be too.
func (r *scaleRun) checkZK(dead int32) {
	r.t.Helper()
	zk, err := r.c.ZK()
	if err != nil {
		r.t.Fatal(err)
	}
	states, err := zk.GetPartitionStates(r.all)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, tp := range r.all {
		st, ok := states[tp]
		if !ok || st.Leader < 0 || st.Leader == dead {
			r.t.Fatalf("ZooKeeper state of %s-%d: %+v (found %v) after the metadata showed a leader", tp.Topic, tp.Partition, st, ok)
		}
	}
}

func (r *scaleRun) waitDeregistered(id int32) {
	r.t.Helper()
	zk, err := r.c.ZK()
	if err != nil {
		r.t.Fatal(err)
	}
	testcluster.WaitFor(r.t, 2*time.Minute, fmt.Sprintf("broker %d's registration to expire", id), func() bool {
		bs, err := zk.GetAllBrokers()
		if err != nil {
			return false
		}
		for _, b := range bs {
			if b.ID == id {
				return false
			}
		}
		return true
	})
}

// restoreIsr puts every replica back into its partition's ISR in ZooKeeper. Followers do not replicate yet, so
// nothing else would: the test does what a leader does once its followers caught up (a conditional write of the
// state znode and an ISR change notification), so that each phase starts with full ISRs.
func (r *scaleRun) restoreIsr() {
	r.t.Helper()
	zk, err := r.c.ZK()
	if err != nil {
		r.t.Fatal(err)
	}
	as, err := zk.GetTopicAssignments(r.topics)
	if err != nil {
		r.t.Fatal(err)
	}
	states, err := zk.GetPartitionStates(r.all)
	if err != nil {
		r.t.Fatal(err)
	}
	var changed []zkutils.TopicPartition
	for _, tp := range r.all {
		if rs := as[tp.Topic].Partitions[tp.Partition]; len(states[tp].ISR) < len(rs) {
			changed = append(changed, tp)
		}
	}
	start := time.Now()
	sem := make(chan struct{}, 64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for _, tp := range changed {
		st := states[tp]
		st.ISR = append([]int32(nil), as[tp.Topic].Partitions[tp.Partition]...)
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if _, err := zk.UpdatePartitionStateAsLeader(tp, st); err != nil {
				mu.Lock()
				firstErr = err
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		r.t.Fatal(firstErr)
	}
	for len(changed) > 0 {
		n := min(len(changed), 1000)
		if err := zk.CreateIsrChangeNotification(changed[:n]); err != nil {
			r.t.Fatal(err)
		}
		changed = changed[n:]
	}
	r.t.Logf("ISRs restored in %v", time.Since(start).Round(time.Millisecond))
}

// restoreBroker starts a stopped or killed broker, waits for it to rejoin every ISR and moves leadership back
// to the preferred replicas, so the next phase starts from a balanced cluster.
func (r *scaleRun) restoreBroker(id int32, killed bool) {
	r.t.Helper()
	b := r.c.Broker(id)
	start := time.Now()
	var err error
	if killed {
		err = b.StartAfterKill()
	} else {
		err = b.Start()
	}
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Logf("broker %d restarted in %v", id, time.Since(start).Round(time.Millisecond))
	r.restoreIsr()
	req := kmsg.NewPtrElectLeadersRequest()
	req.ElectionType = 0 // preferred
	req.TimeoutMillis = 300000
	for _, name := range r.topics {
		rt := kmsg.NewElectLeadersRequestTopic()
		rt.Topic = name
		for p := 0; p < r.parts; p++ {
			rt.Partitions = append(rt.Partitions, int32(p))
		}
		req.Topics = append(req.Topics, rt)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	start = time.Now()
	if _, err := req.RequestWith(ctx, r.c.Client(r.t, kgo.RequestTimeoutOverhead(6*time.Minute))); err != nil {
		r.t.Fatalf("ElectLeaders: %v", err)
	}
	r.waitMetadata("preferred leaders", nil, func(int32) bool { return true })
	testcluster.WaitFor(r.t, 5*time.Minute, "preferred leaders in every broker's metadata", func() bool {
		for _, b := range r.c.Brokers {
			ls, err := r.leaders(b.ID)
			if err != nil {
				return false
			}
			for tp, l := range ls {
				if l != r.preferred[tp] {
					return false
				}
			}
		}
		return true
	})
	r.t.Logf("RESULT preferred election back to broker %d: %v", id, time.Since(start).Round(time.Millisecond))
}

var failoverLines = regexp.MustCompile(`(?m)^.*(Controller failover took|controller's \S+ to broker \d+ took).*$`)

// logFailoverSteps copies the new controller's failover breakdown and slow request round trips into the test
// log (the cluster's directory is gone after the test).
// It also gives every running broker's LeaderAndIsr handling times since the kill.
func (r *scaleRun) logFailoverSteps(id int32, since time.Time) {
	out, err := os.ReadFile(filepath.Join(r.c.Broker(id).Dir, "server.log"))
	if err != nil {
		r.t.Logf("no log of broker %d: %v", id, err)
		return
	}
	for _, l := range failoverLines.FindAllString(string(out), -1) {
		r.t.Logf("broker %d: %s", id, l)
	}
	for _, b := range r.c.Brokers {
		if !b.Running() {
			continue
		}
		out, err := os.ReadFile(filepath.Join(b.Dir, "server.log"))
		if err != nil {
			continue
		}
		for _, m := range handledLine.FindAllStringSubmatch(string(out), -1) {
			ts, err := time.ParseInLocation("2006-01-02 15:04:05,000", m[1], time.Local)
			if err == nil && !ts.Before(since.Truncate(time.Millisecond)) {
				r.t.Logf("broker %d: %s", b.ID, m[0])
			}
		}
	}
}

var handledLine = regexp.MustCompile(`(?m)^\[([0-9-]+ [0-9:]+,[0-9]{3})\] \S+ Handled LeaderAndIsr .*$`)

var pprofAddr = regexp.MustCompile(`pprof listening on (http://\S+)`)

// profile takes a CPU profile of every running broker for profSecs seconds when ZKAFKA_SCALE_PROFILE_DIR is set;
// the returned func waits for the profiles.
func (r *scaleRun) profile(phase string) func() {
	if r.profDir == "" {
		return func() {}
	}
	var wg sync.WaitGroup
	for _, b := range r.c.Brokers {
		if !b.Running() {
			continue
		}
		out, _ := os.ReadFile(filepath.Join(b.Dir, "server.log"))
		m := pprofAddr.FindAllStringSubmatch(string(out), -1)
		if len(m) == 0 {
			continue
		}
		url := fmt.Sprintf("%sprofile?seconds=%d", m[len(m)-1][1], r.profSecs)
		path := filepath.Join(r.profDir, fmt.Sprintf("%s-broker%d.pprof", phase, b.ID))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(url)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			f, err := os.Create(path)
			if err != nil {
				return
			}
			defer f.Close()
			io.Copy(f, resp.Body)
		}()
	}
	return wg.Wait
}
