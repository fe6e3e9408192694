package admin

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// fakeCluster starts franz-go's in-memory Kafka for end-to-end tool tests.
func fakeCluster(t *testing.T, opts ...kfake.Opt) string {
	t.Helper()
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return strings.Join(c.ListenAddrs(), ",")
}

func run(t *testing.T, main func([]string, *strings.Reader, *bytes.Buffer, *bytes.Buffer) int, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := main(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

func wrap(f func(args []string, stdin *strings.Reader, stdout, stderr *bytes.Buffer) int) func([]string, *strings.Reader, *bytes.Buffer, *bytes.Buffer) int {
	return f
}

var (
	topicsMain   = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return TopicsMain(a, in, o, e) })
	producerMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return ConsoleProducerMain(a, in, o, e) })
	consumerMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return ConsoleConsumerMain(a, in, o, e) })
	apiMain      = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int {
		return BrokerAPIVersionsMain(a, in, o, e)
	})
	pperfMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return ProducerPerfTestMain(a, in, o, e) })
	cperfMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return ConsumerPerfTestMain(a, in, o, e) })
)

func TestTopicsEndToEnd(t *testing.T) {
	bs := fakeCluster(t)
	steps := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // regexp over stdout
	}{
		{"create", []string{"--create", "--topic", "foo", "--partitions", "2", "--replication-factor", "1", "--config", "retention.ms=1000"}, 0, `^Created topic foo\.\n$`},
		{"create-exists", []string{"--create", "--topic", "foo"}, 1, `^Error while executing topic command : Topic 'foo' already exists\.\n$`},
		{"create-if-not-exists", []string{"--create", "--topic", "foo", "--if-not-exists"}, 0, `^$`},
		{"create-bar", []string{"--create", "--topic=bar", "--partitions=1"}, 0, `^Created topic bar\.\n$`},
		{"list", []string{"--list"}, 0, `^bar\nfoo\n$`},
		{"list-regex", []string{"--list", "--topic", "f.*"}, 0, `^foo\n$`},
		{"describe", []string{"--describe", "--topic", "foo"}, 0,
			`^Topic: foo\tTopicId: [A-Za-z0-9_-]{22}\tPartitionCount: 2\tReplicationFactor: 1\tConfigs: retention.ms=1000\n` +
				`\tTopic: foo\tPartition: 0\tLeader: \d+\tReplicas: \d+\tIsr: \d+\n` +
				`\tTopic: foo\tPartition: 1\tLeader: \d+\tReplicas: \d+\tIsr: \d+\n$`},
		{"describe-missing", []string{"--describe", "--topic", "nope"}, 1, `^Error while executing topic command : Topic 'nope' does not exist as expected\n$`},
		{"describe-missing-if-exists", []string{"--describe", "--topic", "nope", "--if-exists"}, 0, `^$`},
		{"alter", []string{"--alter", "--topic", "bar", "--partitions", "3"}, 0, `^$`},
		{"describe-bar", []string{"--describe", "--topic", "bar"}, 0, `PartitionCount: 3\t`},
		{"delete", []string{"--delete", "--topic", "bar"}, 0, `^$`},
		{"delete-missing", []string{"--delete", "--topic", "bar"}, 1, `does not exist as expected`},
		{"delete-if-exists", []string{"--delete", "--topic", "bar", "--if-exists"}, 0, `^$`},
		{"list-after-delete", []string{"--list"}, 0, `^foo\n$`},
	}
	for _, s := range steps {
		code, out, errOut := run(t, topicsMain, "", append([]string{"--bootstrap-server", bs}, s.args...)...)
		if code != s.wantCode || !regexp.MustCompile(s.wantOut).MatchString(out) {
			t.Fatalf("%s: code %d (want %d)\nstdout:\n%q\nwant match %q\nstderr:\n%s", s.name, code, s.wantCode, out, s.wantOut, errOut)
		}
	}
}

