package admin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var groupsMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return ConsumerGroupsMain(a, in, o, e) })

// cgFixture is a kfake cluster with topic "t" (two partitions, five records each) and group "g" with one member
// that has committed offset 3 on partition 0 and 5 on partition 1.
type cgFixture struct {
	bs     string
	member *kgo.Client
	adm    *kadm.Client
}

func newCGFixture(t *testing.T) *cgFixture {
	t.Helper()
	bs := fakeCluster(t, kfake.SeedTopics(2, "t"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Topic: "t", Partition: int32(i % 2), Value: []byte("v")}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	member, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ConsumerGroup("g"), kgo.ConsumeTopics("t"),
		kgo.ClientID("member-client"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(member.Close)
	for got := 0; got < 10; {
		fs := member.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d records: %v", got, err)
		}
		got += fs.NumRecords()
	}
	commit := map[string]map[int32]kgo.EpochOffset{"t": {0: {Epoch: -1, Offset: 3}, 1: {Epoch: -1, Offset: 5}}}
	var commitErr error
	member.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if e := kerr.ErrorForCode(p.ErrorCode); e != nil && commitErr == nil {
					commitErr = e
				}
			}
		}
	})
	if commitErr != nil {
		t.Fatal(commitErr)
	}
	adminCl, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(adminCl.Close)
	f := &cgFixture{bs: bs, member: member, adm: kadm.NewClient(adminCl)}
	f.waitState(t, "Stable")
	return f
}

func (f *cgFixture) waitState(t *testing.T, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		d, err := f.adm.DescribeGroups(ctx, "g")
		cancel()
		if err == nil && d["g"].State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("group never reached %s: %+v %v", state, d["g"], err)
		}
		time.Sleep(20 * time.Millisecond) // polling a remote state; there is nothing to wait on
	}
}

func (f *cgFixture) committed(t *testing.T) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	os, err := f.adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) {
		if o.Topic == "t" {
			out[o.Partition] = o.At
		}
	})
	return out
}

type cgStep struct {
	name       string
	args       []string
	code       int
	stdout     string // regexp
	stderr     string // regexp
	wantOffset map[int32]int64
}

func (f *cgFixture) runSteps(t *testing.T, steps []cgStep) {
	t.Helper()
	for _, s := range steps {
		code, out, errOut := run(t, groupsMain, "", append([]string{"--bootstrap-server", f.bs}, s.args...)...)
		if code != s.code || !regexp.MustCompile(s.stdout).MatchString(out) || !regexp.MustCompile(s.stderr).MatchString(errOut) {
			t.Fatalf("%s: code %d (want %d)\nstdout:\n%s\nwant match %q\nstderr:\n%s\nwant match %q", s.name, code, s.code, out, s.stdout, errOut, s.stderr)
		}
		if s.wantOffset != nil {
			got := f.committed(t)
			if len(got) != len(s.wantOffset) {
				t.Fatalf("%s: committed %v, want %v", s.name, got, s.wantOffset)
			}
			for p, o := range s.wantOffset {
				if got[p] != o {
					t.Fatalf("%s: committed %v, want %v", s.name, got, s.wantOffset)
				}
			}
		}
	}
}

func TestConsumerGroupsActiveGroup(t *testing.T) {
	f := newCGFixture(t)
	memberID, _ := f.member.GroupMetadata()
	id := regexp.QuoteMeta(memberID)
	f.runSteps(t, []cgStep{
		{name: "list", args: []string{"--list"}, stdout: `^g\n$`},
		{name: "list state", args: []string{"--list", "--state"}, stdout: `^GROUP           STATE\ng               Stable\n$`},
		{name: "list state filter", args: []string{"--list", "--state", "Empty"}, stdout: `^GROUP           STATE\n$`},
		{name: "describe", args: []string{"--describe", "--group", "g"},
			stdout: `^\nGROUP +TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +CONSUMER-ID +HOST +CLIENT-ID\n` +
				`g +t +0 +3 +5 +2 +` + id + ` +\S+ +member-client\n` +
				`g +t +1 +5 +5 +0 +` + id + ` +\S+ +member-client\n$`, stderr: `^$`},
		{name: "members verbose", args: []string{"--describe", "--group", "g", "--members", "--verbose"},
			stdout: `^\nGROUP +CONSUMER-ID +HOST +CLIENT-ID +#PARTITIONS +ASSIGNMENT\ng +` + id + ` +\S+ +member-client +2 +t\(0,1\)\n$`},
		{name: "state", args: []string{"--describe", "--all-groups", "--state"},
			stdout: `^\nGROUP +COORDINATOR \(ID\) +ASSIGNMENT-STRATEGY +STATE +#MEMBERS\ng +127\.0\.0\.1:\d+ \(\d+\) +cooperative-sticky +Stable +1\n$`},
		{name: "reset active", args: []string{"--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--execute"},
			stdout:     `^\nError: Assignments can only be reset if the group 'g' is inactive, but the current state is Stable\.\n\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\n$`,
			wantOffset: map[int32]int64{0: 3, 1: 5}},
		{name: "delete active", args: []string{"--delete", "--group", "g"},
			stdout: `^\nError: Deletion of some consumer groups failed:\n\* Group 'g' could not be deleted due to: java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty\.\n$`},
		{name: "delete offsets subscribed", args: []string{"--delete-offsets", "--group", "g", "--topic", "t"},
			stdout: `^\nError: Encounter some partition level error, see the follow-up details:\n\nTOPIC +PARTITION +STATUS +\n` +
				`t +0 +Error: org.apache.kafka.common.errors.GroupSubscribedToTopicException: .+\n` +
				`t +1 +Error: org.apache.kafka.common.errors.GroupSubscribedToTopicException: .+\n$`},
	})
}

