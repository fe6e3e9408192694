package broker_test

// Consumer groups against real broker processes with franz-go's consumer (kgo): every partition assignor kgo
// ships, members leaving, dying and restarting, synchronous commits across rebalances, static membership. The
// group coordinator decides who is in the group and relays the leader's plan; what these tests hold it to is what
// Kafka 3.7's coordinator promises: the plan of the current generation reaches every member, a LeaveGroup
// rebalances at once, a silent member is removed when its session times out (not before), committed offsets
// survive members, and a static member that comes back in time gets its assignment back without a new generation.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// kgoMember is a franz-go group consumer whose partition callbacks keep the set of partitions it owns.
type kgoMember struct {
	name string
	cl   *kgo.Client

	mu      sync.Mutex
	owned   map[int32]bool
	revokes int // revoke/lost callbacks that took partitions away
	closed  bool
}

// kgoGroupOpts are the group settings of the kgo members: short heartbeats so members learn of a rebalance
// quickly, a session just long enough for a loaded 2-core machine.
func kgoGroupOpts(c *testcluster.Cluster, group, topic, name string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(c.Bootstrap()...), kgo.ClientID(name),
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.SessionTimeout(3 * time.Second), kgo.HeartbeatInterval(200 * time.Millisecond),
		kgo.RebalanceTimeout(10 * time.Second), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
}

// startKgoMember starts a member of group consuming topic; extra options come last and so win.
func startKgoMember(t *testing.T, c *testcluster.Cluster, group, topic, name string, extra ...kgo.Opt) *kgoMember {
	t.Helper()
	m := &kgoMember{name: name, owned: map[int32]bool{}}
	update := func(add bool, parts map[string][]int32) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, p := range parts[topic] {
			if add {
				m.owned[p] = true
			} else {
				delete(m.owned, p)
			}
		}
		if !add && len(parts[topic]) > 0 {
			m.revokes++
		}
	}
	opts := append(kgoGroupOpts(c, group, topic, name),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { update(true, a) }),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) { update(false, r) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) { update(false, l) }),
	)
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		t.Fatal(err)
	}
	m.cl = cl
	t.Cleanup(m.close)
	return m
}

// close closes the client: a dynamic member leaves the group, a static one does not.
func (m *kgoMember) close() {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	m.cl.Close()
}

func (m *kgoMember) ownedList() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int32, 0, len(m.owned))
	for p := range m.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

func (m *kgoMember) revokeCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.revokes
}

// describeGroup describes one group through kadm (which finds the coordinator).
func describeGroup(adm *kadm.Client, group string) (kadm.DescribedGroup, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ds, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return kadm.DescribedGroup{}, err
	}
	d, ok := ds[group]
	if !ok {
		return kadm.DescribedGroup{}, fmt.Errorf("no description of %s", group)
	}
	return d, d.Err
}

// assignedBy maps each described member id to its sorted partitions of topic.
func assignedBy(d kadm.DescribedGroup, topic string) map[string][]int32 {
	out := map[string][]int32{}
	for _, m := range d.Members {
		out[m.MemberID] = []int32{}
		if a, ok := m.Assigned.AsConsumer(); ok {
			for _, at := range a.Topics {
				if at.Topic == topic {
					out[m.MemberID] = append(out[m.MemberID], at.Partitions...)
				}
			}
		}
		slices.Sort(out[m.MemberID])
	}
	return out
}

// coverageProblem says why the assignment is not a balanced partition of 0..n-1 over the members, or "".
func coverageProblem(byMember map[string][]int32, n int32) string {
	seen := map[int32]string{}
	lo, hi := int(n)+1, -1
	for id, parts := range byMember {
		lo, hi = min(lo, len(parts)), max(hi, len(parts))
		for _, p := range parts {
			if other, dup := seen[p]; dup {
				return fmt.Sprintf("partition %d assigned to both %s and %s", p, other, id)
			}
			seen[p] = id
		}
	}
	if len(seen) != int(n) {
		return fmt.Sprintf("%d of %d partitions assigned: %v", len(seen), n, byMember)
	}
	if hi-lo > 1 {
		return fmt.Sprintf("unbalanced: %v", byMember)
	}
	return ""
}

