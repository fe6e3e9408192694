package network

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeHandler serves ApiVersions 0–3, Metadata 0–12 and Produce 0–10. Metadata
// echoes the requested topic names; some names change behaviour:
// "slow" sleeps, "block" waits for ctx, "gate" waits for gate, "panic" panics.
type fakeHandler struct {
	gate     chan struct{}
	versions map[int16][2]int16

	mu      sync.Mutex
	seen    []RequestHeader
	entered chan string // receives topic names of "block"/"gate" requests on entry

	inFlight    atomic.Int32
	maxInFlight atomic.Int32
}

func newFakeHandler() *fakeHandler {
	v := make(map[int16][2]int16)
	for k, r := range fakeVersions {
		v[k] = r
	}
	return &fakeHandler{gate: make(chan struct{}), entered: make(chan string, 64), versions: v}
}

var fakeVersions = map[int16][2]int16{
	0:  {0, 10},
	3:  {0, 12},
	18: {0, 3},
}

func (f *fakeHandler) Versions(key int16) (int16, int16, bool) {
	v, ok := f.versions[key]
	return v[0], v[1], ok
}

func (f *fakeHandler) Handle(ctx context.Context, req *Request) kmsg.Response {
	n := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxInFlight.Load()
		if n <= m || f.maxInFlight.CompareAndSwap(m, n) {
			break
		}
	}
	f.mu.Lock()
	f.seen = append(f.seen, req.Header)
	f.mu.Unlock()

	switch body := req.Body.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := body.ResponseKind().(*kmsg.ApiVersionsResponse)
		keys := make([]int16, 0, len(fakeVersions))
		for k := range fakeVersions {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, k := range keys {
			ak := kmsg.NewApiVersionsResponseApiKey()
			ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, fakeVersions[k][0], fakeVersions[k][1]
			resp.ApiKeys = append(resp.ApiKeys, ak)
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := body.ResponseKind().(*kmsg.MetadataResponse)
		for _, rt := range body.Topics {
			name := ""
			if rt.Topic != nil {
				name = *rt.Topic
			}
			switch name {
			case "slow":
				time.Sleep(30 * time.Millisecond)
			case "block":
				f.entered <- name
				<-ctx.Done()
			case "gate":
				f.entered <- name
				select {
				case <-f.gate:
				case <-ctx.Done():
				}
			case "panic":
				panic("fake handler asked to panic")
			}
			t := kmsg.NewMetadataResponseTopic()
			t.Topic = kmsg.StringPtr(name)
			t.ErrorCode = 3
			resp.Topics = append(resp.Topics, t)
		}
		return resp
	case *kmsg.ProduceRequest:
		if body.Acks == 0 {
			return nil
		}
		return body.ResponseKind()
	case *kmsg.ControlledShutdownRequest:
		return body.ResponseKind()
	}
	return nil
}

func (f *fakeHandler) seenHeaders() []RequestHeader {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]RequestHeader(nil), f.seen...)
}

type testServer struct {
	*Server
	addr string
	h    *fakeHandler
	hook *logtest.Hook
}

// startServer starts a server on 127.0.0.1:0; cleanup shuts it down and checks
// that every goroutine it started has gone.
func startServer(t testing.TB, mod func(*Config)) *testServer {
	t.Helper()
	before := runtime.NumGoroutine()
	logger, hook := logtest.NewNullLogger()
	logger.SetLevel(logrus.DebugLevel)
	cfg := Config{
		Listeners:             []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1"}},
		QueuedMaxRequests:     16,
		NumIOThreads:          4,
		SocketRequestMaxBytes: 1 << 20,
		Logger:                logrus.NewEntry(logger),
	}
	if mod != nil {
		mod(&cfg)
	}
	h := newFakeHandler()
	s, err := NewServer(cfg, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	ts := &testServer{Server: s, addr: s.BoundAddrs()["PLAINTEXT"].String(), h: h, hook: hook}
	t.Cleanup(func() {
		s.Shutdown()
		waitFor(t, "goroutines to exit after Shutdown", func() bool { return runtime.NumGoroutine() <= before })
	})
	return ts
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// warnings returns the messages of Warn-level log entries.
func (ts *testServer) warnings() []string {
	var out []string
	for _, e := range ts.hook.AllEntries() {
		if e.Level == logrus.WarnLevel {
			out = append(out, e.Message)
		}
	}
	return out
}

func (ts *testServer) waitWarning(t testing.TB, parts ...string) {
	t.Helper()
	waitFor(t, "a warning containing "+strings.Join(parts, ", "), func() bool {
		for _, w := range ts.warnings() {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(w, p)
			}
			if all {
				return true
			}
		}
		return false
	})
}

func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc
}

func writeReq(t testing.TB, nc net.Conn, corr int32, req kmsg.Request) {
	t.Helper()
	if _, err := nc.Write(AppendRequest(nil, corr, kmsg.StringPtr("raw"), req)); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one response frame and returns its correlation id and the
// bytes after it (response header tags included, if any).
func readFrame(t testing.TB, nc net.Conn) (int32, []byte) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(nc, sz[:]); err != nil {
		t.Fatalf("reading response size: %v", err)
	}
	frame := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(nc, frame); err != nil {
		t.Fatalf("reading response: %v", err)
	}
	return int32(binary.BigEndian.Uint32(frame)), frame[4:]
}

// expectClosed waits for the server to close nc (EOF or reset, not a timeout).
func expectClosed(t testing.TB, nc net.Conn) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	for {
		_, err := nc.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection not closed by server: %v", err)
		}
		return
	}
}

func metadataReq(version int16, topics ...string) *kmsg.MetadataRequest {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(version)
	for _, name := range topics {
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(name)
		req.Topics = append(req.Topics, rt)
	}
	return req
}

func dialClient(t testing.TB, addr string) *Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, addr, "test-client")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// checkMetadata does one Metadata round trip on c and checks the echoed topic.
func checkMetadata(t testing.TB, c *Client, version int16, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Request(ctx, metadataReq(version, topic))
	if err != nil {
		t.Fatalf("Metadata v%d: %v", version, err)
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 || mr.Topics[0].Topic == nil || *mr.Topics[0].Topic != topic {
		t.Fatalf("Metadata v%d: topics %+v, want echo of %q", version, mr.Topics, topic)
	}
}
