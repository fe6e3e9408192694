package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// leaderElectionTimeout is LeaderElectionCommand's default.api.timeout.ms (request.timeout.ms is half of it).
const leaderElectionTimeout = 30 * time.Second

func leaderElectionFlags() *flagSet {
	fs := newFlagSet("kafka-leader-election", "This tool attempts to elect a new leader for a set of topic partitions. The type of elections supported are preferred replicas and unclean replicas.")
	fs.opt("bootstrap-server", "host:port", "A hostname and port for the broker to connect to, in the form host:port. Multiple comma separated URLs can be given. REQUIRED.", "")
	fs.opt("admin.config", "config file", "Configuration properties files to pass to the admin client", "")
	fs.opt("path-to-json-file", "Path to JSON file", "The JSON file with the list  of partition for which leader elections should be performed. This is an example format. \n{\"partitions\":\n\t[{\"topic\": \"foo\", \"partition\": 1},\n\t {\"topic\": \"foobar\", \"partition\": 2}]\n}\nNot allowed if --all-topic-partitions or --topic flags are specified.", "")
	fs.opt("topic", "topic name", "Name of topic for which to perform an election. Not allowed if --path-to-json-file or --all-topic-partitions is specified.", "")
	fs.opt("partition", "Integer: partition id", "Partition id for which to perform an election. REQUIRED if --topic is specified.", "")
	fs.flag("all-topic-partitions", "Perform election on all of the eligible topic partitions based on the type of election (see the --election-type flag). Not allowed if --topic or --path-to-json-file is specified.")
	fs.opt("election-type", "[PREFERRED,UNCLEAN]: election type", "Type of election to attempt. Possible values are \"preferred\" for preferred leader election or \"unclean\" for unclean leader election. If preferred election is selection, the election is only performed if the current leader is not the preferred leader for the topic partition. If unclean election is selected, the election is only performed if there are no leader for the topic partition. REQUIRED.", "")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// electionRequest is what the command line asks for: partitions nil means every partition.
type electionRequest struct {
	how        kadm.ElectLeadersHow
	name       string // PREFERRED or UNCLEAN, as ElectionType prints
	partitions []topicPartition
}

// parseLeaderElectionArgs applies LeaderElectionCommandOptions.validate and reads the JSON file.
func parseLeaderElectionArgs(fs *flagSet) (electionRequest, error) {
	var req electionRequest
	var missing []string
	for _, n := range []string{"bootstrap-server", "election-type"} {
		if !fs.has(n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return req, fmt.Errorf("Missing required option(s): %s", strings.Join(missing, ", "))
	}
	switch t := strings.ToUpper(fs.get("election-type", "")); t {
	case "PREFERRED":
		req.how, req.name = kadm.ElectPreferredReplica, t
	case "UNCLEAN":
		req.how, req.name = kadm.ElectLiveReplica, t
	default:
		return req, fmt.Errorf("Cannot parse argument '%s' of option election-type", fs.get("election-type", ""))
	}
	n := 0
	for _, o := range []string{"topic", "all-topic-partitions", "path-to-json-file"} {
		if fs.has(o) {
			n++
		}
	}
	if n != 1 {
		return req, errors.New("One and only one of the following options is required: topic, all-topic-partitions, path-to-json-file")
	}
	if fs.has("topic") && !fs.has("partition") {
		return req, errors.New("Missing required option(s): partition")
	}
	if !fs.has("topic") && fs.has("partition") {
		return req, errors.New("Option partition is only allowed if topic is used")
	}
	switch {
	case fs.has("topic"):
		p, err := strconv.ParseInt(strings.TrimSpace(fs.get("partition", "")), 10, 32)
		if err != nil {
			return req, fmt.Errorf("Cannot parse argument '%s' of option partition", fs.get("partition", ""))
		}
		req.partitions = []topicPartition{{fs.get("topic", ""), int32(p)}}
	case fs.has("path-to-json-file"):
		tps, err := readElectionJSON(fs.get("path-to-json-file", ""), "Replica election data")
		if err != nil {
			return req, err
		}
		req.partitions = tps
	}
	return req, nil
}

// LeaderElectionMain implements kafka-leader-election.sh (LeaderElectionCommand) and returns the exit code.
// Kafka 3.7 exits 0 even after a failure; later versions exit 1, which scripts can rely on, so we do.
func LeaderElectionMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := leaderElectionFlags()
	if code, ok := fs.parseOrExitVersion(args, stdout, stderr); !ok {
		return code
	}
	req, err := parseLeaderElectionArgs(fs)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	adm, timeout, closeFn, err := electionAdmin(fs.get("bootstrap-server", ""), fs.get("admin.config", ""), leaderElectionTimeout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := electLeaders(ctx, adm, req.how, req.partitions)
	out := electionOutput{
		success: "Successfully completed leader election (" + req.name + ") for partitions %s",
		noop:    "Valid replica already elected for partitions %s",
		failure: "Error completing leader election (" + req.name + ") for partition: %s: %s",
		summary: "%d replica(s) could not be elected",
	}
	return out.report(res, err, stdout, stderr)
}

// electionAdmin builds the admin client from --bootstrap-server and the admin config file, and returns the
// overall deadline (default.api.timeout.ms when the file sets it).
func electionAdmin(bootstrap, configFile string, def time.Duration, stderr io.Writer) (*kadm.Client, time.Duration, func(), error) {
	props := map[string]string{}
	if configFile != "" {
		p, err := loadProps(configFile)
		if err != nil {
			return nil, 0, nil, err
		}
		props = p
	}
	timeout := def
	if v, ok := props["default.api.timeout.ms"]; ok {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return nil, 0, nil, fmt.Errorf("Invalid value %s for configuration default.api.timeout.ms: Not a number of type INT", v)
		}
		timeout = time.Duration(n) * time.Millisecond
		delete(props, "default.api.timeout.ms")
	}
	if _, ok := props["request.timeout.ms"]; !ok {
		props["request.timeout.ms"] = strconv.FormatInt((timeout / 2).Milliseconds(), 10)
	}
	cl, err := newClient(bootstrap, props, roleAdmin, stderr)
	if err != nil {
		return nil, 0, nil, err
	}
	return kadm.NewClient(cl), timeout, cl.Close, nil
}

// electLeaders sends ElectLeaders; nil tps means every partition (a null list on the wire), while an empty list
// elects nothing, so it is not sent at all (kadm would send an empty set as null).
func electLeaders(ctx context.Context, adm *kadm.Client, how kadm.ElectLeadersHow, tps []topicPartition) (kadm.ElectLeadersResults, error) {
	if tps != nil && len(tps) == 0 {
		return kadm.ElectLeadersResults{}, nil
	}
	var s kadm.TopicsSet
	if tps != nil {
		s = kadm.TopicsSet{}
		for _, tp := range tps {
			s.Add(tp.topic, tp.partition)
		}
	}
	return adm.ElectLeaders(ctx, how, s)
}

// electionOutput holds one tool's message formats; the two election tools differ only in wording.
type electionOutput struct {
	success, noop, failure, summary string
}

// report prints the election results the way LeaderElectionCommand.electLeaders does and returns the exit code.
func (o electionOutput) report(res kadm.ElectLeadersResults, err error, stdout, stderr io.Writer) int {
	if err != nil {
		switch {
		case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, kerr.RequestTimedOut):
			fmt.Fprintln(stdout, "Timeout waiting for election results")
			fmt.Fprintln(stderr, "Timeout waiting for election results")
		case errors.Is(err, kerr.ClusterAuthorizationFailed):
			fmt.Fprintln(stdout, "Not authorized to perform leader election")
			fmt.Fprintln(stderr, "Not authorized to perform leader election")
		default:
			fmt.Fprintln(stdout, "Error while making request")
			fmt.Fprintln(stderr, errorMessage(err))
		}
		return 1
	}
	lines, failed := formatElectionResults(res, o)
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, o.summary+"\n", failed)
		return 1
	}
	return 0
}

