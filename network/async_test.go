package network

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// asyncHandler holds responses to client "slow" until release is closed, the way a parked Fetch waits for data.
type asyncHandler struct {
	release chan struct{}
}

func (h *asyncHandler) Versions(key int16) (int16, int16, bool) {
	switch key {
	case 3:
		return 0, 12, true
	case 18:
		return 0, 3, true
	}
	return 0, 0, false
}

func (h *asyncHandler) Handle(context.Context, *Request) kmsg.Response {
	panic("Handle must not be called when HandleAsync exists")
}

func (h *asyncHandler) HandleAsync(ctx context.Context, req *Request, respond func(kmsg.Response)) {
	resp := req.Body.ResponseKind()
	if req.Header.ClientID != nil && *req.Header.ClientID == "slow" {
		go func() {
			<-h.release
			respond(resp)
			respond(resp) // a second call must be ignored
		}()
		return
	}
	respond(resp)
}

// With one handler thread, a request whose response is deferred must not hold the thread: another connection's
// request is served while the first still waits (if the thread were held, the second request would never be
// answered before release, and the test would time out).
func TestAsyncHandlerFreesHandlerThread(t *testing.T) {
	h := &asyncHandler{release: make(chan struct{})}
	s, err := NewServer(Config{Listeners: []Listener{{Name: "PLAINTEXT", Host: "127.0.0.1"}}, NumIOThreads: 1}, h)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	addr := s.BoundAddrs()["PLAINTEXT"].String()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slow, err := Dial(ctx, addr, "slow")
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fast, err := Dial(ctx, addr, "fast")
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()
	metadata := func() kmsg.Request {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(12)
		return req
	}
	slowDone := make(chan error, 1)
	go func() {
		_, err := slow.Request(ctx, metadata())
		slowDone <- err
	}()
	for i := 0; i < 3; i++ {
		if _, err := fast.Request(ctx, metadata()); err != nil {
			t.Fatalf("fast request %d while another waits: %v", i, err)
		}
	}
	select {
	case err := <-slowDone:
		t.Fatalf("deferred response arrived before release (err %v)", err)
	default:
	}
	close(h.release)
	if err := <-slowDone; err != nil {
		t.Fatal(err)
	}
	// The connection is unmuted afterwards, and the ignored second respond sent nothing: a stray extra response
	// would be read as the answer to this request and fail its correlation id check.
	for i := 0; i < 3; i++ {
		if _, err := slow.Request(ctx, metadata()); err != nil {
			t.Fatalf("request %d after a deferred one: %v", i, err)
		}
	}
}
