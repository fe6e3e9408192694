package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// formatNode renders a broker as Java's Node.toString does.
func formatNode(id int32, host string, port int32, rack *string) string {
	r := "null"
	if rack != nil {
		r = *rack
	}
	return fmt.Sprintf("%s:%d (id: %d rack: %s)", host, port, id, r)
}

// apiRange is one API a broker advertised.
type apiRange struct{ key, min, max int16 }

// formatAPIVersions renders a broker's ApiVersions the way
// NodeApiVersions.toString(true) does against Kafka 3.7.0's client: every
// advertised API in key order with the usable version, client APIs the
// broker lacks as UNSUPPORTED, and APIs the client does not know as UNKNOWN.
func formatAPIVersions(broker []apiRange) string {
	known := map[int16]kafkaAPI{}
	for _, a := range kafka37APIs {
		known[a.key] = a
	}
	lines := map[int16]string{}
	for _, b := range broker {
		a, ok := known[b.key]
		var s strings.Builder
		if ok {
			fmt.Fprintf(&s, "%s(%d): ", a.name, a.key)
		} else {
			fmt.Fprintf(&s, "UNKNOWN(%d): ", b.key)
		}
		if b.min == b.max {
			s.WriteString(strconv.Itoa(int(b.min)))
		} else {
			fmt.Fprintf(&s, "%d to %d", b.min, b.max)
		}
		if ok {
			switch {
			case a.max < b.min:
				s.WriteString(" [unusable: node too new]")
			case b.max < a.min:
				s.WriteString(" [unusable: node too old]")
			default:
				fmt.Fprintf(&s, " [usable: %d]", min(a.max, b.max))
			}
		}
		lines[b.key] = s.String()
	}
	for _, a := range kafka37APIs {
		if _, ok := lines[a.key]; !ok && a.client {
			lines[a.key] = fmt.Sprintf("%s(%d): UNSUPPORTED", a.name, a.key)
		}
	}
	keys := make([]int, 0, len(lines))
	for k := range lines {
		keys = append(keys, int(k))
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = lines[int16(k)]
	}
	return "(\n\t" + strings.Join(parts, ",\n\t") + "\n)"
}

// BrokerAPIVersionsMain implements kafka-broker-api-versions.sh
// (kafka.admin.BrokerApiVersionsCommand) and returns the exit code.
func BrokerAPIVersionsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("kafka-broker-api-versions", "This tool helps to retrieve broker version information.")
	fs.opt("bootstrap-server", "String: server(s) to use for bootstrapping", "REQUIRED: The server to connect to.", "")
	fs.opt("command-config", "String: command config property file", "A property file containing configs to be passed to Admin Client.", "")
	fs.flag("version", "Display Kafka version.")
	if code, ok := fs.parseOrExit(args, stdout, stderr); !ok {
		return code
	}
	if err := fs.missing("bootstrap-server"); err != nil {
		return fs.fail(stderr, err)
	}
	cl, err := adminClient(fs, "", stderr)
	if err != nil {
		fmt.Fprintln(stderr, err.Error())
		return 1
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()

	md, err := kadm.NewClient(cl).BrokerMetadata(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "Error while executing broker api versions command : %s\n", errorMessage(err))
		return 1
	}
	brokers := md.Brokers
	sort.Slice(brokers, func(i, j int) bool { return brokers[i].NodeID < brokers[j].NodeID })
	for _, b := range brokers {
		node := formatNode(b.NodeID, b.Host, b.Port, b.Rack)
		req := kmsg.NewPtrApiVersionsRequest()
		// v3+ brokers reject requests without a valid software name.
		req.ClientSoftwareName, req.ClientSoftwareVersion = "zkafka-admin", "3.7.0"
		resp, err := req.RequestWith(ctx, cl.Broker(int(b.NodeID)))
		if err == nil && resp.ErrorCode != 0 {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		if err != nil {
			fmt.Fprintf(stdout, "%s -> ERROR: %s\n", node, apiVersionsError(err))
			continue
		}
		ranges := make([]apiRange, len(resp.ApiKeys))
		for i, k := range resp.ApiKeys {
			ranges[i] = apiRange{key: k.ApiKey, min: k.MinVersion, max: k.MaxVersion}
		}
		fmt.Fprintf(stdout, "%s -> %s\n", node, formatAPIVersions(ranges))
	}
	return 0
}

func apiVersionsError(err error) string {
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return "org.apache.kafka.common.errors." + ke.Message + ": " + ke.Description
	}
	return err.Error()
}
