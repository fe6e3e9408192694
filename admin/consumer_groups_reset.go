package admin

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// cgResetPlan maps group → partition → new offset.
type cgResetPlan map[string]map[offsetsTP]int64

func (c *cgCommand) resetOffsets() error {
	ids, err := c.groupIDs()
	if err != nil {
		return err
	}
	groups, err := c.describeConsumerGroups(ids)
	if err != nil {
		return err
	}
	result := cgResetPlan{}
	for _, id := range cgSortedKeys(groups) {
		g := groups[id]
		if g.state != "Empty" && g.state != "Dead" {
			fmt.Fprintf(c.stdout, "\nError: Assignments can only be reset if the group '%s' is inactive, but the current state is %s.\n", id, g.state)
			result[id] = map[offsetsTP]int64{}
			continue
		}
		parts, err := c.partitionsToReset(id)
		if err != nil {
			return err
		}
		offsets, err := c.prepareOffsetsToReset(id, parts)
		if err != nil {
			return err
		}
		// Dry run is the default when --execute is missing.
		if c.fs.has("execute") && !c.fs.has("dry-run") {
			if err := c.commit(id, offsets); err != nil {
				return err
			}
		}
		result[id] = offsets
	}
	if c.fs.has("export") {
		fmt.Fprintln(c.stdout, exportOffsetsCSV(result, len(c.fs.all("group")) == 1))
		return nil
	}
	printOffsetsToReset(c.stdout, result)
	return nil
}

func cgSortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cgSortedTPs[V any](m map[offsetsTP]V) []offsetsTP {
	out := make([]offsetsTP, 0, len(m))
	for tp := range m {
		out = append(out, tp)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].topic != out[j].topic {
			return out[i].topic < out[j].topic
		}
		return out[i].partition < out[j].partition
	})
	return out
}

// commit is alterConsumerGroupOffsets: an OffsetCommit outside any generation (-1, no member id), which the
// coordinator accepts only for a group without members.
func (c *cgCommand) commit(group string, offsets map[offsetsTP]int64) error {
	os := kadm.Offsets{}
	for tp, o := range offsets {
		os.AddOffset(tp.topic, tp.partition, o, -1)
	}
	ctx, cancel := c.ctx()
	defer cancel()
	resps, err := c.adm.CommitOffsets(ctx, group, os)
	if err != nil {
		return err
	}
	return resps.Error()
}

// partitionsToReset is getPartitionsToReset: the reset scope.
func (c *cgCommand) partitionsToReset(group string) ([]offsetsTP, error) {
	switch {
	case c.fs.has("all-topics"):
		committed, err := c.committedOffsets(group)
		if err != nil {
			return nil, err
		}
		return cgSortedTPs(committed), nil
	case c.fs.has("topic"):
		return c.topicPartitions(c.fs.all("topic"))
	case c.fs.has("from-file"):
		return nil, nil
	}
	return nil, cgUsageError("One of the reset scopes should be defined: --all-topics, --topic.")
}

// topicPartitions resolves "topic" (all its partitions) and "topic:0,1" arguments.
func (c *cgCommand) topicPartitions(args []string) ([]offsetsTP, error) {
	var out, described []offsetsTP
	var whole []string
	for _, a := range args {
		if !strings.Contains(a, ":") {
			whole = append(whole, a)
			continue
		}
		tps, err := parseTopicWithPartitions(a)
		if err != nil {
			return nil, err
		}
		out = append(out, tps...)
	}
	if len(whole) == 0 {
		return out, nil
	}
	ctx, cancel := c.ctx()
	defer cancel()
	topics, err := c.adm.ListTopics(ctx, whole...)
	if err != nil {
		return nil, err
	}
	for _, t := range whole {
		td, ok := topics[t]
		if !ok {
			return nil, cgRawError("org.apache.kafka.common.errors.UnknownTopicOrPartitionException: Topic " + t + " not found.")
		}
		if td.Err != nil {
			return nil, td.Err
		}
		for _, p := range td.Partitions.Sorted() {
			described = append(described, offsetsTP{t, p.Partition})
		}
	}
	return append(out, described...), nil
}

// parseTopicWithPartitions parses "topic:0,1,2" as parseTopicsWithPartitions does.
func parseTopicWithPartitions(arg string) ([]offsetsTP, error) {
	parts := javaSplit(arg, ":")
	if len(parts) != 2 {
		return nil, cgUsageError(fmt.Sprintf("Invalid topic arg '%s', expected topic name and partitions", arg))
	}
	var out []offsetsTP
	for _, p := range javaSplit(parts[1], ",") {
		n, err := javaParseInt(p)
		if err != nil {
			return nil, cgUsageError(fmt.Sprintf("Invalid partition '%s' specified in topic arg '%s''", p, arg))
		}
		out = append(out, offsetsTP{parts[0], int32(n)})
	}
	return out, nil
}

