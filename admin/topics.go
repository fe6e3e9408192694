package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func topicsFlags() *flagSet {
	fs := newFlagSet("kafka-topics", "This tool helps to create, delete, describe, or change a topic.")
	fs.opt("bootstrap-server", "String: server to connect to", "REQUIRED: The Kafka server to connect to.", "")
	fs.opt("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client.", "")
	fs.flag("list", "List all available topics.")
	fs.flag("create", "Create a new topic.")
	fs.flag("delete", "Delete a topic")
	fs.flag("alter", "Alter the number of partitions and replica assignment.")
	fs.flag("describe", "List details for the given topics.")
	fs.opt("topic", "String: topic", "The topic to create, alter, describe or delete. It also accepts a regular expression, except for --create option.", "")
	fs.opt("topic-id", "String: topic-id", "The topic-id to describe.", "")
	fs.opt("config", "String: name=value", "A topic configuration override for the topic being created.", "")
	fs.opt("delete-config", "String: name", "A topic configuration override to be removed for an existing topic. Not supported with the --bootstrap-server option.", "")
	fs.opt("partitions", "Integer: # of partitions", "The number of partitions for the topic being created or altered. If not supplied for create, defaults to the cluster default.", "")
	fs.opt("replication-factor", "Integer: replication factor", "The replication factor for each partition in the topic being created. If not supplied, defaults to the cluster default.", "")
	fs.opt("replica-assignment", "String: broker_id_for_part1_replica1 : broker_id_for_part1_replica2 , broker_id_for_part2_replica1 : broker_id_for_part2_replica2 , ...", "A list of manual partition-to-broker assignments for the topic being created or altered.", "")
	fs.flag("under-replicated-partitions", "if set when describing topics, only show under replicated partitions")
	fs.flag("unavailable-partitions", "if set when describing topics, only show partitions whose leader is not available")
	fs.flag("under-min-isr-partitions", "if set when describing topics, only show partitions whose isr count is less than the configured minimum.")
	fs.flag("at-min-isr-partitions", "if set when describing topics, only show partitions whose isr count is equal to the configured minimum.")
	fs.flag("topics-with-overrides", "if set when describing topics, only show topics that have overridden configs")
	fs.flag("if-exists", "if set when altering or deleting or describing topics, the action will only execute if the topic exists.")
	fs.flag("if-not-exists", "if set when creating topics, the action will only execute if the topic does not already exist.")
	fs.flag("exclude-internal", "exclude internal topics when running list or describe command. The internal topics will be listed by default")
	fs.flag("version", "Display Kafka version.")
	return fs
}

var topicActions = []string{"create", "list", "alter", "describe", "delete"}

