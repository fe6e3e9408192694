package admin

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestToolArgErrors drives each tool with bad command lines: no cluster is
// contacted because validation fails first.
func TestToolArgErrors(t *testing.T) {
	tests := []struct {
		name   string
		main   func([]string, *strings.Reader, *bytes.Buffer, *bytes.Buffer) int
		args   []string
		code   int
		stdout string // substring
		stderr string // substring
	}{
		{"topics no action", topicsMain, []string{"--bootstrap-server", "h:1"}, 1, "", "Command must include exactly one action"},
		{"topics two actions", topicsMain, []string{"--bootstrap-server", "h:1", "--list", "--describe"}, 1, "", "exactly one action"},
		{"topics no bootstrap", topicsMain, []string{"--list"}, 1, "", "--bootstrap-server must be specified"},
		{"topics create no topic", topicsMain, []string{"--bootstrap-server", "h:1", "--create"}, 1, "", `Missing required argument "[topic]"`},
		{"topics alter no partitions", topicsMain, []string{"--bootstrap-server", "h:1", "--alter", "--topic", "x"}, 1, "", `Missing required argument "[partitions]"`},
		{"topics rf with list", topicsMain, []string{"--bootstrap-server", "h:1", "--list", "--replication-factor", "1"}, 1, "", `Option "[replication-factor]" can't be used with option "[list]"`},
		{"topics assignment with partitions", topicsMain, []string{"--bootstrap-server", "h:1", "--create", "--topic", "x", "--replica-assignment", "1", "--partitions", "1"}, 1, "", `Option "[replica-assignment]" can't be used with option "[partitions]"`},
		{"topics if-not-exists with delete", topicsMain, []string{"--bootstrap-server", "h:1", "--delete", "--topic", "x", "--if-not-exists"}, 1, "", `Option "[if-not-exists]" can't be used with option "[delete]"`},
		{"topics help", topicsMain, []string{"--help"}, 0, "--bootstrap-server", ""},
		{"topics unknown", topicsMain, []string{"--lsit"}, 1, "", "lsit is not a recognized option"},
		{"producer no bootstrap", producerMain, []string{"--topic", "x"}, 1, "", "Missing required option(s) [bootstrap-server]"},
		{"producer no topic", producerMain, []string{"--bootstrap-server", "h:1"}, 1, "", `Missing required argument "[topic]"`},
		{"producer bad host", producerMain, []string{"--bootstrap-server", "nohost", "--topic", "x"}, 1, "", "Please provide valid host:port"},
		{"consumer no topic", consumerMain, []string{"--bootstrap-server", "h:1"}, 1, "", "Exactly one of --include/--topic is required. ()"},
		{"consumer both", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--include", "b"}, 1, "", "Exactly one of --include/--topic is required."},
		{"consumer offset w/o partition", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--offset", "1"}, 1, "", "The partition is required when offset is specified."},
		{"consumer from-beginning and offset", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--partition", "0", "--offset", "1", "--from-beginning"}, 1, "", "Options from-beginning and offset cannot be specified together."},
		{"consumer bad offset", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--partition", "0", "--offset", "-5"}, 1, "", "The provided offset value '-5' is incorrect."},
		{"consumer no bootstrap", consumerMain, []string{"--topic", "a"}, 1, "", `Missing required argument "[bootstrap-server]"`},
		{"consumer group and partition", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--partition", "0", "--group", "g"}, 1, "", "Options group and partition cannot be specified together."},
		{"consumer groups differ", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--group", "g", "--consumer-property", "group.id=h"}, 1, "", "Detected group ids: 'g', 'h'"},
		{"consumer reset conflict", consumerMain, []string{"--bootstrap-server", "h:1", "--topic", "a", "--from-beginning", "--consumer-property", "auto.offset.reset=latest"}, 1, "", "Can't simultaneously specify --from-beginning and 'auto.offset.reset=latest'"},
		{"api versions no bootstrap", apiMain, []string{"--command-config", "x"}, 1, "", `Missing required argument "[bootstrap-server]"`},
		{"producer perf no throughput", pperfMain, []string{"--topic", "t", "--num-records", "1", "--record-size", "1"}, 1, "", "argument --throughput is required"},
		{"producer perf both payloads", pperfMain, []string{"--topic", "t", "--num-records", "1", "--record-size", "1", "--payload-file", "f", "--throughput", "1"}, 1, "", "not allowed with argument --record-size"},
		{"producer perf no props", pperfMain, []string{"--topic", "t", "--num-records", "1", "--record-size", "1", "--throughput", "1"}, 1, "", "Either --producer-props or --producer.config must be specified."},
		{"consumer perf no messages", cperfMain, []string{"--bootstrap-server", "h:1", "--topic", "t"}, 1, "", `Missing required argument "[messages]"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := run(t, tt.main, "", tt.args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errOut, tt.stderr) {
				t.Errorf("code %d (want %d)\nstdout %q\nstderr %q", code, tt.code, out, errOut)
			}
		})
	}
}

func TestConsoleConsumerConfig(t *testing.T) {
	parse := func(args ...string) *consoleConsumerConfig {
		t.Helper()
		fs := consoleConsumerFlags()
		if err := fs.parse(args); err != nil {
			t.Fatal(err)
		}
		c, err := parseConsoleConsumer(fs)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parse("--bootstrap-server", "h:1", "--topic", "a", "--partition", "2", "--offset", "earliest", "--max-messages", "3")
	if !c.hasPartition || c.partition != 2 || c.offset.EpochOffset().Offset != kgo.NewOffset().AtStart().EpochOffset().Offset || c.maxMessages != 3 || c.group != "" {
		t.Errorf("partition config %+v", c)
	}
	c = parse("--bootstrap-server", "h:1", "--topic", "a", "--from-beginning", "--consumer-property", "group.id=g", "--isolation-level", "read_committed")
	if c.group != "g" || c.props["auto.offset.reset"] != "earliest" || c.props["isolation.level"] != "read_committed" || c.props["client.id"] != "console-consumer" {
		t.Errorf("group config %+v", c)
	}
	c = parse("--bootstrap-server", "h:1", "--include", "a.*", "--consumer-property", "enable.auto.commit=true")
	if c.group != "" || c.props["auto.offset.reset"] != "latest" || c.props["enable.auto.commit"] != "" || c.include != "a.*" {
		t.Errorf("groupless config %+v", c)
	}
}

func TestConsoleProducerProps(t *testing.T) {
	tests := []struct {
		args []string
		want map[string]string
	}{
		{[]string{"--bootstrap-server", "h:1"}, map[string]string{"linger.ms": "1000", "acks": "-1", "compression.type": "none", "client.id": "console-producer", "retries": "3", "batch.size": "16384"}},
		{[]string{"--broker-list", "h:2", "--compression-codec"}, map[string]string{"bootstrap.servers": "h:2", "compression.type": "gzip"}},
		{[]string{"--bootstrap-server", "h:1", "--compression-codec", "zstd", "--request-required-acks", "all", "--timeout", "5", "--batch-size", "10"}, map[string]string{"compression.type": "zstd", "acks": "all", "linger.ms": "5", "batch.size": "10"}},
		{[]string{"--bootstrap-server", "h:1", "--producer-property", "acks=1", "--producer-property", "linger.ms=7", "--producer-property", "client.id=me"}, map[string]string{"acks": "1", "linger.ms": "7", "client.id": "me"}},
		{[]string{"--bootstrap-server", "h:1", "--producer-property", "acks=1", "--request-required-acks", "0"}, map[string]string{"acks": "0"}},
	}
	for i, tt := range tests {
		fs := consoleProducerFlags()
		if err := fs.parse(tt.args); err != nil {
			t.Fatal(err)
		}
		props, err := consoleProducerProps(fs)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.want {
			if props[k] != v {
				t.Errorf("%d: %s = %q, want %q", i, k, props[k], v)
			}
		}
	}
}

// TestToolVersion checks that --version prints Kafka's version alone and wins over missing required options.
func TestToolVersion(t *testing.T) {
	tests := []struct {
		name string
		main func([]string, io.Reader, io.Writer, io.Writer) int
	}{
		{"kafka-reassign-partitions", ReassignPartitionsMain},
		{"kafka-leader-election", LeaderElectionMain},
		{"kafka-preferred-replica-election", PreferredReplicaElectionMain},
		{"kafka-delete-records", DeleteRecordsMain},
		{"kafka-dump-log", DumpLogMain},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := tt.main([]string{"--version"}, strings.NewReader(""), &out, &errOut)
			if code != 0 || !strings.HasSuffix(out.String(), "3.7.0\n") || errOut.Len() != 0 {
				t.Errorf("code %d\nstdout %q\nstderr %q", code, out.String(), errOut.String())
			}
		})
	}
}
