package testcluster_test

// These tests run the operator scripts in scripts/ and Debian's kcat against a real broker process, checking the
// exact output formats of Kafka 3.7.0's tools (see shared/reference/configs.md, "bin/ scripts"). One cluster is
// shared by all subtests; each subtest uses its own topics.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/testcluster"
)

// toolTimeout bounds one tool run: a hung tool must fail the test, not stall it.
const toolTimeout = 45 * time.Second

type toolRun struct {
	code           int
	stdout, stderr string
}

func (r toolRun) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// runCmd runs a command with stdin and returns its exit code and output; a timeout or a failure to start fails
// the test.
func runCmd(t *testing.T, env []string, stdin, name string, args ...string) toolRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := toolRun{stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\n%s", name, strings.Join(args, " "), toolTimeout, r)
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

// script runs scripts/<name> with ZKAFKA_BIN pointing at the binary the brokers run.
func script(t *testing.T, stdin, name string, args ...string) toolRun {
	t.Helper()
	bin, err := testcluster.Binary()
	if err != nil {
		t.Fatal(err)
	}
	return runCmd(t, []string{"ZKAFKA_BIN=" + bin}, stdin, "../scripts/"+name, args...)
}

// kcatPath is where Debian's kcat package puts the binary; a missing kcat is a broken environment, not a reason to
// skip.
func kcatPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatalf("kcat is not installed (%v): run `make deps` (Debian package kcat)", err)
	}
	return p
}

func createTopic(t *testing.T, c *testcluster.Cluster, topic string, partitions int32) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := c.Admin(t).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	c.WaitForLeaders(t, topic, int(partitions))
}

func TestIntegrationTools(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	bs := c.Bootstrap()[0]
	t.Run("Topics", func(t *testing.T) { testTopicsScript(t, c, bs) })
	t.Run("ConsoleProducerConsumer", func(t *testing.T) { testConsoleTools(t, c, bs) })
	t.Run("BrokerAPIVersions", func(t *testing.T) { testBrokerAPIVersions(t, c, bs) })
	t.Run("PerfTests", func(t *testing.T) { testPerfTools(t, c, bs) })
	t.Run("Kcat", func(t *testing.T) { testKcat(t, c, bs) })
}

func listsTopic(out, topic string) bool {
	for _, l := range strings.Split(out, "\n") {
		if l == topic {
			return true
		}
	}
	return false
}

func testTopicsScript(t *testing.T, c *testcluster.Cluster, bs string) {
	const illegal = `Topic name "bad name!" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'`
	steps := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // regexp over stdout
	}{
		{"create", []string{"--create", "--topic", "t1", "--partitions", "3", "--replication-factor", "1", "--config", "retention.ms=1000"},
			0, `^Created topic t1\.\n$`},
		{"create-again", []string{"--create", "--topic", "t1", "--partitions", "3", "--replication-factor", "1"},
			1, `^Error while executing topic command : Topic 't1' already exists\.\n$`},
		{"create-if-not-exists", []string{"--create", "--topic", "t1", "--if-not-exists"}, 0, `^$`},
		{"list", []string{"--list"}, 0, `(?m)^t1$`},
		{"describe", []string{"--describe", "--topic", "t1"}, 0,
			`^Topic: t1\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 3\tReplicationFactor: 1\tConfigs: retention\.ms=1000\n` +
				"\tTopic: t1\tPartition: 0\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: t1\tPartition: 1\tLeader: 0\tReplicas: 0\tIsr: 0\n" +
				"\tTopic: t1\tPartition: 2\tLeader: 0\tReplicas: 0\tIsr: 0\n$"},
		{"invalid-name", []string{"--create", "--topic", "bad name!", "--partitions", "1"},
			1, "^Error while executing topic command : " + regexp.QuoteMeta(illegal) + `\n$`},
		{"replication-factor-too-large", []string{"--create", "--topic", "t1rf", "--partitions", "1", "--replication-factor", "3"},
			1, `^Error while executing topic command : Replication factor: 3 larger than available brokers: 1\.\n$`},
		{"delete", []string{"--delete", "--topic", "t1"}, 0, `^$`},
	}
	for _, s := range steps {
		r := script(t, "", "kafka-topics.sh", append([]string{"--bootstrap-server", bs}, s.args...)...)
		if r.code != s.wantCode || !regexp.MustCompile(s.wantOut).MatchString(r.stdout) {
			t.Errorf("%s: want exit %d and stdout matching %q, got %s", s.name, s.wantCode, s.wantOut, r)
		}
	}
	testcluster.WaitFor(t, 30*time.Second, "kafka-topics.sh --list to drop t1", func() bool {
		r := script(t, "", "kafka-topics.sh", "--bootstrap-server", bs, "--list")
		if r.code != 0 {
			t.Fatalf("--list after delete: %s", r)
		}
		return !listsTopic(r.stdout, "t1")
	})
	// Neither failed create may have left a topic behind.
	r := script(t, "", "kafka-topics.sh", "--bootstrap-server", bs, "--list")
	if listsTopic(r.stdout, "t1rf") || strings.Contains(r.stdout, "bad name") {
		t.Errorf("a rejected create left a topic behind: %s", r)
	}
}

