package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafka-consumer-groups.sh: kafka.admin.ConsumerGroupCommand of Kafka 3.7.0. This file holds the entry point, the
// options and their validation; consumer_groups_describe.go lists and describes groups,
// consumer_groups_reset.go resets offsets and consumer_groups_delete.go deletes groups and offsets.

const cgDescription = "This tool helps to list all consumer groups, describe a consumer group, delete consumer group info, or reset consumer group offsets."

// cgResetScenarios are the --reset-offsets specifications; exactly one may be given.
var cgResetScenarios = []string{"to-offset", "shift-by", "to-datetime", "by-duration", "to-earliest", "to-latest", "to-current", "from-file"}

func consumerGroupsFlags() *flagSet {
	// No description: printUsageAndExit prints only the message and the option table. Kafka's multi-line help
	// texts are joined into one line, as flagSet.usage does not indent continuation lines.
	fs := newFlagSet("kafka-consumer-groups", "")
	fs.opt("bootstrap-server", "String: server to connect to", "REQUIRED: The server(s) to connect to.", "")
	fs.opt("group", "String: consumer group", "The consumer group we wish to act on.", "")
	fs.opt("topic", "String: topic", "The topic whose consumer group information should be deleted or topic whose should be included in the reset offset process. "+
		"In `reset-offsets` case, partitions can be specified using this format: `topic1:0,1,2`, where 0,1,2 are the partition to be included in the process. "+
		"Reset-offsets also supports multiple topic inputs.", "")
	fs.flag("all-topics", "Consider all topics assigned to a group in the `reset-offsets` process.")
	fs.flag("list", "List all consumer groups.")
	fs.flag("describe", "Describe consumer group and list offset lag (number of messages not yet processed) related to given group.")
	fs.flag("all-groups", "Apply to all consumer groups.")
	fs.flag("delete", "Pass in groups to delete topic partition offsets and ownership information over the entire consumer group. For instance --group g1 --group g2")
	fs.opt("timeout", "Long: timeout (ms)", "The timeout that can be set for some use cases. For example, it can be used when describing the group "+
		"to specify the maximum amount of time in milliseconds to wait before the group stabilizes (when the group is just created, "+
		"or is going through some changes).", "5000")
	fs.opt("command-config", "String: command config property file", "Property file containing configs to be passed to Admin Client and Consumer.", "")
	fs.flag("reset-offsets", "Reset offsets of consumer group. Supports one consumer group at the time, and instances should be inactive "+
		"Has 2 execution options: --dry-run (the default) to plan which offsets to reset, and --execute to update the offsets. "+
		"Additionally, the --export option is used to export the results to a CSV format. "+
		"You must choose one of the following reset specifications: --to-datetime, --by-duration, --to-earliest, "+
		"--to-latest, --shift-by, --from-file, --to-current, --to-offset. "+
		"To define the scope use --all-topics or --topic. One scope must be specified unless you use '--from-file'.")
	fs.flag("delete-offsets", "Delete offsets of consumer group. Supports one consumer group at the time, and multiple topics.")
	fs.flag("dry-run", "Only show results without executing changes on Consumer Groups. Supported operations: reset-offsets.")
	fs.flag("execute", "Execute operation. Supported operations: reset-offsets.")
	fs.flag("export", "Export operation execution to a CSV file. Supported operations: reset-offsets.")
	fs.opt("to-offset", "Long: offset", "Reset offsets to a specific offset.", "")
	fs.opt("from-file", "String: path to CSV file", "Reset offsets to values defined in CSV file.", "")
	fs.opt("to-datetime", "String: datetime", "Reset offsets to offset from datetime. Format: 'YYYY-MM-DDTHH:mm:SS.sss'", "")
	fs.opt("by-duration", "String: duration", "Reset offsets to offset by duration from current timestamp. Format: 'PnDTnHnMnS'", "")
	fs.flag("to-earliest", "Reset offsets to earliest offset.")
	fs.flag("to-latest", "Reset offsets to latest offset.")
	fs.flag("to-current", "Reset offsets to current offset.")
	fs.opt("shift-by", "Long: number-of-offsets", "Reset offsets shifting current offset by 'n', where 'n' can be positive or negative.", "")
	fs.flag("members", "Describe members of the group. This option may be used with '--describe' and '--bootstrap-server' options only. "+
		"Example: --bootstrap-server localhost:9092 --describe --group group1 --members")
	fs.flag("verbose", "Provide additional information, if any, when describing the group. This option may be used "+
		"with '--offsets'/'--members'/'--state' and '--bootstrap-server' options only. Example: --bootstrap-server localhost:9092 --describe --group group1 --members --verbose")
	fs.flag("offsets", "Describe the group and list all topic partitions in the group along with their offset lag. "+
		"This is the default sub-action of and may be used with '--describe' and '--bootstrap-server' options only. "+
		"Example: --bootstrap-server localhost:9092 --describe --group group1 --offsets")
	fs.add("state", optionalArg, "String", "When specified with '--describe', includes the state of the group. "+
		"Example: --bootstrap-server localhost:9092 --describe --group group1 --state "+
		"When specified with '--list', it displays the state of all groups. It can also be used to list groups with specific states. "+
		"Example: --bootstrap-server localhost:9092 --list --state stable,empty "+
		"This option may be used with '--describe', '--list' and '--bootstrap-server' options only.", "")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// cgUsageError is a message that ends the tool through printUsageAndExit: the message and the usage on stderr and
// exit code 1. Kafka raises it for invalid option combinations and, inside the command, for IllegalArgumentException.
type cgUsageError string

func (e cgUsageError) Error() string { return string(e) }

// cgRawError is a failure whose Java getMessage is known verbatim (it is printed as is, not as a Kafka exception).
type cgRawError string

func (e cgRawError) Error() string { return string(e) }

// cgParseArgs parses args as joptsimple does for ConsumerGroupCommand: unique abbreviations, repeatable options,
// non-option arguments silently ignored, an optional argument for --state taken only when it does not look like an
// option. help reports --help. A non-nil error is a joptsimple exception, rendered as the JVM prints an uncaught one.
func cgParseArgs(fs *flagSet, args []string) (help bool, err error) {
	var kept []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break // joptsimple: everything after "--" is a non-option argument
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			continue
		}
		if !strings.HasPrefix(a, "--") {
			return false, fmt.Errorf("joptsimple.UnrecognizedOptionException: %s is not a recognized option", strings.TrimPrefix(a, "-"))
		}
		name, _, hasVal := strings.Cut(a[2:], "=")
		if name != "" && strings.HasPrefix("help", name) && !cgAmbiguous(fs, name) {
			help = true
			continue
		}
		spec, lerr := fs.lookup(name)
		if lerr != nil {
			// joptsimple's abbreviation map answers nothing for an ambiguous prefix, so both cases read the same.
			return false, fmt.Errorf("joptsimple.UnrecognizedOptionException: %s is not a recognized option", name)
		}
		kept = append(kept, a)
		switch {
		case hasVal:
		case spec.kind == requiredArg:
			if i+1 >= len(args) {
				return false, fmt.Errorf("joptsimple.OptionMissingRequiredArgumentException: Option %s requires an argument", spec.name)
			}
			i++
			kept = append(kept, args[i])
		case spec.kind == optionalArg:
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
				kept = append(kept, args[i])
			}
		}
	}
	if err := fs.parse(kept); err != nil {
		return false, fmt.Errorf("joptsimple.OptionException: %s", err)
	}
	// availableIf: these options are rejected by the parser unless one of their enabling options is present.
	var unavailable []string
	for _, o := range []string{"members", "verbose", "offsets"} {
		if fs.has(o) && !fs.has("describe") {
			unavailable = append(unavailable, o)
		}
	}
	if fs.has("state") && !fs.has("describe") && !fs.has("list") {
		unavailable = append(unavailable, "state")
	}
	if len(unavailable) > 0 {
		return false, fmt.Errorf("joptsimple.UnavailableOptionException: Option(s) [%s] are unavailable given other options on the command line",
			strings.Join(unavailable, ", "))
	}
	return help, nil
}

