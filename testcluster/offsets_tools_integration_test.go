package testcluster_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/zkafka/zkafka/testcluster"
)

// TestIntegrationOffsetTools runs kafka-get-offsets.sh, kafka-delete-records.sh and kafka-dump-log.sh against a
// broker: partition 0 of the topic holds three records with known timestamps, partition 1 none.
func TestIntegrationOffsetTools(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	bs := c.Bootstrap()[0]
	const topic = "tools-offsets"
	createTopic(t, c, topic, 2)
	base := int64(1_700_000_000_000)
	prod := c.Client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, d := range []int64{0, 5000, 1000} {
		r := &kgo.Record{Partition: 0, Value: []byte(fmt.Sprintf("v%d", i)), Timestamp: time.UnixMilli(base + d)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	getOffsets := func(t *testing.T, args ...string) toolRun {
		t.Helper()
		return script(t, "", "kafka-get-offsets.sh", append([]string{"--bootstrap-server", bs}, args...)...)
	}
	expect := func(t *testing.T, r toolRun, code int, stdout, stderrPrefix string) {
		t.Helper()
		if r.code != code || r.stdout != stdout || !strings.HasPrefix(r.stderr, stderrPrefix) {
			t.Fatalf("want exit %d, stdout %q, stderr starting %q; got %s", code, stdout, stderrPrefix, r)
		}
	}

	t.Run("GetOffsets", func(t *testing.T) {
		for _, tc := range []struct {
			args   []string
			stdout string
		}{
			{[]string{"--topic", topic}, topic + ":0:3\n" + topic + ":1:0\n"},
			{[]string{"--topic", "tools-.*", "--time", "-2"}, topic + ":0:0\n" + topic + ":1:0\n"},
			{[]string{"--topic", topic, "--time", "earliest", "--partitions", "1"}, topic + ":1:0\n"},
			// By time: the first record at or after it; partition 1 has none and is left out.
			{[]string{"--topic", topic, "--time", fmt.Sprint(base + 500)}, topic + ":0:1\n"},
			{[]string{"--topic", topic, "--time", fmt.Sprint(base + 5001)}, ""},
			{[]string{"--topic", topic, "--time", "max-timestamp", "--partitions", "0"}, topic + ":0:1\n"},
			{[]string{"--topic-partitions", topic + ":1-", "--exclude-internal-topics"}, topic + ":1:0\n"},
		} {
			expect(t, getOffsets(t, tc.args...), 0, tc.stdout, "")
		}
		expect(t, getOffsets(t, "--topic", topic, "--time", "yesterday"), 1, "",
			"Error occurred: Malformed time argument yesterday. Please use -1 or latest / -2 or earliest / -3 or max-timestamp, or a specified long format timestamp\n")
		expect(t, getOffsets(t, "--topic", "no-such-.*"), 1, "", "Error occurred: Could not match any topic-partitions with the specified filters\n")
		expect(t, getOffsets(t, "--topic", topic, "--topic-partitions", topic), 1, "", "Error occurred: --topic-partitions cannot be used with --topic or --partitions\n")
	})

	t.Run("DeleteRecords", func(t *testing.T) {
		dir := t.TempDir()
		writeJSON := func(name, body string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		run := func(file string) toolRun {
			return script(t, "", "kafka-delete-records.sh", "--bootstrap-server", bs, "--offset-json-file", file)
		}
		head := "Executing records delete operation\nRecords delete operation completed:\n"
		ok := writeJSON("ok.json", `{"partitions":[{"topic":"`+topic+`","partition":0,"offset":2}],"version":1}`)
		expect(t, run(ok), 0, head+"partition: "+topic+"-0\tlow_watermark: 2\n", "")
		expect(t, getOffsets(t, "--topic", topic, "--time", "-2", "--partitions", "0"), 0, topic+":0:2\n", "")

		tooFar := writeJSON("far.json", `{"partitions":[{"topic":"`+topic+`","partition":0,"offset":99},{"topic":"`+topic+`","partition":1,"offset":-1}]}`)
		expect(t, run(tooFar), 0, head+
			"partition: "+topic+"-0\terror: org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset is not within the range of offsets maintained by the server.\n"+
			"partition: "+topic+"-1\tlow_watermark: 0\n", "")

		dup := writeJSON("dup.json", `{"partitions":[{"topic":"`+topic+`","partition":0,"offset":1},{"topic":"`+topic+`","partition":0,"offset":2}],"version":1}`)
		expect(t, run(dup), 1, "", "Exception in thread \"main\" org.apache.kafka.server.common.AdminCommandFailedException: Offset json file contains duplicate topic partitions: "+topic+"-0\n")
		expect(t, run(writeJSON("v2.json", `{"partitions":[],"version":2}`)), 1, "",
			"Exception in thread \"main\" org.apache.kafka.server.common.AdminOperationException: Not supported version field value 2\n")
		expect(t, script(t, "", "kafka-delete-records.sh", "--bootstrap-server", bs), 1, "", "Missing required argument \"[offset-json-file]\"\n")
	})

	t.Run("DumpLog", func(t *testing.T) {
		seg := filepath.Join(c.Brokers[0].LogDir(), topic+"-0", "00000000000000000000.log")
		r := script(t, "", "kafka-dump-log.sh", "--files", seg, "--print-data-log")
		lines := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
		if r.code != 0 || r.stderr != "" || len(lines) != 8 || lines[0] != "Dumping "+seg || lines[1] != "Log starting offset: 0" {
			t.Fatalf("dump-log: %s", r)
		}
		batch := regexp.MustCompile(`^baseOffset: (\d) lastOffset: (\d) count: 1 baseSequence: -?\d+ lastSequence: -?\d+ producerId: -?\d+ producerEpoch: -?\d+ ` +
			`partitionLeaderEpoch: 0 isTransactional: false isControl: false deleteHorizonMs: OptionalLong.empty position: \d+ CreateTime: (\d+) ` +
			`size: \d+ magic: 2 compresscodec: none crc: \d+ isvalid: true$`)
		for i, d := range []int64{0, 5000, 1000} {
			m := batch.FindStringSubmatch(lines[2+2*i])
			if m == nil || m[1] != fmt.Sprint(i) || m[2] != fmt.Sprint(i) || m[3] != fmt.Sprint(base+d) {
				t.Fatalf("batch %d: %q", i, lines[2+2*i])
			}
			// The sequence depends on whether the client was idempotent; the rest is fixed.
			want := regexp.MustCompile(fmt.Sprintf(`^\| offset: %d CreateTime: %d keySize: -1 valueSize: 2 sequence: -?\d+ headerKeys: \[\] payload: v%d$`, i, base+d, i))
			if !want.MatchString(lines[3+2*i]) {
				t.Fatalf("record %d: %q, want %q", i, lines[3+2*i], want)
			}
		}
	})
}
