package admin

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func strp(s string) *string { return &s }

func TestFormatTopicDescription(t *testing.T) {
	id := [16]byte{0xe6, 0x44, 0xf5, 0x98, 0x9d, 0xe8, 0x43, 0x47, 0xb1, 0xdd, 0x8a, 0x4c, 0x1a, 0x28, 0x7e, 0x5c}
	base := topicDesc{
		name: "foo", id: id,
		partitions: []partitionDesc{
			{partition: 0, leader: 1, replicas: []int32{1, 2}, isr: []int32{1, 2}},
			{partition: 1, leader: -1, replicas: []int32{2, 1}, isr: []int32{2}},
		},
		configs: []configEntry{
			{name: "cleanup.policy", value: strp("delete"), isDefault: true},
			{name: "min.insync.replicas", value: strp("2"), isDefault: false},
			{name: "segment.bytes", value: strp("1073741824"), isDefault: false},
		},
	}
	live := map[int32]bool{1: true, 2: true}
	header := "Topic: foo\tTopicId: 5kT1mJ3oQ0ex3YpMGih-XA\tPartitionCount: 2\tReplicationFactor: 2\tConfigs: min.insync.replicas=2,segment.bytes=1073741824\n"
	p0 := "\tTopic: foo\tPartition: 0\tLeader: 1\tReplicas: 1,2\tIsr: 1,2\n"
	p1 := "\tTopic: foo\tPartition: 1\tLeader: none\tReplicas: 2,1\tIsr: 2\n"

	noID := base
	noID.id = [16]byte{}
	deadLeader := base
	deadLeader.partitions = []partitionDesc{{partition: 0, leader: 3, replicas: []int32{3}, isr: []int32{3}}}
	defaults := base
	defaults.configs = defaults.configs[:1]
	moving := base
	moving.partitions = []partitionDesc{{partition: 0, leader: 1, replicas: []int32{1, 2, 3}, isr: []int32{1, 2, 3},
		reassignment: &reassignment{adding: []int32{3}, removing: []int32{2}}}}

	tests := []struct {
		name string
		td   topicDesc
		opts describeOpts
		want string
	}{
		{"plain", base, describeOpts{}, header + p0 + p1},
		{"zero topic id omitted", noID, describeOpts{}, strings.Replace(header, "\tTopicId: 5kT1mJ3oQ0ex3YpMGih-XA", "", 1) + p0 + p1},
		{"under replicated", base, describeOpts{underReplicated: true}, p1},
		{"unavailable", base, describeOpts{unavailable: true}, p1},
		{"under min isr", base, describeOpts{underMinISR: true}, p1},
		{"at min isr", base, describeOpts{atMinISR: true}, p0},
		{"with overrides", base, describeOpts{withOverrides: true}, header},
		{"with overrides none", defaults, describeOpts{withOverrides: true}, ""},
		{"leader not live", deadLeader, describeOpts{}, "Topic: foo\tTopicId: 5kT1mJ3oQ0ex3YpMGih-XA\tPartitionCount: 1\tReplicationFactor: 1\tConfigs: min.insync.replicas=2,segment.bytes=1073741824\n\tTopic: foo\tPartition: 0\tLeader: none\tReplicas: 3\tIsr: 3\n"},
		{"reassigning", moving, describeOpts{}, "Topic: foo\tTopicId: 5kT1mJ3oQ0ex3YpMGih-XA\tPartitionCount: 1\tReplicationFactor: 2\tConfigs: min.insync.replicas=2,segment.bytes=1073741824\n\tTopic: foo\tPartition: 0\tLeader: 1\tReplicas: 1,2,3\tIsr: 1,2,3\tAdding Replicas: 3\tRemoving Replicas: 2\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatTopicDescription(tt.td, tt.opts, live); got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

func TestTopicHelpers(t *testing.T) {
	ra, err := parseReplicaAssignment("1:2, 2:3 ,3:1")
	if err != nil || !reflect.DeepEqual(ra, [][]int32{{1, 2}, {2, 3}, {3, 1}}) {
		t.Errorf("assignment = %v, %v", ra, err)
	}
	for in, want := range map[string]string{
		"1:1":   "Partition replica lists may not contain duplicate entries: 1",
		"1:2,3": "Partition 1 has different replication factor: [3]",
		"1:x":   `For input string: "x"`,
	} {
		if _, err := parseReplicaAssignment(in); err == nil || err.Error() != want {
			t.Errorf("%q: err %v, want %q", in, err, want)
		}
	}
	cfg, order, err := parseTopicConfigs([]string{"retention.ms = 10", "cleanup.policy=compact"})
	if err != nil || cfg["retention.ms"] != "10" || !reflect.DeepEqual(order, []string{"retention.ms", "cleanup.policy"}) {
		t.Errorf("configs = %v %v %v", cfg, order, err)
	}
	if _, _, err := parseTopicConfigs([]string{"novalue"}); err == nil {
		t.Error("config without = accepted")
	}
	f, err := newTopicFilter("foo.*, bar")
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"__consumer_offsets", "bar", "barn", "foo", "foo2"}
	if got := selectTopics(names, f, false, nil); !reflect.DeepEqual(got, []string{"bar", "foo", "foo2"}) {
		t.Errorf("select = %v", got)
	}
	if got := selectTopics(names, nil, true, nil); !reflect.DeepEqual(got, names[1:]) {
		t.Errorf("exclude internal = %v", got)
	}
}

func TestFormatAPIVersions(t *testing.T) {
	got := formatAPIVersions([]apiRange{{0, 0, 9}, {1, 0, 20}, {18, 3, 3}, {200, 0, 1}})
	lines := strings.Split(got, "\n")
	want := []string{
		"(",
		"\tProduce(0): 0 to 9 [usable: 9],",
		"\tFetch(1): 0 to 20 [usable: 16],",
		"\tListOffsets(2): UNSUPPORTED,",
	}
	if !reflect.DeepEqual(lines[:4], want) {
		t.Errorf("head = %q", lines[:4])
	}
	for _, l := range []string{"\tApiVersions(18): 3 [usable: 3],", "\tUNKNOWN(200): 0 to 1", ")"} {
		if !strings.Contains(got, l+"\n") && !strings.HasSuffix(got, l) {
			t.Errorf("missing %q in\n%s", l, got)
		}
	}
	// Controller-only APIs are not client APIs, so they are not listed.
	if strings.Contains(got, "Vote(52)") {
		t.Error("Vote listed as UNSUPPORTED")
	}
	if !strings.HasSuffix(got, "\tUNKNOWN(200): 0 to 1\n)") {
		t.Errorf("tail = %q", got[len(got)-40:])
	}
	if n := formatNode(1, "h", 9092, nil); n != "h:9092 (id: 1 rack: null)" {
		t.Errorf("node = %q", n)
	}
	tooNew := formatAPIVersions([]apiRange{{0, 11, 12}})
	if !strings.Contains(tooNew, "Produce(0): 11 to 12 [unusable: node too new]") {
		t.Errorf("too new: %s", tooNew)
	}
}

func TestRecordFormatter(t *testing.T) {
	rec := &kgo.Record{
		Key: []byte("k"), Value: []byte("v"), Partition: 3, Offset: 42,
		Timestamp: time.UnixMilli(1700000000000),
		Headers:   []kgo.RecordHeader{{Key: "h1", Value: []byte("v1")}, {Key: "h2"}},
	}
	nulls := &kgo.Record{Timestamp: time.UnixMilli(5)}
	tests := []struct {
		props map[string]string
		rec   *kgo.Record
		want  string
	}{
		{nil, rec, "v\n"},
		{map[string]string{"print.key": "true"}, rec, "k\tv\n"},
		{map[string]string{"print.timestamp": "true", "print.partition": "true", "print.offset": "true", "print.headers": "true", "print.key": "true"}, rec,
			"CreateTime:1700000000000\tPartition:3\tOffset:42\th1:v1,h2:null\tk\tv\n"},
		{map[string]string{"print.headers": "true", "print.key": "true", "key.separator": " | ", "headers.separator": ";", "line.separator": "\r\n"}, rec,
			"h1:v1;h2:null | k | v\r\n"},
		{map[string]string{"print.headers": "true", "print.key": "true", "null.literal": "<nil>"}, nulls, "NO_HEADERS\t<nil>\t<nil>\n"},
		{map[string]string{"print.key": "true", "print.value": "false"}, rec, "k\n"},
		{map[string]string{"print.offset": "true", "print.value": "false"}, rec, "Offset:42\n"},
		{map[string]string{"print.value": "false"}, rec, ""},
		{map[string]string{"print.key": "TRUE ", "print.value": "yes"}, rec, "k\n"},
	}
	for i, tt := range tests {
		if got := string(newRecordFormatter(tt.props).appendRecord(nil, tt.rec)); got != tt.want {
			t.Errorf("%d: got %q want %q", i, got, tt.want)
		}
	}
}

func TestLineReader(t *testing.T) {
	type rec struct {
		key, value *string
		headers    map[string]*string
	}
	tests := []struct {
		props   map[string]string
		line    string
		want    rec
		wantErr string
	}{
		{nil, "hello\tworld", rec{value: strp("hello\tworld")}, ""},
		{map[string]string{"parse.key": "true"}, "k\tv\tx", rec{key: strp("k"), value: strp("v\tx")}, ""},
		{map[string]string{"parse.key": "true", "key.separator": "::"}, "k::v", rec{key: strp("k"), value: strp("v")}, ""},
		{map[string]string{"parse.key": "true"}, "nokey", rec{}, "No key separator found on line number 7: 'nokey'"},
		{map[string]string{"parse.key": "true", "ignore.error": "true"}, "nokey", rec{value: strp("nokey")}, ""},
		{map[string]string{"parse.key": "true", "null.marker": "NULL"}, "NULL\tNULL", rec{}, ""},
		{map[string]string{"parse.key": "true"}, "k\t", rec{key: strp("k"), value: strp("")}, ""},
		{map[string]string{"parse.headers": "true", "parse.key": "true", "null.marker": "N"}, "a:1,b:N\tk\tv",
			rec{key: strp("k"), value: strp("v"), headers: map[string]*string{"a": strp("1"), "b": nil}}, ""},
		{map[string]string{"parse.headers": "true"}, "a\tv", rec{}, "No header key separator found in pair 'a' on line number 7"},
		{map[string]string{"parse.headers": "true"}, "v", rec{}, "No headers delimiter found on line number 7: 'v'"},
	}
	for i, tt := range tests {
		r, err := newLineReader("t", tt.props)
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.parse(tt.line, 7)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%d: err %v want %q", i, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%d: %v", i, err)
			continue
		}
		asPtr := func(b []byte) *string {
			if b == nil {
				return nil
			}
			s := string(b)
			return &s
		}
		if !reflect.DeepEqual(asPtr(got.Key), tt.want.key) || !reflect.DeepEqual(asPtr(got.Value), tt.want.value) || got.Topic != "t" {
			t.Errorf("%d: key %v value %v", i, asPtr(got.Key), asPtr(got.Value))
		}
		if len(got.Headers) != len(tt.want.headers) {
			t.Errorf("%d: headers %v", i, got.Headers)
		}
		for _, h := range got.Headers {
			if w, ok := tt.want.headers[h.Key]; !ok || !reflect.DeepEqual(asPtr(h.Value), w) {
				t.Errorf("%d: header %s=%v", i, h.Key, asPtr(h.Value))
			}
		}
	}
	for _, props := range []map[string]string{
		{"headers.delimiter": ","},
		{"null.marker": "\t"},
		{"headers.key.separator": ","},
	} {
		if _, err := newLineReader("t", props); err == nil {
			t.Errorf("%v accepted", props)
		}
	}
}
