package admin

import (
	"bytes"
	"context"
	"errors"
	"net"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerGroupsArgErrors drives kafka-consumer-groups with bad command lines; none reaches a broker (the
// bootstrap address is never dialled).
func TestConsumerGroupsArgErrors(t *testing.T) {
	bs := []string{"--bootstrap-server", "127.0.0.1:1"}
	with := func(args ...string) []string { return append(append([]string(nil), bs...), args...) }
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string // substring
		stderr string // prefix
	}{
		{"no args", nil, 1, "", "Missing required argument \"[bootstrap-server]\"\nOption "},
		{"help without bootstrap", []string{"--help"}, 1, "", "Missing required argument \"[bootstrap-server]\""},
		{"help", with("--help"), 1, "", cgDescription + "\nOption "},
		{"version", with("--version"), 0, "3.7.0\n", ""},
		{"no action", bs, 1, "", "Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets\n"},
		{"two actions", with("--list", "--describe", "--all-groups"), 1, "", "Command must include exactly one action"},
		{"describe without group", with("--describe"), 1, "", "Option [describe] takes one of these options: [group], [all-groups]\n"},
		{"describe two sub-actions", with("--describe", "--group", "g", "--members", "--state"), 1, "", "Option [describe] takes at most one of these options: [members], [offsets], [state]\n"},
		{"describe state value", with("--describe", "--group", "g", "--state", "Stable"), 1, "", "Option [describe] does not take a value for [state]\n"},
		{"delete with topic", with("--delete", "--group", "g", "--topic", "t"), 1, "", "The consumer does not support topic-specific offset deletion from a consumer group.\n"},
		{"delete without group", with("--delete"), 1, "", "Option [delete] takes one of these options: [group], [all-groups]\n"},
		{"delete-offsets without topic", with("--delete-offsets", "--group", "g"), 1, "", "Option [delete-offsets] takes the following options: [group], [topic]\n"},
		{"reset dry-run and execute", with("--reset-offsets", "--group", "g", "--to-earliest", "--dry-run", "--execute"), 1, "", "Option [reset-offsets] only accepts one of [execute] and [dry-run]\n"},
		{"reset without group", with("--reset-offsets", "--to-earliest", "--execute"), 1, "", "Option [reset-offsets] takes one of these options: [group], [all-groups]\n"},
		{"reset without group warns", with("--reset-offsets", "--to-earliest"), 1, "", "WARN: No action will be performed as the --execute option is missing.In a future major release"},
		{"reset two scenarios", with("--reset-offsets", "--group", "g", "--to-earliest", "--to-latest", "--execute"), 1, "", "Option \"[to-earliest]\" can't be used with option \"[to-latest]\"\n"},
		{"group and all-groups", with("--describe", "--group", "g", "--all-groups"), 1, "", "Option \"[group]\" can't be used with option \"[all-groups]\"\n"},
		{"list with group", with("--list", "--group", "g"), 1, "", "Option \"[group]\" can't be used with option \"[list]\"\n"},
		{"list with topic", with("--list", "--topic", "t"), 1, "", "Option \"[topic]\" can't be used with option \"[list]\"\n"},
		{"members without describe", with("--list", "--members"), 1, "", "Exception in thread \"main\" joptsimple.UnavailableOptionException: Option(s) [members] are unavailable given other options on the command line\n"},
		{"state without list or describe", with("--delete", "--group", "g", "--state"), 1, "", "Exception in thread \"main\" joptsimple.UnavailableOptionException: Option(s) [state] are unavailable"},
		{"unknown option", with("--lsit"), 1, "", "Exception in thread \"main\" joptsimple.UnrecognizedOptionException: lsit is not a recognized option\n"},
		{"ambiguous abbreviation", with("--to", "1"), 1, "", "Exception in thread \"main\" joptsimple.UnrecognizedOptionException: to is not a recognized option\n"},
		{"missing argument", with("--list", "--timeout"), 1, "", "Exception in thread \"main\" joptsimple.OptionMissingRequiredArgumentException: Option timeout requires an argument\n"},
		{"invalid state", with("--list", "--state", "stable"), 1, "", "Invalid state list 'stable'. Valid states are: PreparingRebalance, CompletingRebalance, Stable, Dead, Empty\nOption "},
		{"invalid partition", with("--delete-offsets", "--group", "g", "--topic", "t:x"), 1, "", "Invalid partition 'x' specified in topic arg 't:x''\n"},
		{"invalid topic arg", with("--delete-offsets", "--group", "g", "--topic", "t:0:1"), 1, "", "Invalid topic arg 't:0:1', expected topic name and partitions\n"},
		{"bad timeout", with("--list", "--timeout", "abc"), 0, "\nError: Executing consumer group command failed due to Cannot parse argument 'abc' of option timeout\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, groupsMain, "", tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.HasPrefix(errOut, tt.stderr) {
				t.Errorf("code %d (want %d)\nstdout %q\nstderr %q", code, tt.code, out, errOut)
			}
		})
	}
}

