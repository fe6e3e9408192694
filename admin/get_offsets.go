package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// GetOffsetsMain implements kafka-get-offsets.sh (org.apache.kafka.tools.GetOffsetShell) and returns the exit
// code. It prints topic:partition:offset for every matching partition that has an answer, sorted as Kafka sorts
// them (by the string "topic-partition").
func GetOffsetsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := getOffsetsFlags()
	if len(args) == 0 {
		fmt.Fprintln(stderr, "An interactive shell for getting topic-partition offsets.")
		fs.usage(stderr)
		return 1
	}
	// GetOffsetShell reports its own errors as "Error occurred: ..." with exit code 1.
	fail := func(msg string) int {
		fmt.Fprintf(stderr, "Error occurred: %s\n", msg)
		return 1
	}
	switch err := fs.parse(args); {
	case errors.Is(err, errHelp):
		fs.usage(stdout)
		return 0
	case err != nil:
		return fail(err.Error())
	}
	if fs.has("version") {
		fmt.Fprintln(stdout, kafkaVersion)
		return 0
	}
	bootstrap := fs.get("bootstrap-server", fs.get("broker-list", ""))
	if bootstrap == "" {
		return fail("Missing required option(s) [bootstrap-server]")
	}
	if fs.has("topic-partitions") && (fs.has("topic") || fs.has("partitions")) {
		return fail("--topic-partitions cannot be used with --topic or --partitions")
	}
	timestamp, err := parseOffsetSpec(fs.get("time", "latest"))
	if err != nil {
		return fail(err.Error())
	}
	var filter topicPartitionFilter
	if fs.has("topic-partitions") {
		filter, err = parseTopicPartitionRules(fs.get("topic-partitions", ""))
	} else {
		filter, err = topicAndPartitionsFilter(fs.get("topic", ".*"), fs.get("partitions", ""))
	}
	if err != nil {
		return fail(err.Error())
	}

	props, err := commandConfig(fs)
	if err != nil {
		return fail(err.Error())
	}
	props["client.id"] = "GetOffsetShell"
	cl, err := newClient(bootstrap, props, roleAdmin, stderr)
	if err != nil {
		return fail(err.Error())
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()

	partitions, err := matchingPartitions(ctx, kadm.NewClient(cl), filter, fs.has("exclude-internal-topics"))
	if err != nil {
		return fail(kafkaExceptionString(err))
	}
	if len(partitions) == 0 {
		return fail("Could not match any topic-partitions with the specified filters")
	}
	offsets, errs := listOffsets(ctx, cl, partitions, timestamp)
	for _, tp := range partitions {
		if err, ok := errs[tp]; ok {
			fmt.Fprintf(stderr, "Skip getting offsets for topic-partition %s-%d due to error: %s\n", tp.topic, tp.partition, kafkaExceptionString(err))
		}
	}
	sort.Slice(partitions, func(i, j int) bool { return partitions[i].String() < partitions[j].String() })
	for _, tp := range partitions {
		// -1 is ListOffsetsResponse.UNKNOWN_OFFSET: no record matched the time.
		if off, ok := offsets[tp]; ok && off != -1 {
			fmt.Fprintf(stdout, "%s:%d:%d\n", tp.topic, tp.partition, off)
		}
	}
	return 0
}