// consumedLine is one line of kafka-console-consumer.sh with print.partition and print.key.
type consumedLine struct {
	partition string
	key, val  string
}

func testConsoleTools(t *testing.T, c *testcluster.Cluster, bs string) {
	const topic = "t2"
	createTopic(t, c, topic, 2)
	var input []string // "kN:vN" in production order
	for batch, acks := range []string{"1", "-1"} {
		var sb strings.Builder
		for i := 0; i < 10; i++ {
			n := batch*10 + i
			line := fmt.Sprintf("k%d:v%d", n, n)
			input = append(input, line)
			sb.WriteString(line + "\n")
		}
		r := script(t, sb.String(), "kafka-console-producer.sh", "--bootstrap-server", bs, "--topic", topic,
			"--property", "parse.key=true", "--property", "key.separator=:", "--request-required-acks", acks)
		if r.code != 0 || r.stdout != "" {
			t.Fatalf("producer with acks %s: %s", acks, r)
		}
	}

	r := script(t, "", "kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", topic, "--from-beginning",
		"--max-messages", strconv.Itoa(len(input)), "--timeout-ms", "20000",
		"--property", "print.key=true", "--property", "print.partition=true")
	if r.code != 0 || !strings.HasSuffix(r.stderr, fmt.Sprintf("Processed a total of %d messages\n", len(input))) {
		t.Fatalf("consumer: %s", r)
	}
	lineRE := regexp.MustCompile(`^Partition:([01])\t(k\d+)\t(v\d+)$`)
	byPartition := map[string][]consumedLine{}
	seen := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n") {
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("consumer line %q does not look like Partition:N<TAB>key<TAB>value\n%s", l, r)
		}
		kv := m[2] + ":" + m[3]
		if seen[kv] {
			t.Fatalf("record %q consumed twice\n%s", kv, r)
		}
		seen[kv] = true
		byPartition[m[1]] = append(byPartition[m[1]], consumedLine{m[1], m[2], m[3]})
	}
	if len(seen) != len(input) {
		t.Fatalf("consumed %d distinct records, produced %d\n%s", len(seen), len(input), r)
	}
	// Each partition must hold its records in production order.
	order := map[string]int{}
	for i, l := range input {
		order[l] = i
		if !seen[l] {
			t.Fatalf("record %q was produced but not consumed\n%s", l, r)
		}
	}
	for p, lines := range byPartition {
		for i := 1; i < len(lines); i++ {
			if order[lines[i].key+":"+lines[i].val] < order[lines[i-1].key+":"+lines[i-1].val] {
				t.Fatalf("partition %s: %s:%s consumed after %s:%s, produced before it", p, lines[i].key, lines[i].val, lines[i-1].key, lines[i-1].val)
			}
		}
	}

	// Direct assignment of partition 0 from offset 1, with the default formatting: key TAB value.
	p0 := byPartition["0"]
	if len(p0) < 2 {
		t.Fatalf("partition 0 got %d records; the test needs at least 2", len(p0))
	}
	var want strings.Builder
	for _, l := range p0[1:] {
		want.WriteString(l.key + "\t" + l.val + "\n")
	}
	r = script(t, "", "kafka-console-consumer.sh", "--bootstrap-server", bs, "--topic", topic,
		"--partition", "0", "--offset", "1", "--max-messages", strconv.Itoa(len(p0)-1), "--timeout-ms", "20000",
		"--property", "print.key=true")
	if r.code != 0 || r.stdout != want.String() ||
		!strings.HasSuffix(r.stderr, fmt.Sprintf("Processed a total of %d messages\n", len(p0)-1)) {
		t.Fatalf("consumer --partition 0 --offset 1: want stdout %q, got %s", want.String(), r)
	}
}

