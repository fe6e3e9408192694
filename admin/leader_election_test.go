package admin

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestLeaderElectionArgErrors checks LeaderElectionCommandOptions.validate's messages; no cluster is contacted.
func TestLeaderElectionArgErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no args", nil, 1, "--election-type"},
		{"missing both", []string{"--all-topic-partitions"}, 1, "Missing required option(s): bootstrap-server, election-type"},
		{"missing type", []string{"--bootstrap-server", "h:1", "--all-topic-partitions"}, 1, "Missing required option(s): election-type"},
		{"bad type", []string{"--bootstrap-server", "h:1", "--election-type", "fair", "--all-topic-partitions"}, 1, "Cannot parse argument 'fair' of option election-type"},
		{"no selector", []string{"--bootstrap-server", "h:1", "--election-type", "preferred"}, 1, "One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file"},
		{"two selectors", []string{"--bootstrap-server", "h:1", "--election-type", "preferred", "--all-topic-partitions", "--topic", "t", "--partition", "0"}, 1, "One and only one"},
		{"topic without partition", []string{"--bootstrap-server", "h:1", "--election-type", "PREFERRED", "--topic", "t"}, 1, "Missing required option(s): partition"},
		{"partition without topic", []string{"--bootstrap-server", "h:1", "--election-type", "PREFERRED", "--all-topic-partitions", "--partition", "1"}, 1, "Option partition is only allowed if topic is used"},
		{"bad partition", []string{"--bootstrap-server", "h:1", "--election-type", "UNCLEAN", "--topic", "t", "--partition", "x"}, 1, "Cannot parse argument 'x' of option partition"},
		{"missing json", []string{"--bootstrap-server", "h:1", "--election-type", "PREFERRED", "--path-to-json-file", "/nonexistent/x.json"}, 1, "no such file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := LeaderElectionMain(tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("code %d stderr %q; want %d and %q", code, errb.String(), tc.code, tc.stderr)
			}
		})
	}
}

func TestPreferredReplicaElectionArgErrors(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"neither", []string{"--path-to-json-file", "x"}, "Exactly one of '[bootstrap-server]' or '[zookeeper]' must be provided"},
		{"both", []string{"--bootstrap-server", "h:1", "--zookeeper", "z:2181"}, "Exactly one of"},
		{"zookeeper", []string{"--zookeeper", "z:2181"}, "--zookeeper is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := PreferredReplicaElectionMain(tc.args, strings.NewReader(""), &out, &errb)
			if code != 1 || !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("code %d stderr %q; want 1 and %q", code, errb.String(), tc.stderr)
			}
			if !strings.HasPrefix(out.String(), "This tool is deprecated. Please use kafka-leader-election tool. Tracking issue: KAFKA-8405\n") {
				t.Fatalf("stdout %q lacks the deprecation line", out.String())
			}
		})
	}
}

func TestParseLeaderElectionArgs(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "e.json")
	if err := os.WriteFile(file, []byte(`{"partitions":[{"topic":"foo","partition":1},{"topic":"bar","partition":0}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want electionRequest
	}{
		{[]string{"--bootstrap-server", "h:1", "--election-type", "preferred", "--all-topic-partitions"},
			electionRequest{how: kadm.ElectPreferredReplica, name: "PREFERRED"}},
		{[]string{"--bootstrap-server", "h:1", "--election-type", "Unclean", "--topic", "t", "--partition", "3"},
			electionRequest{how: kadm.ElectLiveReplica, name: "UNCLEAN", partitions: []topicPartition{{"t", 3}}}},
		{[]string{"--bootstrap-server", "h:1", "--election-type", "PREFERRED", "--path-to-json-file", file},
			electionRequest{how: kadm.ElectPreferredReplica, name: "PREFERRED", partitions: []topicPartition{{"foo", 1}, {"bar", 0}}}},
	}
	for _, tc := range tests {
		fs := leaderElectionFlags()
		if err := fs.parse(tc.args); err != nil {
			t.Fatal(err)
		}
		got, err := parseLeaderElectionArgs(fs)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: got %+v, %v; want %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestParseElectionJSON(t *testing.T) {
	const what = "Replica election data"
	tests := []struct {
		in      string
		want    []topicPartition
		wantErr string
	}{
		{`{"partitions":[{"topic":"foo","partition":1}]}`, []topicPartition{{"foo", 1}}, ""},
		{`{"partitions":[]}`, []topicPartition{}, ""},
		{"  ", nil, "Replica election data is empty"},
		{`{"other":1}`, nil, `Replica election data is missing "partitions" field`},
		{`{"partitions":[{"topic":"a","partition":0},{"topic":"a","partition":0}]}`, nil, "Replica election data contains duplicate partitions: [a-0]"},
		{`{"partitions":[{"topic":"a"}]}`, nil, "needs \"topic\" and \"partition\""},
		{`{"partitions":`, nil, "not valid JSON"},
	}
	for _, tc := range tests {
		got, err := parseElectionJSON([]byte(tc.in), what)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormatElectionResults(t *testing.T) {
	res := kadm.ElectLeadersResults{
		"t": {
			1: {Topic: "t", Partition: 1},
			0: {Topic: "t", Partition: 0},
			2: {Topic: "t", Partition: 2, Err: kerr.ElectionNotNeeded},
			3: {Topic: "t", Partition: 3, Err: kerr.PreferredLeaderNotAvailable, ErrMessage: "Failed to elect leader for partition t-3 under strategy PreferredReplicaPartitionLeaderElectionStrategy"},
		},
		"a": {
			0: {Topic: "a", Partition: 0, Err: kerr.RequestTimedOut},
		},
	}
	out := electionOutput{
		success: "Successfully completed leader election (PREFERRED) for partitions %s",
		noop:    "Valid replica already elected for partitions %s",
		failure: "Error completing leader election (PREFERRED) for partition: %s: %s",
	}
	lines, failed := formatElectionResults(res, out)
	want := []string{
		"Successfully completed leader election (PREFERRED) for partitions t-0, t-1",
		"Valid replica already elected for partitions t-2",
		"Error completing leader election (PREFERRED) for partition: a-0: org.apache.kafka.common.errors.TimeoutException: " + kerr.RequestTimedOut.Description,
		"Error completing leader election (PREFERRED) for partition: t-3: org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: Failed to elect leader for partition t-3 under strategy PreferredReplicaPartitionLeaderElectionStrategy",
	}
	if failed != 2 || !reflect.DeepEqual(lines, want) {
		t.Fatalf("got %d failed, lines\n%s\nwant\n%s", failed, strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestJavaException(t *testing.T) {
	tests := []struct {
		err  error
		msg  string
		want string
	}{
		{kerr.EligibleLeadersNotAvailable, "", "org.apache.kafka.common.errors.EligibleLeadersNotAvailableException: " + kerr.EligibleLeadersNotAvailable.Description},
		{kerr.UnknownTopicOrPartition, "The partition does not exist.", "org.apache.kafka.common.errors.UnknownTopicOrPartitionException: The partition does not exist."},
		{kerr.InvalidTopicException, "The topic is being deleted", "org.apache.kafka.common.errors.InvalidTopicException: The topic is being deleted"},
		{kerr.NotController, "", "org.apache.kafka.common.errors.NotControllerException: " + kerr.NotController.Description},
	}
	for _, tc := range tests {
		if got := javaException(tc.err, tc.msg); got != tc.want {
			t.Errorf("javaException(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
