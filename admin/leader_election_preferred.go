package admin

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

func preferredReplicaElectionFlags() *flagSet {
	fs := newFlagSet("kafka-preferred-replica-election", "This tool helps to causes leadership for each partition to be transferred back to the 'preferred replica', it can be used to balance leadership among the servers.")
	fs.opt("path-to-json-file", "list of partitions for which preferred replica leader election needs to be triggered", "The JSON file with the list of partitions for which preferred replica leader election should be done, in the following format - \n{\"partitions\":\n\t[{\"topic\": \"foo\", \"partition\": 1},\n\t {\"topic\": \"foobar\", \"partition\": 2}]\n}\nDefaults to all existing partitions", "")
	fs.opt("bootstrap-server", "host:port", "A hostname and port for the broker to connect to, in the form host:port. Multiple comma-separated URLs can be given. REQUIRED unless --zookeeper is given.", "")
	fs.opt("zookeeper", "urls", "DEPRECATED. The connection string for the zookeeper connection in the form host:port. Multiple URLS can be given to allow fail-over. Replaced by --bootstrap-server, REQUIRED unless --bootstrap-server is given.", "")
	fs.opt("admin.config", "config file", "Admin client config properties file to pass to the admin client when --bootstrap-server is given.", "")
	fs.flag("version", "Display Kafka version.")
	return fs
}

// PreferredReplicaElectionMain implements kafka-preferred-replica-election.sh as Kafka 2.8 had it (the tool was
// removed in 3.0): with --bootstrap-server it runs a preferred election through the admin API, as
// kafka-leader-election.sh --election-type PREFERRED does. The --zookeeper variant, which wrote
// /admin/preferred_replica_election directly, is not offered: the tools speak only the Kafka protocol.
func PreferredReplicaElectionMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fmt.Fprintln(stdout, "This tool is deprecated. Please use kafka-leader-election tool. Tracking issue: KAFKA-8405")
	fs := preferredReplicaElectionFlags()
	if code, ok := fs.parseOrExitVersion(args, stdout, stderr); !ok {
		return code
	}
	if fs.has("bootstrap-server") == fs.has("zookeeper") {
		return fs.fail(stderr, fmt.Errorf("Exactly one of '[bootstrap-server]' or '[zookeeper]' must be provided"))
	}
	if fs.has("zookeeper") {
		fmt.Fprintln(stderr, "--zookeeper is not supported by zkafka; use --bootstrap-server instead")
		return 1
	}
	var tps []topicPartition
	if fs.has("path-to-json-file") {
		var err error
		if tps, err = readElectionJSON(fs.get("path-to-json-file", ""), "Preferred replica election data"); err != nil {
			fmt.Fprintln(stderr, err.Error())
			return 1
		}
	}
	// Kafka 2.8: request.timeout.ms 30000, default.api.timeout.ms twice that.
	adm, timeout, closeFn, err := electionAdmin(fs.get("bootstrap-server", ""), fs.get("admin.config", ""), 60*time.Second, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res, err := electLeaders(ctx, adm, kadm.ElectPreferredReplica, tps)
	out := electionOutput{
		success: "Successfully completed preferred leader election for partitions %s",
		noop:    "Preferred replica already elected for partitions %s",
		failure: "Error completing preferred leader election for partition: %s: %s",
		summary: "%d preferred replica(s) could not be elected",
	}
	return out.report(res, err, stdout, stderr)
}