// waitCoverage waits until the group is Stable with exactly the given members, the coordinator's description of
// their assignments is a balanced, disjoint cover of the topic's n partitions, and every member holds what the
// coordinator says it holds (kgo members by their callbacks, raw ones by their last SyncGroup).
func waitCoverage(t *testing.T, adm *kadm.Client, group, topic string, n int32, kgos []*kgoMember, raws ...*rawMember) kadm.DescribedGroup {
	t.Helper()
	var d kadm.DescribedGroup
	waitWhy(t, 30*time.Second, fmt.Sprintf("%d members of %s to cover %s", len(kgos)+len(raws), group, topic), func() (bool, string) {
		var err error
		d, err = describeGroup(adm, group)
		if err != nil {
			return false, err.Error()
		}
		if d.State != "Stable" || len(d.Members) != len(kgos)+len(raws) {
			return false, fmt.Sprintf("state %s with %d members", d.State, len(d.Members))
		}
		by := assignedBy(d, topic)
		if why := coverageProblem(by, n); why != "" {
			return false, why
		}
		for _, m := range kgos {
			id, _ := m.cl.GroupMetadata()
			want, ok := by[id]
			if !ok {
				return false, fmt.Sprintf("%s (member %q) is not in the group", m.name, id)
			}
			if got := m.ownedList(); !slices.Equal(got, want) {
				return false, fmt.Sprintf("%s owns %v, coordinator says %v", m.name, got, want)
			}
		}
		for _, r := range raws {
			id, _, got := r.state(topic)
			slices.Sort(got)
			if want, ok := by[id]; !ok || !slices.Equal(got, want) {
				return false, fmt.Sprintf("raw member %s holds %v, coordinator says %v (listed %v)", id, got, want, ok)
			}
		}
		return true, ""
	})
	return d
}

// TestIntegrationConsumerGroups runs the kgo group scenarios on one two-broker cluster: the group's coordinator
// and the topic's leaders are spread over both brokers, so clients must route group requests to the coordinator.
func TestIntegrationConsumerGroups(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 2, Overrides: groupOverrides(nil)})
	for _, tc := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run("Balancer/"+tc.name, func(t *testing.T) { testBalancer(t, c, tc.name, tc.balancer) })
	}
	t.Run("CommitsAcrossRebalances", func(t *testing.T) { testCommitsAcrossRebalances(t, c) })
	t.Run("StaticMembership", func(t *testing.T) { testStaticMembership(t, c) })
}

