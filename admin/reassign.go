package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const cannotExecuteBecauseOfExisting = "Cannot execute because there is an existing partition assignment.  Use --additional to override this and create a new partition assignment in addition to the existing one. The --additional flag can also be used to change the throttle by resubmitting the current reassignment."

const mustRunVerify = "Warning: You must run --verify periodically, until the reassignment completes, to ensure the throttle is removed."

func reassignFlags() *flagSet {
	fs := newFlagSet("kafka-reassign-partitions", "This tool helps to move topic partitions between replicas.")
	fs.opt("bootstrap-server", "Server(s) to use for bootstrapping", "the server(s) to use for bootstrapping. REQUIRED.", "")
	fs.opt("command-config", "Admin client property file", "Property file containing configs to be passed to Admin Client.", "")
	fs.flag("generate", "Generate a candidate partition reassignment configuration. Note that this only generates a candidate assignment, it does not execute it.")
	fs.flag("execute", "Kick off the reassignment as specified by the --reassignment-json-file option.")
	fs.flag("verify", "Verify if the reassignment completed as specified by the --reassignment-json-file option. If there is a throttle engaged for the replicas specified, and the rebalance has completed, the throttle will be removed")
	fs.flag("cancel", "Cancel an active reassignment.")
	fs.flag("list", "List all active partition reassignments.")
	fs.opt("reassignment-json-file", "manual assignment json file path", "The JSON file with the partition reassignment configuration", "")
	fs.opt("topics-to-move-json-file", "topics to reassign json file path", "Generate a reassignment configuration to move the partitions of the specified topics to the list of brokers specified by the --broker-list option.", "")
	fs.opt("broker-list", "brokerlist", "The list of brokers to which the partitions need to be reassigned in the form \"0,1,2\". This is required if --topics-to-move-json-file is used to generate reassignment configuration", "")
	fs.flag("disable-rack-aware", "Disable rack aware replica assignment")
	fs.opt("throttle", "throttle", "The movement of partitions between brokers will be throttled to this value (bytes/sec).", "-1")
	fs.opt("replica-alter-log-dirs-throttle", "replicaAlterLogDirsThrottle", "The movement of replicas between log directories on the same broker will be throttled to this value (bytes/sec).", "-1")
	fs.opt("timeout", "timeout", "The maximum time in ms to wait for log directory replica assignment to begin.", "10000")
	fs.flag("additional", "Execute this reassignment in addition to any other ongoing ones.")
	fs.flag("preserve-throttles", "Do not modify broker or topic throttles.")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// ReassignPartitionsMain implements kafka-reassign-partitions.sh (ReassignPartitionsCommand) and returns the exit
// code. Errors go to stdout, as the Java tool prints them.
func ReassignPartitionsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := reassignFlags()
	if code, ok := fs.parseOrExitVersion(args, stdout, stderr); !ok {
		return code
	}
	var actions []string
	for _, a := range []string{"generate", "execute", "verify", "cancel", "list"} {
		if fs.has(a) {
			actions = append(actions, a)
		}
	}
	if len(actions) != 1 {
		return fs.fail(stderr, errors.New("Command must include exactly one action: --generate, --execute, --verify, --cancel, --list"))
	}
	if !fs.has("bootstrap-server") {
		return fs.fail(stderr, errors.New("Please specify --bootstrap-server"))
	}
	need := map[string][]string{"generate": {"topics-to-move-json-file", "broker-list"}, "execute": {"reassignment-json-file"},
		"verify": {"reassignment-json-file"}, "cancel": {"reassignment-json-file"}}
	for _, o := range need[actions[0]] {
		if !fs.has(o) {
			return fs.fail(stderr, fmt.Errorf("Missing required argument \"[%s]\"", o))
		}
	}
	cl, err := adminClient(fs, "reassign-partitions-tool", stderr)
	if err != nil {
		fmt.Fprintln(stdout, "Error: "+err.Error())
		return 1
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()
	r := &reassigner{cl: cl, adm: adm, out: stdout}
	switch actions[0] {
	case "generate":
		err = r.generate(ctx, fs.get("topics-to-move-json-file", ""), fs.get("broker-list", ""), !fs.has("disable-rack-aware"))
	case "execute":
		err = r.execute(ctx, fs.get("reassignment-json-file", ""), fs.has("additional"), fs.get("throttle", "-1") != "-1")
	case "verify":
		err = r.verify(ctx, fs.get("reassignment-json-file", ""))
	case "cancel":
		err = r.cancel(ctx, fs.get("reassignment-json-file", ""))
	case "list":
		err = r.list(ctx)
	}
	if err != nil {
		var terse terseError
		if errors.As(err, &terse) {
			fmt.Fprintln(stdout, terse.msg)
		} else {
			fmt.Fprintln(stdout, "Error: "+errorMessage(err))
		}
		return 1
	}
	return 0
}

// terseError is Kafka's TerseException: printed as is, without "Error: ".
type terseError struct{ msg string }

func (e terseError) Error() string { return e.msg }

type reassigner struct {
	cl  *kgo.Client
	adm *kadm.Client
	out io.Writer
}

func readFileString(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s (No such file or directory)", path)
	}
	return string(b), nil
}

