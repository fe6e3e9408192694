package admin

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func testFlags() *flagSet {
	fs := newFlagSet("t", "test tool")
	fs.opt("bootstrap-server", "String", "server", "")
	fs.opt("topic", "String", "topic", "")
	fs.opt("property", "String", "prop", "")
	fs.flag("from-beginning", "start at the beginning")
	fs.add("compression-codec", optionalArg, "String", "codec", "")
	fs.add("producer-props", multiArg, "k=v", "props", "")
	return fs
}

func TestFlagParse(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   map[string][]string
	}{
		{name: "space and equals", args: []string{"--bootstrap-server", "h:1", "--topic=foo"},
			check: map[string][]string{"bootstrap-server": {"h:1"}, "topic": {"foo"}}},
		{name: "repeated", args: []string{"--property", "a=1", "--property=b=2"},
			check: map[string][]string{"property": {"a=1", "b=2"}}},
		{name: "abbreviation", args: []string{"--boot", "h:1", "--from"},
			check: map[string][]string{"bootstrap-server": {"h:1"}, "from-beginning": {""}}},
		{name: "optional without value", args: []string{"--compression-codec", "--topic", "x"},
			check: map[string][]string{"compression-codec": {""}, "topic": {"x"}}},
		{name: "optional with value", args: []string{"--compression-codec", "lz4"},
			check: map[string][]string{"compression-codec": {"lz4"}}},
		{name: "multi", args: []string{"--producer-props", "a=1", "b=2", "--topic", "x"},
			check: map[string][]string{"producer-props": {"a=1", "b=2"}, "topic": {"x"}}},
		{name: "unknown", args: []string{"--nope"}, wantErr: "nope is not a recognized option"},
		{name: "missing value", args: []string{"--topic"}, wantErr: "Option topic requires an argument"},
		{name: "value on switch", args: []string{"--from-beginning=yes"}, wantErr: "does not take an argument"},
		{name: "non option", args: []string{"foo"}, wantErr: "non-option argument"},
		{name: "ambiguous", args: []string{"--p", "x"}, wantErr: "ambiguous"},
		{name: "help", args: []string{"--topic", "x", "--help"}, wantErr: "help requested"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs := testFlags()
			err := fs.parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.check {
				if got := fs.all(k); !reflect.DeepEqual(got, v) {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestFlagHelpers(t *testing.T) {
	fs := testFlags()
	if err := fs.parse([]string{"--topic", "x", "--from-beginning"}); err != nil {
		t.Fatal(err)
	}
	if err := fs.missing("topic", "bootstrap-server"); err == nil || err.Error() != `Missing required argument "[bootstrap-server]"` {
		t.Errorf("missing: %v", err)
	}
	if err := fs.conflict("from-beginning", "property", "topic"); err == nil || err.Error() != `Option "[from-beginning]" can't be used with option "[topic]"` {
		t.Errorf("conflict: %v", err)
	}
	var out, errb bytes.Buffer
	if code, ok := testFlags().parseOrExit([]string{"--help"}, &out, &errb); ok || code != 0 || !strings.Contains(out.String(), "--bootstrap-server <String>") {
		t.Errorf("help: code %d ok %v out %q", code, ok, out.String())
	}
	out.Reset()
	if code, ok := testFlags().parseOrExit([]string{"--bad"}, &out, &errb); ok || code != 1 || !strings.HasPrefix(errb.String(), "bad is not a recognized option\n") {
		t.Errorf("bad flag: code %d ok %v err %q", code, ok, errb.String())
	}
}

func TestParseKeyValuesAndClientOptions(t *testing.T) {
	kv, err := parseKeyValues([]string{"a=1", "b=x=y", "c"})
	if err != nil || !reflect.DeepEqual(kv, map[string]string{"a": "1", "b": "x=y", "c": ""}) {
		t.Fatalf("parseKeyValues = %v, %v", kv, err)
	}
	tests := []struct {
		props    map[string]string
		role     clientRole
		wantWarn int
		wantErr  bool
	}{
		{map[string]string{"acks": "all", "linger.ms": "5", "compression.type": "zstd", "batch.size": "1000"}, roleProducer, 0, false},
		{map[string]string{"acks": "1", "enable.idempotence": "false", "key.serializer": "x"}, roleProducer, 0, false},
		{map[string]string{"acks": "2"}, roleProducer, 0, true},
		{map[string]string{"linger.ms": "soon"}, roleProducer, 0, true},
		{map[string]string{"compression.type": "brotli"}, roleProducer, 0, true},
		{map[string]string{"made.up": "1", "also.made.up": "2"}, roleProducer, 2, false},
		{map[string]string{"linger.ms": "1"}, roleConsumer, 1, false},
		{map[string]string{"isolation.level": "read_committed", "auto.offset.reset": "earliest", "fetch.max.bytes": "100"}, roleConsumer, 0, false},
		{map[string]string{"auto.offset.reset": "sometimes"}, roleConsumer, 0, true},
	}
	for i, tt := range tests {
		_, warns, err := clientOptions(tt.props, tt.role)
		if (err != nil) != tt.wantErr || len(warns) != tt.wantWarn {
			t.Errorf("%d: warns %q err %v", i, warns, err)
		}
	}
}
