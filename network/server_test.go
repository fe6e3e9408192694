package network

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsRoundTrip(t *testing.T) {
	ts := startServer(t, nil)
	c := dialClient(t, ts.addr)
	for v := int16(0); v <= 3; v++ {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "zkafka-test", "1.0"
		resp, err := c.Request(context.Background(), req)
		if err != nil {
			t.Fatalf("ApiVersions v%d: %v", v, err)
		}
		av := resp.(*kmsg.ApiVersionsResponse)
		if av.GetVersion() != v || av.ErrorCode != 0 || len(av.ApiKeys) != 3 {
			t.Fatalf("ApiVersions v%d: %+v", v, av)
		}
		if k := av.ApiKeys[2]; k.ApiKey != 18 || k.MinVersion != 0 || k.MaxVersion != 3 {
			t.Fatalf("ApiVersions v%d: own range %+v", v, k)
		}
	}
	hs := ts.h.seenHeaders()
	if len(hs) != 4 || hs[3].ClientID == nil || *hs[3].ClientID != "test-client" {
		t.Fatalf("handler saw %+v", hs)
	}
}

// TestResponseHeaderVersions checks on the wire that flexible responses carry
// response header v1 except ApiVersions, which keeps v0.
func TestResponseHeaderVersions(t *testing.T) {
	ts := startServer(t, nil)
	nc := dialRaw(t, ts.addr)
	tests := []struct {
		req     kmsg.Request
		tagByte bool
	}{
		{kmsg.NewPtrApiVersionsRequest(), false},
		{metadataReq(8, "a"), false},
		{metadataReq(9, "a"), true},
		{metadataReq(12, "a"), true},
	}
	for i, tt := range tests {
		if tt.req.Key() == 18 {
			tt.req.SetVersion(3)
		}
		corr := int32(100 + i)
		writeReq(t, nc, corr, tt.req)
		gotCorr, rest := readFrame(t, nc)
		if gotCorr != corr {
			t.Fatalf("correlation id %d, want %d", gotCorr, corr)
		}
		if tt.tagByte {
			if rest[0] != 0 {
				t.Fatalf("%s v%d: want empty header tag section, got %x", kmsg.NameForKey(tt.req.Key()), tt.req.GetVersion(), rest[0])
			}
			rest = rest[1:]
		}
		resp := tt.req.ResponseKind()
		if err := resp.ReadFrom(rest); err != nil {
			t.Fatalf("%s v%d: decoding body: %v", kmsg.NameForKey(tt.req.Key()), tt.req.GetVersion(), err)
		}
		if !bytes.Equal(resp.AppendTo(nil), rest) {
			t.Fatalf("%s v%d: body does not re-encode identically", kmsg.NameForKey(tt.req.Key()), tt.req.GetVersion())
		}
	}
}