// readTargets reads and parses a --reassignment-json-file.
func readTargets(path string) ([]partitionTarget, error) {
	data, err := readFileString(path)
	if err != nil {
		return nil, err
	}
	return parseReassignmentJSON(data)
}

// sortedTopics lists a set's topics in order; nil when the set is empty.
func sortedTopics(set map[string]bool) []string {
	var topics []string
	for t := range set {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	return topics
}

// tpNames joins a map's partitions, in order, as "topic-partition" names.
func tpNames[V any](m map[topicPartition]V) string {
	names := make([]string, 0, len(m))
	for _, tp := range sortedTPs(m) {
		names = append(names, tpName(tp))
	}
	return strings.Join(names, ",")
}

// alterFailures renders each partition the AlterPartitionReassignments response refused, in order.
func alterFailures(resps kadm.AlterPartitionAssignmentsResponses) []string {
	var failures []string
	for _, res := range resps.Sorted() {
		if res.Err != nil {
			failures = append(failures, fmt.Sprintf("%s-%d: %s", res.Topic, res.Partition, kafkaErrorMessage(errCode(res.Err), strPtr(res.ErrMessage))))
		}
	}
	return failures
}

// currentAssignment describes topics and returns every partition's replicas; unknown topics are an error.
func (r *reassigner) currentAssignment(ctx context.Context, topics []string) (map[topicPartition][]int32, error) {
	td, err := r.adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, err
	}
	out := map[topicPartition][]int32{}
	for _, t := range topics {
		d, ok := td[t]
		if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
			return nil, fmt.Errorf("Topic %s not found.", t)
		}
		if d.Err != nil {
			return nil, d.Err
		}
		for p, pd := range d.Partitions {
			out[topicPartition{t, p}] = pd.Replicas
		}
	}
	return out, nil
}

func (r *reassigner) generate(ctx context.Context, topicsFile, brokerList string, rackAware bool) error {
	data, err := readFileString(topicsFile)
	if err != nil {
		return err
	}
	brokerIDs, err := parseBrokerList(brokerList)
	if err != nil {
		return err
	}
	topics, err := parseTopicsToMove(data)
	if err != nil {
		return err
	}
	current, err := r.currentAssignment(ctx, topics)
	if err != nil {
		return err
	}
	details, err := r.adm.ListBrokers(ctx)
	if err != nil {
		return err
	}
	wanted := map[int32]bool{}
	for _, id := range brokerIDs {
		wanted[id] = true
	}
	var brokers []rackedBroker
	withRack := 0
	for _, b := range details {
		if !wanted[b.NodeID] {
			continue
		}
		rb := rackedBroker{id: b.NodeID}
		if rackAware && b.Rack != nil {
			rb.rack = b.Rack
			withRack++
		}
		brokers = append(brokers, rb)
	}
	if rackAware && withRack > 0 && withRack < len(brokers) {
		return errors.New("Not all brokers have rack information. Add --disable-rack-aware in command line to make replica assignment without rack information.")
	}
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].id < brokers[j].id })
	proposed := map[topicPartition][]int32{}
	byTopic := map[string][]topicPartition{}
	for _, tp := range sortedTPs(current) {
		byTopic[tp.topic] = append(byTopic[tp.topic], tp)
	}
	for topic, tps := range byTopic {
		a, err := assignReplicas(brokers, len(tps), len(current[tps[0]]), nil)
		if err != nil {
			return err
		}
		for p, rs := range a {
			proposed[topicPartition{topic, p}] = rs
		}
	}
	fmt.Fprintf(r.out, "Current partition replica assignment\n%s\n\n", formatReassignmentJSON(current))
	fmt.Fprintf(r.out, "Proposed partition reassignment configuration\n%s\n", formatReassignmentJSON(proposed))
	return nil
}