// checkTopicsArgs applies TopicCommandOptions.checkArgs. A usage error
// prints usage; a missing --bootstrap-server is a plain error, as in Kafka.
func checkTopicsArgs(fs *flagSet) (usageErr, plainErr error) {
	n := 0
	for _, a := range topicActions {
		if fs.has(a) {
			n++
		}
	}
	if n != 1 {
		return errors.New("Command must include exactly one action: --list, --describe, --create, --alter or --delete"), nil
	}
	if !fs.has("bootstrap-server") {
		return nil, errors.New("--bootstrap-server must be specified")
	}
	if fs.has("describe") && fs.has("if-exists") && !fs.has("topic") && !fs.has("topic-id") {
		return errors.New("--topic or --topic-id is required to describe a topic"), nil
	}
	if !fs.has("list") && !fs.has("describe") {
		if err := fs.missing("topic"); err != nil {
			return err, nil
		}
	}
	if fs.has("alter") {
		if fs.has("config") {
			return errors.New(`Option combination "[bootstrap-server, config]" can't be used with option "[alter]" (the kafka-configs CLI supports altering topic configs with a --bootstrap-server option)`), nil
		}
		if err := fs.missing("partitions"); err != nil {
			return err, nil
		}
	}
	others := func(keep ...string) []string {
		var out []string
	next:
		for _, a := range []string{"alter", "create", "describe", "list", "delete"} {
			for _, k := range keep {
				if a == k {
					continue next
				}
			}
			out = append(out, a)
		}
		return out
	}
	checks := []error{
		fs.conflict("config", others("alter", "create")...),
		fs.conflict("delete-config", append([]string{"bootstrap-server"}, others("alter")...)...),
		fs.conflict("partitions", others("alter", "create")...),
		fs.conflict("replication-factor", others("create")...),
		fs.conflict("replica-assignment", others("alter", "create")...),
	}
	if fs.has("create") {
		checks = append(checks, fs.conflict("replica-assignment", "partitions", "replication-factor"))
	}
	for _, r := range []string{"under-replicated-partitions", "under-min-isr-partitions", "at-min-isr-partitions", "unavailable-partitions"} {
		checks = append(checks, fs.conflict(r, append([]string{"topics-with-overrides"}, others("describe")...)...))
	}
	checks = append(checks,
		fs.conflict("topics-with-overrides", append([]string{"under-replicated-partitions", "under-min-isr-partitions", "at-min-isr-partitions", "unavailable-partitions"}, others("describe")...)...),
		fs.conflict("if-exists", others("alter", "delete", "describe")...),
		fs.conflict("if-not-exists", others("create")...),
		fs.conflict("exclude-internal", others("list", "describe")...),
	)
	for _, err := range checks {
		if err != nil {
			return err, nil
		}
	}
	return nil, nil
}

// TopicsMain implements kafka-topics.sh (TopicCommand) and returns the
// process exit code.
func TopicsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := topicsFlags()
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	usageErr, plainErr := checkTopicsArgs(fs)
	if usageErr != nil {
		return fs.fail(stderr, usageErr)
	}
	if plainErr != nil {
		fmt.Fprintln(stderr, plainErr.Error())
		return 1
	}
	cl, err := adminClient(fs, "", stderr)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	defer cl.Close()

	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()
	t := &topicService{cl: cl, adm: kadm.NewClient(cl), fs: fs, stdout: stdout}
	switch {
	case fs.has("create"):
		err = t.create(ctx)
	case fs.has("alter"):
		err = t.alter(ctx)
	case fs.has("list"):
		err = t.list(ctx)
	case fs.has("describe"):
		err = t.describe(ctx)
	case fs.has("delete"):
		err = t.delete(ctx)
	}
	if err != nil {
		// TopicCommand prints this to standard output, not standard error.
		fmt.Fprintf(stdout, "Error while executing topic command : %s\n", errorMessage(err))
		return 1
	}
	return 0
}

type topicService struct {
	cl     *kgo.Client
	adm    *kadm.Client
	fs     *flagSet
	stdout io.Writer
}

