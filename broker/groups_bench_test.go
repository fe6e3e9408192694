package broker_test

// Measurements of the group coordinator on a single broker, RF 1, run only with ZKAFKA_GROUP_BENCH=1 (numbers in
// groups_results.txt): how long a group of N new members takes until every member has its assignment, how long
// one member joining a stable group of 50 takes, and how many offset commits per second 10 groups get through.
// Members are raw (groups_raw_test.go's rawMember), one connection each, heartbeating every groupBenchHeartbeat:
// a member learns of a rebalance only from a heartbeat, so that interval bounds how fast a rebalance can be.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/testcluster"
)

const (
	groupBenchTopic     = "bench-groups"
	groupBenchParts     = 100
	groupBenchHeartbeat = 100 * time.Millisecond
	groupBenchRepeats   = 3
)

func TestGroupMeasurements(t *testing.T) {
	if os.Getenv("ZKAFKA_GROUP_BENCH") == "" {
		t.Skip("set ZKAFKA_GROUP_BENCH=1 to measure the group coordinator")
	}
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: groupOverrides(map[string]string{
		"offsets.topic.num.partitions": "50",
	})})
	createTopic(t, c, groupBenchTopic, groupBenchParts)
	report := func(format string, args ...any) {
		t.Logf(format, args...)
		fmt.Printf(format+"\n", args...)
	}

	for _, n := range []int{8, 50} {
		var times []time.Duration
		var gens []int32
		for r := 0; r < groupBenchRepeats; r++ {
			group := fmt.Sprintf("bench-join-%d-%d", n, r)
			members, took, gen := formGroup(t, c, group, n)
			times, gens = append(times, took), append(gens, gen)
			for _, m := range members {
				m.leave()
			}
		}
		report("join %2d members: first JoinGroup → all synced: %s (generations reached: %v)", n, durations(times), gens)
	}

	var times []time.Duration
	for r := 0; r < groupBenchRepeats; r++ {
		group := fmt.Sprintf("bench-rebalance-%d", r)
		members, _, gen := formGroup(t, c, group, 50)
		newcomer := benchMember(t, c, group, "newcomer")
		start := time.Now()
		newcomer.keepAliveAfter(newcomer.rejoin, groupBenchHeartbeat)
		all := append(members, newcomer)
		times = append(times, waitAllSynced(t, all, gen, start))
		for _, m := range all {
			m.leave()
		}
	}
	report("one member joins a stable group of 50: its JoinGroup → all 51 synced: %s", durations(times))

	for _, inflight := range []int{1, 4} {
		rate, lat := measureCommits(t, c, 10, inflight, 3*time.Second)
		report("OffsetCommit, 10 groups × %d connections (1 partition per commit, acks -1): %.0f commits/s, latency %s", inflight, rate, lat)
	}
}

// benchMember is a raw member of group on the group's coordinator.
func benchMember(t *testing.T, c *testcluster.Cluster, group, clientID string) *rawMember {
	coord := groupCoordinator(t, c, group)
	m := newRawMember(t, coord.Addr(), clientID, group, groupBenchTopic, groupBenchParts, "range")
	m.sessionMs, m.rebalMs = 10000, 30000
	return m
}

// formGroup starts n members of a new group at once and returns them once all are synced in one generation, with
// the time from the first JoinGroup and that generation.
func formGroup(t *testing.T, c *testcluster.Cluster, group string, n int) ([]*rawMember, time.Duration, int32) {
	t.Helper()
	members := make([]*rawMember, n)
	for i := range members {
		members[i] = benchMember(t, c, group, fmt.Sprintf("bench-%d", i))
	}
	start := time.Now()
	for _, m := range members {
		m.keepAliveAfter(m.rejoin, groupBenchHeartbeat)
	}
	took := waitAllSynced(t, members, 0, start)
	gen, _ := members[0].synced()
	return members, took, gen
}

// waitAllSynced waits until every member's last SyncGroup is of one generation above after and returns the time
// from start to the last of those answers.
func waitAllSynced(t *testing.T, members []*rawMember, after int32, start time.Time) time.Duration {
	t.Helper()
	var took time.Duration
	waitWhy(t, 120*time.Second, fmt.Sprintf("%d members synced in one generation", len(members)), func() (bool, string) {
		gen, _ := members[0].synced()
		var last time.Time
		for _, m := range members {
			if m.done != nil {
				select {
				case <-m.done:
					t.Fatalf("member %s stopped: %v", m.memberID, m.err)
				default:
				}
			}
			g, at := m.synced()
			if g != gen || g <= after {
				return false, fmt.Sprintf("generations differ: %d and %d (after %d)", gen, g, after)
			}
			if at.After(last) {
				last = at
			}
		}
		took = last.Sub(start)
		return true, ""
	})
	return took
}

// measureCommits runs simple OffsetCommits (generation −1) from groups × inflight connections, each connection
// one request at a time, for d, and returns commits per second and latency percentiles.
func measureCommits(t *testing.T, c *testcluster.Cluster, groups, inflight int, d time.Duration) (float64, string) {
	t.Helper()
	type worker struct {
		conn  *network.Client
		group string
		part  int32
	}
	var workers []worker
	for g := 0; g < groups; g++ {
		group := fmt.Sprintf("bench-commit-%d-%d", inflight, g)
		coord := groupCoordinator(t, c, group)
		for i := 0; i < inflight; i++ {
			workers = append(workers, worker{groupDial(t, coord.Addr(), "bench-commit"), group, int32((g*inflight + i) % groupBenchParts)})
		}
	}
	var (
		count  atomic.Int64
		failed atomic.Int64
		mu     sync.Mutex
		lats   []time.Duration
		wg     sync.WaitGroup
	)
	deadline := time.Now().Add(d)
	start := time.Now()
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for off := int64(1); time.Now().Before(deadline); off++ {
				req := simpleCommitReq(w.group, "", -1, groupBenchTopic, map[int32]int64{w.part: off})
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				t0 := time.Now()
				resp, err := w.conn.Request(ctx, req)
				cancel()
				if err != nil {
					failed.Add(1)
					return
				}
				for _, code := range commitCodes(resp.(*kmsg.OffsetCommitResponse)) {
					if code != 0 {
						failed.Add(1)
						continue
					}
					count.Add(1)
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d commits failed", n)
	}
	return float64(count.Load()) / elapsed.Seconds(), durations(lats)
}

// durations formats min / median / p99 / max of a set of durations.
func durations(ds []time.Duration) string {
	if len(ds) == 0 {
		return "none"
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	r := func(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }
	return fmt.Sprintf("min %v, median %v, p99 %v, max %v (n=%d)", r(s[0]), r(at(0.5)), r(at(0.99)), r(s[len(s)-1]), len(s))
}
