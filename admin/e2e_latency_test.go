package admin

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

var e2eMain = wrap(func(a []string, in *strings.Reader, o, e *bytes.Buffer) int { return EndToEndLatencyMain(a, in, o, e) })

func TestParseE2EArgs(t *testing.T) {
	usage := "USAGE: java org.apache.kafka.tools.EndToEndLatency broker_list topic num_messages producer_acks message_size_bytes [optional] properties_file"
	tests := []struct {
		args    string
		want    e2eArgs
		wantErr string // prefix
	}{
		{"b:9092 t 10 1 20", e2eArgs{brokers: "b:9092", topic: "t", numRecords: 10, acks: "1", size: 20}, ""},
		{"b t 10 all 20 p.properties", e2eArgs{brokers: "b", topic: "t", numRecords: 10, acks: "all", size: 20, propsFile: "p.properties"}, ""},
		{"b t 10 all 20 --throughput 500", e2eArgs{brokers: "b", topic: "t", numRecords: 10, acks: "all", size: 20, throughput: 500}, ""},
		{"--throughput=0.5 b t 10 all 8", e2eArgs{brokers: "b", topic: "t", numRecords: 10, acks: "all", size: 8, throughput: 0.5}, ""},
		{"b t 10 1", e2eArgs{}, usage},
		{"b t 10 1 20 f extra", e2eArgs{}, usage},
		{"b t 10 1 20 --throughput", e2eArgs{}, usage},
		{"b t ten 1 20", e2eArgs{}, `For input string: "ten"`},
		{"b t 10 1 2x", e2eArgs{}, `For input string: "2x"`},
		{"b t 10 0 20", e2eArgs{}, "Latency testing requires synchronous acknowledgement. Please use 1 or all"},
		{"b t 10 -1 20", e2eArgs{}, "Latency testing requires synchronous acknowledgement"},
		{"b t -3 1 20", e2eArgs{}, "-3"},
		{"b t 10 1 20 --throughput 0", e2eArgs{}, "--throughput must be a positive number"},
		{"b t 10 1 20 --throughput x", e2eArgs{}, "--throughput must be a positive number"},
		{"b t 10 1 7 --throughput 100", e2eArgs{}, "--throughput needs message_size_bytes >= 8"},
	}
	for _, tc := range tests {
		got, err := parseE2EArgs(strings.Fields(tc.args))
		switch {
		case tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want prefix %q", tc.args, err, tc.wantErr)
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.args, err)
		case tc.wantErr == "" && got != tc.want:
			t.Errorf("%q: got %+v want %+v", tc.args, got, tc.want)
		}
	}
}

func TestJavaRandomMatchesJava(t *testing.T) {
	// Ground truth from java.util.Random on OpenJDK.
	r := newJavaRandom(0)
	var sb strings.Builder
	for range 12 {
		sb.WriteByte(byte(r.nextInt(26) + 65))
	}
	if sb.String() != "SSXVNJHPDQDX" {
		t.Errorf("Random(0) letters %q, want SSXVNJHPDQDX", sb.String())
	}
	r = newJavaRandom(42)
	if got := []int32{r.nextInt(16), r.nextInt(1000), r.nextInt(7)}; fmt.Sprint(got) != "[11 763 6]" {
		t.Errorf("Random(42) = %v, want [11 763 6]", got)
	}
}