func TestConsumerGroupsUsage(t *testing.T) {
	var b bytes.Buffer
	consumerGroupsFlags().usage(&b)
	for _, want := range []string{"--bootstrap-server <String: server to connect to>", "--state [String]",
		"--timeout <Long: timeout (ms)>", "(default: 5000)", "--to-offset <Long: offset>", "--help", "--version"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}

func TestCGParseArgs(t *testing.T) {
	tests := []struct {
		args []string
		want map[string][]string
		help bool
	}{
		{args: []string{"--desc", "--gr", "g", "--gr=h", "stray"}, want: map[string][]string{"describe": {""}, "group": {"g", "h"}}},
		{args: []string{"--list", "--state", "--timeout", "5"}, want: map[string][]string{"list": {""}, "state": {""}, "timeout": {"5"}}},
		{args: []string{"--list", "--state", "Stable,Empty"}, want: map[string][]string{"list": {""}, "state": {"Stable,Empty"}}},
		{args: []string{"--reset-offsets", "--shift-by", "-2", "--", "--list"}, want: map[string][]string{"reset-offsets": {""}, "shift-by": {"-2"}}},
		{args: []string{"--list", "--he"}, want: map[string][]string{"list": {""}}, help: true},
	}
	for _, tc := range tests {
		fs := consumerGroupsFlags()
		help, err := cgParseArgs(fs, tc.args)
		if err != nil || help != tc.help || !reflect.DeepEqual(fs.values, tc.want) {
			t.Errorf("%v: values %v help %v err %v, want %v", tc.args, fs.values, help, err, tc.want)
		}
	}
}

func TestCGOffsetRows(t *testing.T) {
	tp := func(topic string, p int32) offsetsTP { return offsetsTP{topic, p} }
	g := cgGroup{id: "g", state: "Stable", members: []cgMember{
		{consumerID: "small", host: "/h1", clientID: "c1", assignment: []offsetsTP{tp("b", 0)}},
		{consumerID: "idle", host: "/h3", clientID: "c3"},
		{consumerID: "big", host: "/h2", clientID: "c2", assignment: []offsetsTP{tp("b", 1), tp("a", 1), tp("a", 0)}},
	}}
	committed := map[offsetsTP]optInt64{tp("a", 0): someInt64(3), tp("b", 0): {}, tp("c", 0): someInt64(7), tp("a", 1): someInt64(1)}
	ends := map[offsetsTP]int64{tp("a", 0): 10, tp("a", 1): 1, tp("b", 0): 4, tp("c", 0): 9}
	got := cgOffsetRows(g, committed, ends)
	var b bytes.Buffer
	if err := printOffsets(&b, &b, []cgGroupOffsets{{group: "g", state: "Stable", rows: got}}); err != nil {
		t.Fatal(err)
	}
	want := "\n" +
		"GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID\n" +
		"g               a               0          3               10              7               big             /h2             c2\n" +
		"g               a               1          1               1               0               big             /h2             c2\n" +
		"g               b               1          -               -               -               big             /h2             c2\n" +
		"g               b               0          -               4               -               small           /h1             c1\n" +
		"g               c               0          7               9               2               -               -               -\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestPrintOffsetsStates(t *testing.T) {
	row := cgOffsetRow{group: "a-rather-long-group-name", topic: "t", partition: 0, offset: someInt64(1), logEndOffset: someInt64(2),
		lag: someInt64(1), consumerID: "consumer-a-rather-long-group-name-1-0f1e2d3c", host: "/127.0.0.1", clientID: "consumer-1"}
	tests := []struct {
		name           string
		groups         []cgGroupOffsets
		stdout, stderr string
		err            string
	}{
		{name: "wide columns", groups: []cgGroupOffsets{{group: row.group, state: "Stable", rows: []cgOffsetRow{row}}},
			stdout: "\nGROUP                    TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID                                  HOST            CLIENT-ID\n" +
				"a-rather-long-group-name t               0          1               2               1               consumer-a-rather-long-group-name-1-0f1e2d3c /127.0.0.1      consumer-1\n"},
		{name: "dead", groups: []cgGroupOffsets{{group: "d", state: "Dead"}}, stdout: "\nError: Consumer group 'd' does not exist.\n"},
		{name: "empty without offsets", groups: []cgGroupOffsets{{group: "e", state: "Empty"}}, stderr: "\nConsumer group 'e' has no active members.\n"},
		{name: "rebalancing", groups: []cgGroupOffsets{{group: "r", state: "PreparingRebalance"}, {group: "s", state: "CompletingRebalance"}},
			stderr: "\nWarning: Consumer group 'r' is rebalancing.\n\nWarning: Consumer group 's' is rebalancing.\n"},
		{name: "stable without rows", groups: []cgGroupOffsets{{group: "s", state: "Stable"}}},
		{name: "unknown state", groups: []cgGroupOffsets{{group: "u", state: "Assigning"}}, err: "Expected a valid consumer group state, but found 'Assigning'."},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		err := printOffsets(&out, &errb, tc.groups)
		if out.String() != tc.stdout || errb.String() != tc.stderr || (err == nil) != (tc.err == "") || (err != nil && err.Error() != tc.err) {
			t.Errorf("%s: stdout %q stderr %q err %v", tc.name, out.String(), errb.String(), err)
		}
	}
}

func TestPrintMembersAndStates(t *testing.T) {
	g := cgGroup{id: "g", state: "Stable", strategy: "range", coordinator: "broker-with-a-long-hostname.example:9092 (1)", members: []cgMember{
		{consumerID: "m1", instanceID: "static-1", host: "/10.0.0.1", clientID: "c1", assignment: []offsetsTP{{"foo", 1}, {"bar", 0}, {"foo", 0}}},
		{consumerID: "m2", host: "/10.0.0.2", clientID: "c2"},
	}}
	var b bytes.Buffer
	if err := printMembers(&b, &b, []cgGroup{g}, true); err != nil {
		t.Fatal(err)
	}
	want := "\nGROUP           CONSUMER-ID     GROUP-INSTANCE-ID HOST            CLIENT-ID       #PARTITIONS     ASSIGNMENT\n" +
		"g               m1              static-1          /10.0.0.1       c1              3               bar(0), foo(0,1)\n" +
		"g               m2                                /10.0.0.2       c2              0               -\n"
	if b.String() != want {
		t.Errorf("members:\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	g.members[0].instanceID = ""
	if err := printMembers(&b, &b, []cgGroup{g}, false); err != nil {
		t.Fatal(err)
	}
	want = "\nGROUP           CONSUMER-ID     HOST            CLIENT-ID       #PARTITIONS     \n" +
		"g               m1              /10.0.0.1       c1              3               \n" +
		"g               m2              /10.0.0.2       c2              0               \n"
	if b.String() != want {
		t.Errorf("members short:\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	if err := printStates(&b, &b, []cgGroup{g, {id: "gone", state: "Dead"}}); err != nil {
		t.Fatal(err)
	}
	want = "\nGROUP                                        COORDINATOR (ID)          ASSIGNMENT-STRATEGY  STATE           #MEMBERS" +
		"\ng                                            broker-with-a-long-hostname.example:9092 (1) range                Stable          2\n" +
		"\nError: Consumer group 'gone' does not exist.\n"
	if b.String() != want {
		t.Errorf("states:\n%q\nwant\n%q", b.String(), want)
	}

	b.Reset()
	printGroupStates(&b, [][2]string{{"a-group-id-longer-than-15", "Stable"}, {"b", "Empty"}})
	want = "GROUP                     STATE\na-group-id-longer-than-15 Stable\nb                         Empty\n"
	if b.String() != want {
		t.Errorf("list states:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestResetOutput(t *testing.T) {
	plan := cgResetPlan{"g2": {{"t", 1}: 7, {"t", 0}: 5}, "g1": {{"s", 0}: 0}, "g3": {}}
	var b bytes.Buffer
	printOffsetsToReset(&b, plan)
	want := "\nGROUP                          TOPIC                          PARTITION  NEW-OFFSET     \n" +
		"g1                             s                              0          0              \n" +
		"g2                             t                              0          5              \n" +
		"g2                             t                              1          7              \n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	printOffsetsToReset(&b, cgResetPlan{})
	if b.Len() != 0 {
		t.Errorf("empty plan printed %q", b.String())
	}
	if got, want := exportOffsetsCSV(cgResetPlan{"g": {{"t", 1}: 7, {"t", 0}: 5}}, true), "t,0,5\nt,1,7\n"; got != want {
		t.Errorf("single csv %q, want %q", got, want)
	}
	if got, want := exportOffsetsCSV(cgResetPlan{"a,b": {{"t", 0}: 5}, "c": {{"u", 2}: 1}}, false), "\"a,b\",t,0,5\nc,u,2,1\n"; got != want {
		t.Errorf("multi csv %q, want %q", got, want)
	}
}

func TestParseResetPlan(t *testing.T) {
	tests := []struct {
		text   string
		single bool
		want   cgResetPlan
		err    bool
	}{
		{text: "t,0,5\nt,1,7\n", single: true, want: cgResetPlan{"g": {{"t", 0}: 5, {"t", 1}: 7}}},
		{text: "t,0,5\r\n\nt,1,7", single: true, want: cgResetPlan{"g": {{"t", 0}: 5, {"t", 1}: 7}}},
		{text: "g,t,0,5\nh,t,1,7\n", single: true, want: cgResetPlan{"g": {{"t", 0}: 5}, "h": {{"t", 1}: 7}}},
		{text: "g,t,0,5\n", single: false, want: cgResetPlan{"g": {{"t", 0}: 5}}},
		{text: "t,0,5\n", single: false, err: true},
		{text: "t,x,5\n", single: true, err: true},
		{text: "t,0,5\nt,0\n", single: true, err: true},
	}
	for _, tc := range tests {
		got, err := parseResetPlan(tc.text, tc.single, "g")
		if (err != nil) != tc.err || (!tc.err && !reflect.DeepEqual(got, tc.want)) {
			t.Errorf("%q: %v %v, want %v", tc.text, got, err, tc.want)
		}
	}
}

func TestClampOffsets(t *testing.T) {
	a0, a1, a2 := offsetsTP{"a", 0}, offsetsTP{"a", 1}, offsetsTP{"a", 2}
	got, warns := clampOffsets(map[offsetsTP]int64{a0: 50, a1: 1, a2: 5},
		map[offsetsTP]int64{a0: 0, a1: 3, a2: 0}, map[offsetsTP]int64{a0: 10, a1: 8, a2: 10})
	want := map[offsetsTP]int64{a0: 10, a1: 3, a2: 5}
	wantWarns := []string{
		"New offset (50) is higher than latest offset for topic partition a-0. Value will be set to 10",
		"New offset (1) is lower than earliest offset for topic partition a-1. Value will be set to 3",
	}
	if !reflect.DeepEqual(got, want) || !reflect.DeepEqual(warns, wantWarns) {
		t.Errorf("got %v %q", got, warns)
	}
}

func TestParseJavaDateTime(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	tests := []struct {
		in   string
		want int64
		err  string
	}{
		{in: "2020-01-01T00:00:00.000", want: base},
		{in: "2020-01-01T00:00:00.000Z", want: base},
		{in: "2020-01-01T01:00:00.000+01:00", want: base},
		{in: "2019-12-31T19:00:00.000-05", want: base},
		{in: "2020-1-1T0:0:0.5", want: base + 5},
		{in: "2020-01-01", err: "Error parsing timestamp. It does not contain a 'T' according to ISO8601 format"},
		{in: "2020-13-01T00:00:00.000", err: `Unparseable date: "2020-13-01T00:00:00.000Z"`},
		{in: "2020-02-30T00:00:00.000", err: `Unparseable date: "2020-02-30T00:00:00.000Z"`},
		{in: "2020-01-01T00:00:00", err: `Unparseable date: "2020-01-01T00:00:00Z"`},
	}
	for _, tc := range tests {
		got, err := parseJavaDateTime(tc.in)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("%s: %d %v, want error %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseJavaDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{in: "PT1H", want: time.Hour},
		{in: "P1DT2H3M4.5S", want: 26*time.Hour + 3*time.Minute + 4500*time.Millisecond},
		{in: "p2d", want: 48 * time.Hour},
		{in: "-PT1M", want: -time.Minute},
		{in: "PT-1.5S", want: -1500 * time.Millisecond},
		{in: "P", err: true}, {in: "PT", err: true}, {in: "P1DT", err: true}, {in: "1H", err: true}, {in: "PT1H2", err: true},
	}
	for _, tc := range tests {
		got, err := parseJavaDuration(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("%s: %v %v", tc.in, got, err)
		}
		if err != nil && err.Error() != "Text cannot be parsed to a Duration" {
			t.Errorf("%s: error %q", tc.in, err)
		}
	}
}

func TestParseTopicWithPartitionsAndStates(t *testing.T) {
	got, err := parseTopicWithPartitions("t:2,0,")
	if err != nil || !reflect.DeepEqual(got, []offsetsTP{{"t", 2}, {"t", 0}}) {
		t.Errorf("t:2,0,: %v %v", got, err)
	}
	for _, bad := range []string{"t:", "t:1:2", "t:a"} {
		if _, err := parseTopicWithPartitions(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	states, err := parseGroupStates("Stable, Empty,Stable")
	if err != nil || !reflect.DeepEqual(states, []string{"Stable", "Empty"}) {
		t.Errorf("states %v %v", states, err)
	}
	if _, err := parseGroupStates("Stable,empty"); err == nil {
		t.Error("lower-case state accepted (Kafka 3.7 matches case-sensitively)")
	}
}

func TestPrintDeleteResults(t *testing.T) {
	var b bytes.Buffer
	printDeleteGroups(&b, []cgDeleteResult{{"b", nil}, {"a", nil}})
	if want := "Deletion of requested consumer groups ('a', 'b') was successful.\n"; b.String() != want {
		t.Errorf("got %q", b.String())
	}
	b.Reset()
	printDeleteGroups(&b, []cgDeleteResult{{"ok", nil}, {"busy", kerr.NonEmptyGroup}})
	want := "\nError: Deletion of some consumer groups failed:\n" +
		"* Group 'busy' could not be deleted due to: java.util.concurrent.ExecutionException: org.apache.kafka.common.errors.GroupNotEmptyException: The group is not empty.\n" +
		"\nThese consumer groups were deleted successfully: 'ok'\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}

	b.Reset()
	rows := []cgPartitionStatus{{offsetsTP{"t", 2}, nil}, {offsetsTP{"t", 10}, nil}, {offsetsTP{"u", -1}, kerr.UnknownTopicOrPartition}}
	printDeleteOffsets(&b, "g", []string{"t", "u"}, nil, rows)
	want = "Request succeed for deleting offsets with topic t, u group g\n\n" +
		"TOPIC                          PARTITION       STATUS         \n" +
		"t                              10              Successful     \n" +
		"t                              2               Successful     \n" +
		"u                              Not Provided    Error: org.apache.kafka.common.errors.UnknownTopicOrPartitionException: This server does not host this topic-partition.\n"
	if b.String() != want {
		t.Errorf("got %q\nwant %q", b.String(), want)
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{kerr.GroupIDNotFound, "\nError: 'g' does not exist.\n"},
		{kerr.NonEmptyGroup, "\nError: Deleting offsets of a consumer group 'g' is forbidden if the group is not empty.\n"},
		{kerr.GroupSubscribedToTopic, "\nError: Encounter some partition level error, see the follow-up details:\n"},
		{kerr.CoordinatorNotAvailable, "\nError: Encounter some unknown error: COORDINATOR_NOT_AVAILABLE\n"},
	} {
		b.Reset()
		printDeleteOffsets(&b, "g", []string{"t"}, tc.err, nil)
		if !strings.HasPrefix(b.String(), tc.want) {
			t.Errorf("%v: got %q", tc.err, b.String())
		}
	}
}

func TestCGFailureMessage(t *testing.T) {
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	tests := []struct {
		err  error
		want string
	}{
		{cgRawError("Unparseable date: \"x\""), "Unparseable date: \"x\""},
		{kerr.GroupAuthorizationFailed, "org.apache.kafka.common.errors.GroupAuthorizationException: " + kerr.GroupAuthorizationFailed.Description},
		{&kadm.ShardErrors{Name: "ListGroups", Errs: []kadm.ShardError{{Err: kerr.CoordinatorNotAvailable}}},
			"org.apache.kafka.common.errors.CoordinatorNotAvailableException: " + kerr.CoordinatorNotAvailable.Description},
		{&kadm.ShardErrors{Name: "ListGroups", Errs: []kadm.ShardError{{Err: dial}}}, "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."},
		{context.DeadlineExceeded, "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."},
	}
	for _, tc := range tests {
		if got := cgFailureMessage(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
