package coordinator

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The expected bytes are written out by hand from the schemas (int16 version, then the fields in
// non-flexible encoding).
func TestOffsetCommitValueV3Golden(t *testing.T) {
	om := offsetAndMetadata{offset: 100, leaderEpoch: 5, metadata: "m", commitTimestamp: 1000, expireTimestamp: -1}
	want := unhex(t, `0003
		0000000000000064
		00000005
		0001 6d
		00000000000003e8`)
	got := offsetCommitValue(om)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	back, err := readOffsetValue(got)
	if err != nil || back != om {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestOffsetCommitValueV1WithExpireTimestamp(t *testing.T) {
	om := offsetAndMetadata{offset: 7, leaderEpoch: -1, metadata: "", commitTimestamp: 1, expireTimestamp: 2}
	want := unhex(t, `0001 0000000000000007 0000 0000000000000001 0000000000000002`)
	got := offsetCommitValue(om)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	back, err := readOffsetValue(got)
	if err != nil || back != om {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
}

func TestReadOffsetValueOldVersions(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want offsetAndMetadata
	}{
		{"v0", `0000 0000000000000009 0002 6869 0000000000000005`,
			offsetAndMetadata{offset: 9, leaderEpoch: -1, metadata: "hi", commitTimestamp: 5, expireTimestamp: -1}},
		{"v2", `0002 0000000000000009 0000 0000000000000005`,
			offsetAndMetadata{offset: 9, leaderEpoch: -1, commitTimestamp: 5, expireTimestamp: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readOffsetValue(unhex(t, tc.in))
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
	if _, err := readOffsetValue(unhex(t, `0009 00`)); err == nil {
		t.Fatal("unknown value version accepted")
	}
}

func TestGroupMetadataValueV3Golden(t *testing.T) {
	g := newGroup("g", 0, 1000)
	g.add(&member{id: "m1", clientID: "c", clientHost: "/h", rebalanceMs: 300, sessionMs: 10, protocolType: "consumer",
		protocols: []protocol{{"range", []byte{1, 2}}}}, nil)
	g.generation = 1
	p := "range"
	g.protocolName = &p
	g.state = stateStable
	want := unhex(t, `0003
		0008 636f6e73756d6572
		00000001
		0005 72616e6765
		0002 6d31
		00000000000003e8
		00000001
		  0002 6d31
		  ffff
		  0001 63
		  0002 2f68
		  0000012c
		  0000000a
		  00000002 0102
		  00000001 03`)
	got := groupMetadataValue(g, map[string][]byte{"m1": {3}})
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	back, err := readGroupValue("g", 0, got)
	if err != nil {
		t.Fatal(err)
	}
	if back.state != stateStable || back.generation != 1 || *back.protocolName != "range" || back.leaderID != "m1" ||
		back.stateTimestamp != 1000 || back.protocolType != "consumer" || len(back.members) != 1 {
		t.Fatalf("round trip: %+v", back)
	}
	m := back.members[0]
	if m.id != "m1" || m.clientHost != "/h" || m.rebalanceMs != 300 || m.sessionMs != 10 ||
		!bytes.Equal(m.assignment, []byte{3}) || !bytes.Equal(m.metadataFor("range"), []byte{1, 2}) {
		t.Fatalf("member round trip: %+v", m)
	}
}

func TestEmptyGroupRecord(t *testing.T) {
	g := newGroup("g", 0, 42)
	g.protocolType = "consumer"
	g.generation = 3
	got := groupMetadataValue(g, nil)
	want := unhex(t, `0003 0008 636f6e73756d6572 00000003 ffff ffff 000000000000002a 00000000`)
	if !bytes.Equal(got, want) {
		t.Fatalf("got %x\nwant %x", got, want)
	}
	back, err := readGroupValue("g", 0, got)
	if err != nil || back.state != stateEmpty || back.generation != 3 || back.protocolName != nil {
		t.Fatalf("round trip: %+v %v", back, err)
	}
}

func TestKeys(t *testing.T) {
	ok := offsetCommitKey("g", topicPartition{"t", 3})
	if want := unhex(t, `0001 0001 67 0001 74 00000003`); !bytes.Equal(ok, want) {
		t.Fatalf("offset key %x want %x", ok, want)
	}
	gk := groupMetadataKey("g")
	if want := unhex(t, `0002 0001 67`); !bytes.Equal(gk, want) {
		t.Fatalf("group key %x want %x", gk, want)
	}
	for _, tc := range []struct {
		in       []byte
		known    bool
		isOffset bool
	}{
		{ok, true, true},
		{unhex(t, `0000 0001 67 0001 74 00000003`), true, true},
		{gk, true, false},
		{unhex(t, `0007 0001 67`), false, false},
	} {
		k, known, err := readKey(tc.in)
		if err != nil || known != tc.known || k.isOffset != tc.isOffset {
			t.Fatalf("readKey(%x) = %+v %v %v", tc.in, k, known, err)
		}
		if known && k.group != "g" {
			t.Fatalf("group %q", k.group)
		}
	}
}