func TestJavaDouble(t *testing.T) {
	for v, want := range map[float64]string{
		5: "5.0", 0.123456: "0.123456", 1.5e-4: "1.5E-4", 12345678.9: "1.23456789E7",
		3.0517578125e-5: "3.0517578125E-5", 0.001: "0.001", 1234.5678: "1234.5678", 0: "0.0",
	} {
		if got := javaDouble(v); got != want {
			t.Errorf("javaDouble(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestValidateE2E(t *testing.T) {
	rec := func(v string) *kgo.Record { return &kgo.Record{Value: []byte(v)} }
	tests := []struct {
		recs []*kgo.Record
		want string
	}{
		{[]*kgo.Record{rec("AAA")}, ""},
		{nil, "poll() timed out before finding a result (timeout:[60000])"},
		{[]*kgo.Record{rec("BBB")}, "The message read [BBB] did not match the message sent [AAA]"},
		{[]*kgo.Record{rec("AAA"), rec("AAA")}, "Only one result was expected during this test. We found [2]"},
	}
	for i, tc := range tests {
		err := validateE2E([]byte("AAA"), tc.recs)
		if got := fmt.Sprint(err); (tc.want == "" && err != nil) || (tc.want != "" && got != tc.want) {
			t.Errorf("%d: %v, want %q", i, err, tc.want)
		}
	}
}

func TestE2EStatsLines(t *testing.T) {
	ms := int64(1e6)
	tests := []struct {
		st   e2eStats
		want []string
	}{
		{e2eStats{sent: 4, acked: 4, received: 4, latencies: []int64{4*ms + ms/2, 1 * ms, 2*ms + 250e3, 3 * ms}}, []string{
			"Avg latency: 2.6875 ms",
			"Percentiles: 50th = 3, 99th = 4, 99.9th = 4",
			"Latency ms: p50 = 3.000, p99 = 4.500, p99.9 = 4.500, max = 4.500",
			"Records: sent = 4, acknowledged = 4, received = 4",
		}},
		{e2eStats{sent: 3, acked: 0}, []string{"Records: sent = 3, acknowledged = 0, received = 0"}},
	}
	for i, tc := range tests {
		if got := tc.st.lines(); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%d:\n got %q\nwant %q", i, got, tc.want)
		}
	}
}

func TestE2EPropsOverrides(t *testing.T) {
	file := map[string]string{"linger.ms": "5", "acks": "0", "group.id": "g", "fetch.max.wait.ms": "500", "client.id": "c"}
	prod, cons := e2eProps(file, e2eArgs{acks: "all"})
	if prod["linger.ms"] != "0" || prod["acks"] != "all" || prod["delivery.timeout.ms"] != "120000" || cons["group.id"] != "" || cons["fetch.max.wait.ms"] != "" || cons["client.id"] != "c" {
		t.Errorf("one-at-a-time: prod %v cons %v", prod, cons)
	}
	prod, _ = e2eProps(file, e2eArgs{acks: "1", throughput: 10})
	if prod["linger.ms"] != "5" || prod["acks"] != "1" {
		t.Errorf("throughput mode: prod %v", prod)
	}
	if file["linger.ms"] != "5" || file["group.id"] != "g" {
		t.Errorf("the file's properties were changed: %v", file)
	}
}

// e2eReport checks the shape of a run's output and returns the progress lines' indexes and the named counters.
func e2eReport(t *testing.T, out string, wantExtra bool) ([]int, map[string]int) {
	t.Helper()
	progress := regexp.MustCompile(`^(\d+)\t\d+\.\d+(E-?\d+)?$`)
	avg := regexp.MustCompile(`^Avg latency: \d+\.\d{4} ms$`)
	pct := regexp.MustCompile(`^Percentiles: 50th = (\d+), 99th = (\d+), 99\.9th = (\d+)$`)
	frac := regexp.MustCompile(`^Latency ms: p50 = (\d+\.\d{3}), p99 = (\d+\.\d{3}), p99\.9 = (\d+\.\d{3}), max = (\d+\.\d{3})$`)
	counts := regexp.MustCompile(`^Records: sent = (\d+), acknowledged = (\d+), received = (\d+)$`)
	var idx []int
	got := map[string]int{}
	var seenAvg, seenPct, seenFrac bool
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "Topic \""):
		case progress.MatchString(l):
			n, _ := strconv.Atoi(progress.FindStringSubmatch(l)[1])
			idx = append(idx, n)
		case avg.MatchString(l):
			seenAvg = true
		case pct.MatchString(l):
			m := pct.FindStringSubmatch(l)
			p50, _ := strconv.Atoi(m[1])
			p999, _ := strconv.Atoi(m[3])
			if p50 > p999 {
				t.Errorf("percentiles out of order: %q", l)
			}
			seenPct = true
		case wantExtra && frac.MatchString(l):
			m := frac.FindStringSubmatch(l)
			p50, _ := strconv.ParseFloat(m[1], 64)
			maxv, _ := strconv.ParseFloat(m[4], 64)
			if p50 <= 0 || p50 > maxv {
				t.Errorf("fractional latencies implausible: %q", l)
			}
			seenFrac = true
		case wantExtra && counts.MatchString(l):
			m := counts.FindStringSubmatch(l)
			for i, k := range []string{"sent", "acked", "received"} {
				got[k], _ = strconv.Atoi(m[i+1])
			}
		default:
			t.Errorf("unexpected output line %q", l)
		}
	}
	if !seenAvg || !seenPct || seenFrac != wantExtra {
		t.Errorf("missing report lines in:\n%s", out)
	}
	return idx, got
}

func TestE2ELatencyEndToEnd(t *testing.T) {
	bs := fakeCluster(t, kfake.SeedTopics(3, "rate"), kfake.DefaultNumPartitions(1))
	props := filepath.Join(t.TempDir(), "client.properties")
	if err := os.WriteFile(props, []byte("client.id=e2e-test\nlinger.ms=1\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// Kafka's mode on a topic it must create first: 1001 records reach the second progress line.
	code, out, errOut := run(t, e2eMain, "", bs, "sync", "1001", "all", "20", props)
	if code != 0 || errOut != "" {
		t.Fatalf("sync: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	if !strings.HasPrefix(out, "Topic \"sync\" does not exist. Will create topic with 1 partition(s) and replication factor = 1\n") {
		t.Errorf("no creation line: %q", out)
	}
	if idx, _ := e2eReport(t, out, false); fmt.Sprint(idx) != "[0 1000]" {
		t.Errorf("progress lines at %v, want [0 1000]", idx)
	}

	// A second run finds the topic and starts after the records already there.
	code, out, errOut = run(t, e2eMain, "", bs, "sync", "3", "1", "5")
	if code != 0 || strings.Contains(out, "does not exist") {
		t.Fatalf("sync rerun: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	e2eReport(t, out, false)

	// The --throughput mode over three partitions: every acknowledged record must come back.
	code, out, errOut = run(t, e2eMain, "", bs, "rate", "1500", "all", "64", props, "--throughput", "5000")
	if code != 0 || errOut != "" {
		t.Fatalf("throughput: code %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	idx, counts := e2eReport(t, out, true)
	if fmt.Sprint(idx) != "[0 1000]" {
		t.Errorf("progress lines at %v, want [0 1000]", idx)
	}
	if counts["sent"] != 1500 || counts["acked"] != 1500 || counts["received"] != 1500 {
		t.Errorf("counts %v, want 1500 sent, acknowledged and received", counts)
	}

	// Usage errors exit 1 before connecting.
	if code, _, errOut := run(t, e2eMain, "", bs, "rate"); code != 1 || !strings.Contains(errOut, "--throughput N") {
		t.Errorf("usage: code %d stderr %q", code, errOut)
	}
}