func testBrokerAPIVersions(t *testing.T, c *testcluster.Cluster, bs string) {
	// What the broker really advertises, asked directly, is what the tool must print.
	cl := c.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrApiVersionsRequest()
	req.ClientSoftwareName, req.ClientSoftwareVersion = "zkafka-test", "0.0.1"
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions: %v (code %d)", err, resp.ErrorCode)
	}
	advertised := map[int16]kmsg.ApiVersionsResponseApiKey{}
	for _, k := range resp.ApiKeys {
		advertised[k.ApiKey] = k
	}

	r := script(t, "", "kafka-broker-api-versions.sh", "--bootstrap-server", bs)
	head := fmt.Sprintf("%s (id: 0 rack: null) -> (\n", bs)
	if r.code != 0 || !strings.HasPrefix(r.stdout, head) || !strings.HasSuffix(r.stdout, "\n)\n") {
		t.Fatalf("want output starting %q and ending \"\\n)\\n\", got %s", head, r)
	}
	body := strings.Split(strings.TrimSuffix(strings.TrimPrefix(r.stdout, head), "\n)\n"), "\n")
	lineRE := regexp.MustCompile(`^\t([A-Za-z]+)\((\d+)\): (UNSUPPORTED|(\d+)(?: to (\d+))? \[usable: (\d+)\])$`)
	lines := map[string]string{} // name -> text after "Name(key): "
	last := -1
	for i, l := range body {
		if i < len(body)-1 {
			if !strings.HasSuffix(l, ",") {
				t.Errorf("line %q does not end with a comma", l)
			}
			l = strings.TrimSuffix(l, ",")
		}
		m := lineRE.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("line %q is not in NodeApiVersions format", l)
			continue
		}
		key, _ := strconv.Atoi(m[2])
		if key <= last {
			t.Errorf("api key %d listed after %d: want ascending keys", key, last)
		}
		last = key
		lines[m[1]] = m[3]
		if _, ok := advertised[int16(key)]; ok == (m[3] == "UNSUPPORTED") {
			t.Errorf("%s: the broker advertises key %d: %v, but the tool says %q", m[1], key, ok, m[3])
		}
	}
	// Kafka 3.7.0's client maxima decide "usable"; each advertised client API must be shown with its range.
	clientAPIs := []struct {
		name      string
		key       int16
		clientMax int16
	}{
		{"Produce", 0, 10}, {"Fetch", 1, 16}, {"ListOffsets", 2, 8}, {"Metadata", 3, 12}, {"OffsetCommit", 8, 9},
		{"OffsetFetch", 9, 9}, {"FindCoordinator", 10, 4}, {"JoinGroup", 11, 9}, {"Heartbeat", 12, 4},
		{"LeaveGroup", 13, 5}, {"SyncGroup", 14, 5}, {"DescribeGroups", 15, 5}, {"ListGroups", 16, 4},
		{"ApiVersions", 18, 3}, {"CreateTopics", 19, 7}, {"DeleteTopics", 20, 6}, {"InitProducerId", 22, 4},
		{"DescribeConfigs", 32, 4},
	}
	unsupported := 0
	for _, a := range clientAPIs {
		want := "UNSUPPORTED"
		if k, ok := advertised[a.key]; ok {
			want = fmt.Sprintf("%d to %d [usable: %d]", k.MinVersion, k.MaxVersion, min(k.MaxVersion, a.clientMax))
			if k.MinVersion == k.MaxVersion {
				want = fmt.Sprintf("%d [usable: %d]", k.MinVersion, min(k.MaxVersion, a.clientMax))
			}
		} else {
			unsupported++
		}
		if got, ok := lines[a.name]; !ok || got != want {
			t.Errorf("%s(%d): want %q, got %q (listed: %v)", a.name, a.key, want, got, ok)
		}
	}
	if !regexp.MustCompile(`\n\tProduce\(0\): \d+ to 10 \[usable: 10\],\n`).MatchString(r.stdout) {
		t.Errorf("no Produce line with max version 10:\n%s", r.stdout)
	}
	t.Logf("%d of %d client APIs checked are UNSUPPORTED by the broker", unsupported, len(clientAPIs))
}

