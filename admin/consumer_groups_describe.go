package admin

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// cgMissing is ConsumerGroupCommand.MISSING_COLUMN_VALUE.
const cgMissing = "-"

// cgValidStates are ConsumerGroupState's names other than Unknown, in declaration order. Kafka 3.7 matches them
// case-sensitively.
var cgValidStates = []string{"PreparingRebalance", "CompletingRebalance", "Stable", "Dead", "Empty"}

// optInt64 is a Scala Option[Long]: absent values print as "-".
type optInt64 struct {
	v  int64
	ok bool
}

func someInt64(v int64) optInt64 { return optInt64{v: v, ok: true} }

func (o optInt64) String() string {
	if !o.ok {
		return cgMissing
	}
	return strconv.FormatInt(o.v, 10)
}

// cgMember is one member of a described consumer group.
type cgMember struct {
	consumerID, instanceID, clientID, host string
	assignment                             []offsetsTP
}

// cgGroup is a ConsumerGroupDescription.
type cgGroup struct {
	id, state, strategy string
	coordinator         string // host:port (id), as the --state table prints Kafka's Node
	members             []cgMember
}

// cgOffsetRow is a PartitionAssignmentState: one row of the --describe --offsets table.
type cgOffsetRow struct {
	group, topic               string
	partition                  int32
	offset, logEndOffset, lag  optInt64
	consumerID, host, clientID string
}

// cgGroupOffsets is one group's state and rows for --describe --offsets.
type cgGroupOffsets struct {
	group, state string
	rows         []cgOffsetRow
}

// parseGroupStates is consumerGroupStatesFromString.
func parseGroupStates(input string) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, s := range javaSplit(input, ",") {
		s = strings.TrimSpace(s)
		valid := false
		for _, v := range cgValidStates {
			valid = valid || v == s
		}
		if !valid {
			return nil, cgUsageError(fmt.Sprintf("Invalid state list '%s'. Valid states are: %s", input, strings.Join(cgValidStates, ", ")))
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out, nil
}

// listedConsumerGroups lists the groups the Java admin client calls consumer groups (protocol type "consumer" or
// none), optionally only those in the given states, sorted by id.
func (c *cgCommand) listedConsumerGroups(states ...string) ([]kadm.ListedGroup, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	listed, err := c.adm.ListGroups(ctx, states...)
	if err != nil {
		return nil, err
	}
	var out []kadm.ListedGroup
	for _, g := range listed.Sorted() {
		if g.ProtocolType == "consumer" || g.ProtocolType == "" {
			out = append(out, g)
		}
	}
	return out, nil
}

func (c *cgCommand) listConsumerGroups() ([]string, error) {
	listed, err := c.listedConsumerGroups()
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(listed))
	for i, g := range listed {
		ids[i] = g.Group
	}
	return ids, nil
}

func (c *cgCommand) listGroups() error {
	if !c.fs.has("state") {
		ids, err := c.listConsumerGroups()
		for _, id := range ids {
			fmt.Fprintln(c.stdout, id)
		}
		return err
	}
	var states []string
	if v := c.fs.get("state", ""); v != "" {
		var err error
		if states, err = parseGroupStates(v); err != nil {
			return err
		}
	}
	listed, err := c.listedConsumerGroups(states...)
	if err != nil {
		return err
	}
	rows := make([][2]string, len(listed))
	for i, g := range listed {
		rows[i] = [2]string{g.Group, g.State}
	}
	printGroupStates(c.stdout, rows)
	return nil
}

// printGroupStates prints the --list --state table.
func printGroupStates(w io.Writer, rows [][2]string) {
	width := 15
	for _, r := range rows {
		width = max(width, len(r[0]))
	}
	fmt.Fprintf(w, "%-*s %s\n", width, "GROUP", "STATE")
	for _, r := range rows {
		fmt.Fprintf(w, "%-*s %s\n", width, r[0], r[1])
	}
}

