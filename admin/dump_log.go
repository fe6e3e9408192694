package admin

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
)

// DumpLogMain implements kafka-dump-log.sh (kafka.tools.DumpLogSegments) and returns the exit code. It reads
// segment files directly, so it needs no broker; the formats are parsed here (this package may not import the
// log package) with kmsg's batch and record decoders and kgo's decompressor.
func DumpLogMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := dumpLogFlags()
	if code, ok := fs.parseOrExitVersion(args, stdout, stderr); !ok {
		return code
	}
	if err := fs.missing("files"); err != nil {
		return fs.fail(stderr, err)
	}
	maxMessageSize, err := fs.int32("max-message-size", 5*1024*1024)
	if err != nil {
		return fs.fail(stderr, err)
	}
	maxBytes, err := fs.int32("max-bytes", math.MaxInt32)
	if err != nil {
		return fs.fail(stderr, err)
	}
	out := bufio.NewWriter(stdout)
	defer out.Flush()
	d := &logDumper{
		out:            out,
		printData:      fs.has("print-data-log"),
		skipMetadata:   fs.has("skip-record-metadata"),
		verifyOnly:     fs.has("verify-index-only"),
		sanityOnly:     fs.has("index-sanity-check"),
		maxMessageSize: int64(maxMessageSize),
		maxBytes:       int64(maxBytes),
		decompressor:   kgo.DefaultDecompressor(),
	}
	d.deep = fs.has("deep-iteration") || d.printData
	err = d.dumpFiles(javaSplit(fs.get("files", ""), ","), stderr)
	out.Flush()
	d.printReports(stderr)
	if err != nil {
		// DumpLogSegments lets exceptions escape main: the JVM prints them and exits with 1.
		fmt.Fprintf(stderr, "Exception in thread \"main\" %s\n", err)
		return 1
	}
	return 0
}

// kafkaVersion is what --version prints for the tools (AppInfoParser.getVersion).
const kafkaVersion = "3.7.0"

func dumpLogFlags() *flagSet {
	fs := newFlagSet("kafka-dump-log", "This tool helps to parse a log file and dump its contents to the console, useful for debugging a seemingly corrupt log segment.")
	fs.flag("print-data-log", "if set, printing the messages content when dumping data logs. Automatically set if any decoder option is specified.")
	fs.flag("verify-index-only", "if set, just verify the index log without printing its content.")
	fs.flag("index-sanity-check", "if set, just checks the index sanity without printing its content. This is the same check that is executed on broker startup to determine if an index needs rebuilding or not.")
	fs.opt("files", "file1, file2, ...", "REQUIRED: The comma separated list of data and index log files to be dumped.", "")
	fs.opt("max-message-size", "Integer: size", "Size of largest message.", "5242880")
	fs.opt("max-bytes", "Integer: size", "Limit the amount of total batches read in bytes avoiding reading the whole .log file(s).", "2147483647")
	fs.flag("deep-iteration", "if set, uses deep instead of shallow iteration. Automatically set if print-data-log is enabled.")
	fs.flag("skip-record-metadata", "whether to skip printing metadata for each record.")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// javaSplit is String.split with a literal separator: trailing empty strings are dropped.
func javaSplit(s, sep string) []string {
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// offsetPair is one finding of a check, reported after all files were dumped.
type offsetPair struct{ a, b int64 }

// pairReport collects findings per file (absolute path) in the order files were first seen.
type pairReport struct {
	files []string
	pairs map[string][]offsetPair
}

func (r *pairReport) add(file string, p offsetPair) {
	if r.pairs == nil {
		r.pairs = map[string][]offsetPair{}
	}
	if _, ok := r.pairs[file]; !ok {
		r.files = append(r.files, file)
	}
	r.pairs[file] = append(r.pairs[file], p)
}

// logDumper holds DumpLogSegments' options and the findings it reports at the end.
type logDumper struct {
	out                       *bufio.Writer
	printData, deep           bool
	skipMetadata              bool
	verifyOnly, sanityOnly    bool
	maxMessageSize, maxBytes  int64
	decompressor              kgo.Decompressor
	indexMismatches           pairReport // (index offset, log offset)
	nonConsecutive            pairReport // (offset, next offset)
	timeMismatches, timeOrder pairReport // (index timestamp, log timestamp | previous index timestamp)
	timeNotFound              pairReport // (indexed offset, found log offset)
}

func (d *logDumper) dumpFiles(files []string, stderr io.Writer) error {
	for _, f := range files {
		fmt.Fprintf(d.out, "Dumping %s\n", f)
		name := filepath.Base(f)
		var err error
		switch suffix := name[max(strings.LastIndex(name, "."), 0):]; {
		case suffix == ".log":
			err = d.dumpLog(f)
		case suffix == ".index":
			err = d.dumpIndex(f)
		case suffix == ".timeindex":
			err = d.dumpTimeIndex(f)
		case suffix == ".snapshot":
			err = d.dumpProducerSnapshot(f, stderr)
		case suffix == ".txnindex":
			err = d.dumpTxnIndex(f)
		default:
			d.out.Flush()
			fmt.Fprintf(stderr, "Ignoring unknown file %s\n", f)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// printReports writes what the checks found, to standard error, as DumpLogSegments does after the last file.
// Kafka prepends to its lists of index mismatches and offset gaps, so those come out newest first.
func (d *logDumper) printReports(w io.Writer) {
	for _, f := range d.indexMismatches.files {
		fmt.Fprintf(w, "Mismatches in :%s\n", f)
		ps := d.indexMismatches.pairs[f]
		for i := len(ps) - 1; i >= 0; i-- {
			fmt.Fprintf(w, "  Index offset: %d, log offset: %d\n", ps[i].a, ps[i].b)
		}
	}
	for _, f := range d.timeMismatches.files {
		fmt.Fprintf(w, "Found timestamp mismatch in :%s\n", f)
		for _, p := range d.timeMismatches.pairs[f] {
			fmt.Fprintf(w, "  Index timestamp: %d, log timestamp: %d\n", p.a, p.b)
		}
	}
	for _, f := range d.timeOrder.files {
		fmt.Fprintf(w, "Found out of order timestamp in :%s\n", f)
		for _, p := range d.timeOrder.pairs[f] {
			fmt.Fprintf(w, "  Index timestamp: %d, Previously indexed timestamp: %d\n", p.a, p.b)
		}
	}
	for _, f := range d.timeNotFound.files {
		fmt.Fprintln(w, "The following indexed offsets are not found in the log.")
		for _, p := range d.timeNotFound.pairs[f] {
			fmt.Fprintf(w, "Indexed offset: %d, found log offset: %d\n", p.a, p.b)
		}
	}
	for _, f := range d.nonConsecutive.files {
		fmt.Fprintf(w, "Non-consecutive offsets in %s\n", f)
		ps := d.nonConsecutive.pairs[f]
		for i := len(ps) - 1; i >= 0; i-- {
			fmt.Fprintf(w, "  %d is followed by %d\n", ps[i].a, ps[i].b)
		}
	}
}

// segmentBaseOffset parses the base offset from a segment file name as Kafka does (the part before the first
// dot), failing like Long.parseLong.
func segmentBaseOffset(path string) (int64, error) {
	prefix, _, _ := strings.Cut(filepath.Base(path), ".")
	n, err := strconv.ParseInt(prefix, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("java.lang.NumberFormatException: For input string: \"%s\"", prefix)
	}
	return n, nil
}

// absPath is File.getAbsolutePath, which Kafka uses to name files in its reports.
func absPath(path string) string {
	if a, err := filepath.Abs(path); err == nil {
		return a
	}
	return path
}