// cgAmbiguous reports whether a prefix of "help" also abbreviates a declared option.
func cgAmbiguous(fs *flagSet, name string) bool {
	for _, s := range fs.specs {
		if strings.HasPrefix(s.name, name) {
			return true
		}
	}
	return false
}

// cgCheckArgs is ConsumerGroupCommandOptions.checkArgs: each failure is a printUsageAndExit message. It also
// prints the --reset-offsets dry-run warning at the point Kafka does.
func cgCheckArgs(fs *flagSet, stderr io.Writer) error {
	if err := fs.missing("bootstrap-server"); err != nil {
		return err
	}
	scope := "[group], [all-groups]"
	if fs.has("describe") {
		if !fs.has("group") && !fs.has("all-groups") {
			return fmt.Errorf("Option [describe] takes one of these options: %s", scope)
		}
		n := 0
		for _, o := range []string{"members", "offsets", "state"} {
			if fs.has(o) {
				n++
			}
		}
		if n > 1 {
			return errors.New("Option [describe] takes at most one of these options: [members], [offsets], [state]")
		}
		if fs.get("state", "") != "" {
			return errors.New("Option [describe] does not take a value for [state]")
		}
	}
	if fs.has("delete") {
		if !fs.has("group") && !fs.has("all-groups") {
			return fmt.Errorf("Option [delete] takes one of these options: %s", scope)
		}
		if fs.has("topic") {
			return errors.New("The consumer does not support topic-specific offset deletion from a consumer group.")
		}
	}
	if fs.has("delete-offsets") && (!fs.has("group") || !fs.has("topic")) {
		return errors.New("Option [delete-offsets] takes the following options: [group], [topic]")
	}
	if fs.has("reset-offsets") {
		if fs.has("dry-run") && fs.has("execute") {
			return errors.New("Option [reset-offsets] only accepts one of [execute] and [dry-run]")
		}
		if !fs.has("dry-run") && !fs.has("execute") {
			fmt.Fprintln(stderr, "WARN: No action will be performed as the --execute option is missing."+
				"In a future major release, the default behavior of this command will be to prompt the user before "+
				"executing the reset rather than doing a dry run. You should add the --dry-run option explicitly "+
				"if you are scripting this command and want to keep the current default behavior without prompting.")
		}
		if !fs.has("group") && !fs.has("all-groups") {
			return fmt.Errorf("Option [reset-offsets] takes one of these options: %s", scope)
		}
		for _, s := range cgResetScenarios {
			var others []string
			for _, o := range cgResetScenarios {
				if o != s {
					others = append(others, o)
				}
			}
			if err := fs.conflict(s, others...); err != nil {
				return err
			}
		}
	}
	for _, err := range []error{
		fs.conflict("group", "all-groups"),
		fs.conflict("group", "list"),
		fs.conflict("topic", "list", "describe"),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// ConsumerGroupsMain implements kafka-consumer-groups.sh (kafka.admin.ConsumerGroupCommand) and returns the exit
// code. As in Kafka, a failure while executing the command is printed ("Error: ...") but exits 0; option errors
// exit 1.
func ConsumerGroupsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := consumerGroupsFlags()
	usageExit := func(msg string) int {
		fmt.Fprintln(stderr, msg)
		fs.usage(stderr)
		return 1
	}
	// The options are parsed before main's try block: parser errors escape as uncaught exceptions.
	help, err := cgParseArgs(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "Exception in thread \"main\" %s\n", err)
		return 1
	}
	if err := cgCheckArgs(fs, stderr); err != nil {
		return usageExit(err.Error())
	}
	if help || len(args) == 0 {
		return usageExit(cgDescription)
	}
	if fs.has("version") {
		fmt.Fprintln(stdout, kafkaVersion)
		return 0
	}
	actions := 0
	for _, a := range []string{"list", "describe", "delete", "reset-offsets", "delete-offsets"} {
		if fs.has(a) {
			actions++
		}
	}
	if actions != 1 {
		return usageExit("Command must include exactly one action: --list, --describe, --delete, --reset-offsets, --delete-offsets")
	}

	cl, err := adminClient(fs, "", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "Exception in thread \"main\" org.apache.kafka.common.KafkaException: Failed to create new KafkaAdminClient: %v\n", err)
		return 1
	}
	defer cl.Close()
	c := &cgCommand{fs: fs, stdout: stdout, stderr: stderr, cl: cl, adm: kadm.NewClient(cl), now: time.Now}
	err = c.run()
	var usage cgUsageError
	switch {
	case errors.As(err, &usage):
		return usageExit(usage.Error())
	case err != nil:
		fmt.Fprintf(stdout, "\nError: Executing consumer group command failed due to %s\n", cgFailureMessage(err))
	}
	return 0
}

