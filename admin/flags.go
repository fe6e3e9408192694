package admin

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// argKind says whether a flag takes a value, as joptsimple's
// withRequiredArg / withOptionalArg / no-arg specs do.
type argKind int

const (
	noArg argKind = iota
	requiredArg
	optionalArg
	// multiArg takes every following argument up to the next flag, as
	// argparse4j's nargs("+") does for the perf tools' --producer-props.
	multiArg
)

type flagSpec struct {
	name    string
	kind    argKind
	argName string
	help    string
	def     string // shown in usage; the tools apply defaults themselves
}

// flagSet parses arguments the way Kafka's joptsimple-based tools do:
// "--name value", "--name=value", repeatable flags, and unambiguous
// abbreviations of long names.
type flagSet struct {
	tool   string
	desc   string
	specs  []*flagSpec
	byName map[string]*flagSpec
	values map[string][]string
	order  []string
}

func newFlagSet(tool, desc string) *flagSet {
	return &flagSet{tool: tool, desc: desc, byName: map[string]*flagSpec{}, values: map[string][]string{}}
}

func (fs *flagSet) add(name string, kind argKind, argName, help, def string) {
	s := &flagSpec{name: name, kind: kind, argName: argName, help: help, def: def}
	fs.specs = append(fs.specs, s)
	fs.byName[name] = s
}

// flag declares a switch without a value.
func (fs *flagSet) flag(name, help string) { fs.add(name, noArg, "", help, "") }

// opt declares a flag that requires a value.
func (fs *flagSet) opt(name, argName, help, def string) {
	fs.add(name, requiredArg, argName, help, def)
}

// errHelp is returned by parse when --help was given.
var errHelp = errors.New("help requested")

// lookup resolves an exact name or a unique abbreviation.
func (fs *flagSet) lookup(name string) (*flagSpec, error) {
	if s, ok := fs.byName[name]; ok {
		return s, nil
	}
	var found []*flagSpec
	for _, s := range fs.specs {
		if strings.HasPrefix(s.name, name) {
			found = append(found, s)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return nil, fmt.Errorf("%s is not a recognized option", name)
	default:
		names := make([]string, len(found))
		for i, s := range found {
			names[i] = s.name
		}
		return nil, fmt.Errorf("Option '%s' cannot be resolved: it is ambiguous among %s", name, strings.Join(names, ", "))
	}
}

func (fs *flagSet) parse(args []string) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--help" || a == "-h" {
			return errHelp
		}
		if !strings.HasPrefix(a, "--") || a == "--" {
			return fmt.Errorf("Found non-option argument '%s'; all arguments must be options", a)
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		s, err := fs.lookup(name)
		if err != nil {
			return err
		}
		switch s.kind {
		case noArg:
			if hasVal {
				return fmt.Errorf("Option %s does not take an argument", s.name)
			}
			val = ""
		case requiredArg:
			if !hasVal {
				if i+1 >= len(args) {
					return fmt.Errorf("Option %s requires an argument", s.name)
				}
				i++
				val = args[i]
			}
		case optionalArg:
			if !hasVal && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++
				val = args[i]
			}
		case multiArg:
			var vals []string
			if hasVal {
				vals = append(vals, val)
			}
			for i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				i++
				vals = append(vals, args[i])
			}
			if len(vals) == 0 {
				return fmt.Errorf("Option %s requires an argument", s.name)
			}
			if _, seen := fs.values[s.name]; !seen {
				fs.order = append(fs.order, s.name)
			}
			fs.values[s.name] = append(fs.values[s.name], vals...)
			continue
		}
		if _, seen := fs.values[s.name]; !seen {
			fs.order = append(fs.order, s.name)
		}
		fs.values[s.name] = append(fs.values[s.name], val)
	}
	return nil
}

func (fs *flagSet) has(name string) bool { _, ok := fs.values[name]; return ok }

// get returns the first value of a flag, or def when absent.
func (fs *flagSet) get(name, def string) string {
	if v, ok := fs.values[name]; ok && len(v) > 0 {
		return v[0]
	}
	return def
}

