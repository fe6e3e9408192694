package network

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// maxResponseBytes bounds a response frame the client will allocate for; a
// larger size means the stream is out of sync.
const maxResponseBytes = 1 << 30

// Client is one TCP connection to a broker with one request in flight at a
// time; concurrent callers are served one after another. After any I/O or
// framing error the connection is closed and every later call fails: the
// caller (the controller's channel to a broker) dials again.
type Client struct {
	addr string
	nc   net.Conn
	br   *bufio.Reader
	id   *string

	sem       chan struct{} // cap 1: serialises requests, honouring ctx while waiting
	corr      int32         // guarded by sem
	buf       []byte        // guarded by sem
	err       error         // guarded by sem: sticky once the connection is broken
	closeOnce sync.Once
	closed    chan struct{}
}

// Dial connects to addr; clientID is sent in every request header (except
// ControlledShutdown v0, whose header has none).
func Dial(ctx context.Context, addr string, clientID string) (*Client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("network: dial %s: %w", addr, err)
	}
	return &Client{
		addr:   addr,
		nc:     nc,
		br:     bufio.NewReaderSize(nc, connReadBufferSize),
		id:     &clientID,
		sem:    make(chan struct{}, 1),
		closed: make(chan struct{}),
	}, nil
}

// Addr is the address the client dialed.
func (c *Client) Addr() string { return c.addr }

// Request sends req at req.GetVersion() and returns the decoded response. A
// Produce with acks=0 gets no response from a broker, so it returns (nil, nil)
// once written. Cancelling ctx aborts the request and breaks the connection.
func (c *Client) Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-c.closed:
		return nil, c.closedErr()
	}
	defer func() { <-c.sem }()
	if c.err != nil {
		return nil, c.err
	}
	resp, err := c.roundTrip(ctx, req)
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (%v)", ctx.Err(), err)
		}
		select {
		case <-c.closed:
			err = c.closedErr()
		default:
		}
		c.err = fmt.Errorf("network: %s request to %s: %w", kmsg.NameForKey(req.Key()), c.addr, err)
		c.Close()
		return nil, c.err
	}
	return resp, nil
}

func (c *Client) closedErr() error {
	return fmt.Errorf("network: client to %s: %w", c.addr, net.ErrClosed)
}

func (c *Client) roundTrip(ctx context.Context, req kmsg.Request) (kmsg.Response, error) {
	// Only ctx bounds the call: the AfterFunc runs once ctx is done, so an I/O
	// error caused by it is always reported with ctx.Err().
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		// Unblock the read or write in progress; the connection is then unusable.
		_ = c.nc.SetDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			// ctx ended just as the call finished: undo the deadline so a
			// completed exchange does not poison the next one.
			<-fired
			_ = c.nc.SetDeadline(time.Time{})
		}
	}()

	c.corr++
	corr := c.corr
	c.buf = AppendRequest(c.buf[:0], corr, c.id, req)
	if _, err := c.nc.Write(c.buf); err != nil {
		return nil, err
	}
	if cap(c.buf) > maxPooledBuf {
		c.buf = nil
	}
	if p, ok := req.(*kmsg.ProduceRequest); ok && p.Acks == 0 {
		return nil, nil
	}

	var sz [4]byte
	if _, err := io.ReadFull(c.br, sz[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 4 || size > maxResponseBytes {
		return nil, fmt.Errorf("bad response frame size %d", size)
	}
	frame := make([]byte, size)
	if _, err := io.ReadFull(c.br, frame); err != nil {
		return nil, err
	}
	if got := int32(binary.BigEndian.Uint32(frame)); got != corr {
		return nil, fmt.Errorf("response correlation id %d, want %d", got, corr)
	}
	body := frame[4:]
	if req.Key() != apiVersionsKey && req.IsFlexible() {
		var err error
		if body, err = skipTaggedFields(body); err != nil {
			return nil, fmt.Errorf("response header: %w", err)
		}
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	err := resp.ReadFrom(body)
	if req.Key() == apiVersionsKey && req.GetVersion() > 0 {
		// KIP-511: a broker that does not know our version answers in v0.
		if av, ok := resp.(*kmsg.ApiVersionsResponse); err != nil || (ok && av.ErrorCode == errUnsupportedVersion) {
			v0 := kmsg.NewPtrApiVersionsResponse()
			v0.SetVersion(0)
			if v0.ReadFrom(body) == nil {
				return v0, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s v%d response: %w", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp, nil
}

// Close closes the connection; a request in progress fails.
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() {
		close(c.closed)
		err = c.nc.Close()
	})
	return err
}

var _ kmsg.Requestor = (*Client)(nil)
