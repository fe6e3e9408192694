package admin

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// kafka-transactions.sh is argparse4j-based (not joptsimple like the other tools): global options come before the
// sub-command, each sub-command has its own options, and errors print a short usage line and
// "kafka-transactions.sh: error: ...". This file is that parser, reduced to what TransactionsCommand declares.

const txnTool = "kafka-transactions.sh"

const txnUsage = `usage: kafka-transactions.sh [-h] [-v] [--command-config FILE]
                             --bootstrap-server host:port COMMAND ...`

const txnHelp = txnUsage + `

This tool is used to analyze the transactional state of producers in the cluster. It can be used to detect and
recover from hanging transactions.

named arguments:
  -h, --help             show this help message and exit
  -v, --version          show the version of this Kafka distribution and exit
  --command-config FILE  property file containing configs to be passed to admin client
  --bootstrap-server host:port
                         hostname and port for the broker to connect to, in the form ` + "`host:port`" + `  (multiple
                         comma-separated entries can be given)

commands:
  COMMAND
    list                 list transactions
    describe             describe the state of an active transactional-id
    describe-producers   describe the states of active producers for a topic partition
    abort                abort a hanging transaction (requires administrative privileges)
`

// txnArgKind is the value type argparse4j checks an option against (its .type(...)).
type txnArgKind int

const (
	txnString txnArgKind = iota
	txnInt               // Integer
	txnLong              // Long
	txnShort             // Short
)

type txnOpt struct {
	name     string
	kind     txnArgKind
	required bool
}

// txnCommands are the sub-commands and their options, in TransactionsCommand's order.
var txnCommands = []struct {
	name string
	opts []txnOpt
}{
	{"list", nil},
	{"describe", []txnOpt{{"transactional-id", txnString, true}}},
	{"describe-producers", []txnOpt{{"broker-id", txnInt, false}, {"topic", txnString, true}, {"partition", txnInt, true}}},
	{"abort", []txnOpt{{"topic", txnString, true}, {"partition", txnInt, true}, {"start-offset", txnLong, false},
		{"producer-id", txnLong, false}, {"producer-epoch", txnShort, false}, {"coordinator-epoch", txnInt, false}}},
}

// txnArgs is a parsed command line: the global options, the sub-command and its options (by name, without "--").
type txnArgs struct {
	bootstrap     string
	commandConfig string
	command       string
	values        map[string]string
}

var (
	errTxnHelp    = errors.New("help")
	errTxnVersion = errors.New("version")
)

func (a *txnArgs) has(name string) bool { _, ok := a.values[name]; return ok }

// int64 returns an option already validated by parseTxnArgs.
func (a *txnArgs) int64(name string) int64 {
	n, _ := strconv.ParseInt(a.values[name], 10, 64)
	return n
}

func parseTxnArgs(args []string) (*txnArgs, error) {
	a := &txnArgs{values: map[string]string{}}
	i := 0
	// Global options, up to the sub-command.
	for ; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "-h" || arg == "--help":
			return nil, errTxnHelp
		case arg == "-v" || arg == "--version":
			return nil, errTxnVersion
		case strings.HasPrefix(arg, "-"):
			name, val, err := optValue(args, &i)
			if err != nil {
				return nil, err
			}
			switch name {
			case "bootstrap-server":
				a.bootstrap = val
			case "command-config":
				a.commandConfig = val
			default:
				return nil, fmt.Errorf("unrecognized arguments: '%s'", arg)
			}
			continue
		}
		break
	}
	if i >= len(args) {
		if a.bootstrap == "" {
			return nil, errors.New("argument --bootstrap-server is required")
		}
		return nil, errors.New("too few arguments")
	}
	a.command = args[i]
	var specs []txnOpt
	found := false
	var names []string
	for _, c := range txnCommands {
		names = append(names, "'"+c.name+"'")
		if c.name == a.command {
			specs, found = c.opts, true
		}
	}
	if !found {
		return nil, fmt.Errorf("argument COMMAND: invalid choice: '%s' (choose from %s)", a.command, strings.Join(names, ", "))
	}
	for i++; i < len(args); i++ {
		arg := args[i]
		if arg == "-h" || arg == "--help" {
			return nil, errTxnHelp
		}
		if !strings.HasPrefix(arg, "--") {
			return nil, fmt.Errorf("unrecognized arguments: '%s'", arg)
		}
		name, val, err := optValue(args, &i)
		if err != nil {
			return nil, err
		}
		var spec *txnOpt
		for j := range specs {
			if specs[j].name == name {
				spec = &specs[j]
			}
		}
		if spec == nil {
			return nil, fmt.Errorf("unrecognized arguments: '%s'", arg)
		}
		if err := checkTxnValue(*spec, val); err != nil {
			return nil, err
		}
		a.values[name] = val
	}
	if a.bootstrap == "" {
		return nil, errors.New("argument --bootstrap-server is required")
	}
	for _, s := range specs {
		if s.required && !a.has(s.name) {
			return nil, fmt.Errorf("argument --%s is required", s.name)
		}
	}
	return a, nil
}

// optValue reads "--name value" or "--name=value" at args[*i], advancing *i past a separate value.
func optValue(args []string, i *int) (name, val string, err error) {
	name, val, hasVal := strings.Cut(strings.TrimLeft(args[*i], "-"), "=")
	if hasVal {
		return name, val, nil
	}
	if *i+1 >= len(args) || strings.HasPrefix(args[*i+1], "--") {
		return "", "", fmt.Errorf("argument --%s: expected one argument", name)
	}
	*i++
	return name, args[*i], nil
}

func checkTxnValue(s txnOpt, val string) error {
	bits := map[txnArgKind]int{txnInt: 32, txnLong: 64, txnShort: 16}[s.kind]
	if bits == 0 {
		return nil
	}
	if _, err := strconv.ParseInt(val, 10, bits); err != nil {
		typ := map[txnArgKind]string{txnInt: "Integer", txnLong: "Long", txnShort: "Short"}[s.kind]
		return fmt.Errorf("argument --%s: could not convert '%s' to %s", s.name, val, typ)
	}
	return nil
}

// txnArgError prints argparse4j's handleError output and returns exit code 1.
func txnArgError(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, txnUsage)
	fmt.Fprintf(stderr, "%s: error: %s\n", txnTool, err)
	return 1
}