// TestApiVersionsTooNew is KIP-511: a newer ApiVersions than served is
// answered in v0 format with UNSUPPORTED_VERSION and only ApiVersions' range,
// and the connection stays usable.
func TestApiVersionsTooNew(t *testing.T) {
	ts := startServer(t, nil)
	nc := dialRaw(t, ts.addr)
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "x", "1"
	writeReq(t, nc, 7, req)
	corr, body := readFrame(t, nc)
	if corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	want := []byte{0, 35, 0, 0, 0, 1, 0, 18, 0, 0, 0, 3} // error, 1 key: 18 [0,3]
	if !bytes.Equal(body, want) {
		t.Fatalf("body %x, want v0 UNSUPPORTED_VERSION body %x", body, want)
	}
	req.SetVersion(3)
	writeReq(t, nc, 8, req)
	if corr, _ := readFrame(t, nc); corr != 8 {
		t.Fatalf("after KIP-511 answer: correlation id %d, want 8", corr)
	}
	if len(ts.h.seenHeaders()) != 1 {
		t.Fatalf("handler should only see the v3 request, saw %+v", ts.h.seenHeaders())
	}

	// Our own client falls back to decoding v0, as Kafka's does.
	c := dialClient(t, ts.addr)
	req.SetVersion(5)
	resp, err := c.Request(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	av := resp.(*kmsg.ApiVersionsResponse)
	if av.ErrorCode != 35 || len(av.ApiKeys) != 1 || av.ApiKeys[0].MaxVersion != 3 {
		t.Fatalf("client decoded %+v", av)
	}
}

// TestBadConnectionIsolated: each bad frame closes only its own connection,
// with a log line, while another connection keeps being served.
func TestBadConnectionIsolated(t *testing.T) {
	frameOf := func(size int32, payload []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(size)), payload...)
	}
	garbageBody := func(key, version int16) []byte {
		h := rawHeader(key, version, 5, strp("bad"), []byte{0})
		p := append(h, 0xff, 0xff, 0xff, 0xff, 0x0f) // a huge compact array length
		return frameOf(int32(len(p)), p)
	}
	hdr := func(key, version int16) []byte {
		p := rawHeader(key, version, 5, strp("bad"), nil)
		return frameOf(int32(len(p)), p)
	}
	tests := []struct {
		name      string
		send      []byte
		closeSend bool     // half-close after sending (truncation then EOF)
		warn      []string // parts of the expected Warn line; nil = no warning required
	}{
		{name: "garbage body", send: garbageBody(3, 12), warn: []string{"cannot decode Metadata v12"}},
		{name: "truncated body then EOF", send: frameOf(100, []byte{0, 3, 0, 1, 0, 0}), closeSend: true},
		{name: "truncated size then EOF", send: []byte{0, 0}, closeSend: true},
		{name: "oversized frame", send: frameOf(1<<20+1, []byte{0, 3}), warn: []string{"frame size 1048577"}},
		{name: "negative frame size", send: frameOf(-5, nil), warn: []string{"frame size -5"}},
		{name: "empty frame", send: frameOf(0, nil), warn: []string{"too short"}},
		{name: "unknown api key", send: hdr(999, 0), warn: []string{"unsupported API key 999", "version 0"}},
		{name: "key not served", send: hdr(45, 0), warn: []string{"unsupported API key 45 (AlterPartitionAssignments)"}},
		{name: "version too new", send: hdr(3, 13), warn: []string{"unsupported version 13 of API key 3 (Metadata)"}},
		{name: "negative version", send: hdr(0, -1), warn: []string{"unsupported version -1 of API key 0 (Produce)"}},
		{name: "bad client id length", send: frameOf(10, []byte{0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0}), warn: []string{"bad header of Metadata v1"}},
	}
	ts := startServer(t, nil)
	good := dialClient(t, ts.addr)
	checkMetadata(t, good, 12, "before")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := dialRaw(t, ts.addr)
			if _, err := bad.Write(tt.send); err != nil {
				t.Fatal(err)
			}
			if tt.closeSend {
				bad.(interface{ CloseWrite() error }).CloseWrite()
			}
			expectClosed(t, bad)
			if tt.warn != nil {
				ts.waitWarning(t, append(tt.warn, bad.LocalAddr().String())...)
			}
			checkMetadata(t, good, 12, tt.name)
			checkMetadata(t, good, 1, tt.name)
		})
	}
}

