package network

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FileRegion is a byte range of an open file. Spliced into a response, it is
// sent to the socket with sendfile(2): the bytes never enter user space.
// Regions are read at Pos with positional calls, so the *os.File may be
// shared by many readers.
type FileRegion struct {
	File     *os.File
	Pos, Len int64
}

// Splice replaces one bytes field of a response (a Fetch partition's records)
// with the concatenation of Regions. Tag is the placeholder the handler put
// into that field; it must come from NewSpliceTag.
type Splice struct {
	Tag     []byte
	Regions []FileRegion
}

// SplicedResponse is a response whose records live in files. Handlers pass it
// to their respond function like any kmsg.Response.
type SplicedResponse struct {
	kmsg.Response
	Splices []Splice
}

const spliceTagSize = 16

// tagPrefix makes tags unique to this process; the counter makes them unique
// within it. A 16-byte random tag never occurs by chance in the few other
// bytes of a response.
var (
	tagPrefix  [8]byte
	tagCounter atomic.Uint64
)

func init() {
	if _, err := rand.Read(tagPrefix[:]); err != nil {
		panic(fmt.Sprintf("network: no randomness for splice tags: %v", err))
	}
}

// NewSpliceTag returns a fresh placeholder for a Splice.
func NewSpliceTag() []byte {
	t := make([]byte, spliceTagSize)
	copy(t, tagPrefix[:])
	binary.BigEndian.PutUint64(t[8:], tagCounter.Add(1))
	return t
}

// piece is one part of a response frame on the wire: bytes, or a region.
type piece struct {
	b      []byte
	region FileRegion
}

// encodeSpliced encodes a spliced response into buf and returns the frame as
// pieces: the encoded bytes around each placeholder, and the regions in
// their place with the field's length prefix and the frame size rewritten.
// The regions must be in the order their fields are encoded (the order of
// topics and partitions in the response). A placeholder that cannot be found
// where expected is a handler bug; the regions are then copied into the
// response the slow way so the client still gets a correct answer.
func encodeSpliced(buf []byte, correlationID int32, sr *SplicedResponse) ([]byte, []piece, error) {
	buf = AppendResponse(buf, correlationID, sr.Response)
	flexible := sr.Response.IsFlexible()
	var pieces []piece
	from := 4 // after the frame size, which is rewritten last
	total := int64(len(buf) - 4)
	for _, sp := range sr.Splices {
		i := bytes.Index(buf[from:], sp.Tag)
		if i < 0 {
			return spliceByCopy(buf[:0], correlationID, sr)
		}
		at := from + i
		prefixLen := 4
		if flexible {
			prefixLen = 1 // uvarint(16+1)
		}
		if at-prefixLen < from || !placeholderPrefix(buf[at-prefixLen:at], flexible) {
			return spliceByCopy(buf[:0], correlationID, sr)
		}
		var n int64
		for _, r := range sp.Regions {
			n += r.Len
		}
		lenField := bytesLength(n, flexible)
		pieces = append(pieces, piece{b: buf[from : at-prefixLen]}, piece{b: lenField})
		for _, r := range sp.Regions {
			if r.Len > 0 {
				pieces = append(pieces, piece{region: r})
			}
		}
		total += int64(len(lenField)) + n - int64(prefixLen) - spliceTagSize
		from = at + spliceTagSize
	}
	pieces = append(pieces, piece{b: buf[from:]})
	if total > int64(^uint32(0)>>1) {
		return nil, nil, fmt.Errorf("network: response of %d bytes is too large for a frame", total)
	}
	size := binary.BigEndian.AppendUint32(nil, uint32(total))
	return buf, append([]piece{{b: size}}, pieces...), nil
}

func placeholderPrefix(p []byte, flexible bool) bool {
	if flexible {
		return p[0] == spliceTagSize+1
	}
	return binary.BigEndian.Uint32(p) == spliceTagSize
}

// bytesLength encodes the length of a (nullable, non-null) bytes field.
func bytesLength(n int64, flexible bool) []byte {
	if flexible {
		return binary.AppendUvarint(nil, uint64(n+1))
	}
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

// spliceByCopy is the fallback: the placeholders are replaced by the regions'
// bytes, read into memory, and the response re-encoded.
func spliceByCopy(buf []byte, correlationID int32, sr *SplicedResponse) ([]byte, []piece, error) {
	repl := make(map[string][]byte, len(sr.Splices))
	for _, sp := range sr.Splices {
		var data []byte
		for _, r := range sp.Regions {
			start := len(data)
			data = append(data, make([]byte, r.Len)...)
			if _, err := r.File.ReadAt(data[start:], r.Pos); err != nil && err != io.EOF {
				return nil, nil, err
			}
		}
		repl[string(sp.Tag)] = data
	}
	replaceTaggedFields(sr.Response, repl)
	buf = AppendResponse(buf, correlationID, sr.Response)
	return buf, []piece{{b: buf}}, nil
}

// replaceTaggedFields swaps placeholders in the only response type that
// carries records today, Fetch.
func replaceTaggedFields(resp kmsg.Response, repl map[string][]byte) {
	f, ok := resp.(*kmsg.FetchResponse)
	if !ok {
		return
	}
	for i := range f.Topics {
		for j := range f.Topics[i].Partitions {
			p := &f.Topics[i].Partitions[j]
			if data, ok := repl[string(p.RecordBatches)]; ok {
				p.RecordBatches = data
			}
		}
	}
}

// copyRegion is the portable path: positional reads through a buffer.
func copyRegion(w io.Writer, r FileRegion) error {
	n, err := io.Copy(w, io.NewSectionReader(r.File, r.Pos, r.Len))
	if err == nil && n < r.Len {
		err = fmt.Errorf("%w: %s ended %d bytes into a region of %d", io.ErrUnexpectedEOF, r.File.Name(), n, r.Len)
	}
	return err
}