// describeConsumerGroups describes the groups. A group the coordinator does not know is Dead (newer brokers say
// so with GROUP_ID_NOT_FOUND); a group of another protocol type fails the command as in the Java admin client.
func (c *cgCommand) describeConsumerGroups(ids []string) (map[string]cgGroup, error) {
	out := map[string]cgGroup{}
	if len(ids) == 0 {
		return out, nil // kadm would describe every group
	}
	ctx, cancel := c.ctx()
	defer cancel()
	described, err := c.adm.DescribeGroups(ctx, ids...)
	for _, id := range ids {
		d, ok := described[id]
		if !ok {
			if err == nil {
				err = kerr.GroupIDNotFound
			}
			return nil, err
		}
		if d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
			return nil, d.Err
		}
		if d.Err != nil {
			d.State, d.ProtocolType, d.Members = "Dead", "", nil
		}
		if d.ProtocolType != "consumer" && d.ProtocolType != "" {
			return nil, cgRawError(fmt.Sprintf("java.lang.IllegalArgumentException: GroupId %s is not a consumer group (%s).", id, d.ProtocolType))
		}
		g := cgGroup{
			id:          id,
			state:       d.State,
			strategy:    d.Protocol,
			coordinator: fmt.Sprintf("%s:%d (%d)", d.Coordinator.Host, d.Coordinator.Port, d.Coordinator.NodeID),
		}
		for _, m := range d.Members {
			cm := cgMember{consumerID: m.MemberID, clientID: m.ClientID, host: m.ClientHost}
			if m.InstanceID != nil {
				cm.instanceID = *m.InstanceID
			}
			if a, ok := m.Assigned.AsConsumer(); ok {
				seen := map[offsetsTP]bool{}
				for _, t := range a.Topics {
					for _, p := range t.Partitions {
						tp := offsetsTP{t.Topic, p}
						if !seen[tp] {
							seen[tp] = true
							cm.assignment = append(cm.assignment, tp)
						}
					}
				}
			}
			g.members = append(g.members, cm)
		}
		out[id] = g
	}
	return out, nil
}

// committedOffsets is listConsumerGroupOffsets: every partition the group committed for; a negative offset means
// "no committed offset" and is kept as an absent value, as the Java client keeps a null.
func (c *cgCommand) committedOffsets(group string) (map[offsetsTP]optInt64, error) {
	ctx, cancel := c.ctx()
	defer cancel()
	resps, err := c.adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, err
	}
	out := map[offsetsTP]optInt64{}
	resps.Each(func(o kadm.OffsetResponse) {
		if o.Err != nil {
			return // the Java client skips partitions with errors
		}
		tp := offsetsTP{o.Topic, o.Partition}
		if o.At < 0 {
			out[tp] = optInt64{}
		} else {
			out[tp] = someInt64(o.At)
		}
	})
	return out, nil
}

// logOffsets lists the offset for timestamp (-1 latest, -2 earliest) of each partition.
func (c *cgCommand) logOffsets(tps []offsetsTP, timestamp int64) (map[offsetsTP]int64, map[offsetsTP]error) {
	if len(tps) == 0 {
		return map[offsetsTP]int64{}, nil
	}
	ctx, cancel := c.ctx()
	defer cancel()
	return listOffsets(ctx, c.cl, tps, timestamp)
}

func (c *cgCommand) describeGroups() error {
	ids, err := c.groupIDs()
	if err != nil {
		return err
	}
	groups, err := c.describeConsumerGroups(ids)
	if err != nil {
		return err
	}
	sorted := make([]cgGroup, 0, len(groups))
	for _, g := range groups {
		sorted = append(sorted, g)
	}
	// Kafka collects the groups into a TreeMap: they print in id order.
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].id < sorted[j].id })
	switch {
	case c.fs.has("members"):
		return printMembers(c.stdout, c.stderr, sorted, c.fs.has("verbose"))
	case c.fs.has("state") && !c.fs.has("offsets"):
		return printStates(c.stdout, c.stderr, sorted)
	}
	var all []cgGroupOffsets
	for _, g := range sorted {
		committed, err := c.committedOffsets(g.id)
		if err != nil {
			return err
		}
		var tps []offsetsTP
		for _, m := range g.members {
			tps = append(tps, m.assignment...)
		}
		for tp := range committed {
			tps = append(tps, tp)
		}
		// A partition whose end offset cannot be listed shows "-" (Kafka's LogOffsetResult.Unknown).
		ends, _ := c.logOffsets(cgUniqueTPs(tps), -1)
		all = append(all, cgGroupOffsets{group: g.id, state: g.state, rows: cgOffsetRows(g, committed, ends)})
	}
	return printOffsets(c.stdout, c.stderr, all)
}