// TestPipelinedOrder sends several requests at once; the first is slowest, yet
// the responses come back in request order and the handler never sees two
// requests of one connection at the same time.
func TestPipelinedOrder(t *testing.T) {
	ts := startServer(t, nil)
	nc := dialRaw(t, ts.addr)
	topics := []string{"slow", "a", "slow", "b", "c", "d"}
	var buf []byte
	for i, name := range topics {
		buf = AppendRequest(buf, int32(i+1), nil, metadataReq(int16(i%2*12), name))
	}
	if _, err := nc.Write(buf); err != nil {
		t.Fatal(err)
	}
	for i, name := range topics {
		corr, body := readFrame(t, nc)
		if corr != int32(i+1) {
			t.Fatalf("response %d: correlation id %d", i, corr)
		}
		req := metadataReq(int16(i%2*12), name)
		if req.IsFlexible() {
			body = body[1:]
		}
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if len(resp.Topics) != 1 || *resp.Topics[0].Topic != name {
			t.Fatalf("response %d: topics %+v, want %q", i, resp.Topics, name)
		}
	}
	if m := ts.h.maxInFlight.Load(); m != 1 {
		t.Fatalf("handler saw %d requests of one connection at once, want 1", m)
	}
}

// TestNoResponse: a request answered with nil (Produce acks=0) writes nothing
// and unmutes the connection for the next request.
func TestNoResponse(t *testing.T) {
	ts := startServer(t, nil)
	nc := dialRaw(t, ts.addr)
	p := kmsg.NewPtrProduceRequest()
	p.SetVersion(9)
	p.Acks = 0
	writeReq(t, nc, 1, p)
	writeReq(t, nc, 2, metadataReq(12, "x"))
	if corr, _ := readFrame(t, nc); corr != 2 {
		t.Fatalf("first response has correlation id %d, want 2 (acks=0 gets none)", corr)
	}

	c := dialClient(t, ts.addr)
	resp, err := c.Request(context.Background(), p)
	if err != nil || resp != nil {
		t.Fatalf("acks=0 via Client: %v, %v", resp, err)
	}
	checkMetadata(t, c, 12, "after-acks0")
	p.Acks = 1
	if resp, err := c.Request(context.Background(), p); err != nil || resp.Key() != 0 {
		t.Fatalf("acks=1 via Client: %v, %v", resp, err)
	}
}

// TestQueueBackPressure: with a one-slot queue and one handler, further
// requests wait in their readers instead of being dropped.
func TestQueueBackPressure(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.QueuedMaxRequests, c.NumIOThreads = 1, 1 })
	const n = 4
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		c := dialClient(t, ts.addr)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := c.Request(context.Background(), metadataReq(12, "gate"))
			if err == nil && len(resp.(*kmsg.MetadataResponse).Topics) != 1 {
				err = fmt.Errorf("bad response %+v", resp)
			}
			errs <- err
		}()
	}
	<-ts.h.entered
	waitFor(t, "the queue to fill", func() bool { return len(ts.queue) == 1 })
	if got := ts.h.inFlight.Load(); got != 1 {
		t.Fatalf("%d requests in the handler, want 1", got)
	}
	close(ts.h.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := len(ts.h.seenHeaders()); got != n {
		t.Fatalf("handler saw %d requests, want %d", got, n)
	}
}

// TestShutdownCancelsHandlers: Shutdown cancels the context of a blocked
// Handle and waits for it; the client sees its connection closed.
func TestShutdownCancelsHandlers(t *testing.T) {
	ts := startServer(t, nil)
	c := dialClient(t, ts.addr)
	errc := make(chan error, 1)
	go func() {
		_, err := c.Request(context.Background(), metadataReq(12, "block"))
		errc <- err
	}()
	<-ts.h.entered
	done := make(chan struct{})
	go func() { ts.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not return")
	}
	if err := <-errc; err == nil {
		t.Fatal("request on a shut-down server succeeded")
	}
	if _, err := Dial(context.Background(), ts.addr, "late"); err == nil {
		t.Fatal("dial after Shutdown succeeded")
	}
}

func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	ts := startServer(t, nil)
	good := dialClient(t, ts.addr)
	bad := dialRaw(t, ts.addr)
	writeReq(t, bad, 1, metadataReq(12, "panic"))
	expectClosed(t, bad)
	checkMetadata(t, good, 12, "still-fine")
}