// matchingTopics lists topics (internal included) and applies --topic and
// --exclude-internal, returning sorted names and the metadata used.
func (t *topicService) matchingTopics(ctx context.Context) ([]string, kadm.Metadata, error) {
	md, err := t.adm.Metadata(ctx)
	if err != nil {
		return nil, md, err
	}
	var filter *topicFilter
	if t.fs.has("topic") {
		if filter, err = newTopicFilter(t.fs.get("topic", "")); err != nil {
			return nil, md, err
		}
	}
	names := make([]string, 0, len(md.Topics))
	for name, td := range md.Topics {
		if td.Err == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	isInternal := func(n string) bool { return md.Topics[n].IsInternal }
	return selectTopics(names, filter, t.fs.has("exclude-internal"), isInternal), md, nil
}

// ensureTopicExists mirrors TopicCommand.ensureTopicExists.
func (t *topicService) ensureTopicExists(found []string) error {
	requested := t.fs.get("topic", "")
	if requested != "" && !t.fs.has("if-exists") && len(found) == 0 {
		return fmt.Errorf("Topic '%s' does not exist as expected", requested)
	}
	return nil
}

func (t *topicService) list(ctx context.Context) error {
	names, _, err := t.matchingTopics(ctx)
	if err != nil {
		return err
	}
	// Kafka joins with newlines and println()s the result, so an empty
	// cluster prints one empty line.
	fmt.Fprintln(t.stdout, strings.Join(names, "\n"))
	return nil
}

func (t *topicService) create(ctx context.Context) error {
	name := t.fs.get("topic", "")
	configs, order, err := parseTopicConfigs(t.fs.all("config"))
	if err != nil {
		return err
	}
	partitions, err := t.fs.int32("partitions", -1)
	if err != nil {
		return err
	}
	rf, err := t.fs.int32("replication-factor", -1)
	if err != nil {
		return err
	}
	var assignment [][]int32
	if ra := t.fs.get("replica-assignment", ""); ra != "" {
		if assignment, err = parseReplicaAssignment(ra); err != nil {
			return err
		}
	}
	if strings.ContainsAny(name, "._") {
		fmt.Fprintln(t.stdout, "WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.")
	}
	if t.fs.has("replication-factor") && (rf > 32767 || rf < 1) {
		return errors.New("The replication factor must be between 1 and 32767 inclusive")
	}
	if t.fs.has("partitions") && partitions < 1 {
		return errors.New("The partitions must be greater than 0")
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = int32(defaultAPITimeout.Milliseconds())
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = name
	rt.NumPartitions = partitions
	rt.ReplicationFactor = int16(rf)
	if assignment != nil {
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		for p, replicas := range assignment {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition = int32(p)
			a.Replicas = replicas
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
	}
	for _, k := range order {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name = k
		v := configs[k]
		c.Value = &v
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return err
	}
	for _, r := range resp.Topics {
		if r.ErrorCode == 0 {
			continue
		}
		if r.ErrorCode == kerr.TopicAlreadyExists.Code {
			if t.fs.has("if-not-exists") {
				return nil
			}
			if r.ErrorMessage == nil || *r.ErrorMessage == "" {
				return fmt.Errorf("Topic '%s' already exists.", name)
			}
		}
		return errors.New(kafkaErrorMessage(r.ErrorCode, r.ErrorMessage))
	}
	fmt.Fprintf(t.stdout, "Created topic %s.\n", name)
	return nil
}

func (t *topicService) alter(ctx context.Context) error {
	partitions, err := t.fs.int32("partitions", -1)
	if err != nil {
		return err
	}
	var assignment [][]int32
	if ra := t.fs.get("replica-assignment", ""); ra != "" {
		if assignment, err = parseReplicaAssignment(ra); err != nil {
			return err
		}
	}
	names, md, err := t.matchingTopics(ctx)
	if err != nil {
		return err
	}
	if err := t.ensureTopicExists(names); err != nil {
		return err
	}
	if len(names) == 0 {
		return nil
	}
	req := kmsg.NewPtrCreatePartitionsRequest()
	req.TimeoutMillis = int32(defaultAPITimeout.Milliseconds())
	for _, name := range names {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic = name
		rt.Count = partitions
		if assignment != nil {
			for i := len(md.Topics[name].Partitions); i < len(assignment); i++ {
				a := kmsg.NewCreatePartitionsRequestTopicAssignment()
				a.Replicas = assignment[i]
				rt.Assignment = append(rt.Assignment, a)
			}
		}
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, t.cl)
	if err != nil {
		return err
	}
	for _, r := range resp.Topics {
		if r.ErrorCode != 0 {
			return errors.New(kafkaErrorMessage(r.ErrorCode, r.ErrorMessage))
		}
	}
	return nil
}

func (t *topicService) delete(ctx context.Context) error {
	names, _, err := t.matchingTopics(ctx)
	if err != nil {
		return err
	}
	if err := t.ensureTopicExists(names); err != nil {
		return err
	}
	resps, err := t.adm.DeleteTopics(ctx, names...)
	if err != nil {
		return err
	}
	for _, name := range names {
		if r, ok := resps[name]; ok && r.Err != nil {
			var ke *kerr.Error
			if errors.As(r.Err, &ke) {
				msg := r.ErrMessage
				return errors.New(kafkaErrorMessage(ke.Code, &msg))
			}
			return r.Err
		}
	}
	return nil
}

func (t *topicService) describe(ctx context.Context) error {
	var names []string
	var md kadm.Metadata
	var err error
	if idStr := t.fs.get("topic-id", ""); idStr != "" {
		names, md, err = t.topicsByID(ctx, idStr)
	} else {
		names, md, err = t.matchingTopics(ctx)
		if err == nil {
			err = t.ensureTopicExists(names)
		}
	}
	if err != nil || len(names) == 0 {
		return err
	}
	cfgs, err := t.adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return err
	}
	byName := map[string]kadm.ResourceConfig{}
	for _, rc := range cfgs {
		byName[rc.Name] = rc
	}
	// Reassignments are best effort: Kafka ignores brokers that cannot list them.
	reassigning := map[string]map[int32]*reassignment{}
	if ras, err := t.adm.ListPartitionReassignments(ctx, nil); err == nil {
		for _, r := range ras.Sorted() {
			if reassigning[r.Topic] == nil {
				reassigning[r.Topic] = map[int32]*reassignment{}
			}
			reassigning[r.Topic][r.Partition] = &reassignment{adding: r.AddingReplicas, removing: r.RemovingReplicas}
		}
	}
	live := map[int32]bool{}
	for _, b := range md.Brokers {
		live[b.NodeID] = true
	}
	opts := describeOpts{
		underReplicated: t.fs.has("under-replicated-partitions"),
		unavailable:     t.fs.has("unavailable-partitions"),
		underMinISR:     t.fs.has("under-min-isr-partitions"),
		atMinISR:        t.fs.has("at-min-isr-partitions"),
		withOverrides:   t.fs.has("topics-with-overrides"),
	}
	for _, name := range names {
		rc := byName[name]
		if rc.Err != nil {
			var ke *kerr.Error
			if errors.As(rc.Err, &ke) {
				msg := rc.ErrMessage
				return errors.New(kafkaErrorMessage(ke.Code, &msg))
			}
			return rc.Err
		}
		fmt.Fprint(t.stdout, formatTopicDescription(toTopicDesc(md.Topics[name], rc, reassigning[name]), opts, live))
	}
	return nil
}

func (t *topicService) topicsByID(ctx context.Context, idStr string) ([]string, kadm.Metadata, error) {
	md, err := t.adm.Metadata(ctx)
	if err != nil {
		return nil, md, err
	}
	var names []string
	for name, td := range md.Topics {
		if formatTopicID(td.ID) == idStr && !(t.fs.has("exclude-internal") && (td.IsInternal || internalTopics[name])) {
			names = append(names, name)
		}
	}
	if len(names) == 0 && !t.fs.has("if-exists") {
		return nil, md, fmt.Errorf("TopicId '%s' does not exist as expected", idStr)
	}
	return names, md, nil
}

func toTopicDesc(td kadm.TopicDetail, rc kadm.ResourceConfig, ras map[int32]*reassignment) topicDesc {
	d := topicDesc{name: td.Topic, id: td.ID}
	for _, p := range td.Partitions.Sorted() {
		d.partitions = append(d.partitions, partitionDesc{
			partition: p.Partition, leader: p.Leader, replicas: p.Replicas, isr: p.ISR, reassignment: ras[p.Partition],
		})
	}
	for _, c := range rc.Configs {
		d.configs = append(d.configs, configEntry{name: c.Key, value: c.Value, isDefault: c.Source == kmsg.ConfigSourceDefaultConfig})
	}
	return d
}