// formatElectionResults sorts partitions into succeeded, not needed and failed (in partition order, where Kafka
// iterates hash sets) and renders the three kinds of lines.
func formatElectionResults(res kadm.ElectLeadersResults, o electionOutput) (lines []string, failed int) {
	var succeeded, noop []string
	var failures []string
	for _, r := range sortedElectionResults(res) {
		name := fmt.Sprintf("%s-%d", r.Topic, r.Partition)
		switch {
		case r.Err == nil:
			succeeded = append(succeeded, name)
		case errors.Is(r.Err, kerr.ElectionNotNeeded):
			noop = append(noop, name)
		default:
			failures = append(failures, fmt.Sprintf(o.failure, name, javaException(r.Err, r.ErrMessage)))
		}
	}
	if len(succeeded) > 0 {
		lines = append(lines, fmt.Sprintf(o.success, strings.Join(succeeded, ", ")))
	}
	if len(noop) > 0 {
		lines = append(lines, fmt.Sprintf(o.noop, strings.Join(noop, ", ")))
	}
	return append(lines, failures...), len(failures)
}

func sortedElectionResults(res kadm.ElectLeadersResults) []kadm.ElectLeadersResult {
	var out []kadm.ElectLeadersResult
	for _, ps := range res {
		for _, r := range ps {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Topic != out[j].Topic {
			return out[i].Topic < out[j].Topic
		}
		return out[i].Partition < out[j].Partition
	})
	return out
}

// javaExceptionNames covers the codes whose Java exception class is not the code's name in CamelCase.
var javaExceptionNames = map[int16]string{
	kerr.RequestTimedOut.Code:            "TimeoutException",
	kerr.ClusterAuthorizationFailed.Code: "ClusterAuthorizationException",
	kerr.TopicAuthorizationFailed.Code:   "TopicAuthorizationException",
	kerr.NotLeaderForPartition.Code:      "NotLeaderOrFollowerException",
	kerr.UnknownServerError.Code:         "UnknownServerException",
}

// javaException renders an error as the Java client's Throwable.toString does:
// "org.apache.kafka.common.errors.PreferredLeaderNotAvailableException: <message>".
func javaException(err error, msg string) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		return err.Error()
	}
	name, ok := javaExceptionNames[ke.Code]
	if !ok {
		var b strings.Builder
		for _, word := range strings.Split(strings.TrimSuffix(ke.Message, "_EXCEPTION"), "_") {
			if word != "" {
				b.WriteString(word[:1] + strings.ToLower(word[1:]))
			}
		}
		name = b.String() + "Exception"
	}
	if msg == "" {
		msg = ke.Description
	}
	return "org.apache.kafka.common.errors." + name + ": " + msg
}
