package testcluster_test

// kafka-consumer-groups.sh against a real broker and a live franz-go group member: --describe shows each
// partition's committed offset, log end and lag with Kafka 3.7's layout, --reset-offsets refuses an active group
// and moves a stopped group's offsets (only with --execute), --list and --delete do what Kafka's tool does.

import (
	"context"
	"fmt"
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

// describeLines renders --describe's table as Kafka's ConsumerGroupCommand does: columns padded to at least 15
// characters, or to the longest group, topic, consumer id and host. rows are (partition, current, lag, consumer,
// host, client) for a log end offset of end.
func describeLines(group, topic string, end int64, rows [][6]string) (header string, lines []string) {
	gw, tw, cw, hw := max(15, len(group)), max(15, len(topic)), 15, 15
	for _, r := range rows {
		cw, hw = max(cw, len(r[3])), max(hw, len(r[4]))
	}
	format := fmt.Sprintf("%%-%ds %%-%ds %%-10s %%-15s %%-15s %%-15s %%-%ds %%-%ds %%s", gw, tw, cw, hw)
	header = fmt.Sprintf(format, "GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
	for _, r := range rows {
		lines = append(lines, fmt.Sprintf(format, group, topic, r[0], r[1], fmt.Sprint(end), r[2], r[3], r[4], r[5]))
	}
	sort.Strings(lines)
	return header, lines
}

// tableOf splits a tool's stdout into its header line (the one starting with "GROUP") and the sorted rows after it.
func tableOf(out string) (string, []string) {
	var header string
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		switch {
		case l == "":
		case header == "" && strings.HasPrefix(l, "GROUP"):
			header = l
		case header != "":
			rows = append(rows, l)
		}
	}
	sort.Strings(rows)
	return header, rows
}

func TestIntegrationConsumerGroupsTool(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1, Overrides: map[string]string{
		"offsets.topic.num.partitions": "5",
		"group.min.session.timeout.ms": "1000",
	}})
	bs := c.Bootstrap()[0]
	const topic, group, perPartition = "cg-tool", "cg-tool-group", 20
	createTopic(t, c, topic, 3)
	prod := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for p := int32(0); p < 3; p++ {
		for i := 0; i < perPartition; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("p%d-%d", p, i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	cg := func(t *testing.T, args ...string) toolRun {
		t.Helper()
		return script(t, "", "kafka-consumer-groups.sh", append([]string{"--bootstrap-server", bs}, args...)...)
	}
	fetched := func(t *testing.T) map[int32]int64 {
		t.Helper()
		resp, err := c.Admin(t).FetchOffsets(ctx, group)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int32]int64{}
		resp.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic {
				out[o.Partition] = o.At
			}
		})
		return out
	}

	// A live member holding all three partitions commits 5, 10 and 15: the lags are 15, 10 and 5.
	var mu sync.Mutex
	assigned := 0
	member, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ClientID("cg-tool-client"), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second),
		kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			mu.Lock()
			assigned += len(a[topic])
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer member.Close()
	testcluster.WaitFor(t, 30*time.Second, "the member to be assigned the topic's partitions", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return assigned == 3
	})
	commits := map[int32]int64{0: 5, 1: 10, 2: 15}
	toCommit := map[string]map[int32]kgo.EpochOffset{topic: {}}
	for p, o := range commits {
		toCommit[topic][p] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	var commitErr error
	member.CommitOffsetsSync(ctx, toCommit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		if err == nil {
			for _, rt := range resp.Topics {
				for _, rp := range rt.Partitions {
					if rp.ErrorCode != 0 {
						commitErr = fmt.Errorf("%s-%d: error %d", rt.Topic, rp.Partition, rp.ErrorCode)
					}
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
	memberID, _ := member.GroupMetadata()

	t.Run("DescribeActive", func(t *testing.T) {
		r := cg(t, "--describe", "--group", group)
		var rows [][6]string
		for p := int32(0); p < 3; p++ {
			rows = append(rows, [6]string{fmt.Sprint(p), fmt.Sprint(commits[p]), fmt.Sprint(perPartition - commits[p]), memberID, "/127.0.0.1", "cg-tool-client"})
		}
		wantHeader, wantRows := describeLines(group, topic, perPartition, rows)
		header, got := tableOf(r.stdout)
		if r.code != 0 || header != wantHeader || strings.Join(got, "\n") != strings.Join(wantRows, "\n") || strings.Contains(r.stderr, "no active members") {
			t.Fatalf("want header\n%q\nrows\n%s\ngot %s", wantHeader, strings.Join(wantRows, "\n"), r)
		}
	})
	t.Run("ResetRefusedWhileActive", func(t *testing.T) {
		r := cg(t, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
		want := fmt.Sprintf("Error: Assignments can only be reset if the group '%s' is inactive, but the current state is Stable.", group)
		if !strings.Contains(r.stdout, want) {
			t.Errorf("want %q in stdout, got %s", want, r)
		}
		if got := fetched(t); fmt.Sprint(got) != fmt.Sprint(commits) {
			t.Errorf("offsets after a refused reset: %v, want %v", got, commits)
		}
	})
	t.Run("DeleteRefusedWhileActive", func(t *testing.T) {
		r := cg(t, "--delete", "--group", group)
		if !strings.Contains(r.stdout, "Error: Deletion of some consumer groups failed:") ||
			!strings.Contains(r.stdout, fmt.Sprintf("* Group '%s' could not be deleted due to: ", group)) ||
			!strings.Contains(r.stdout, "GroupNotEmptyException") {
			t.Errorf("deleting an active group: %s", r)
		}
	})

	member.Close() // a dynamic member leaves: the group is Empty and keeps its offsets
	t.Run("DescribeStopped", func(t *testing.T) {
		r := cg(t, "--describe", "--group", group)
		var rows [][6]string
		for p := int32(0); p < 3; p++ {
			rows = append(rows, [6]string{fmt.Sprint(p), fmt.Sprint(commits[p]), fmt.Sprint(perPartition - commits[p]), "-", "-", "-"})
		}
		wantHeader, wantRows := describeLines(group, topic, perPartition, rows)
		header, got := tableOf(r.stdout)
		wantErr := fmt.Sprintf("\nConsumer group '%s' has no active members.\n", group)
		if r.code != 0 || header != wantHeader || strings.Join(got, "\n") != strings.Join(wantRows, "\n") || !strings.Contains(r.stderr, wantErr) {
			t.Fatalf("want header\n%q\nrows\n%s\nstderr %q; got %s", wantHeader, strings.Join(wantRows, "\n"), wantErr, r)
		}
	})
	t.Run("ResetDryRun", func(t *testing.T) {
		r := cg(t, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest")
		header, rows := tableOf(r.stdout)
		if r.code != 0 || !strings.HasPrefix(header, "GROUP") || len(rows) != 3 || !strings.Contains(r.stderr, "WARN: No action will be performed as the --execute option is missing.") {
			t.Errorf("dry run: %s", r)
		}
		if got := fetched(t); fmt.Sprint(got) != fmt.Sprint(commits) {
			t.Errorf("offsets after a dry run: %v, want %v", got, commits)
		}
	})
	t.Run("ResetToEarliest", func(t *testing.T) {
		r := cg(t, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
		const format = "%-30s %-30s %-10s %-15s"
		var want []string
		for p := 0; p < 3; p++ {
			want = append(want, fmt.Sprintf(format, group, topic, fmt.Sprint(p), "0"))
		}
		header, rows := tableOf(r.stdout)
		if r.code != 0 || header != fmt.Sprintf(format, "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET") || strings.Join(rows, "\n") != strings.Join(want, "\n") {
			t.Errorf("want\n%s\ngot %s", strings.Join(want, "\n"), r)
		}
		if got, want := fetched(t), map[int32]int64{0: 0, 1: 0, 2: 0}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("offsets after --to-earliest --execute: %v, want %v", got, want)
		}
	})
	t.Run("ListAndDelete", func(t *testing.T) {
		if r := cg(t, "--list"); r.code != 0 || !listsTopic(r.stdout, group) {
			t.Fatalf("--list: %s", r)
		}
		r := cg(t, "--delete", "--group", group)
		if want := fmt.Sprintf("Deletion of requested consumer groups ('%s') was successful.\n", group); r.code != 0 || r.stdout != want {
			t.Fatalf("--delete: want stdout %q, got %s", want, r)
		}
		if r := cg(t, "--list"); r.code != 0 || listsTopic(r.stdout, group) {
			t.Errorf("--list after --delete: %s", r)
		}
		r = cg(t, "--describe", "--group", group)
		if want := fmt.Sprintf("Error: Consumer group '%s' does not exist.", group); !strings.Contains(r.stdout, want) {
			t.Errorf("--describe of a deleted group: want %q, got %s", want, r)
		}
	})
}
