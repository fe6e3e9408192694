package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// DeleteRecordsMain implements kafka-delete-records.sh (org.apache.kafka.tools.DeleteRecordsCommand) and returns
// the exit code.
func DeleteRecordsMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("kafka-delete-records", "This tool helps to delete records of the given partitions down to the specified offset.")
	fs.opt("bootstrap-server", "String: server(s) to use for bootstrapping", "REQUIRED: The server to connect to.", "")
	fs.opt("offset-json-file", "String: Offset json file path", "REQUIRED: The JSON file with offset per partition. The format to use is:\n"+
		"{\"partitions\":\n  [{\"topic\": \"foo\", \"partition\": 1, \"offset\": 1}],\n \"version\":1\n}", "")
	fs.opt("command-config", "String: command config property file path", "A property file containing configs to be passed to Admin Client.", "")
	fs.flag("version", "Display Kafka version.")
	if code, ok := fs.parseOrExitVersion(args, stdout, stderr); !ok {
		return code
	}
	if err := fs.missing("bootstrap-server", "offset-json-file"); err != nil {
		return fs.fail(stderr, err)
	}
	// DeleteRecordsCommand lets every failure escape main: the JVM prints it and exits with 1.
	uncaught := func(err error) int {
		fmt.Fprintf(stderr, "Exception in thread \"main\" %s\n", err)
		return 1
	}
	cl, err := adminClient(fs, "", stderr)
	if err != nil {
		return uncaught(fmt.Errorf("org.apache.kafka.common.KafkaException: Failed to create new KafkaAdminClient: %v", err))
	}
	defer cl.Close()
	path := fs.get("offset-json-file", "")
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return uncaught(fmt.Errorf("java.nio.file.NoSuchFileException: %s", path))
		}
		return uncaught(fmt.Errorf("java.io.IOException: %v", err))
	}
	offsets, err := parseDeleteRecordsJSON(data)
	if err != nil {
		return uncaught(err)
	}
	fmt.Fprintln(stdout, "Executing records delete operation")
	ctx, cancel := context.WithTimeout(context.Background(), defaultAPITimeout)
	defer cancel()
	resps, reqErr := kadm.NewClient(cl).DeleteRecords(ctx, offsets)
	fmt.Fprintln(stdout, "Records delete operation completed:")
	// Kafka prints in HashMap order; sorted is as good and testable.
	for _, o := range offsets.Sorted() {
		tp := fmt.Sprintf("%s-%d", o.Topic, o.Partition)
		err := reqErr
		if err == nil {
			r, ok := resps.Lookup(o.Topic, o.Partition)
			switch {
			case !ok:
				err = kerr.UnknownTopicOrPartition
			case r.Err != nil:
				err = r.Err
			default:
				fmt.Fprintf(stdout, "partition: %s\tlow_watermark: %d\n", tp, r.LowWatermark)
				continue
			}
		}
		fmt.Fprintf(stdout, "partition: %s\terror: %s\n", tp, kafkaExceptionString(err))
	}
	return 0
}

// parseDeleteRecordsJSON reads the --offset-json-file format (version 1, the only one) as
// DeleteRecordsCommand.parseOffsetJsonStringWithoutDedup does, and rejects partitions named twice.
func parseDeleteRecordsJSON(data []byte) (kadm.Offsets, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, errors.New("org.apache.kafka.server.common.AdminOperationException: The input string is not a valid JSON")
	}
	version := int64(1)
	if v, ok := doc["version"]; ok {
		n, err := jsonInt(v, "version")
		if err != nil {
			return nil, err
		}
		version = n
	}
	if version != 1 {
		return nil, fmt.Errorf("org.apache.kafka.server.common.AdminOperationException: Not supported version field value %d", version)
	}
	parts, ok := doc["partitions"]
	if !ok {
		return nil, errors.New("org.apache.kafka.server.common.AdminOperationException: Missing partitions field")
	}
	list, ok := parts.([]any)
	if !ok {
		return nil, fmt.Errorf("com.fasterxml.jackson.databind.JsonMappingException: Expected JSON array, received %v", parts)
	}
	offsets := kadm.Offsets{}
	var dups []string
	for _, p := range list {
		obj, ok := p.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("com.fasterxml.jackson.databind.JsonMappingException: Expected JSON object, received %v", p)
		}
		for _, field := range []string{"topic", "partition", "offset"} {
			if _, ok := obj[field]; !ok {
				return nil, fmt.Errorf("com.fasterxml.jackson.databind.JsonMappingException: No such field exists: `%s`", field)
			}
		}
		topic, ok := obj["topic"].(string)
		if !ok {
			return nil, fmt.Errorf("com.fasterxml.jackson.databind.JsonMappingException: Expected `String` value, received %v", obj["topic"])
		}
		partition, err := jsonInt(obj["partition"], "partition")
		if err != nil {
			return nil, err
		}
		offset, err := jsonInt(obj["offset"], "offset")
		if err != nil {
			return nil, err
		}
		if _, seen := offsets.Lookup(topic, int32(partition)); seen {
			dups = append(dups, fmt.Sprintf("%s-%d", topic, partition))
			continue
		}
		offsets.AddOffset(topic, int32(partition), offset, -1)
	}
	if len(dups) > 0 {
		sort.Strings(dups)
		return nil, fmt.Errorf("org.apache.kafka.server.common.AdminCommandFailedException: Offset json file contains duplicate topic partitions: %s",
			strings.Join(slicesCompact(dups), ","))
	}
	return offsets, nil
}

func slicesCompact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

func jsonInt(v any, field string) (int64, error) {
	n, ok := v.(json.Number)
	if ok {
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("com.fasterxml.jackson.databind.JsonMappingException: Expected `%s` to be an integer, received %v", field, v)
}

// javaExceptionClasses names the Java exception of each error code whose class is not simply the code's name in
// camel case followed by "Exception" (Errors.java).
var javaExceptionClasses = map[int16]string{
	-1: "UnknownServerException", 2: "CorruptRecordException", 6: "NotLeaderOrFollowerException",
	7: "TimeoutException", 10: "RecordTooLargeException", 11: "ControllerMovedException", 13: "NetworkException",
	17: "InvalidTopicException", 18: "RecordBatchTooLargeException", 29: "TopicAuthorizationException",
	30: "GroupAuthorizationException", 31: "ClusterAuthorizationException", 36: "TopicExistsException",
	40: "InvalidConfigurationException", 45: "OutOfOrderSequenceException", 46: "DuplicateSequenceException",
	49: "InvalidPidMappingException", 50: "InvalidTxnTimeoutException", 53: "TransactionalIdAuthorizationException",
	56: "KafkaStorageException", 58: "SaslAuthenticationException", 68: "GroupNotEmptyException",
}

// kafkaExceptionString renders an error as Java's Throwable.toString of the exception the Java admin client
// would raise: "org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset is ...".
func kafkaExceptionString(err error) string {
	var ke *kerr.Error
	if !errors.As(err, &ke) {
		if errors.Is(err, context.DeadlineExceeded) {
			return "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."
		}
		return "org.apache.kafka.common.KafkaException: " + err.Error()
	}
	class, ok := javaExceptionClasses[ke.Code]
	if !ok {
		var b strings.Builder
		for _, w := range strings.Split(ke.Message, "_") {
			if w != "" {
				b.WriteString(w[:1] + strings.ToLower(w[1:]))
			}
		}
		class = b.String() + "Exception"
	}
	return "org.apache.kafka.common.errors." + class + ": " + ke.Description
}
