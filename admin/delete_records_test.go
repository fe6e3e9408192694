package admin

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestParseDeleteRecordsJSON(t *testing.T) {
	tests := []struct {
		json    string
		want    map[string]map[int32]int64
		wantErr string
	}{
		{json: `{"partitions":[{"topic":"foo","partition":0,"offset":10},{"topic":"foo","partition":1,"offset":-1}],"version":1}`,
			want: map[string]map[int32]int64{"foo": {0: 10, 1: -1}}},
		{json: `{"partitions":[{"topic":"bar","partition":2,"offset":3}]}`, want: map[string]map[int32]int64{"bar": {2: 3}}},
		{json: `{"partitions":[]}`, want: map[string]map[int32]int64{}},
		{json: `not json`, wantErr: "org.apache.kafka.server.common.AdminOperationException: The input string is not a valid JSON"},
		{json: `{"version":1}`, wantErr: "org.apache.kafka.server.common.AdminOperationException: Missing partitions field"},
		{json: `{"partitions":[],"version":2}`, wantErr: "org.apache.kafka.server.common.AdminOperationException: Not supported version field value 2"},
		{json: `{"partitions":[{"topic":"foo","offset":1}]}`, wantErr: "com.fasterxml.jackson.databind.JsonMappingException: No such field exists: `partition`"},
		{json: `{"partitions":[{"topic":"b","partition":0,"offset":1},{"topic":"a","partition":1,"offset":1},{"topic":"b","partition":0,"offset":2},{"topic":"a","partition":1,"offset":5}]}`,
			wantErr: "org.apache.kafka.server.common.AdminCommandFailedException: Offset json file contains duplicate topic partitions: a-1,b-0"},
	}
	for _, tc := range tests {
		got, err := parseDeleteRecordsJSON([]byte(tc.json))
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Fatalf("%s: error %v, want %q", tc.json, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.json, err)
		}
		n := 0
		for topic, ps := range tc.want {
			for p, off := range ps {
				o, ok := got.Lookup(topic, p)
				if !ok || o.At != off {
					t.Fatalf("%s: %s-%d = %+v, want %d", tc.json, topic, p, o, off)
				}
				n++
			}
		}
		if len(got.Sorted()) != n {
			t.Fatalf("%s: got %v", tc.json, got.Sorted())
		}
	}
}

func TestKafkaExceptionString(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{kerr.OffsetOutOfRange, "org.apache.kafka.common.errors.OffsetOutOfRangeException: The requested offset is not within the range of offsets maintained by the server."},
		{kerr.NotLeaderForPartition, "org.apache.kafka.common.errors.NotLeaderOrFollowerException: " + kerr.NotLeaderForPartition.Description},
		{kerr.PolicyViolation, "org.apache.kafka.common.errors.PolicyViolationException: " + kerr.PolicyViolation.Description},
		{kerr.RequestTimedOut, "org.apache.kafka.common.errors.TimeoutException: " + kerr.RequestTimedOut.Description},
		{errors.New("boom"), "org.apache.kafka.common.KafkaException: boom"},
	}
	for _, tc := range tests {
		if got := kafkaExceptionString(tc.err); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