// ongoing lists reassignments: all of them for nil (a null topic list, which kadm cannot send).
func (r *reassigner) ongoing(ctx context.Context, tps []topicPartition) (map[topicPartition]kmsg.ListPartitionReassignmentsResponseTopicPartition, error) {
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = 30000
	if tps != nil {
		idx := map[string]int{}
		for _, tp := range tps {
			i, ok := idx[tp.topic]
			if !ok {
				t := kmsg.NewListPartitionReassignmentsRequestTopic()
				t.Topic = tp.topic
				req.Topics = append(req.Topics, t)
				i = len(req.Topics) - 1
				idx[tp.topic] = i
			}
			req.Topics[i].Partitions = append(req.Topics[i].Partitions, tp.partition)
		}
	}
	resp, err := req.RequestWith(ctx, r.cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return nil, err
	}
	out := map[topicPartition]kmsg.ListPartitionReassignmentsResponseTopicPartition{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[topicPartition{t.Topic, p.Partition}] = p
		}
	}
	return out, nil
}

func (r *reassigner) execute(ctx context.Context, file string, additional, throttle bool) error {
	targets, err := readTargets(file)
	if err != nil {
		return err
	}
	proposed, err := validateExecuteTargets(targets)
	if err != nil {
		return err
	}
	cur, err := r.ongoing(ctx, nil)
	if err != nil {
		return err
	}
	if !additional && len(cur) > 0 {
		return terseError{cannotExecuteBecauseOfExisting}
	}
	details, err := r.adm.ListBrokers(ctx)
	if err != nil {
		return err
	}
	known := map[int32]bool{}
	for _, b := range details {
		known[b.NodeID] = true
	}
	for _, tp := range sortedTPs(proposed) {
		for _, id := range proposed[tp] {
			if !known[id] {
				return fmt.Errorf("Unknown broker id %d", id)
			}
		}
	}
	topicSet := map[string]bool{}
	for tp := range proposed {
		topicSet[tp.topic] = true
	}
	topics := sortedTopics(topicSet)
	all, err := r.currentAssignment(ctx, topics)
	if err != nil {
		return err
	}
	current := map[topicPartition][]int32{}
	for tp := range proposed {
		if rs, ok := all[tp]; ok {
			current[tp] = rs
		}
	}
	fmt.Fprintf(r.out, "Current partition replica assignment\n\n%s\n\nSave this to use as the --reassignment-json-file option during rollback\n", formatReassignmentJSON(current))
	if throttle {
		fmt.Fprintln(r.out, mustRunVerify)
	}
	var req kadm.AlterPartitionAssignmentsReq
	for tp, rs := range proposed {
		req.Assign(tp.topic, tp.partition, rs)
	}
	resps, err := r.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	failures := alterFailures(resps)
	if len(failures) > 0 {
		return terseError{"Error reassigning partition(s):\n" + strings.Join(failures, "\n")}
	}
	plural := "s"
	if len(proposed) == 1 {
		plural = ""
	}
	fmt.Fprintf(r.out, "Successfully started partition reassignment%s for %s\n", plural, tpNames(proposed))
	return nil
}