func cgUniqueTPs(tps []offsetsTP) []offsetsTP {
	seen := map[offsetsTP]bool{}
	var out []offsetsTP
	for _, tp := range tps {
		if !seen[tp] {
			seen[tp] = true
			out = append(out, tp)
		}
	}
	return out
}

// sortByPartition orders partitions as describePartitions does (by partition number), with the topic breaking ties
// that Kafka leaves to hash order.
func sortByPartition(tps []offsetsTP) []offsetsTP {
	out := append([]offsetsTP(nil), tps...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].partition != out[j].partition {
			return out[i].partition < out[j].partition
		}
		return out[i].topic < out[j].topic
	})
	return out
}

// cgOffsetRows is collectGroupsOffsets for one group: first the partitions of members with an assignment (members
// with the most partitions first), then committed partitions no member holds, with "-" for the member columns.
func cgOffsetRows(g cgGroup, committed map[offsetsTP]optInt64, logEnd map[offsetsTP]int64) []cgOffsetRow {
	row := func(tp offsetsTP, consumerID, host, clientID string) cgOffsetRow {
		r := cgOffsetRow{group: g.id, topic: tp.topic, partition: tp.partition, offset: committed[tp],
			consumerID: consumerID, host: host, clientID: clientID}
		if end, ok := logEnd[tp]; ok {
			r.logEndOffset = someInt64(end)
		}
		if r.offset.ok && r.offset.v != -1 && r.logEndOffset.ok {
			r.lag = someInt64(r.logEndOffset.v - r.offset.v)
		}
		return r
	}
	var members []cgMember
	for _, m := range g.members {
		if len(m.assignment) > 0 {
			members = append(members, m)
		}
	}
	sort.SliceStable(members, func(i, j int) bool { return len(members[i].assignment) > len(members[j].assignment) })
	var rows []cgOffsetRow
	assigned := map[offsetsTP]bool{}
	for _, m := range members {
		for _, tp := range sortByPartition(m.assignment) {
			assigned[tp] = true
			rows = append(rows, row(tp, m.consumerID, m.host, m.clientID))
		}
	}
	var unassigned []offsetsTP
	for tp := range committed {
		if !assigned[tp] {
			unassigned = append(unassigned, tp)
		}
	}
	for _, tp := range sortByPartition(unassigned) {
		rows = append(rows, row(tp, cgMissing, cgMissing, cgMissing))
	}
	return rows
}

// shouldPrintMemberState reports a group's state as Kafka does (Dead on stdout as an error, Empty and rebalancing
// on stderr) and whether its table should be printed.
func shouldPrintMemberState(stdout, stderr io.Writer, group, state string, numRows int) (bool, error) {
	switch state {
	case "Dead":
		fmt.Fprintf(stdout, "\nError: Consumer group '%s' does not exist.\n", group)
	case "Empty":
		fmt.Fprintf(stderr, "\nConsumer group '%s' has no active members.\n", group)
	case "PreparingRebalance", "CompletingRebalance":
		fmt.Fprintf(stderr, "\nWarning: Consumer group '%s' is rebalancing.\n", group)
	case "Stable":
	default:
		if state == "" {
			state = "NONE"
		}
		return false, cgRawError(fmt.Sprintf("Expected a valid consumer group state, but found '%s'.", state))
	}
	return state != "Dead" && numRows > 0, nil
}

