package network

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// apiVersionsKey is special-cased twice by Kafka: its response header is always v0,
// and a too-new version is answered rather than closing the connection (KIP-511).
const apiVersionsKey = 18

// controlledShutdownKey v0 is the only request sent with request header v0.
const controlledShutdownKey = 7

// errUnsupportedVersion is Kafka's UNSUPPORTED_VERSION error code.
const errUnsupportedVersion = 35

// RequestHeader is a parsed Kafka request header (v0, v1 or v2).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string // nil for header v0 and for a null client id
}

// errShortHeader means the frame ended inside the request header.
var errShortHeader = errors.New("request header truncated")

// RequestHeaderVersion is the request header version Kafka uses for key at version:
// 2 for flexible versions, 1 otherwise, and 0 for ControlledShutdown v0. Keys kmsg
// does not know are treated as header v1.
func RequestHeaderVersion(key, version int16) int16 {
	if key == controlledShutdownKey && version == 0 {
		return 0
	}
	if isFlexibleRequest(key, version) {
		return 2
	}
	return 1
}

// ResponseHeaderVersion is the response header version for key at version: 1 for
// flexible versions, 0 otherwise, and always 0 for ApiVersions.
func ResponseHeaderVersion(key, version int16) int16 {
	if key != apiVersionsKey && isFlexibleRequest(key, version) {
		return 1
	}
	return 0
}

func isFlexibleRequest(key, version int16) bool {
	r := kmsg.RequestForKey(key)
	if r == nil {
		return false
	}
	r.SetVersion(version)
	return r.IsFlexible()
}

// ParseRequestHeader parses the header at the start of frame (the bytes after the
// size prefix) and returns it with the remaining body bytes. Tagged fields in a v2
// header are skipped; the client id stays a classic nullable string in v2, as in
// Kafka.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, errShortHeader
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	return parseHeaderRest(h, RequestHeaderVersion(h.APIKey, h.APIVersion), frame[8:])
}

// parseHeaderRest parses what follows the fixed 8 bytes of a header of version hv.
func parseHeaderRest(h RequestHeader, hv int16, rest []byte) (RequestHeader, []byte, error) {
	if hv == 0 {
		return h, rest, nil
	}
	if len(rest) < 2 {
		return h, nil, errShortHeader
	}
	n := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	switch {
	case n == -1:
	case n < -1:
		return h, nil, fmt.Errorf("request header: bad client id length %d", n)
	default:
		if len(rest) < int(n) {
			return h, nil, errShortHeader
		}
		id := string(rest[:n])
		h.ClientID = &id
		rest = rest[n:]
	}
	if hv == 2 {
		var err error
		if rest, err = skipTaggedFields(rest); err != nil {
			return h, nil, fmt.Errorf("request header: %w", err)
		}
	}
	return h, rest, nil
}

// skipTaggedFields skips a tagged-field section: uvarint count, then per field
// uvarint tag, uvarint size and the data. No request header tags are defined yet,
// so their content is ignored.
func skipTaggedFields(b []byte) ([]byte, error) {
	count, n := binary.Uvarint(b)
	if n <= 0 || count > uint64(len(b)) {
		return nil, errors.New("bad tagged field count")
	}
	b = b[n:]
	for i := uint64(0); i < count; i++ {
		if _, n = binary.Uvarint(b); n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		size, n := binary.Uvarint(b)
		if n <= 0 || size > uint64(len(b)-n) {
			return nil, errors.New("bad tagged field size")
		}
		b = b[n+int(size):]
	}
	return b, nil
}

// AppendResponse appends a complete response frame to dst: the int32 size, the
// response header for resp's key and version, and the body.
func AppendResponse(dst []byte, correlationID int32, resp kmsg.Response) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if resp.Key() != apiVersionsKey && resp.IsFlexible() {
		dst = append(dst, 0) // empty tagged-field section of response header v1
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

// unsupportedAPIVersionsResponse is Kafka's KIP-511 answer to an ApiVersions
// request newer than we serve: a v0 body with UNSUPPORTED_VERSION listing only
// ApiVersions' own range, so the client can retry with a version we know.
func unsupportedAPIVersionsResponse(minV, maxV int16) *kmsg.ApiVersionsResponse {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = errUnsupportedVersion
	k := kmsg.NewApiVersionsResponseApiKey()
	k.ApiKey = apiVersionsKey
	k.MinVersion = minV
	k.MaxVersion = maxV
	resp.ApiKeys = append(resp.ApiKeys, k)
	return resp
}

// AppendRequest appends a complete request frame to dst: the int32 size, the
// request header (v0 for ControlledShutdown v0, v2 for flexible versions, v1
// otherwise) and req's body at req.GetVersion(). The client id stays a classic
// nullable string in header v2, as Kafka requires.
func AppendRequest(dst []byte, correlationID int32, clientID *string, req kmsg.Request) []byte {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0)
	key, version := req.Key(), req.GetVersion()
	dst = binary.BigEndian.AppendUint16(dst, uint16(key))
	dst = binary.BigEndian.AppendUint16(dst, uint16(version))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if !(key == controlledShutdownKey && version == 0) {
		if clientID == nil {
			dst = binary.BigEndian.AppendUint16(dst, 0xffff)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, uint16(len(*clientID)))
			dst = append(dst, *clientID...)
		}
		if req.IsFlexible() {
			dst = append(dst, 0) // empty tagged-field section of request header v2
		}
	}
	dst = req.AppendTo(dst)
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}
