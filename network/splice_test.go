package network

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// spliceHandler answers Fetch with records spliced from a file: partition p of
// topic t gets the file's bytes [off(p), off(p)+len(p)) as up to two regions.
type spliceHandler struct {
	file     *os.File
	data     []byte
	noSplice bool // answer the same bytes the ordinary way (the reference)
	reversed bool // splices listed out of field order (a handler bug): the copy fallback
}

func (h *spliceHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case 1:
		return 4, 16, true
	case 18:
		return 0, 3, true
	}
	return 0, 0, false
}

func (h *spliceHandler) Handle(_ context.Context, req *Request) kmsg.Response {
	freq := req.Body.(*kmsg.FetchRequest)
	resp := freq.ResponseKind().(*kmsg.FetchResponse)
	sr := &SplicedResponse{Response: resp}
	for ti, t := range freq.Topics {
		rt := kmsg.NewFetchResponseTopic()
		rt.Topic, rt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			rp := kmsg.NewFetchResponseTopicPartition()
			rp.Partition = p.Partition
			rp.HighWatermark = int64(ti*100) + int64(p.Partition)
			start, n := p.FetchOffset, int64(p.PartitionMaxBytes)
			switch {
			case n == 0: // no records: an empty, non-null field
				rp.RecordBatches = []byte{}
			case h.noSplice:
				rp.RecordBatches = h.data[start : start+n]
			default:
				tag := NewSpliceTag()
				rp.RecordBatches = tag
				half := n / 2
				sr.Splices = append(sr.Splices, Splice{Tag: tag, Regions: []FileRegion{
					{File: h.file, Pos: start, Len: half}, {File: h.file, Pos: start + half, Len: n - half}}})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if h.reversed {
		for i, j := 0, len(sr.Splices)-1; i < j; i, j = i+1, j-1 {
			sr.Splices[i], sr.Splices[j] = sr.Splices[j], sr.Splices[i]
		}
	}
	return sr
}

func startSpliceServer(t *testing.T, h *spliceHandler) *Client {
	t.Helper()
	s, err := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1"}}}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, s.BoundAddrs()["PLAINTEXT"].String(), "splice")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// A spliced Fetch response decodes to exactly the bytes of the same response
// built in memory, at flexible and non-flexible versions, with several
// partitions (sizes that need 1-, 2- and 3-byte uvarint lengths) and empty ones.
func TestSplicedFetchMatchesInMemory(t *testing.T) {
	data := make([]byte, 1<<20)
	rand.New(rand.NewSource(1)).Read(data)
	path := filepath.Join(t.TempDir(), "segment")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spliced := startSpliceServer(t, &spliceHandler{file: f, data: data})
	plain := startSpliceServer(t, &spliceHandler{file: f, data: data, noSplice: true})
	fallback := startSpliceServer(t, &spliceHandler{file: f, data: data, reversed: true})

	sizes := []int32{1, 0, 100, 127, 128, 300, 16383, 16384, 70000, 500000}
	for _, v := range []int16{4, 11, 12, 13, 16} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(v)
			for ti := 0; ti < 2; ti++ {
				rt := kmsg.NewFetchRequestTopic()
				rt.Topic = fmt.Sprintf("topic-%d", ti)
				rt.TopicID[0] = byte(ti + 1)
				for pi, n := range sizes {
					rp := kmsg.NewFetchRequestTopicPartition()
					rp.Partition = int32(pi)
					rp.FetchOffset = int64(pi*1000 + ti*7)
					rp.PartitionMaxBytes = n
					rt.Partitions = append(rt.Partitions, rp)
				}
				req.Topics = append(req.Topics, rt)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			want, err := plain.Request(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			for name, c := range map[string]*Client{"sendfile": spliced, "copy fallback": fallback} {
				got, err := c.Request(ctx, req)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				w, g := want.(*kmsg.FetchResponse), got.(*kmsg.FetchResponse)
				for ti := range w.Topics {
					for pi := range w.Topics[ti].Partitions {
						wp, gp := w.Topics[ti].Partitions[pi], g.Topics[ti].Partitions[pi]
						if !bytes.Equal(wp.RecordBatches, gp.RecordBatches) || wp.HighWatermark != gp.HighWatermark {
							t.Fatalf("%s: topic %d partition %d: got %d bytes (hw %d), want %d bytes (hw %d)", name, ti, pi,
								len(gp.RecordBatches), gp.HighWatermark, len(wp.RecordBatches), wp.HighWatermark)
						}
					}
				}
			}
		})
	}
}

// A region past the end of its file must not produce a short frame: the
// connection is closed instead, and the client sees an error, not garbage.
func TestSplicedRegionPastEOFClosesConnection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(path, make([]byte, 100), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := startSpliceServer(t, &spliceHandler{file: f, data: make([]byte, 1000)})
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 50, 500
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := c.Request(ctx, req); err == nil {
		t.Fatalf("got a response from a region past EOF: %+v", resp)
	}
}