func getOffsetsFlags() *flagSet {
	fs := newFlagSet("kafka-get-offsets", "An interactive shell for getting topic-partition offsets.")
	fs.opt("broker-list", "String: HOST1:PORT1,...,HOST3:PORT3", "DEPRECATED, use --bootstrap-server instead; ignored if --bootstrap-server is specified. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2.", "")
	fs.opt("bootstrap-server", "String: HOST1:PORT1,...,HOST3:PORT3", "REQUIRED. The server(s) to connect to in the form HOST1:PORT1,HOST2:PORT2.", "")
	fs.opt("topic-partitions", "String: topic1:1,topic2:0-3,topic3,topic4:5-,topic5:-3", "Comma separated list of topic-partition patterns to get the offsets for, with the format of '([^:,]*)(?::(?:([0-9]*)|(?:([0-9]*)-([0-9]*))))?'. The first group is an optional regex for the topic name, if omitted, it matches any topic name. The section after ':' describes a 'partition' pattern, which can be: a number, a range in the format of 'NUMBER-NUMBER' (lower inclusive, upper exclusive), an inclusive lower bound in the format of 'NUMBER-', an exclusive upper bound in the format of '-NUMBER' or may be omitted to accept all partitions.", "")
	fs.opt("topic", "String: topic", "The topic to get the offsets for. It also accepts a regular expression. If not present, all authorized topics are queried. Cannot be used if --topic-partitions is present.", "")
	fs.opt("partitions", "String: partition ids", "Comma separated list of partition ids to get the offsets for. If not present, all partitions of the authorized topics are queried. Cannot be used if --topic-partitions is present.", "")
	fs.opt("time", "String: <timestamp> / -1 or latest / -2 or earliest / -3 or max-timestamp", "timestamp of the offsets before that. [Note: No offset is returned, if the timestamp greater than recently committed record timestamp is given.]", "latest")
	fs.opt("command-config", "String: config file", "Property file containing configs to be passed to Admin Client.", "")
	fs.flag("exclude-internal-topics", "By default, internal topics are included. If specified, internal topics are excluded.")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// parseOffsetSpec turns --time into a ListOffsets timestamp (-1 latest, -2 earliest, -3 max timestamp).
func parseOffsetSpec(s string) (int64, error) {
	switch s {
	case "earliest":
		return -2, nil
	case "latest":
		return -1, nil
	case "max-timestamp":
		return -3, nil
	}
	ts, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("Malformed time argument %s. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp", s)
	}
	return ts, nil
}

type offsetsTP struct {
	topic     string
	partition int32
}

func (tp offsetsTP) String() string { return fmt.Sprintf("%s-%d", tp.topic, tp.partition) }

// topicPartitionFilter is a union of rules, each a topic regex (matched in full) and a partition predicate.
type topicPartitionFilter []topicPartitionRule

type topicPartitionRule struct {
	topic     *regexp.Regexp
	partition func(int32) bool
}

func (f topicPartitionFilter) topicAllowed(topic string) bool {
	for _, r := range f {
		if r.topic.MatchString(topic) {
			return true
		}
	}
	return false
}

func (f topicPartitionFilter) partitionAllowed(topic string, p int32) bool {
	for _, r := range f {
		if r.topic.MatchString(topic) && r.partition(p) {
			return true
		}
	}
	return false
}

// includeList compiles a TopicFilter.IncludeList regex: commas mean "or", spaces and surrounding quotes are
// dropped, and the topic must match in full.
func includeList(raw string) (*regexp.Regexp, error) {
	re := strings.ReplaceAll(strings.ReplaceAll(strings.TrimSpace(raw), ",", "|"), " ", "")
	re = strings.TrimRight(strings.TrimLeft(re, `"'`), `"'`)
	c, err := regexp.Compile("^(?:" + re + ")$")
	if err != nil {
		return nil, fmt.Errorf("%s is an invalid regex.", re)
	}
	return c, nil
}

func topicAndPartitionsFilter(topic, partitions string) (topicPartitionFilter, error) {
	re, err := includeList(topic)
	if err != nil {
		return nil, err
	}
	set := map[int32]bool{}
	if partitions != "" {
		for _, p := range javaSplit(partitions, ",") {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("--partitions expects a comma separated list of numeric partition ids, but received: %s", partitions)
			}
			set[int32(n)] = true
		}
	}
	return topicPartitionFilter{{topic: re, partition: func(p int32) bool { return len(set) == 0 || set[p] }}}, nil
}

var topicPartitionRuleRE = regexp.MustCompile(`^([^:,]*)(?::(?:([0-9]*)|(?:([0-9]*)-([0-9]*))))?$`)