// testBalancer: 4 members share 12 partitions; one leaves (the rest take over at once); a member that stops
// heartbeating without leaving loses its partitions when its session times out.
func testBalancer(t *testing.T, c *testcluster.Cluster, protocol string, balancer kgo.GroupBalancer) {
	const n = 12
	topic, group := "bal-"+protocol, "group-"+protocol
	createTopic(t, c, topic, n)
	adm := c.Admin(t)
	var members []*kgoMember
	for i := 0; i < 4; i++ {
		members = append(members, startKgoMember(t, c, group, topic, fmt.Sprintf("%s-%d", protocol, i), kgo.Balancers(balancer)))
	}
	d := waitCoverage(t, adm, group, topic, n, members)
	if d.Protocol != protocol || d.ProtocolType != "consumer" {
		t.Errorf("group protocol %q type %q, want %q consumer", d.Protocol, d.ProtocolType, protocol)
	}
	for _, m := range d.Members {
		if m.ClientHost != "/127.0.0.1" || !strings.HasPrefix(m.MemberID, m.ClientID+"-") {
			t.Errorf("member %q: client id %q host %q; want host /127.0.0.1 and id clientId-UUID", m.MemberID, m.ClientID, m.ClientHost)
		}
	}

	// A LeaveGroup rebalances at once: well inside the 3s session timeout the leaver would otherwise need.
	start := time.Now()
	members[3].close()
	waitCoverage(t, adm, group, topic, n, members[:3])
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("the group took %v to reassign a leaver's partitions; a LeaveGroup must not wait for the session timeout", took)
	}

	// A raw member joins, takes its share, then goes silent without leaving, as a killed process would.
	coord := groupCoordinator(t, c, group)
	raw := newRawMember(t, coord.Addr(), "silent", group, topic, n, protocol)
	raw.sessionMs = 2000
	raw.joinSync()
	raw.keepAlive(300 * time.Millisecond)
	waitCoverage(t, adm, group, topic, n, members[:3], raw)
	died := time.Now()
	raw.die()
	if raw.err != nil {
		t.Fatalf("raw member's heartbeats failed before it died: %v", raw.err)
	}
	waitCoverage(t, adm, group, topic, n, members[:3])
	took := time.Since(died)
	session := time.Duration(raw.sessionMs) * time.Millisecond
	t.Logf("a silent member's partitions were reassigned %v after its last heartbeat (session timeout %v)", took, session)
	if took < session/2 || took > session+5*time.Second {
		t.Errorf("a silent member's partitions were reassigned %v after its last heartbeat; its session timeout is %v", took, session)
	}
}

// eoConsumer consumes with synchronous commits only: offsets are committed in OnPartitionsRevoked and before the
// client closes, and BlockRebalanceOnPoll keeps a rebalance from running between a poll and the processing of
// what it returned. Every record it processes is counted in seen.
type eoConsumer struct {
	t    *testing.T
	name string
	cl   *kgo.Client
	stop chan struct{}
	done chan struct{}
}

// recordLog counts how often each partition/offset was processed, and gates consumption by a budget so the test
// decides how far consumers get before it changes the group.
type recordLog struct {
	mu     sync.Mutex
	seen   map[int32]map[int64]int
	total  int // processed records, duplicates included
	budget int
	first  map[string]map[int32]int64 // consumer → partition → first offset it processed
}

func newRecordLog() *recordLog {
	return &recordLog{seen: map[int32]map[int64]int{}, first: map[string]map[int32]int64{}}
}

// take reserves up to max records of budget (0 when none is left).
func (l *recordLog) take(max int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := min(max, l.budget)
	l.budget -= n
	return n
}

func (l *recordLog) give(n int) {
	l.mu.Lock()
	l.budget += n
	l.mu.Unlock()
}

func (l *recordLog) add(who string, r *kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[r.Partition] == nil {
		l.seen[r.Partition] = map[int64]int{}
	}
	l.seen[r.Partition][r.Offset]++
	l.total++
	if l.first[who] == nil {
		l.first[who] = map[int32]int64{}
	}
	if _, ok := l.first[who][r.Partition]; !ok {
		l.first[who][r.Partition] = r.Offset
	}
}

// unprocessed counts, per partition, the sent records not processed yet.
func (l *recordLog) unprocessed(sent []produced) map[int32]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[int32]int{}
	for _, p := range sent {
		if l.seen[p.partition][p.offset] == 0 {
			out[p.partition]++
		}
	}
	return out
}