// prepareOffsetsToReset computes the new offsets for one group from the chosen specification.
func (c *cgCommand) prepareOffsetsToReset(group string, parts []offsetsTP) (map[offsetsTP]int64, error) {
	fs := c.fs
	switch {
	case fs.has("to-offset"):
		n, err := fs.int64("to-offset", 0)
		if err != nil {
			return nil, cgRawError(err.Error())
		}
		req := map[offsetsTP]int64{}
		for _, tp := range parts {
			req[tp] = n
		}
		return c.checkOffsetsRange(req)
	case fs.has("to-earliest"):
		return c.strictLogOffsets(parts, -2)
	case fs.has("to-latest"):
		return c.strictLogOffsets(parts, -1)
	case fs.has("shift-by"):
		shift, err := fs.int64("shift-by", 0)
		if err != nil {
			return nil, cgRawError(err.Error())
		}
		committed, err := c.committedOffsets(group)
		if err != nil {
			return nil, err
		}
		req := map[offsetsTP]int64{}
		for _, tp := range parts {
			cur, ok := committed[tp]
			if !ok || !cur.ok {
				return nil, cgUsageError(fmt.Sprintf("Cannot shift offset for partition %s since there is no current committed offset", tp))
			}
			req[tp] = cur.v + shift
		}
		return c.checkOffsetsRange(req)
	case fs.has("to-datetime"):
		ts, err := parseJavaDateTime(fs.get("to-datetime", ""))
		if err != nil {
			return nil, err
		}
		return c.timestampOffsets(parts, ts)
	case fs.has("by-duration"):
		d, err := parseJavaDuration(fs.get("by-duration", ""))
		if err != nil {
			return nil, err
		}
		return c.timestampOffsets(parts, c.now().Add(-d).UnixMilli())
	case fs.has("from-file"):
		plan, err := c.resetPlan()
		if err != nil {
			return nil, err
		}
		req, ok := plan[group]
		if !ok {
			fmt.Fprintf(c.stdout, "\nError: No reset plan for group %s found\n", group)
			return map[offsetsTP]int64{}, nil
		}
		return c.checkOffsetsRange(req)
	case fs.has("to-current"):
		committed, err := c.committedOffsets(group)
		if err != nil {
			return nil, err
		}
		out := map[offsetsTP]int64{}
		var uncommitted []offsetsTP
		for _, tp := range parts {
			if cur, ok := committed[tp]; ok && cur.ok {
				out[tp] = cur.v
			} else {
				uncommitted = append(uncommitted, tp)
			}
		}
		ends, err := c.strictLogOffsets(uncommitted, -1)
		if err != nil {
			return nil, err
		}
		for tp, o := range ends {
			out[tp] = o
		}
		return out, nil
	}
	return nil, cgUsageError("Option '[reset-offsets]' requires one of the following scenarios: HashSet([" + strings.Join(cgResetScenarios, "], [") + "])")
}

// strictLogOffsets lists offsets and fails on any partition's error, as ListOffsetsResult.all does.
func (c *cgCommand) strictLogOffsets(tps []offsetsTP, timestamp int64) (map[offsetsTP]int64, error) {
	offsets, errs := c.logOffsets(tps, timestamp)
	for _, tp := range tps {
		if err, ok := errs[tp]; ok {
			return nil, err
		}
	}
	return offsets, nil
}

// timestampOffsets is getLogTimestampOffsets: a partition without a record at or after the timestamp falls back to
// its end offset, with Kafka's notice.
func (c *cgCommand) timestampOffsets(tps []offsetsTP, timestamp int64) (map[offsetsTP]int64, error) {
	offsets, err := c.strictLogOffsets(tps, timestamp)
	if err != nil {
		return nil, err
	}
	out := map[offsetsTP]int64{}
	var empty []offsetsTP
	for _, tp := range cgSortedTPs(offsets) {
		if offsets[tp] == -1 {
			fmt.Fprintf(c.stdout, "\nWarn: Partition %d from topic %s is empty. Falling back to latest known offset.\n", tp.partition, tp.topic)
			empty = append(empty, tp)
			continue
		}
		out[tp] = offsets[tp]
	}
	ends, err := c.strictLogOffsets(empty, -1)
	if err != nil {
		return nil, err
	}
	for tp, o := range ends {
		out[tp] = o
	}
	return out, nil
}

