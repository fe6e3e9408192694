// Command zkafka is the single zkafka binary: the broker and every operator tool, one subcommand each. The shell
// scripts in scripts/ (named like Kafka's bin/ scripts) call it.
package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/zkafka/zkafka/admin"
	"github.com/zkafka/zkafka/broker"
)

type tool func(args []string) int

var tools = map[string]tool{
	"kafka-server-start":               serverStart,
	"kafka-topics":                     stdio(admin.TopicsMain),
	"kafka-console-producer":           stdio(admin.ConsoleProducerMain),
	"kafka-console-consumer":           stdio(admin.ConsoleConsumerMain),
	"kafka-broker-api-versions":        stdio(admin.BrokerAPIVersionsMain),
	"kafka-leader-election":            stdio(admin.LeaderElectionMain),
	"kafka-reassign-partitions":        stdio(admin.ReassignPartitionsMain),
	"kafka-preferred-replica-election": stdio(admin.PreferredReplicaElectionMain),
	"kafka-producer-perf-test":         stdio(admin.ProducerPerfTestMain),
	"kafka-consumer-perf-test":         stdio(admin.ConsumerPerfTestMain),
	"producer-perf-test":               stdio(admin.ProducerPerfTestMain),
	"consumer-perf-test":               stdio(admin.ConsumerPerfTestMain),
	"kafka-e2e-latency":                stdio(admin.EndToEndLatencyMain),
	"end-to-end-latency":               stdio(admin.EndToEndLatencyMain),
	"kafka-dump-log":                   stdio(admin.DumpLogMain),
	"kafka-delete-records":             stdio(admin.DeleteRecordsMain),
	"kafka-get-offsets":                stdio(admin.GetOffsetsMain),
	"kafka-consumer-groups":            stdio(admin.ConsumerGroupsMain),
	"kafka-transactions":               stdio(admin.TransactionsMain),
}

func stdio(fn func(args []string, stdin io.Reader, stdout, stderr io.Writer) int) tool {
	return func(args []string) int { return fn(args, os.Stdin, os.Stdout, os.Stderr) }
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		usage()
		os.Exit(1)
	}
	name := strings.TrimSuffix(os.Args[1], ".sh")
	t, ok := tools[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "zkafka: unknown command %q\n", os.Args[1])
		usage()
		os.Exit(1)
	}
	os.Exit(t(os.Args[2:]))
}

func usage() {
	names := make([]string, 0, len(tools))
	for n := range tools {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "Usage: zkafka <command> [args]\nCommands:\n  %s\n", strings.Join(names, "\n  "))
}

// serverStart is kafka-server-start.sh: server.properties [--override k=v]*; runs until SIGTERM/SIGINT, then
// shuts down cleanly.
func serverStart(args []string) int {
	if len(args) < 1 || strings.HasPrefix(args[0], "-") {
		if len(args) == 1 && args[0] == "--version" {
			fmt.Println("zkafka (Kafka 3.7 protocol, ZooKeeper mode)")
			return 0
		}
		fmt.Fprintln(os.Stderr, "USAGE: kafka-server-start.sh [-daemon] server.properties [--override property=value]*")
		return 1
	}
	var overrides []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		switch {
		case rest[i] == "--override" && i+1 < len(rest):
			overrides = append(overrides, rest[i+1])
			i++
		case strings.HasPrefix(rest[i], "--override="):
			overrides = append(overrides, strings.TrimPrefix(rest[i], "--override="))
		default:
			fmt.Fprintf(os.Stderr, "Unrecognized argument %q. USAGE: kafka-server-start.sh [-daemon] server.properties [--override property=value]*\n", rest[i])
			return 1
		}
	}
	logger := broker.NewLogger(os.Stdout, logrus.InfoLevel)
	if lvl, err := logrus.ParseLevel(os.Getenv("ZKAFKA_LOG_LEVEL")); err == nil {
		logger.Logger.SetLevel(lvl)
	}
	cfg, err := broker.LoadConfig(args[0], overrides)
	if err != nil {
		logger.Errorf("Exiting Kafka due to fatal exception: %v", err)
		return 1
	}
	srv := broker.New(cfg, broker.Options{Logger: logger})
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	if err := srv.Startup(); err != nil {
		logger.Errorf("Exiting Kafka due to fatal exception during startup: %v", err)
		return 1
	}
	<-sigs
	srv.Shutdown()
	return 0
}
