package zkutils

import (
	"reflect"
	"testing"
)

// Examples are the reference's (reference/zookeeper-layout.md), i.e. Kafka's own JSON.

func TestPartitionStateJSON(t *testing.T) {
	tests := []struct {
		name string
		s    LeaderIsr
		want string
	}{
		{"reference example", LeaderIsr{Leader: 1, LeaderEpoch: 3, ISR: []int32{1, 2, 3}, ControllerEpoch: 7},
			`{"controller_epoch":7,"leader":1,"version":1,"leader_epoch":3,"isr":[1,2,3]}`},
		{"no leader, empty isr", LeaderIsr{Leader: -1, LeaderEpoch: 0, ControllerEpoch: 1},
			`{"controller_epoch":1,"leader":-1,"version":1,"leader_epoch":0,"isr":[]}`},
		{"recovering", LeaderIsr{Leader: 2, LeaderEpoch: 4, ISR: []int32{2}, ControllerEpoch: 3, LeaderRecoveryState: 1},
			`{"controller_epoch":3,"leader":2,"version":1,"leader_recovery_state":1,"leader_epoch":4,"isr":[2]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(encodeLeaderIsr(tt.s))
			if got != tt.want {
				t.Fatalf("encode:\n got %s\nwant %s", got, tt.want)
			}
			back, err := decodeLeaderIsr([]byte(tt.want))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.s
			if want.ISR == nil {
				want.ISR = []int32{}
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("decode: got %+v want %+v", back, want)
			}
		})
	}
	// Readers ignore key order and unknown fields.
	s, err := decodeLeaderIsr([]byte(`{"isr":[3],"version":1,"x":{"y":1},"leader_epoch":9,"leader":3,"controller_epoch":2}`))
	if err != nil || s.Leader != 3 || s.LeaderEpoch != 9 || s.ControllerEpoch != 2 || !reflect.DeepEqual(s.ISR, []int32{3}) {
		t.Fatalf("got %+v, %v", s, err)
	}
	if _, err := decodeLeaderIsr([]byte(`{"version":1}`)); err == nil {
		t.Fatal("missing fields accepted")
	}
}

func TestControllerJSON(t *testing.T) {
	got := string(encodeController(1, 1700000000000))
	want := `{"version":2,"brokerid":1,"timestamp":"1700000000000","kraftControllerEpoch":-1}`
	if got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	for _, in := range []string{want, `{"version":1,"brokerid":1,"timestamp":"1700000000000"}`} {
		if id, err := decodeController([]byte(in)); err != nil || id != 1 {
			t.Fatalf("decode %s: %d %v", in, id, err)
		}
	}
	if e, err := decodeControllerEpoch([]byte("7")); err != nil || e != 7 || string(encodeControllerEpoch(7)) != "7" {
		t.Fatalf("epoch: %d %v", e, err)
	}
	if _, err := decodeControllerEpoch([]byte("x")); err == nil {
		t.Fatal("bad epoch accepted")
	}
}

func TestClusterIDJSON(t *testing.T) {
	want := `{"version":"1","id":"xtzWWN4bTjitpL3kfd9s5g"}`
	if got := string(encodeClusterID("xtzWWN4bTjitpL3kfd9s5g")); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	if id, err := decodeClusterID([]byte(want)); err != nil || id != "xtzWWN4bTjitpL3kfd9s5g" {
		t.Fatalf("decode: %q %v", id, err)
	}
	seen := map[string]bool{}
	for i := 0; i < 100; i++ {
		id := NewClusterID()
		if len(id) != 22 || id[0] == '-' || seen[id] {
			t.Fatalf("bad or repeated id %q", id)
		}
		seen[id] = true
	}
}

func TestBrokerJSON(t *testing.T) {
	r1 := "r1"
	tests := []struct {
		name string
		b    BrokerInfo
		want string
	}{
		{"reference example", BrokerInfo{ID: 1, JMXPort: -1, Timestamp: 1700000000000, Rack: &r1,
			Endpoints: []Endpoint{{"PLAINTEXT", "PLAINTEXT", "kafka1", 9092}, {"SSL", "SSL", "kafka1", 9093}}},
			`{"features":{"metadata.version":{"min_version":1,"max_version":19}},` +
				`"listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},` +
				`"endpoints":["PLAINTEXT://kafka1:9092","SSL://kafka1:9093"],"rack":"r1","jmx_port":-1,` +
				`"port":9092,"host":"kafka1","version":5,"timestamp":"1700000000000"}`},
		{"no plaintext, IPv6", BrokerInfo{ID: 2, JMXPort: 9999, Timestamp: 5,
			Endpoints: []Endpoint{{"INTERNAL", "SASL_SSL", "::1", 9094}}},
			`{"features":{"metadata.version":{"min_version":1,"max_version":19}},` +
				`"listener_security_protocol_map":{"INTERNAL":"SASL_SSL"},"endpoints":["INTERNAL://[::1]:9094"],` +
				`"jmx_port":9999,"port":-1,"host":null,"version":5,"timestamp":"5"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(encodeBroker(tt.b))
			if got != tt.want {
				t.Fatalf("encode:\n got %s\nwant %s", got, tt.want)
			}
			back, err := decodeBroker(tt.b.ID, []byte(got))
			if err != nil {
				t.Fatal(err)
			}
			want := tt.b
			want.Features = defaultBrokerFeatures
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("decode: got %+v want %+v", back, want)
			}
		})
	}
}

func TestBrokerJSONDecodeVersions(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []Endpoint
	}{
		{"reference v5 layout",
			`{"version":5,"host":"kafka1","port":9092,"jmx_port":-1,"timestamp":"1700000000000",
			 "endpoints":["PLAINTEXT://kafka1:9092","SSL://kafka1:9093"],
			 "listener_security_protocol_map":{"PLAINTEXT":"PLAINTEXT","SSL":"SSL"},
			 "rack":"r1","features":{"metadata.version":{"min_version":1,"max_version":19}}}`,
			[]Endpoint{{"PLAINTEXT", "PLAINTEXT", "kafka1", 9092}, {"SSL", "SSL", "kafka1", 9093}}},
		{"v1", `{"version":1,"host":"localhost","port":9092,"jmx_port":9999,"timestamp":"2233345666"}`,
			[]Endpoint{{"PLAINTEXT", "PLAINTEXT", "localhost", 9092}}},
		{"v2 without protocol map", `{"version":2,"host":"h","port":9092,"jmx_port":-1,"timestamp":"1",
			"endpoints":["PLAINTEXT://h:9092","SSL://h:9093"]}`,
			[]Endpoint{{"PLAINTEXT", "PLAINTEXT", "h", 9092}, {"SSL", "SSL", "h", 9093}}},
		{"v4 named listeners, IPv6", `{"version":4,"host":null,"port":-1,"jmx_port":-1,"timestamp":"1",
			"endpoints":["CLIENT://[fe80::1]:9092","REPLICATION://host1:9093"],
			"listener_security_protocol_map":{"CLIENT":"SSL","REPLICATION":"PLAINTEXT"},"rack":"dc1"}`,
			[]Endpoint{{"CLIENT", "SSL", "fe80::1", 9092}, {"REPLICATION", "PLAINTEXT", "host1", 9093}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := decodeBroker(7, []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(b.Endpoints, tt.want) || b.ID != 7 {
				t.Fatalf("got %+v want %+v", b.Endpoints, tt.want)
			}
		})
	}
	b, _ := decodeBroker(1, []byte(tests[0].in))
	if b.Rack == nil || *b.Rack != "r1" || b.Timestamp != 1700000000000 || b.Features["metadata.version"] != [2]int16{1, 19} {
		t.Fatalf("fields: %+v", b)
	}
	if _, err := decodeBroker(1, []byte(`{"version":2,"jmx_port":-1,"endpoints":["X://h:1"],"listener_security_protocol_map":{}}`)); err == nil {
		t.Fatal("listener missing from the protocol map accepted")
	}
}

func TestTopicAssignmentJSON(t *testing.T) {
	id, err := decodeTopicID("Q6dUS3nNQlKSuqO7WpF0Lw")
	if err != nil {
		t.Fatal(err)
	}
	a := TopicAssignment{Topic: "foo", TopicID: id,
		Partitions: map[int32][]int32{0: {1, 2, 3}, 1: {2, 3, 1}},
		Adding:     map[int32][]int32{}, Removing: map[int32][]int32{1: {1}}}
	// Kafka's mutable.HashMap order for this node, as `get /brokers/topics/foo` shows on a real cluster.
	want := `{"partitions":{"0":[1,2,3],"1":[2,3,1]},"topic_id":"Q6dUS3nNQlKSuqO7WpF0Lw",` +
		`"adding_replicas":{},"removing_replicas":{"1":[1]},"version":3}`
	if got := string(encodeTopicAssignment(a)); got != want {
		t.Fatalf("encode:\n got %s\nwant %s", got, want)
	}
	ref := `{"version":3,"topic_id":"Q6dUS3nNQlKSuqO7WpF0Lw","partitions":{"0":[1,2,3],"1":[2,3,1]},
		"adding_replicas":{},"removing_replicas":{"1":[1]}}`
	back, err := decodeTopicAssignment("foo", []byte(ref))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, a) {
		t.Fatalf("decode: got %+v want %+v", back, a)
	}
	if encodeTopicID(back.TopicID) != "Q6dUS3nNQlKSuqO7WpF0Lw" {
		t.Fatal("topic id round trip")
	}
	// v1 (no topic id, no reassignment maps) and a zero id written without topic_id.
	v1, err := decodeTopicAssignment("bar", []byte(`{"version":1,"partitions":{"0":[1]}}`))
	if err != nil || v1.TopicID != ([16]byte{}) || !reflect.DeepEqual(v1.Partitions, map[int32][]int32{0: {1}}) {
		t.Fatalf("v1: %+v %v", v1, err)
	}
	if got := string(encodeTopicAssignment(v1)); got != `{"partitions":{"0":[1]},"adding_replicas":{},"removing_replicas":{},"version":3}` {
		t.Fatalf("no id: %s", got)
	}
	if _, err := decodeTopicAssignment("x", []byte(`{"version":3,"topic_id":"short","partitions":{}}`)); err == nil {
		t.Fatal("bad topic id accepted")
	}
}

func TestConfigJSON(t *testing.T) {
	ref := `{"version":1,"config":{"retention.ms":"86400000","cleanup.policy":"compact"}}`
	cfg, err := decodeConfig([]byte(ref))
	if err != nil || !reflect.DeepEqual(cfg, map[string]string{"retention.ms": "86400000", "cleanup.policy": "compact"}) {
		t.Fatalf("decode: %v %v", cfg, err)
	}
	back, err := decodeConfig(encodeConfig(cfg))
	if err != nil || !reflect.DeepEqual(back, cfg) {
		t.Fatalf("round trip: %v %v", back, err)
	}
	if got := string(encodeConfig(nil)); got != `{"version":1,"config":{}}` {
		t.Fatalf("empty: %s", got)
	}
}

func TestFeatureJSON(t *testing.T) {
	// FeatureZNode.encode builds a mutable.HashMap of three: Kafka writes features first.
	want := `{"features":{"metadata.version":{"max_version_level":19}},"version":2,"status":1}`
	if got := string(encodeFeature(defaultFeatureNode())); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	n, err := decodeFeature([]byte(`{"version":2,"status":1,"features":{"metadata.version":{"max_version_level":19}}}`))
	if err != nil || n.Version != 2 || n.Status != 1 || n.Features["metadata.version"] != 19 {
		t.Fatalf("decode: %+v %v", n, err)
	}
	v1, err := decodeFeature([]byte(`{"version":1,"status":0,"features":{}}`))
	if err != nil || v1.Status != 0 || len(v1.Features) != 0 {
		t.Fatalf("v1: %+v %v", v1, err)
	}
}

func TestIsrChangeJSON(t *testing.T) {
	tps := []TopicPartition{{"foo", 0}, {"bar", 2}}
	want := `{"version":1,"partitions":[{"topic":"foo","partition":0},{"topic":"bar","partition":2}]}`
	if got := string(encodeTopicPartitions(tps)); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
	back, err := decodeTopicPartitions([]byte(want), "ISR change notification")
	if err != nil || !reflect.DeepEqual(back, tps) {
		t.Fatalf("decode: %v %v", back, err)
	}
}

func TestParseConnect(t *testing.T) {
	tests := []struct {
		in      string
		servers []string
		chroot  string
		bad     bool
	}{
		{"h1:2181,h2:2181/kafka", []string{"h1:2181", "h2:2181"}, "/kafka", false},
		{"h1:2181", []string{"h1:2181"}, "", false},
		{"h1:2181/", []string{"h1:2181"}, "", false},
		{"h1:2181/a/b/", []string{"h1:2181"}, "/a/b", false},
		{"/kafka", nil, "", true},
		{"h:1/a//b", nil, "", true},
	}
	for _, tt := range tests {
		s, c, err := parseConnect(tt.in)
		if (err != nil) != tt.bad || (!tt.bad && (!reflect.DeepEqual(s, tt.servers) || c != tt.chroot)) {
			t.Errorf("%q: got %v %q %v", tt.in, s, c, err)
		}
	}
}

func TestJavaStringHash(t *testing.T) {
	// Values of "…".hashCode() in Java.
	for s, want := range map[string]int32{"": 0, "a": 97, "version": 351608024, "hello world": 1794106052} {
		if got := javaStringHash(s); got != want {
			t.Errorf("%q: got %d want %d", s, got, want)
		}
	}
}