func testPerfTools(t *testing.T, c *testcluster.Cluster, bs string) {
	const topic, n, size = "t3", 20000, 100
	createTopic(t, c, topic, 2)
	r := script(t, "", "kafka-producer-perf-test.sh", "--topic", topic, "--num-records", strconv.Itoa(n),
		"--record-size", strconv.Itoa(size), "--throughput", "-1", "--producer-props", "bootstrap.servers="+bs, "acks=1")
	// ProducerPerformance.printTotal: %d records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, ...
	final := regexp.MustCompile(`^20000 records sent, \d+\.\d{6} records/sec \(\d+\.\d{2} MB/sec\), \d+\.\d{2} ms avg latency, ` +
		`\d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.$`)
	lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || !final.MatchString(lines[len(lines)-1]) {
		t.Fatalf("producer perf test: the last line does not match %s\n%s", final, r)
	}
	t.Logf("producer perf test: %s", lines[len(lines)-1])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := c.Admin(t).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != n {
		t.Fatalf("producer perf test reported %d records, the log end offsets sum to %d", n, total)
	}

	r = script(t, "", "kafka-consumer-perf-test.sh", "--bootstrap-server", bs, "--topic", topic,
		"--messages", strconv.Itoa(n), "--timeout", "20000")
	const header = "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
	lines = strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 0 || len(lines) != 2 || lines[0] != header {
		t.Fatalf("consumer perf test: want the CSV header and one data line, got %s", r)
	}
	t.Logf("consumer perf test: %s", lines[1])

	// EndToEndLatency, one record at a time (Kafka's mode) and paced (--throughput).
	r = script(t, "", "kafka-e2e-latency.sh", bs, "e2e", "300", "all", "100")
	avg := regexp.MustCompile(`(?m)^Avg latency: \d+\.\d{4} ms\nPercentiles: 50th = \d+, 99th = \d+, 99\.9th = \d+\n$`)
	if r.code != 0 || !avg.MatchString(r.stdout) {
		t.Fatalf("e2e latency: %s", r)
	}
	r = script(t, "", "kafka-e2e-latency.sh", bs, "e2e", "2000", "all", "100", "", "--throughput", "2000")
	if r.code != 0 || !strings.Contains(r.stdout, "Records: sent = 2000, acknowledged = 2000, received = 2000") ||
		!regexp.MustCompile(`Latency ms: p50 = \d+\.\d{3}, p99 = \d+\.\d{3}`).MatchString(r.stdout) {
		t.Fatalf("e2e latency --throughput: %s", r)
	}
	cols := strings.Split(lines[1], ", ")
	// Records carry no key, so the bytes are n*size: 2,000,000 B = 1.9073 MB.
	wantMB := fmt.Sprintf("%.4f", float64(n*size)/(1024*1024))
	if len(cols) != 10 || cols[4] != strconv.Itoa(n) || cols[2] != wantMB ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}$`).MatchString(cols[0]) {
		t.Fatalf("consumer perf data line %q: want 10 columns, data.consumed.in.nMsg %d and data.consumed.in.MB %s", lines[1], n, wantMB)
	}
}

func testKcat(t *testing.T, c *testcluster.Cluster, bs string) {
	kcat := kcatPath(t)

	// Produce to a topic that does not exist yet: auto-creation with num.partitions=1.
	r := runCmd(t, nil, "a:1\nb:2\nc:3\n", kcat, "-b", bs, "-t", "t4", "-P", "-K:")
	if r.code != 0 || strings.Contains(r.stderr, "ERROR") {
		t.Fatalf("kcat -P: %s", r)
	}
	r = runCmd(t, nil, "", kcat, "-b", bs, "-L")
	for _, want := range []string{
		fmt.Sprintf(" 1 brokers:\n  broker 0 at %s", bs),
		"  topic \"t4\" with 1 partitions:\n    partition 0, leader 0, replicas: 0, isrs: 0\n",
	} {
		if r.code != 0 || !strings.Contains(r.stdout, want) {
			t.Fatalf("kcat -L: want %q in stdout, got %s", want, r)
		}
	}
	r = runCmd(t, nil, "", kcat, "-b", bs, "-t", "t4", "-C", "-e", "-K:", "-f", `%k=%s@%o\n`)
	if r.code != 0 || r.stdout != "a=1@0\nb=2@1\nc=3@2\n" {
		t.Fatalf("kcat -C: want %q, got %s", "a=1@0\nb=2@1\nc=3@2\n", r)
	}

	t.Run("FranzGoToKcat", func(t *testing.T) { testFranzToKcat(t, c, bs, kcat) })
	t.Run("KcatToFranzGo", func(t *testing.T) { testKcatToFranz(t, c, bs, kcat) })
}

// testFranzToKcat produces with franz-go and checks kcat reads back exactly the acknowledged records: partition,
// offset, key, value, header and timestamp.
func testFranzToKcat(t *testing.T, c *testcluster.Cluster, bs, kcat string) {
	const topic, n = "t5", 40
	createTopic(t, c, topic, 2)
	cl := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{
			Key:     []byte(fmt.Sprintf("key-%d", i)),
			Value:   []byte(fmt.Sprintf("value %d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte(strconv.Itoa(i))}},
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go produce: %v", err)
	}
	var want []string
	for _, r := range recs {
		want = append(want, fmt.Sprintf("%d|%d|%s|%s|h=%s|%d", r.Partition, r.Offset, r.Key, r.Value, r.Headers[0].Value, r.Timestamp.UnixMilli()))
	}
	r := runCmd(t, nil, "", kcat, "-b", bs, "-t", topic, "-C", "-e", "-f", `%p|%o|%k|%s|%h|%T\n`)
	got := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	sort.Strings(want)
	sort.Strings(got)
	if r.code != 0 || strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("kcat read back differs from what franz-go produced\nwant:\n%s\ngot %s", strings.Join(want, "\n"), r)
	}
}

// testKcatToFranz produces with kcat (librdkafka's partitioner, a header on every record) and checks franz-go
// reads every record once, with contiguous offsets from 0 and per-partition production order.
func testKcatToFranz(t *testing.T, c *testcluster.Cluster, bs, kcat string) {
	const topic, n = "t6", 40
	createTopic(t, c, topic, 2)
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "key-%d:value %d\n", i, i)
	}
	r := runCmd(t, nil, in.String(), kcat, "-b", bs, "-t", topic, "-P", "-K:", "-H", "src=kcat")
	if r.code != 0 || strings.Contains(r.stderr, "ERROR") {
		t.Fatalf("kcat -P: %s", r)
	}
	cl := c.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("franz-go consumed %d of %d records: %v", len(got), n, ctx.Err())
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s-%d: %v", tp, p, err) })
		got = append(got, fs.Records()...)
	}
	if len(got) != n {
		t.Fatalf("franz-go consumed %d records, kcat produced %d", len(got), n)
	}
	next := map[int32]int64{}
	lastIdx := map[int32]int{}
	seen := map[int]bool{}
	for _, rec := range got {
		var i int
		if _, err := fmt.Sscanf(string(rec.Key), "key-%d", &i); err != nil || string(rec.Value) != fmt.Sprintf("value %d", i) {
			t.Fatalf("record %q=%q is not one kcat produced", rec.Key, rec.Value)
		}
		if seen[i] {
			t.Fatalf("record %q consumed twice", rec.Key)
		}
		seen[i] = true
		if len(rec.Headers) != 1 || rec.Headers[0].Key != "src" || string(rec.Headers[0].Value) != "kcat" {
			t.Fatalf("record %q: headers %+v, want src=kcat", rec.Key, rec.Headers)
		}
		if rec.Offset != next[rec.Partition] {
			t.Fatalf("partition %d: offset %d, want %d", rec.Partition, rec.Offset, next[rec.Partition])
		}
		next[rec.Partition]++
		if prev, ok := lastIdx[rec.Partition]; ok && prev > i {
			t.Fatalf("partition %d: %q after key-%d, produced in the other order", rec.Partition, rec.Key, prev)
		}
		lastIdx[rec.Partition] = i
	}
}