func (l *recordLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// startEOConsumer starts a consumer of group that processes records within the log's budget until stopped.
func startEOConsumer(t *testing.T, c *testcluster.Cluster, group, topic, name string, l *recordLog) *eoConsumer {
	t.Helper()
	e := &eoConsumer{t: t, name: name, stop: make(chan struct{}), done: make(chan struct{})}
	opts := append(kgoGroupOpts(c, group, topic, name),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
				t.Errorf("%s: commit on revoke: %v", name, err)
			}
		}),
	)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.cl = cl
	go func() {
		defer close(e.done)
		defer cl.CloseAllowingRebalance()
		for {
			select {
			case <-e.stop:
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Errorf("%s: final commit: %v", name, err)
				}
				cancel()
				return
			default:
			}
			n := l.take(50)
			if n == 0 {
				// Out of budget: nothing is held, so a rebalance may run while the test decides.
				cl.AllowRebalance()
				select {
				case <-e.stop:
				case <-time.After(20 * time.Millisecond):
				}
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			fs := cl.PollRecords(ctx, n)
			cancel()
			got := 0
			fs.EachError(func(topic string, p int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s: fetch %s-%d: %v", name, topic, p, err)
				}
			})
			fs.EachRecord(func(r *kgo.Record) { l.add(name, r); got++ })
			l.give(n - got)
			cl.AllowRebalance()
			if got == 0 {
				// Nothing for us: step back so that a member whose partitions do have records gets the budget.
				select {
				case <-e.stop:
				case <-time.After(20 * time.Millisecond):
				}
			}
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *eoConsumer) close() {
	select {
	case <-e.stop:
	default:
		close(e.stop)
	}
	waitClosed(e.t, e.done, e.name)
}

// waitClosed waits for a consumer's loop to end, failing the test rather than hanging it.
func waitClosed(t *testing.T, done <-chan struct{}, name string) {
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Errorf("%s did not stop within 60s", name)
	}
}

// testCommitsAcrossRebalances: members join and leave while records are being consumed; with commits made only
// in OnPartitionsRevoked and before closing, every record is processed exactly once. Then a new member resumes
// from the committed offsets.
func testCommitsAcrossRebalances(t *testing.T, c *testcluster.Cluster) {
	const topic, group, parts, total = "exactly-once", "group-exactly-once", 6, 6000
	createTopic(t, c, topic, parts)
	sent := produceKeyed(t, c, topic, total, kgo.AllISRAcks(), "eo")
	l := newRecordLog()
	adm := c.Admin(t)
	reach := func(n int) {
		l.give(n - l.count())
		last, moved := -1, time.Now()
		waitWhy(t, 60*time.Second, fmt.Sprintf("%d records processed", n), func() (bool, string) {
			got := l.count()
			if got != last {
				last, moved = got, time.Now()
			}
			why := fmt.Sprintf("%d processed", got)
			if time.Since(moved) > 5*time.Second {
				// Stuck: say what the coordinator thinks of the group.
				d, err := describeGroup(adm, group)
				why += fmt.Sprintf("; group %s, err %v, assignments %v, unprocessed %v", d.State, err, assignedBy(d, topic), l.unprocessed(sent))
			}
			return got >= n, why
		})
	}
	a := startEOConsumer(t, c, group, topic, "eo-a", l)
	reach(1000)
	b := startEOConsumer(t, c, group, topic, "eo-b", l)
	reach(2500)
	cc := startEOConsumer(t, c, group, topic, "eo-c", l)
	reach(4000)
	b.close()
	reach(5000)
	a.close()
	reach(total)
	cc.close()

	checkExactlyOnce(t, l, sent)
	if l.count() != total {
		t.Fatalf("processed %d records, produced %d", l.count(), total)
	}

	// Everything is committed; a member started now begins exactly where the group left off.
	coord := groupCoordinator(t, c, group)
	off := committed(t, groupCall[*kmsg.OffsetFetchResponse](t, groupDial(t, coord.Addr(), "eo-check"), offsetFetchReq(group, nil)))[topic]
	ends := map[int32]int64{}
	for _, p := range sent {
		ends[p.partition] = max(ends[p.partition], p.offset+1)
	}
	for p := int32(0); p < parts; p++ {
		if off[p] != ends[p] {
			t.Errorf("partition %d: committed %d, end offset %d", p, off[p], ends[p])
		}
	}
	more := produceKeyed(t, c, topic, 600, kgo.AllISRAcks(), "eo-more")
	l2 := newRecordLog()
	d := startEOConsumer(t, c, group, topic, "eo-d", l2)
	l2.give(len(more))
	waitWhy(t, 60*time.Second, "the restarted member to process the new records", func() (bool, string) {
		got := l2.count()
		return got >= len(more), fmt.Sprintf("%d of %d", got, len(more))
	})
	d.close()
	checkExactlyOnce(t, l2, more)
	for p, first := range l2.first["eo-d"] {
		if first != ends[p] {
			t.Errorf("restarted member began partition %d at offset %d, committed %d", p, first, ends[p])
		}
	}
}