// parseTopicPartitionRules parses --topic-partitions: "regex[:N | :N-M | :N- | :-M]" rules separated by commas.
func parseTopicPartitionRules(spec string) (topicPartitionFilter, error) {
	var f topicPartitionFilter
	for _, rule := range javaSplit(spec, ",") {
		m := topicPartitionRuleRE.FindStringSubmatch(rule)
		if m == nil {
			return nil, fmt.Errorf("org.apache.kafka.tools.TerseException: Invalid rule specification: %s", rule)
		}
		topic := m[1]
		if topic == "" {
			topic = ".*"
		}
		re, err := includeList(topic)
		if err != nil {
			return nil, err
		}
		atoi := func(s string, def int64) (int64, error) {
			if s == "" {
				return def, nil
			}
			n, err := strconv.ParseInt(s, 10, 32)
			if err != nil {
				return 0, fmt.Errorf("java.lang.NumberFormatException: For input string: \"%s\"", s)
			}
			return n, nil
		}
		var pred func(int32) bool
		if m[2] != "" {
			n, err := atoi(m[2], 0)
			if err != nil {
				return nil, err
			}
			pred = func(p int32) bool { return int64(p) == n }
		} else {
			lo, err := atoi(m[3], 0)
			if err != nil {
				return nil, err
			}
			hi, err := atoi(m[4], math.MaxInt32)
			if err != nil {
				return nil, err
			}
			pred = func(p int32) bool { return int64(p) >= lo && int64(p) < hi }
		}
		f = append(f, topicPartitionRule{topic: re, partition: pred})
	}
	return f, nil
}

// matchingPartitions lists the topics (internal ones unless excluded) and keeps the partitions the filter allows.
func matchingPartitions(ctx context.Context, adm *kadm.Client, f topicPartitionFilter, excludeInternal bool) ([]offsetsTP, error) {
	topics, err := adm.ListTopicsWithInternal(ctx)
	if err != nil {
		return nil, err
	}
	var out []offsetsTP
	for _, td := range topics.Sorted() {
		if (excludeInternal && td.IsInternal) || !f.topicAllowed(td.Topic) {
			continue
		}
		if td.Err != nil {
			return nil, td.Err
		}
		for _, pd := range td.Partitions.Sorted() {
			if f.partitionAllowed(td.Topic, pd.Partition) {
				out = append(out, offsetsTP{td.Topic, pd.Partition})
			}
		}
	}
	return out, nil
}

// listOffsets asks each partition's leader for the offset at timestamp (a ListOffsets request as the Java admin
// client sends it: replica id -1, read_uncommitted). kgo splits the request by leader.
func listOffsets(ctx context.Context, cl *kgo.Client, partitions []offsetsTP, timestamp int64) (map[offsetsTP]int64, map[offsetsTP]error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	byTopic := map[string]int{}
	for _, tp := range partitions {
		i, ok := byTopic[tp.topic]
		if !ok {
			i = len(req.Topics)
			byTopic[tp.topic] = i
			t := kmsg.NewListOffsetsRequestTopic()
			t.Topic = tp.topic
			req.Topics = append(req.Topics, t)
		}
		p := kmsg.NewListOffsetsRequestTopicPartition()
		p.Partition = tp.partition
		p.Timestamp = timestamp
		p.CurrentLeaderEpoch = -1
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, p)
	}
	offsets := map[offsetsTP]int64{}
	errs := map[offsetsTP]error{}
	for _, shard := range cl.RequestSharded(ctx, req) {
		if shard.Err != nil {
			for _, t := range shard.Req.(*kmsg.ListOffsetsRequest).Topics {
				for _, p := range t.Partitions {
					errs[offsetsTP{t.Topic, p.Partition}] = shard.Err
				}
			}
			continue
		}
		for _, t := range shard.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				tp := offsetsTP{t.Topic, p.Partition}
				if p.ErrorCode != 0 {
					errs[tp] = kerr.ErrorForCode(p.ErrorCode)
					continue
				}
				offsets[tp] = p.Offset
			}
		}
	}
	return offsets, errs
}
