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

// cgDeleteResult is one group's outcome of --delete: err is nil on success.
type cgDeleteResult struct {
	group string
	err   error
}

func (c *cgCommand) deleteGroups() error {
	ids, err := c.groupIDs()
	if err != nil {
		return err
	}
	var resps kadm.DeleteGroupResponses
	var reqErr error
	if len(ids) > 0 {
		ctx, cancel := c.ctx()
		resps, reqErr = c.adm.DeleteGroups(ctx, ids...)
		cancel()
	}
	results := make([]cgDeleteResult, 0, len(ids))
	for _, id := range ids {
		r, ok := resps[id]
		switch {
		case ok:
			results = append(results, cgDeleteResult{id, r.Err})
		case reqErr != nil:
			results = append(results, cgDeleteResult{id, reqErr})
		default:
			results = append(results, cgDeleteResult{id, kerr.UnknownServerError})
		}
	}
	printDeleteGroups(c.stdout, results)
	return nil
}

// printDeleteGroups prints deleteGroups' summary. Kafka prints each failure as the toString of the
// ExecutionException its future threw.
func printDeleteGroups(w io.Writer, results []cgDeleteResult) {
	sort.Slice(results, func(i, j int) bool { return results[i].group < results[j].group })
	var ok []string
	var failed []cgDeleteResult
	for _, r := range results {
		if r.err == nil {
			ok = append(ok, r.group)
		} else {
			failed = append(failed, r)
		}
	}
	quoted := func(ids []string) string { return "'" + strings.Join(ids, "', '") + "'" }
	if len(failed) == 0 {
		fmt.Fprintf(w, "Deletion of requested consumer groups (%s) was successful.\n", quoted(ok))
		return
	}
	fmt.Fprintln(w, "\nError: Deletion of some consumer groups failed:")
	for _, f := range failed {
		fmt.Fprintf(w, "* Group '%s' could not be deleted due to: java.util.concurrent.ExecutionException: %s\n", f.group, cgFailureMessage(f.err))
	}
	if len(ok) > 0 {
		fmt.Fprintf(w, "\nThese consumer groups were deleted successfully: %s\n", quoted(ok))
	}
}

// cgPartitionStatus is one row of the --delete-offsets table; partition -1 is a topic that could not be described.
type cgPartitionStatus struct {
	tp  offsetsTP
	err error
}

func (c *cgCommand) deleteOffsets() error {
	group := c.fs.get("group", "")
	topics := c.fs.all("topic")
	var rows []cgPartitionStatus
	var partitions []offsetsTP
	var whole []string
	for _, t := range topics {
		if !strings.Contains(t, ":") {
			whole = append(whole, t)
			continue
		}
		tps, err := parseTopicWithPartitions(t)
		if err != nil {
			return err
		}
		partitions = append(partitions, tps...)
	}
	if len(whole) > 0 {
		ctx, cancel := c.ctx()
		described, err := c.adm.ListTopics(ctx, whole...)
		cancel()
		for _, t := range whole {
			td, ok := described[t]
			switch {
			case err != nil:
				rows = append(rows, cgPartitionStatus{offsetsTP{t, -1}, err})
			case !ok:
				rows = append(rows, cgPartitionStatus{offsetsTP{t, -1}, kerr.UnknownTopicOrPartition})
			case td.Err != nil:
				rows = append(rows, cgPartitionStatus{offsetsTP{t, -1}, td.Err})
			default:
				for _, p := range td.Partitions.Sorted() {
					partitions = append(partitions, offsetsTP{t, p.Partition})
				}
			}
		}
	}
	partitions = cgUniqueTPs(partitions)
	set := kadm.TopicsSet{}
	for _, tp := range partitions {
		set.Add(tp.topic, tp.partition)
	}
	var resps kadm.DeleteOffsetsResponses
	var topErr error
	if len(set) > 0 {
		ctx, cancel := c.ctx()
		resps, topErr = c.adm.DeleteOffsets(ctx, group, set)
		cancel()
	}
	top := topErr
	for _, tp := range cgSortedTPs(cgSetOf(partitions)) {
		err := topErr
		if err == nil {
			perr, ok := resps.Lookup(tp.topic, tp.partition)
			switch {
			case !ok:
				err = cgRawError(fmt.Sprintf("java.lang.IllegalArgumentException: Offset deletion result for partition \"%s\" was not included in the response", tp))
			case perr != nil:
				err = perr
			}
			if top == nil {
				top = err // ListOffsetsResult.all reports the first partition's error
			}
		}
		rows = append(rows, cgPartitionStatus{tp, err})
	}
	printDeleteOffsets(c.stdout, group, topics, top, rows)
	return nil
}

func cgSetOf(tps []offsetsTP) map[offsetsTP]bool {
	m := map[offsetsTP]bool{}
	for _, tp := range tps {
		m[tp] = true
	}
	return m
}

// printDeleteOffsets prints the request's outcome line and the TOPIC PARTITION STATUS table.
func printDeleteOffsets(w io.Writer, group string, topics []string, top error, rows []cgPartitionStatus) {
	var ke *kerr.Error
	code := int16(0)
	name := "NONE"
	if top != nil {
		code, name = kerr.UnknownServerError.Code, kerr.UnknownServerError.Message
		if errors.As(top, &ke) {
			code, name = ke.Code, ke.Message
		}
	}
	switch code {
	case 0:
		fmt.Fprintf(w, "Request succeed for deleting offsets with topic %s group %s\n", strings.Join(topics, ", "), group)
	case kerr.InvalidGroupID.Code:
		fmt.Fprintf(w, "\nError: '%s' is not valid.\n", group)
	case kerr.GroupIDNotFound.Code:
		fmt.Fprintf(w, "\nError: '%s' does not exist.\n", group)
	case kerr.GroupAuthorizationFailed.Code:
		fmt.Fprintf(w, "\nError: Access to '%s' is not authorized.\n", group)
	case kerr.NonEmptyGroup.Code:
		fmt.Fprintf(w, "\nError: Deleting offsets of a consumer group '%s' is forbidden if the group is not empty.\n", group)
	case kerr.GroupSubscribedToTopic.Code, kerr.TopicAuthorizationFailed.Code, kerr.UnknownTopicOrPartition.Code:
		fmt.Fprintln(w, "\nError: Encounter some partition level error, see the follow-up details:")
	default:
		fmt.Fprintf(w, "\nError: Encounter some unknown error: %s\n", name)
	}
	// Kafka sorts by the concatenation of topic and partition number.
	key := func(s cgPartitionStatus) string { return s.tp.topic + strconv.Itoa(int(s.tp.partition)) }
	sort.SliceStable(rows, func(i, j int) bool { return key(rows[i]) < key(rows[j]) })
	const format = "%-30s %-15s %-15s\n"
	fmt.Fprintf(w, "\n"+format, "TOPIC", "PARTITION", "STATUS")
	for _, r := range rows {
		p := "Not Provided"
		if r.tp.partition >= 0 {
			p = strconv.Itoa(int(r.tp.partition))
		}
		status := "Successful"
		if r.err != nil {
			status = "Error: " + cgFailureMessage(r.err)
		}
		fmt.Fprintf(w, format, r.tp.topic, p, status)
	}
}