// printOffsets prints the --describe --offsets tables.
func printOffsets(stdout, stderr io.Writer, groups []cgGroupOffsets) error {
	for _, g := range groups {
		ok, err := shouldPrintMemberState(stdout, stderr, g.group, g.state, len(g.rows))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		wGroup, wTopic, wConsumer, wHost := 15, 15, 15, 15
		for _, r := range g.rows {
			wGroup = max(wGroup, len(r.group))
			wTopic = max(wTopic, len(r.topic))
			wConsumer = max(wConsumer, len(r.consumerID))
			wHost = max(wHost, len(r.host))
		}
		line := func(cols ...string) {
			fmt.Fprintf(stdout, "%-*s %-*s %-10s %-15s %-15s %-15s %-*s %-*s %s\n", wGroup, cols[0], wTopic, cols[1], cols[2],
				cols[3], cols[4], cols[5], wConsumer, cols[6], wHost, cols[7], cols[8])
		}
		fmt.Fprintln(stdout)
		line("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG", "CONSUMER-ID", "HOST", "CLIENT-ID")
		for _, r := range g.rows {
			line(r.group, r.topic, strconv.Itoa(int(r.partition)), r.offset.String(), r.logEndOffset.String(), r.lag.String(),
				r.consumerID, r.host, r.clientID)
		}
	}
	return nil
}

// printMembers prints the --describe --members tables; --verbose adds each member's assignment.
func printMembers(stdout, stderr io.Writer, groups []cgGroup, verbose bool) error {
	for _, g := range groups {
		ok, err := shouldPrintMemberState(stdout, stderr, g.id, g.state, len(g.members))
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		wGroup, wConsumer, wInstance, wHost, wClient, withInstance := 15, 15, 17, 15, 15, false
		for _, m := range g.members {
			wGroup = max(wGroup, len(g.id))
			wConsumer = max(wConsumer, len(m.consumerID))
			wInstance = max(wInstance, len(m.instanceID))
			wHost = max(wHost, len(m.host))
			wClient = max(wClient, len(m.clientID))
			withInstance = withInstance || m.instanceID != ""
		}
		// Each row ends in the padded #PARTITIONS column and a space, then the optional assignment.
		row := func(group, consumer, instance, host, client, parts string) {
			if withInstance {
				fmt.Fprintf(stdout, "%-*s %-*s %-*s %-*s %-*s %-15s ", wGroup, group, wConsumer, consumer, wInstance, instance,
					wHost, host, wClient, client, parts)
			} else {
				fmt.Fprintf(stdout, "%-*s %-*s %-*s %-*s %-15s ", wGroup, group, wConsumer, consumer, wHost, host, wClient, client, parts)
			}
		}
		fmt.Fprintln(stdout)
		row("GROUP", "CONSUMER-ID", "GROUP-INSTANCE-ID", "HOST", "CLIENT-ID", "#PARTITIONS")
		if verbose {
			fmt.Fprint(stdout, "ASSIGNMENT")
		}
		fmt.Fprintln(stdout)
		for _, m := range g.members {
			row(g.id, m.consumerID, m.instanceID, m.host, m.clientID, strconv.Itoa(len(m.assignment)))
			if verbose {
				fmt.Fprint(stdout, formatAssignment(m.assignment))
			}
			fmt.Fprintln(stdout)
		}
	}
	return nil
}

// formatAssignment renders a member's partitions as "bar(0), foo(0,1)": per topic, partitions sorted, topics
// sorted; "-" when there are none.
func formatAssignment(tps []offsetsTP) string {
	if len(tps) == 0 {
		return cgMissing
	}
	byTopic := map[string][]int{}
	for _, tp := range tps {
		byTopic[tp.topic] = append(byTopic[tp.topic], int(tp.partition))
	}
	var parts []string
	for topic, ps := range byTopic {
		sort.Ints(ps)
		strs := make([]string, len(ps))
		for i, p := range ps {
			strs[i] = strconv.Itoa(p)
		}
		parts = append(parts, topic+"("+strings.Join(strs, ",")+")")
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// printStates prints the --describe --state tables. Kafka sizes the first column by the coordinator's width.
func printStates(stdout, stderr io.Writer, groups []cgGroup) error {
	for _, g := range groups {
		ok, err := shouldPrintMemberState(stdout, stderr, g.id, g.state, 1)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		w := max(25, len(g.coordinator))
		format := "\n%-*s %-25s %-20s %-15s %s"
		fmt.Fprintf(stdout, format, w, "GROUP", "COORDINATOR (ID)", "ASSIGNMENT-STRATEGY", "STATE", "#MEMBERS")
		fmt.Fprintf(stdout, format, w, g.id, g.coordinator, g.strategy, g.state, strconv.Itoa(len(g.members)))
		fmt.Fprintln(stdout)
	}
	return nil
}