// checkOffsetsRange clamps requested offsets into [log start, log end], logging Kafka's warnings.
func (c *cgCommand) checkOffsetsRange(requested map[offsetsTP]int64) (map[offsetsTP]int64, error) {
	tps := cgSortedTPs(requested)
	starts, err := c.strictLogOffsets(tps, -2)
	if err != nil {
		return nil, err
	}
	ends, err := c.strictLogOffsets(tps, -1)
	if err != nil {
		return nil, err
	}
	out, warnings := clampOffsets(requested, starts, ends)
	for _, w := range warnings {
		fmt.Fprintf(c.stderr, "[%s] WARN %s (kafka.admin.ConsumerGroupCommand$)\n", c.now().Format("2006-01-02 15:04:05,000"), w)
	}
	return out, nil
}

// clampOffsets is the pure part of checkOffsetsRange.
func clampOffsets(requested, starts, ends map[offsetsTP]int64) (map[offsetsTP]int64, []string) {
	out := map[offsetsTP]int64{}
	var warnings []string
	for _, tp := range cgSortedTPs(requested) {
		off := requested[tp]
		if end, ok := ends[tp]; ok && off > end {
			warnings = append(warnings, fmt.Sprintf("New offset (%d) is higher than latest offset for topic partition %s. Value will be set to %d", off, tp, end))
			off = end
		} else if start, ok := starts[tp]; ok && off < start {
			warnings = append(warnings, fmt.Sprintf("New offset (%d) is lower than earliest offset for topic partition %s. Value will be set to %d", off, tp, start))
			off = start
		}
		out[tp] = off
	}
	return out, warnings
}

// resetPlan reads --from-file once.
func (c *cgCommand) resetPlan() (cgResetPlan, error) {
	path := c.fs.get("from-file", "")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, cgRawError(path) // NoSuchFileException's message is the path
		}
		return nil, cgRawError(err.Error())
	}
	groups := c.fs.all("group")
	group := ""
	if len(groups) > 0 {
		group = groups[0]
	}
	return parseResetPlan(string(data), len(groups) == 1, group)
}

// parseResetPlan reads a reset plan: "topic,partition,offset" lines when one --group is given and the first line
// has that shape, otherwise "group,topic,partition,offset" lines.
func parseResetPlan(text string, singleGroup bool, group string) (cgResetPlan, error) {
	var lines [][]string
	for _, l := range javaSplit(text, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) == "" {
			continue
		}
		r := csv.NewReader(strings.NewReader(l))
		r.FieldsPerRecord = -1
		rec, err := r.Read()
		if err != nil {
			return nil, cgRawError(fmt.Sprintf("Invalid reset plan line '%s': %v", l, err))
		}
		lines = append(lines, rec)
	}
	oldFormat := len(lines) > 0 && len(lines[0]) == 3
	if oldFormat {
		_, _, err := parsePlanRecord(lines[0][1], lines[0][2])
		oldFormat = err == nil
	}
	plan := cgResetPlan{}
	for _, rec := range lines {
		g, fields := group, rec
		if !(singleGroup && oldFormat) {
			if len(rec) != 4 {
				return nil, cgRawError(fmt.Sprintf("Invalid reset plan line '%s': expected group,topic,partition,offset", strings.Join(rec, ",")))
			}
			g, fields = rec[0], rec[1:]
		} else if len(rec) != 3 {
			return nil, cgRawError(fmt.Sprintf("Invalid reset plan line '%s': expected topic,partition,offset", strings.Join(rec, ",")))
		}
		p, off, err := parsePlanRecord(fields[1], fields[2])
		if err != nil {
			return nil, cgRawError(fmt.Sprintf("Invalid reset plan line '%s': %v", strings.Join(rec, ","), err))
		}
		if plan[g] == nil {
			plan[g] = map[offsetsTP]int64{}
		}
		plan[g][offsetsTP{fields[0], p}] = off
	}
	return plan, nil
}

func parsePlanRecord(partition, offset string) (int32, int64, error) {
	p, err := strconv.ParseInt(strings.TrimSpace(partition), 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("partition %q is not an int", partition)
	}
	o, err := strconv.ParseInt(strings.TrimSpace(offset), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("offset %q is not a long", offset)
	}
	return int32(p), o, nil
}

