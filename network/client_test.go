package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestClientConcurrentCallersSerialised(t *testing.T) {
	ts := startServer(t, nil)
	c := dialClient(t, ts.addr)
	var wg sync.WaitGroup
	errs := make(chan error, 8*10)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				topic := fmt.Sprintf("t-%d-%d", g, i)
				resp, err := c.Request(context.Background(), metadataReq(int16(i%13), topic))
				if err != nil {
					errs <- err
					return
				}
				mr := resp.(*kmsg.MetadataResponse)
				if len(mr.Topics) != 1 || *mr.Topics[0].Topic != topic {
					errs <- fmt.Errorf("asked for %s, got %+v", topic, mr.Topics)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if m := ts.h.maxInFlight.Load(); m != 1 {
		t.Fatalf("one client had %d requests in the handler at once", m)
	}
}

// TestClientControlledShutdownV0 checks every request header version end to
// end, including v0, which kmsg's own formatter cannot send.
func TestClientControlledShutdownV0(t *testing.T) {
	ts := startServer(t, nil)
	ts.h.versions[7] = [2]int16{0, 3}
	c := dialClient(t, ts.addr)
	for _, v := range []int16{0, 1, 3} {
		req := kmsg.NewPtrControlledShutdownRequest()
		req.SetVersion(v)
		req.BrokerID = 42
		resp, err := c.Request(context.Background(), req)
		if err != nil {
			t.Fatalf("v%d: %v", v, err)
		}
		if resp.GetVersion() != v {
			t.Fatalf("v%d: response version %d", v, resp.GetVersion())
		}
		hs := ts.h.seenHeaders()
		h := hs[len(hs)-1]
		if h.APIKey != 7 || h.APIVersion != v || (v == 0) != (h.ClientID == nil) {
			t.Fatalf("v%d: handler saw header %+v", v, h)
		}
	}
}

func TestClientContextCancelBreaksConnection(t *testing.T) {
	ts := startServer(t, nil)
	c := dialClient(t, ts.addr)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Request(ctx, metadataReq(12, "gate"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	if _, err := c.Request(context.Background(), metadataReq(12, "x")); err == nil {
		t.Fatal("request on a broken client succeeded")
	}
	close(ts.h.gate)
}

func TestClientClose(t *testing.T) {
	ts := startServer(t, nil)
	c := dialClient(t, ts.addr)
	checkMetadata(t, c, 12, "x")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := c.Request(context.Background(), metadataReq(12, "x"))
	if !errors.Is(err, net.ErrClosed) {
		t.Fatalf("err after Close = %v, want net.ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestDialFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Dial(context.Background(), addr, "x"); err == nil {
		t.Fatal("Dial to a closed port succeeded")
	}
}