func TestIdleConnectionsClosed(t *testing.T) {
	ts := startServer(t, func(c *Config) { c.ConnectionsMaxIdle = 50 * time.Millisecond })
	idle := dialRaw(t, ts.addr)
	expectClosed(t, idle)

	// A request in flight longer than the idle limit does not count as idle.
	c := dialClient(t, ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Request(ctx, metadataReq(12, "slow", "slow", "slow")); err != nil {
		t.Fatalf("slow request on idle-limited connection: %v", err)
	}
}

func TestMetrics(t *testing.T) {
	reg := metrics.NewRegistry()
	// go-metrics starts one process-wide meter ticker goroutine on first use;
	// start it before the leak check takes its baseline.
	metrics.NewMeter().Stop()
	ts := startServer(t, func(c *Config) { c.Metrics = reg })
	c := dialClient(t, ts.addr)
	for i := 0; i < 3; i++ {
		checkMetadata(t, c, 12, "m")
	}
	meter := func(name string) int64 {
		m, ok := reg.Get(name).(metrics.Meter)
		if !ok {
			t.Fatalf("metric %s missing", name)
		}
		return m.Count()
	}
	if got := meter("kafka.network:type=RequestMetrics,name=RequestsPerSec,request=Metadata"); got != 3 {
		t.Fatalf("Metadata RequestsPerSec count = %d, want 3", got)
	}
	if got := meter(metricIncomingBytes); got <= 3*8 {
		t.Fatalf("incoming bytes = %d", got)
	}
	if got := meter(metricOutgoingBytes); got <= 0 {
		t.Fatalf("outgoing bytes = %d", got)
	}
	h, ok := reg.Get("kafka.network:type=RequestMetrics,name=RequestBytes,request=Metadata").(metrics.Histogram)
	if !ok || h.Count() != 3 {
		t.Fatalf("RequestBytes histogram %v", h)
	}
	if g, ok := reg.Get(metricConnections).(metrics.Gauge); !ok || g.Value() != 1 {
		t.Fatalf("connection-count gauge %v", g)
	}
}

func TestNewServerValidates(t *testing.T) {
	h := newFakeHandler()
	tests := []struct {
		name string
		cfg  Config
		h    Handler
	}{
		{"no listeners", Config{}, h},
		{"nil handler", Config{Listeners: []Listener{{Name: "A"}}}, nil},
		{"unnamed listener", Config{Listeners: []Listener{{Port: 1}}}, h},
		{"duplicate names", Config{Listeners: []Listener{{Name: "A"}, {Name: "A"}}}, h},
	}
	for _, tt := range tests {
		if _, err := NewServer(tt.cfg, tt.h); err == nil {
			t.Errorf("%s: NewServer succeeded", tt.name)
		}
	}
}

func TestTwoListenersAndBindFailure(t *testing.T) {
	ts := startServer(t, func(c *Config) {
		c.Listeners = append(c.Listeners, Listener{Name: "INTERNAL", Host: "127.0.0.1"})
	})
	addrs := ts.BoundAddrs()
	if len(addrs) != 2 || addrs["INTERNAL"] == nil || addrs["INTERNAL"].String() == ts.addr {
		t.Fatalf("BoundAddrs = %v", addrs)
	}
	checkMetadata(t, dialClient(t, addrs["INTERNAL"].String()), 12, "internal")
	hs := ts.h.seenHeaders()
	if len(hs) != 1 {
		t.Fatalf("seen %v", hs)
	}

	// A port already in use fails Start and leaves nothing bound.
	s, err := NewServer(Config{Listeners: []Listener{
		{Name: "FREE", Host: "127.0.0.1"},
		{Name: "TAKEN", Host: "127.0.0.1", Port: addrs["INTERNAL"].(*net.TCPAddr).Port},
	}}, ts.h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err == nil {
		t.Fatal("Start on a port in use succeeded")
	}
	if got := s.BoundAddrs(); len(got) != 0 {
		t.Fatalf("after failed Start BoundAddrs = %v", got)
	}
	s.Shutdown()
}