// exportOffsetsCSV renders the plan as Kafka's --export does; one group gives "topic,partition,offset" lines.
func exportOffsetsCSV(plan cgResetPlan, singleGroup bool) string {
	var b strings.Builder
	for _, g := range cgSortedKeys(plan) {
		for _, tp := range cgSortedTPs(plan[g]) {
			if !singleGroup {
				b.WriteString(csvField(g) + ",")
			}
			fmt.Fprintf(&b, "%s,%d,%d\n", csvField(tp.topic), tp.partition, plan[g][tp])
		}
	}
	return b.String()
}

// csvField quotes a value only when the CSV syntax needs it.
func csvField(s string) string {
	if !strings.ContainsAny(s, ",\"\r\n") {
		return s
	}
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}

// printOffsetsToReset prints the GROUP TOPIC PARTITION NEW-OFFSET table.
func printOffsetsToReset(w io.Writer, plan cgResetPlan) {
	if len(plan) == 0 {
		return
	}
	const format = "%-30s %-30s %-10s %-15s\n"
	fmt.Fprintf(w, "\n"+format, "GROUP", "TOPIC", "PARTITION", "NEW-OFFSET")
	for _, g := range cgSortedKeys(plan) {
		for _, tp := range cgSortedTPs(plan[g]) {
			fmt.Fprintf(w, format, g, tp.topic, strconv.Itoa(int(tp.partition)), strconv.FormatInt(plan[g][tp], 10))
		}
	}
}

var javaDateTimeRE = regexp.MustCompile(`^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)\.(\d+)(Z|[+-]\d{2}:\d{2}|[+-]\d{2})`)

// parseJavaDateTime is Utils.getDateTime: "yyyy-MM-dd'T'HH:mm:ss.SSS" with an optional zone (Z, ±hh:mm or ±hh;
// UTC when absent), parsed strictly by field range and, as SimpleDateFormat does, ignoring trailing text.
func parseJavaDateTime(s string) (int64, error) {
	parts := javaSplit(s, "T")
	if len(parts) < 2 {
		return 0, cgRawError("Error parsing timestamp. It does not contain a 'T' according to ISO8601 format")
	}
	if !strings.ContainsAny(parts[1], "+-Z") {
		s += "Z"
	}
	bad := cgRawError(fmt.Sprintf("Unparseable date: %q", s))
	m := javaDateTimeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, bad
	}
	var n [7]int
	for i := range n {
		v, err := strconv.Atoi(m[i+1])
		if err != nil {
			return 0, bad
		}
		n[i] = v
	}
	year, month, day, hour, minute, sec, ms := n[0], n[1], n[2], n[3], n[4], n[5], n[6]
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 || ms > 999 {
		return 0, bad
	}
	if day > time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return 0, bad
	}
	offset := 0
	if z := m[8]; z != "Z" {
		h, _ := strconv.Atoi(z[1:3])
		mins := 0
		if len(z) == 6 {
			mins, _ = strconv.Atoi(z[4:6])
		}
		if h > 23 || mins > 59 {
			return 0, bad
		}
		offset = (h*60 + mins) * 60
		if z[0] == '-' {
			offset = -offset
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ms*int(time.Millisecond), time.FixedZone("", offset))
	return t.UnixMilli(), nil
}

var javaDurationRE = regexp.MustCompile(`(?i)^([-+]?)P(?:([-+]?[0-9]+)D)?(T(?:([-+]?[0-9]+)H)?(?:([-+]?[0-9]+)M)?(?:([-+]?[0-9]+)(?:[.,]([0-9]{0,9}))?S)?)?$`)

// parseJavaDuration is java.time.Duration.parse for the PnDTnHnMnS form.
func parseJavaDuration(s string) (time.Duration, error) {
	bad := cgRawError("Text cannot be parsed to a Duration")
	m := javaDurationRE.FindStringSubmatch(s)
	// "P", "PT" and a "T" with nothing after it are not durations.
	if m == nil || (m[2] == "" && m[3] == "") || strings.EqualFold(m[3], "T") {
		return 0, bad
	}
	num := func(v string, unit time.Duration) (time.Duration, error) {
		if v == "" {
			return 0, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, bad
		}
		return time.Duration(n) * unit, nil
	}
	var total time.Duration
	for _, f := range []struct {
		v    string
		unit time.Duration
	}{{m[2], 24 * time.Hour}, {m[4], time.Hour}, {m[5], time.Minute}, {m[6], time.Second}} {
		d, err := num(f.v, f.unit)
		if err != nil {
			return 0, err
		}
		total += d
	}
	if frac := m[7]; frac != "" {
		nanos, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
		if strings.HasPrefix(m[6], "-") {
			nanos = -nanos
		}
		total += time.Duration(nanos)
	}
	if m[1] == "-" {
		total = -total
	}
	return total, nil
}
