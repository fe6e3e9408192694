package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TransactionsMain implements kafka-transactions.sh (org.apache.kafka.tools.TransactionsCommand): list,
// describe, describe-producers and abort. It returns the exit code.
func TransactionsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a, err := parseTxnArgs(args)
	switch {
	case errors.Is(err, errTxnHelp):
		fmt.Fprint(stdout, txnHelp)
		return 0
	case errors.Is(err, errTxnVersion):
		fmt.Fprintln(stdout, kafkaVersion)
		return 0
	case err != nil:
		return txnArgError(stderr, err)
	}
	props := map[string]string{}
	if a.commandConfig != "" {
		if props, err = loadProps(a.commandConfig); err != nil {
			return txnFail(stderr, "Failed to load admin client properties", err)
		}
	}
	cl, err := newClient(a.bootstrap, props, roleAdmin, stderr)
	if err != nil {
		return txnFail(stderr, "Failed to create admin client", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()
	t := &txnCmd{cl: cl, adm: kadm.NewClient(cl), out: stdout, now: time.Now}
	switch a.command {
	case "list":
		err = t.list(ctx)
	case "describe":
		err = t.describe(ctx, a.values["transactional-id"])
	case "describe-producers":
		brokerID := int32(-1)
		if a.has("broker-id") {
			brokerID = int32(a.int64("broker-id"))
		}
		err = t.describeProducers(ctx, a.values["topic"], int32(a.int64("partition")), brokerID)
	case "abort":
		err = t.abort(ctx, a)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

// txnCmd runs one sub-command; now is the clock for "TransactionDurationMs".
type txnCmd struct {
	cl  *kgo.Client
	adm *kadm.Client
	out io.Writer
	now func() time.Time
}

// txnFail prints TransactionsCommand.printErrorAndExit(message, cause) and returns 1.
func txnFail(stderr io.Writer, msg string, cause error) int {
	fmt.Fprintln(stderr, txnFailure(msg, cause))
	return 1
}

func txnFailure(msg string, cause error) error {
	return fmt.Errorf("%s: %s. Enable debug logging for additional detail.", msg, txnCauseMessage(cause))
}

// txnCauseMessage is the Java exception's getMessage(): the admin handlers' own text where they have one, else the
// error's description.
func txnCauseMessage(err error) string {
	var he *txnHandlerError
	if errors.As(err, &he) {
		return he.msg
	}
	var se *kadm.ShardErrors
	if errors.As(err, &se) && len(se.Errs) > 0 {
		return errorMessage(se.Errs[0].Err)
	}
	return errorMessage(err)
}

// txnHandlerError carries the message the Java admin handler puts into its exception.
type txnHandlerError struct{ msg string }

func (e *txnHandlerError) Error() string { return e.msg }

var (
	listTxnHeaders     = []string{"TransactionalId", "Coordinator", "ProducerId", "TransactionState"}
	describeTxnHeaders = []string{"CoordinatorId", "TransactionalId", "ProducerId", "ProducerEpoch", "TransactionState",
		"TransactionTimeoutMs", "CurrentTransactionStartTimeMs", "TransactionDurationMs", "TopicPartitions"}
	describeProducersHeaders = []string{"ProducerId", "ProducerEpoch", "LatestCoordinatorEpoch", "LastSequence",
		"LastTimestamp", "CurrentTransactionStartOffset"}
)

func (t *txnCmd) list(ctx context.Context) error {
	listed, err := t.adm.ListTransactions(ctx, nil, nil)
	if err != nil {
		return txnFailure("Failed to list transactions", err)
	}
	prettyPrintTable(t.out, listTxnHeaders, listTxnRows(listed))
	return nil
}

// listTxnRows orders rows as the Java tool's HashMap<Integer, ...> of small broker ids does: by coordinator, then
// (where Java keeps response order) by transactional id.
func listTxnRows(listed kadm.ListedTransactions) [][]string {
	all := listed.Sorted()
	sort.SliceStable(all, func(i, j int) bool { return all[i].Coordinator < all[j].Coordinator })
	rows := make([][]string, 0, len(all))
	for _, l := range all {
		rows = append(rows, []string{l.TxnID, strconv.Itoa(int(l.Coordinator)), strconv.FormatInt(l.ProducerID, 10), l.State})
	}
	return rows
}

func (t *txnCmd) describe(ctx context.Context, id string) error {
	described, err := t.adm.DescribeTransactions(ctx, id)
	fail := func(cause error) error {
		return txnFailure("Failed to describe transaction state of transactional-id `"+id+"`", cause)
	}
	if err != nil {
		return fail(err)
	}
	d, err := described.On(id, nil)
	if err != nil {
		return fail(err)
	}
	if d.Err != nil {
		return fail(describeTxnError(id, d.Err))
	}
	prettyPrintTable(t.out, describeTxnHeaders, [][]string{describeTxnRow(d, t.now())})
	return nil
}

// describeTxnError is DescribeTransactionsHandler.handleError's exception message.
func describeTxnError(id string, err error) error {
	switch {
	case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
		return &txnHandlerError{"DescribeTransactions request for transactionalId `" + id + "` failed due to authorization failure"}
	case errors.Is(err, kerr.TransactionalIDNotFound):
		return &txnHandlerError{"DescribeTransactions request for transactionalId `" + id + "` failed because the ID could not be found"}
	}
	return &txnHandlerError{"DescribeTransactions request for transactionalId `" + id + "` failed due to unexpected error"}
}

func describeTxnRow(d kadm.DescribedTransaction, now time.Time) []string {
	start, duration := "None", "None"
	if d.StartTimestamp >= 0 {
		start = strconv.FormatInt(d.StartTimestamp, 10)
		duration = strconv.FormatInt(now.UnixMilli()-d.StartTimestamp, 10)
	}
	var tps []string
	for _, tp := range d.Topics.Sorted() {
		for _, p := range tp.Partitions {
			tps = append(tps, fmt.Sprintf("%s-%d", tp.Topic, p))
		}
	}
	return []string{strconv.Itoa(int(d.Coordinator)), d.TxnID, strconv.FormatInt(d.ProducerID, 10),
		strconv.Itoa(int(d.ProducerEpoch)), d.State, strconv.Itoa(int(d.TimeoutMillis)), start, duration,
		strings.Join(tps, ",")}
}

func (t *txnCmd) describeProducers(ctx context.Context, topic string, partition, brokerID int32) error {
	tp := fmt.Sprintf("%s-%d", topic, partition)
	on := "leader"
	if brokerID >= 0 {
		on = "broker " + strconv.Itoa(int(brokerID))
	}
	producers, err := t.producers(ctx, topic, partition, brokerID)
	if err != nil {
		return txnFailure("Failed to describe producers for partition "+tp+" on "+on, err)
	}
	prettyPrintTable(t.out, describeProducersHeaders, producerRows(producers))
	return nil
}

// producers describes the partition's active producers on its leader, or on brokerID (a follower's view) when it
// is not -1, as DescribeProducersOptions.brokerId does.
func (t *txnCmd) producers(ctx context.Context, topic string, partition, brokerID int32) ([]kmsg.DescribeProducersResponseTopicPartitionActiveProducer, error) {
	req := kmsg.NewPtrDescribeProducersRequest()
	rt := kmsg.NewDescribeProducersRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{partition}
	req.Topics = append(req.Topics, rt)
	var resp *kmsg.DescribeProducersResponse
	var err error
	if brokerID >= 0 {
		resp, err = req.RequestWith(ctx, t.cl.Broker(int(brokerID)))
	} else {
		// kgo routes DescribeProducers to each partition's leader and retries NOT_LEADER by itself.
		var kr kmsg.Response
		kr, err = t.cl.Request(ctx, req)
		if kr != nil {
			resp = kr.(*kmsg.DescribeProducersResponse)
		}
	}
	if err != nil {
		return nil, err
	}
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rt.Topic != topic || rp.Partition != partition {
				continue
			}
			if rp.ErrorCode != 0 {
				return nil, describeProducersError(topic, partition, brokerID, rp.ErrorCode)
			}
			return rp.ActiveProducers, nil
		}
	}
	return nil, &txnHandlerError{fmt.Sprintf("Failed to describe active producers for partition %s-%d due to unexpected error", topic, partition)}
}

// describeProducersError is DescribeProducersHandler.handlePartitionError's exception message.
func describeProducersError(topic string, partition, brokerID int32, code int16) error {
	tp := fmt.Sprintf("%s-%d", topic, partition)
	err := kerr.ErrorForCode(code)
	switch {
	case errors.Is(err, kerr.NotLeaderForPartition) && brokerID >= 0:
		return &txnHandlerError{fmt.Sprintf("Failed to describe active producers for partition %s on brokerId %d", tp, brokerID)}
	case errors.Is(err, kerr.InvalidTopicException):
		return &txnHandlerError{fmt.Sprintf("Failed to fetch metadata for partition %s due to invalid topic error: %s", tp, errorMessage(err))}
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		return &txnHandlerError{fmt.Sprintf("Failed to describe active producers for partition %s due to authorization failure on topic `%s`", tp, topic)}
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		// Java retries this until default.api.timeout.ms; the broker's answer is more useful than a timeout.
		return err
	}
	return &txnHandlerError{fmt.Sprintf("Failed to describe active producers for partition %s due to unexpected error", tp)}
}

func producerRows(ps []kmsg.DescribeProducersResponseTopicPartitionActiveProducer) [][]string {
	rows := make([][]string, 0, len(ps))
	for _, p := range ps {
		start := "None"
		if p.CurrentTxnStartOffset >= 0 {
			start = strconv.FormatInt(p.CurrentTxnStartOffset, 10)
		}
		coordEpoch := p.CoordinatorEpoch
		if coordEpoch < 0 {
			coordEpoch = -1
		}
		rows = append(rows, []string{strconv.FormatInt(p.ProducerID, 10), strconv.Itoa(int(p.ProducerEpoch)),
			strconv.Itoa(int(coordEpoch)), strconv.Itoa(int(p.LastSequence)), strconv.FormatInt(p.LastTimestamp, 10), start})
	}
	return rows
}

// prettyPrintTable is ToolsUtils.prettyPrintTable: every cell left-aligned and padded to its column's width, each
// followed by a tab.
func prettyPrintTable(w io.Writer, headers []string, rows [][]string) {
	widths := make([]int, len(headers))
	for i, h := range headers {
		widths[i] = len(h)
	}
	for _, r := range rows {
		for i := range headers {
			widths[i] = max(widths[i], len(r[i]))
		}
	}
	printRow := func(r []string) {
		var sb strings.Builder
		for i, v := range r {
			sb.WriteString(v)
			sb.WriteString(strings.Repeat(" ", widths[i]-len(v)))
			sb.WriteByte('\t')
		}
		fmt.Fprintln(w, sb.String())
	}
	printRow(headers)
	for _, r := range rows {
		printRow(r)
	}
}