func (r *reassigner) verify(ctx context.Context, file string) error {
	targets, err := readTargets(file)
	if err != nil {
		return err
	}
	cur, err := r.ongoing(ctx, nil)
	if err != nil {
		return err
	}
	topicSet := map[string]bool{}
	for _, t := range targets {
		if _, ok := cur[t.tp]; !ok {
			topicSet[t.tp.topic] = true
		}
	}
	topics := sortedTopics(topicSet)
	assigned := map[topicPartition][]int32{}
	if len(topics) > 0 {
		if assigned, err = r.currentAssignment(ctx, topics); err != nil {
			return err
		}
	}
	lines := map[topicPartition]string{}
	for _, t := range targets {
		switch {
		case cur[t.tp].Replicas != nil:
			lines[t.tp] = fmt.Sprintf("Reassignment of partition %s is still in progress.", tpName(t.tp))
		default:
			rs, ok := assigned[t.tp]
			if !ok {
				return fmt.Errorf("Unable to find partition: %s", tpName(t.tp))
			}
			if joinReplicas(rs, ",") == joinReplicas(t.replicas, ",") {
				lines[t.tp] = fmt.Sprintf("Reassignment of partition %s is completed.", tpName(t.tp))
			} else {
				lines[t.tp] = fmt.Sprintf("There is no active reassignment of partition %s, but replica set is %s rather than %s.",
					tpName(t.tp), joinReplicas(rs, ","), joinReplicas(t.replicas, ","))
			}
		}
	}
	fmt.Fprintln(r.out, "Status of partition reassignment:")
	for _, tp := range sortedTPs(lines) {
		fmt.Fprintln(r.out, lines[tp])
	}
	return nil
}

func (r *reassigner) cancel(ctx context.Context, file string) error {
	targets, err := readTargets(file)
	if err != nil {
		return err
	}
	tps := make([]topicPartition, 0, len(targets))
	for _, t := range targets {
		tps = append(tps, t.tp)
	}
	cur, err := r.ongoing(ctx, tps)
	if err != nil {
		return err
	}
	var req kadm.AlterPartitionAssignmentsReq
	reassigning := map[topicPartition]bool{}
	for tp, p := range cur {
		// As Kafka's tool: partitions only adding replicas with nothing to remove are left alone.
		if len(p.AddingReplicas) == 0 || len(p.RemovingReplicas) > 0 {
			reassigning[tp] = true
			req.CancelAssign(tp.topic, tp.partition)
		}
	}
	if len(reassigning) == 0 {
		fmt.Fprintln(r.out, "None of the specified partition reassignments are active.")
		fmt.Fprint(r.out, "None of the specified partition moves are active.")
		return nil
	}
	resps, err := r.adm.AlterPartitionAssignments(ctx, req)
	if err != nil {
		return err
	}
	failures := alterFailures(resps)
	plural := "s"
	if len(failures) == 1 || (len(failures) == 0 && len(reassigning) == 1) {
		plural = ""
	}
	if len(failures) > 0 {
		return terseError{fmt.Sprintf("Error cancelling partition reassignment%s for:\n%s", plural, strings.Join(failures, "\n"))}
	}
	fmt.Fprintf(r.out, "Successfully cancelled partition reassignment%s for: %s\n", plural, tpNames(reassigning))
	fmt.Fprint(r.out, "None of the specified partition moves are active.")
	return nil
}

func (r *reassigner) list(ctx context.Context) error {
	cur, err := r.ongoing(ctx, nil)
	if err != nil {
		return err
	}
	if len(cur) == 0 {
		fmt.Fprintln(r.out, "No partition reassignments found.")
		return nil
	}
	fmt.Fprintln(r.out, "Current partition reassignments:")
	for _, tp := range sortedTPs(cur) {
		p := cur[tp]
		line := fmt.Sprintf("%s: replicas: %s.", tpName(tp), joinReplicas(p.Replicas, ","))
		if len(p.AddingReplicas) > 0 {
			line += fmt.Sprintf(" adding: %s.", joinReplicas(p.AddingReplicas, ","))
		}
		if len(p.RemovingReplicas) > 0 {
			line += fmt.Sprintf(" removing: %s.", joinReplicas(p.RemovingReplicas, ","))
		}
		fmt.Fprintln(r.out, line)
	}
	return nil
}

func errCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return kerr.UnknownServerError.Code
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
