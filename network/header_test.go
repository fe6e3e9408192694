package network

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func strp(s string) *string { return &s }

// rawHeader builds a header by hand so tests do not depend on the code under test.
func rawHeader(key, version int16, corr int32, clientID *string, tags []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if key == controlledShutdownKey && version == 0 {
		return b
	}
	if clientID == nil {
		b = binary.BigEndian.AppendUint16(b, 0xffff)
	} else {
		b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
		b = append(b, *clientID...)
	}
	return append(b, tags...)
}

func TestParseRequestHeader(t *testing.T) {
	body := []byte{0xde, 0xad}
	tests := []struct {
		name     string
		frame    []byte
		want     RequestHeader
		wantBody []byte
		wantErr  bool
	}{
		{
			name:     "v0 ControlledShutdown v0 has no client id",
			frame:    append(rawHeader(7, 0, 11, nil, nil), body...),
			want:     RequestHeader{APIKey: 7, APIVersion: 0, CorrelationID: 11},
			wantBody: body,
		},
		{
			name:     "v1 Metadata v1 with client id",
			frame:    append(rawHeader(3, 1, 12, strp("cli"), nil), body...),
			want:     RequestHeader{APIKey: 3, APIVersion: 1, CorrelationID: 12, ClientID: strp("cli")},
			wantBody: body,
		},
		{
			name:     "v1 null client id",
			frame:    append(rawHeader(0, 8, 13, nil, nil), body...),
			want:     RequestHeader{APIKey: 0, APIVersion: 8, CorrelationID: 13},
			wantBody: body,
		},
		{
			name:     "v1 empty client id",
			frame:    append(rawHeader(3, 8, 14, strp(""), nil), body...),
			want:     RequestHeader{APIKey: 3, APIVersion: 8, CorrelationID: 14, ClientID: strp("")},
			wantBody: body,
		},
		{
			name:     "v1 ControlledShutdown v1",
			frame:    append(rawHeader(7, 1, 15, strp("b1"), nil), body...),
			want:     RequestHeader{APIKey: 7, APIVersion: 1, CorrelationID: 15, ClientID: strp("b1")},
			wantBody: body,
		},
		{
			name:     "v2 Metadata v9 empty tags",
			frame:    append(rawHeader(3, 9, 16, strp("c"), []byte{0}), body...),
			want:     RequestHeader{APIKey: 3, APIVersion: 9, CorrelationID: 16, ClientID: strp("c")},
			wantBody: body,
		},
		{
			name: "v2 ApiVersions v3 with two tagged fields",
			// count 2; tag 0 size 3 "abc"; tag 200 (uvarint 0xc8 0x01) size 1 "z"
			frame:    append(rawHeader(18, 3, 17, nil, []byte{2, 0, 3, 'a', 'b', 'c', 0xc8, 0x01, 1, 'z'}), body...),
			want:     RequestHeader{APIKey: 18, APIVersion: 3, CorrelationID: 17},
			wantBody: body,
		},
		{
			name:     "v2 too-new ApiVersions still parses as flexible",
			frame:    append(rawHeader(18, 99, 18, strp("x"), []byte{0}), body...),
			want:     RequestHeader{APIKey: 18, APIVersion: 99, CorrelationID: 18, ClientID: strp("x")},
			wantBody: body,
		},
		{name: "short fixed part", frame: []byte{0, 3, 0, 1, 0, 0, 0}, wantErr: true},
		{name: "missing client id length", frame: rawHeader(3, 1, 1, nil, nil)[:8], wantErr: true},
		{name: "client id longer than frame", frame: append(rawHeader(3, 1, 1, nil, nil)[:8], 0, 10, 'a'), wantErr: true},
		{name: "negative client id length", frame: append(rawHeader(3, 1, 1, nil, nil)[:8], 0xff, 0xfe), wantErr: true},
		{name: "v2 missing tags", frame: rawHeader(3, 9, 1, strp("c"), nil), wantErr: true},
		{name: "v2 tag size beyond frame", frame: rawHeader(3, 9, 1, strp("c"), []byte{1, 0, 9, 'a'}), wantErr: true},
		{name: "v2 tag count beyond frame", frame: rawHeader(3, 9, 1, strp("c"), []byte{5}), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, rest, err := ParseRequestHeader(tt.frame)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if got.APIKey != tt.want.APIKey || got.APIVersion != tt.want.APIVersion ||
				got.CorrelationID != tt.want.CorrelationID {
				t.Errorf("header = %+v, want %+v", got, tt.want)
			}
			if (got.ClientID == nil) != (tt.want.ClientID == nil) ||
				got.ClientID != nil && *got.ClientID != *tt.want.ClientID {
				t.Errorf("client id = %v, want %v", got.ClientID, tt.want.ClientID)
			}
			if !bytes.Equal(rest, tt.wantBody) {
				t.Errorf("body = %x, want %x", rest, tt.wantBody)
			}
		})
	}
}