// cgFailureMessage is the getMessage of what Kafka catches: mostly an ExecutionException, whose message is its
// cause's toString.
func cgFailureMessage(err error) string {
	var raw cgRawError
	if errors.As(err, &raw) {
		return raw.Error()
	}
	var shards *kadm.ShardErrors
	if errors.As(err, &shards) && len(shards.Errs) > 0 {
		err = shards.Errs[0].Err
	}
	// The Java admin client keeps retrying an unreachable broker until the call times out.
	var op *net.OpError
	if errors.As(err, &op) || errors.Is(err, context.DeadlineExceeded) {
		return "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."
	}
	return kafkaExceptionString(err)
}

// cgCommand is ConsumerGroupService: one admin client and the parsed options.
type cgCommand struct {
	fs             *flagSet
	stdout, stderr io.Writer
	cl             *kgo.Client
	adm            *kadm.Client
	now            func() time.Time
	timeout        time.Duration
}

func (c *cgCommand) run() error {
	ms, err := c.fs.int64("timeout", 5000)
	if err != nil {
		return cgRawError(err.Error())
	}
	c.timeout = time.Duration(int32(ms)) * time.Millisecond // Kafka takes the Long's intValue
	switch {
	case c.fs.has("list"):
		return c.listGroups()
	case c.fs.has("describe"):
		return c.describeGroups()
	case c.fs.has("delete"):
		return c.deleteGroups()
	case c.fs.has("reset-offsets"):
		return c.resetOffsets()
	default:
		return c.deleteOffsets()
	}
}

// ctx bounds one admin call by --timeout, as withTimeoutMs does for each Kafka admin call.
func (c *cgCommand) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), c.timeout)
}

// groupIDs resolves --all-groups or the --group values (in order, without repeats).
func (c *cgCommand) groupIDs() ([]string, error) {
	if c.fs.has("all-groups") {
		return c.listConsumerGroups()
	}
	var out []string
	seen := map[string]bool{}
	for _, g := range c.fs.all("group") {
		if !seen[g] {
			seen[g] = true
			out = append(out, g)
		}
	}
	return out, nil
}