// checkExactlyOnce fails unless the log processed each sent record once and nothing else.
func checkExactlyOnce(t *testing.T, l *recordLog, sent []produced) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	want := map[int32]map[int64]bool{}
	for _, p := range sent {
		if want[p.partition] == nil {
			want[p.partition] = map[int64]bool{}
		}
		want[p.partition][p.offset] = true
	}
	var problems []string
	for p, offs := range want {
		for o := range offs {
			if n := l.seen[p][o]; n != 1 {
				problems = append(problems, fmt.Sprintf("%d-%d processed %d times", p, o, n))
			}
		}
	}
	for p, offs := range l.seen {
		for o := range offs {
			if !want[p][o] {
				problems = append(problems, fmt.Sprintf("%d-%d processed but not among the records sent", p, o))
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		t.Fatalf("%d problems, first: %v", len(problems), problems[:min(10, len(problems))])
	}
}

// testStaticMembership: a static member (kgo.InstanceID) that closes does not leave; restarted within its session
// timeout it replaces its old member id and gets its assignment back, with no new generation and no revocation
// for the other member. Both members are restarted in turn, so the group leader is among them.
func testStaticMembership(t *testing.T, c *testcluster.Cluster) {
	const topic, group, n = "static", "group-static", 6
	createTopic(t, c, topic, n)
	adm := c.Admin(t)
	static := func(id string) *kgoMember {
		return startKgoMember(t, c, group, topic, id, kgo.InstanceID(id), kgo.Balancers(kgo.RangeBalancer()),
			kgo.SessionTimeout(20*time.Second))
	}
	members := []*kgoMember{static("s1"), static("s2")}
	d := waitCoverage(t, adm, group, topic, n, members)
	_, gen := members[0].cl.GroupMetadata()
	for _, m := range d.Members {
		if m.InstanceID == nil || !strings.HasPrefix(m.MemberID, *m.InstanceID+"-") {
			t.Errorf("static member id %q: want instanceId-UUID (instance %v)", m.MemberID, m.InstanceID)
		}
	}
	for i := range members {
		old := members[i]
		other := members[1-i]
		oldID, _ := old.cl.GroupMetadata()
		oldOwned := old.ownedList()
		otherRevokes := other.revokeCount()
		old.close()
		// Still a member: a static member's close sends no LeaveGroup.
		if d, err := describeGroup(adm, group); err != nil || d.State != "Stable" || len(d.Members) != 2 {
			t.Fatalf("after %s closed: state %q, %d members, %v; a static member must stay until its session expires", old.name, d.State, len(d.Members), err)
		}
		members[i] = static(old.name)
		waitCoverage(t, adm, group, topic, n, members)
		newID, newGen := members[i].cl.GroupMetadata()
		t.Logf("%s restarted: member %s → %s, generation %d → %d, owns %v", old.name, oldID, newID, gen, newGen, members[i].ownedList())
		if newID == oldID {
			t.Errorf("restarted %s kept member id %s; the coordinator must give the instance a new member id", old.name, oldID)
		}
		if newGen != gen {
			t.Errorf("restart of %s moved the group from generation %d to %d; a known static member must not cause a rebalance", old.name, gen, newGen)
		}
		if got := members[i].ownedList(); !slices.Equal(got, oldOwned) {
			t.Errorf("restarted %s owns %v, before %v", old.name, got, oldOwned)
		}
		if _, g := other.cl.GroupMetadata(); g != gen || other.revokeCount() != otherRevokes {
			t.Errorf("%s saw generation %d (was %d) and %d revocations (was %d) while %s restarted", other.name, g, gen, other.revokeCount(), otherRevokes, old.name)
		}
	}
}