func TestConsumerGroupsInactiveGroup(t *testing.T) {
	f := newCGFixture(t)
	f.member.Close()
	f.waitState(t, "Empty")
	plan := filepath.Join(t.TempDir(), "plan.csv")
	if err := os.WriteFile(plan, []byte("t,0,1\nt,1,4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f.runSteps(t, []cgStep{
		{name: "describe empty", args: []string{"--describe", "--group", "g"},
			stdout: `^\nGROUP +TOPIC +PARTITION +CURRENT-OFFSET +LOG-END-OFFSET +LAG +CONSUMER-ID +HOST +CLIENT-ID\n` +
				`g +t +0 +3 +5 +2 +- +- +-\ng +t +1 +5 +5 +0 +- +- +-\n$`,
			stderr: `^\nConsumer group 'g' has no active members\.\n$`},
		{name: "members of empty group", args: []string{"--describe", "--group", "g", "--members"}, stdout: `^$`,
			stderr: `^\nConsumer group 'g' has no active members\.\n$`},
		{name: "list state empty", args: []string{"--list", "--state", "Empty,Stable"}, stdout: `^GROUP           STATE\ng               Empty\n$`},
		{name: "default dry run", args: []string{"--reset-offsets", "--group", "g", "--all-topics", "--to-earliest"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +0 +\ng +t +1 +0 +\n$`,
			stderr: `^WARN: No action will be performed as the --execute option is missing\.`, wantOffset: map[int32]int64{0: 3, 1: 5}},
		{name: "to earliest", args: []string{"--reset-offsets", "--group", "g", "--topic", "t", "--to-earliest", "--execute"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +0 +\ng +t +1 +0 +\n$`, stderr: `^$`,
			wantOffset: map[int32]int64{0: 0, 1: 0}},
		{name: "shift clamps", args: []string{"--reset-offsets", "--group", "g", "--topic", "t:1", "--shift-by", "100", "--execute"},
			stdout:     `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +1 +5 +\n$`,
			stderr:     `^\[[-0-9 :,]+\] WARN New offset \(100\) is higher than latest offset for topic partition t-1\. Value will be set to 5 \(kafka\.admin\.ConsumerGroupCommand\$\)\n$`,
			wantOffset: map[int32]int64{0: 0, 1: 5}},
		{name: "export", args: []string{"--reset-offsets", "--group", "g", "--all-topics", "--to-offset", "2", "--export", "--execute"},
			stdout: `^t,0,2\nt,1,2\n\n$`, wantOffset: map[int32]int64{0: 2, 1: 2}},
		{name: "to current", args: []string{"--reset-offsets", "--group", "g", "--all-topics", "--to-current", "--dry-run"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +2 +\ng +t +1 +2 +\n$`, wantOffset: map[int32]int64{0: 2, 1: 2}},
		{name: "by duration", args: []string{"--reset-offsets", "--group", "g", "--all-topics", "--by-duration", "PT1H", "--execute"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +0 +\ng +t +1 +0 +\n$`, wantOffset: map[int32]int64{0: 0, 1: 0}},
		{name: "datetime in the future", args: []string{"--reset-offsets", "--group", "g", "--topic", "t:0", "--to-datetime", "2999-01-01T00:00:00.000", "--execute"},
			stdout:     `^\nWarn: Partition 0 from topic t is empty\. Falling back to latest known offset\.\n\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +5 +\n$`,
			wantOffset: map[int32]int64{0: 5, 1: 0}},
		{name: "from file", args: []string{"--reset-offsets", "--group", "g", "--from-file", plan, "--execute"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\ng +t +0 +1 +\ng +t +1 +4 +\n$`, wantOffset: map[int32]int64{0: 1, 1: 4}},
		{name: "unknown topic", args: []string{"--reset-offsets", "--group", "g", "--topic", "nope", "--to-latest", "--execute"},
			stdout: `^\nError: Executing consumer group command failed due to org.apache.kafka.common.errors.UnknownTopicOrPartitionException: `},
		{name: "delete offsets", args: []string{"--delete-offsets", "--group", "g", "--topic", "t:0"},
			stdout:     `^Request succeed for deleting offsets with topic t:0 group g\n\nTOPIC +PARTITION +STATUS +\nt +0 +Successful +\n$`,
			wantOffset: map[int32]int64{1: 4}},
		{name: "delete offsets unknown topic", args: []string{"--delete-offsets", "--group", "g", "--topic", "nope"},
			stdout: `^Request succeed for deleting offsets with topic nope group g\n\nTOPIC +PARTITION +STATUS +\nnope +Not Provided +Error: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: `},
		{name: "delete", args: []string{"--delete", "--group", "g"}, stdout: `^Deletion of requested consumer groups \('g'\) was successful\.\n$`},
		{name: "describe deleted", args: []string{"--describe", "--group", "g"}, stdout: `^\nError: Consumer group 'g' does not exist\.\n$`},
		{name: "delete missing", args: []string{"--delete", "--group", "g"},
			stdout: `GroupIdNotFoundException: The group id does not exist\.\n$`},
		{name: "list none", args: []string{"--list"}, stdout: `^$`},
		{name: "reset a new group", args: []string{"--reset-offsets", "--group", "fresh", "--topic", "t", "--to-latest", "--execute"},
			stdout: `^\nGROUP +TOPIC +PARTITION +NEW-OFFSET +\nfresh +t +0 +5 +\nfresh +t +1 +5 +\n$`},
	})
}