func (fs *flagSet) all(name string) []string { return fs.values[name] }

func (fs *flagSet) int64(name string, def int64) (int64, error) {
	v, ok := fs.values[name]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v[0]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("Cannot parse argument '%s' of option %s", v[0], name)
	}
	return n, nil
}

func (fs *flagSet) int32(name string, def int32) (int32, error) {
	n, err := fs.int64(name, int64(def))
	if err == nil && (n > 1<<31-1 || n < -1<<31) {
		err = fmt.Errorf("Cannot parse argument '%d' of option %s", n, name)
	}
	return int32(n), err
}

// missing returns the joptsimple-style error for the first absent flag.
func (fs *flagSet) missing(names ...string) error {
	for _, n := range names {
		if !fs.has(n) {
			return fmt.Errorf("Missing required argument \"[%s]\"", n)
		}
	}
	return nil
}

// conflict reports the first of others present alongside used.
func (fs *flagSet) conflict(used string, others ...string) error {
	if !fs.has(used) {
		return nil
	}
	for _, o := range others {
		if fs.has(o) {
			return fmt.Errorf("Option \"[%s]\" can't be used with option \"[%s]\"", used, o)
		}
	}
	return nil
}

// maxUsageColumn caps the option column of the help table.
const maxUsageColumn = 50

// usage writes a joptsimple-like help table.
func (fs *flagSet) usage(w io.Writer) {
	if fs.desc != "" {
		fmt.Fprintln(w, fs.desc)
	}
	specs := append([]*flagSpec(nil), fs.specs...)
	specs = append(specs, &flagSpec{name: "help", help: "Print usage information."})
	sort.Slice(specs, func(i, j int) bool { return specs[i].name < specs[j].name })
	rows := make([][2]string, 0, len(specs))
	width := len("Option")
	for _, s := range specs {
		left := "--" + s.name
		switch s.kind {
		case requiredArg:
			left += " <" + s.argName + ">"
		case optionalArg:
			left += " [" + s.argName + "]"
		case multiArg:
			left += " <" + s.argName + " ...>"
		}
		help := s.help
		if s.def != "" {
			help += " (default: " + s.def + ")"
		}
		if len(left) > width && len(left) <= maxUsageColumn {
			width = len(left)
		}
		rows = append(rows, [2]string{left, help})
	}
	fmt.Fprintf(w, "%-*s  %s\n", width, "Option", "Description")
	fmt.Fprintf(w, "%-*s  %s\n", width, "------", "-----------")
	for _, r := range rows {
		if len(r[0]) > width {
			// Too long for the column: the description goes on its own line.
			fmt.Fprintf(w, "%s\n%-*s  %s\n", r[0], width, "", r[1])
			continue
		}
		fmt.Fprintf(w, "%-*s  %s\n", width, r[0], r[1])
	}
}

// parseOrExit runs parse and handles --help and parse errors the way the
// tools do; ok is false when the caller must return code.
func (fs *flagSet) parseOrExit(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	err := fs.parse(args)
	switch {
	case errors.Is(err, errHelp):
		fs.usage(stdout)
		return 0, false
	case err != nil:
		return fs.fail(stderr, err), false
	case len(args) == 0:
		fs.usage(stderr)
		return 1, false
	}
	return 0, true
}

// parseOrExitVersion is parseOrExit for the tools with a --version flag, which prints Kafka's version and
// exits 0 before any other check.
func (fs *flagSet) parseOrExitVersion(args []string, stdout, stderr io.Writer) (code int, ok bool) {
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code, false
	}
	if fs.has("version") {
		fmt.Fprintln(stdout, kafkaVersion)
		return 0, false
	}
	return 0, true
}

// fail prints the message and the usage to stderr and returns exit code 1,
// as CommandLineUtils.printUsageAndExit does.
func (fs *flagSet) fail(stderr io.Writer, err error) int {
	fmt.Fprintln(stderr, err.Error())
	fs.usage(stderr)
	return 1
}