func TestProduceConsumeEndToEnd(t *testing.T) {
	bs := fakeCluster(t, kfake.SeedTopics(1, "t"))
	input := "k1:v1\nk2:v2\n:empty-key\nk4:\nlast:line-no-newline"
	code, out, errOut := run(t, producerMain, input, "--bootstrap-server", bs, "--topic", "t",
		"--property", "parse.key=true", "--property", "key.separator=:", "--producer-property", "linger.ms=0")
	if code != 0 || out != "" {
		t.Fatalf("producer: code %d stdout %q stderr %s", code, out, errOut)
	}
	code, out, errOut = run(t, consumerMain, "", "--bootstrap-server", bs, "--topic", "t", "--from-beginning",
		"--max-messages", "5", "--timeout-ms", "5000", "--property", "print.key=true", "--property", "print.offset=true")
	want := "Offset:0\tk1\tv1\nOffset:1\tk2\tv2\nOffset:2\t\tempty-key\nOffset:3\tk4\t\nOffset:4\tlast\tline-no-newline\n"
	if code != 0 || out != want {
		t.Fatalf("consumer: code %d\n got %q\nwant %q\nstderr %s", code, out, want, errOut)
	}
	if !strings.HasSuffix(errOut, "Processed a total of 5 messages\n") {
		t.Fatalf("consumer stderr %q", errOut)
	}

	// Direct partition consumption from an offset, ending on the timeout.
	code, out, errOut = run(t, consumerMain, "", "--bootstrap-server", bs, "--topic", "t", "--partition", "0",
		"--offset", "3", "--timeout-ms", "300")
	if code != 0 || out != "\nline-no-newline\n" || !strings.HasSuffix(errOut, "Processed a total of 2 messages\n") {
		t.Fatalf("partition consumer: code %d out %q stderr %q", code, out, errOut)
	}

	// --sync sends one record at a time and must not wait out the linger.
	start := time.Now()
	code, _, errOut = run(t, producerMain, "s1\ns2\n", "--bootstrap-server", bs, "--topic", "t", "--sync")
	if code != 0 || time.Since(start) > 900*time.Millisecond {
		t.Fatalf("sync producer: code %d took %v stderr %q", code, time.Since(start), errOut)
	}

	// A line without the separator stops the producer with Kafka's error.
	code, _, errOut = run(t, producerMain, "ok:1\nbad\n", "--bootstrap-server", bs, "--topic", "t",
		"--property", "parse.key=true", "--property", "key.separator=:")
	if code != 1 || !strings.Contains(errOut, "No key separator found on line number 2: 'bad'") {
		t.Fatalf("bad line: code %d stderr %q", code, errOut)
	}
}

func TestBrokerAPIVersionsEndToEnd(t *testing.T) {
	bs := fakeCluster(t)
	code, out, errOut := run(t, apiMain, "", "--bootstrap-server", bs)
	if code != 0 {
		t.Fatalf("code %d stderr %s", code, errOut)
	}
	re := regexp.MustCompile(`^\S+:\d+ \(id: \d+ rack: \S+\) -> \(\n\tProduce\(0\): \d+ to \d+ \[usable: 10\],\n\tFetch\(1\): `)
	if !re.MatchString(out) || !strings.HasSuffix(out, "\n)\n") {
		t.Fatalf("unexpected output:\n%s", out)
	}
}

func TestPerfToolsEndToEnd(t *testing.T) {
	bs := fakeCluster(t, kfake.SeedTopics(2, "perf"))
	code, out, errOut := run(t, pperfMain, "", "--topic", "perf", "--num-records", "200", "--record-size", "100",
		"--throughput", "-1", "--producer-props", "bootstrap.servers="+bs, "acks=1", "linger.ms=0")
	final := regexp.MustCompile(`200 records sent, (\d+\.\d{6}|Infinity) records/sec \((\d+\.\d{2}|Infinity) MB/sec\), \d+\.\d{2} ms avg latency, \d+\.\d{2} ms max latency, \d+ ms 50th, \d+ ms 95th, \d+ ms 99th, \d+ ms 99\.9th\.\n$`)
	if code != 0 || !final.MatchString(out) {
		t.Fatalf("producer perf: code %d out %q stderr %q", code, out, errOut)
	}
	code, out, errOut = run(t, cperfMain, "", "--bootstrap-server", bs, "--topic", "perf", "--messages", "200", "--timeout", "3000")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if code != 0 || len(lines) != 2 || lines[0] != consumerPerfHeader(false) ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d:\d{3}, .*, 0\.0191, [^,]+, 200, `).MatchString(lines[1]) {
		t.Fatalf("consumer perf: code %d out %q stderr %q", code, out, errOut)
	}
}