// TestParseRequestHeaderMatchesKmsg checks our parser against the header kmsg's
// formatter (what franz-go clients send) writes for every header version.
func TestParseRequestHeaderMatchesKmsg(t *testing.T) {
	tests := []struct {
		req      kmsg.Request
		version  int16
		clientID bool
	}{
		{kmsg.NewPtrControlledShutdownRequest(), 0, false},
		{kmsg.NewPtrControlledShutdownRequest(), 3, true},
		{kmsg.NewPtrMetadataRequest(), 1, true},
		{kmsg.NewPtrMetadataRequest(), 12, true},
		{kmsg.NewPtrProduceRequest(), 9, true},
		{kmsg.NewPtrApiVersionsRequest(), 3, true},
	}
	for _, tt := range tests {
		tt.req.SetVersion(tt.version)
		// kmsg's RequestFormatter drops the body of ControlledShutdown v0, so
		// ours is checked against a hand-built frame there.
		var frame []byte
		if tt.req.Key() == controlledShutdownKey && tt.version == 0 {
			frame = append([]byte{0, 0, 0, 0}, rawHeader(7, 0, 42, nil, nil)...)
			frame = tt.req.AppendTo(frame)
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
		} else {
			frame = kmsg.NewRequestFormatter(kmsg.FormatterClientID("me")).AppendRequest(nil, tt.req, 42)
		}
		if tt.clientID || tt.version == 0 {
			id := "me"
			if ours := AppendRequest(nil, 42, &id, tt.req); !bytes.Equal(ours, frame) {
				t.Errorf("%s v%d: AppendRequest = %x, want %x", kmsg.NameForKey(tt.req.Key()), tt.version, ours, frame)
			}
		}
		h, rest, err := ParseRequestHeader(frame[4:])
		if err != nil {
			t.Fatalf("%s v%d: %v", kmsg.NameForKey(tt.req.Key()), tt.version, err)
		}
		if h.APIKey != tt.req.Key() || h.APIVersion != tt.version || h.CorrelationID != 42 {
			t.Errorf("%s v%d: header %+v", kmsg.NameForKey(tt.req.Key()), tt.version, h)
		}
		if tt.clientID != (h.ClientID != nil && *h.ClientID == "me") {
			t.Errorf("%s v%d: client id %v", kmsg.NameForKey(tt.req.Key()), tt.version, h.ClientID)
		}
		if want := tt.req.AppendTo(nil); !bytes.Equal(rest, want) {
			t.Errorf("%s v%d: body %x, want %x", kmsg.NameForKey(tt.req.Key()), tt.version, rest, want)
		}
	}
}

func TestAppendResponse(t *testing.T) {
	tests := []struct {
		name    string
		resp    kmsg.Response
		version int16
		tagByte bool // response header v1
	}{
		{"ApiVersions v3 flexible but header v0", kmsg.NewPtrApiVersionsResponse(), 3, false},
		{"ApiVersions v0", kmsg.NewPtrApiVersionsResponse(), 0, false},
		{"Metadata v8 header v0", kmsg.NewPtrMetadataResponse(), 8, false},
		{"Metadata v9 header v1", kmsg.NewPtrMetadataResponse(), 9, true},
		{"Produce v9 header v1", kmsg.NewPtrProduceResponse(), 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.resp.SetVersion(tt.version)
			prefix := []byte("xx")
			got := AppendResponse(append([]byte(nil), prefix...), 77, tt.resp)
			if !bytes.HasPrefix(got, prefix) {
				t.Fatalf("prefix clobbered: %x", got)
			}
			got = got[len(prefix):]
			if size := int(binary.BigEndian.Uint32(got)); size != len(got)-4 {
				t.Fatalf("size %d, frame has %d bytes after it", size, len(got)-4)
			}
			if corr := int32(binary.BigEndian.Uint32(got[4:])); corr != 77 {
				t.Fatalf("correlation id %d", corr)
			}
			body := tt.resp.AppendTo(nil)
			want := 8 + len(body)
			if tt.tagByte {
				want++
				if got[8] != 0 {
					t.Fatalf("tag section byte %x, want 0", got[8])
				}
			}
			if len(got) != want || !bytes.HasSuffix(got, body) {
				t.Fatalf("frame %x, want header then body %x", got, body)
			}
			if hv := ResponseHeaderVersion(tt.resp.Key(), tt.version); (hv == 1) != tt.tagByte {
				t.Fatalf("ResponseHeaderVersion = %d", hv)
			}
		})
	}
}

func TestRequestHeaderVersion(t *testing.T) {
	tests := []struct {
		key, version, want int16
	}{
		{7, 0, 0}, {7, 1, 1}, {7, 3, 2}, {3, 8, 1}, {3, 9, 2}, {18, 2, 1}, {18, 3, 2}, {0, 8, 1}, {0, 9, 2},
		{999, 0, 1},
	}
	for _, tt := range tests {
		if got := RequestHeaderVersion(tt.key, tt.version); got != tt.want {
			t.Errorf("RequestHeaderVersion(%d, %d) = %d, want %d", tt.key, tt.version, got, tt.want)
		}
	}
}
