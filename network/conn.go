package network

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const (
	connReadBufferSize  = 32 << 10
	connWriteBufferSize = 32 << 10
)

// errIdle ends a connection idle for longer than connections.max.idle.ms.
var errIdle = errors.New("connection idle")

// protocolError is a bad frame from the peer: it is logged at Warn and closes
// only that connection.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return e.msg }

func protoErrorf(format string, args ...any) error {
	return &protocolError{msg: fmt.Sprintf(format, args...)}
}

// outFrame is one encoded response on its way to the writer.
type outFrame struct {
	buf        *[]byte // pooled; returned by the writer
	pieces     []piece // a spliced response: written instead of buf, whose bytes they share
	size       int     // bytes on the wire, with pieces
	key        int16
	receivedAt time.Time
}

// conn is one accepted connection. Its reader goroutine owns the socket's read
// side and its lifetime; its writer goroutine owns the write side.
//
// slot is Kafka's "mute": the reader fills it before dispatching a request and
// it is emptied once that request's response has been flushed (by the writer)
// or turned out to need none (by the handler). So a connection has at most one
// request in flight and at most one response in out, and a handler's send to
// out never blocks on a slow client.
type conn struct {
	s        *Server
	nc       net.Conn
	listener string
	peer     net.Addr
	log      *logrus.Entry
	br       *bufio.Reader
	bw       *bufio.Writer

	slot   chan struct{} // cap 1: full while a request is in flight
	out    chan *outFrame
	closed chan struct{}
	once   sync.Once

	lastActive atomic.Int64 // unix nanos of the last byte read or flush
}

func newConn(s *Server, listener string, nc net.Conn) *conn {
	c := &conn{
		s:        s,
		nc:       nc,
		listener: listener,
		peer:     nc.RemoteAddr(),
		br:       bufio.NewReaderSize(nc, connReadBufferSize),
		bw:       bufio.NewWriterSize(nc, connWriteBufferSize),
		slot:     make(chan struct{}, 1),
		out:      make(chan *outFrame, 1),
		closed:   make(chan struct{}),
	}
	c.log = s.log.WithFields(logrus.Fields{"listener": listener, "peer": c.peer.String()})
	c.touch()
	return c
}

// close tears the connection down; safe from any goroutine, any number of times.
func (c *conn) close() {
	c.once.Do(func() {
		close(c.closed)
		c.nc.Close()
		c.s.removeConn(c)
	})
}

func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// acquire waits until no request of this connection is in flight and claims
// the slot. It fails when the connection or the server is closing.
func (c *conn) acquire() bool {
	select {
	case c.slot <- struct{}{}:
		return true
	case <-c.closed:
		return false
	case <-c.s.ctx.Done():
		return false
	}
}

// release unmutes the connection: the in-flight request is finished.
func (c *conn) release() {
	select {
	case <-c.slot:
	default:
	}
}

// send hands an encoded response to the writer. It cannot block for long: the
// slot guarantees out is empty when a response for the in-flight request is sent.
func (c *conn) send(f *outFrame) {
	select {
	case c.out <- f:
	case <-c.closed:
		putBuf(f.buf)
	}
}

func (c *conn) readLoop() {
	defer c.close()
	if c.s.cfg.ConnectionsMaxIdle > 0 {
		c.armIdleDeadline()
	}
	for {
		frame, err := c.readFrame()
		if err == nil {
			receivedAt := time.Now()
			var req *Request
			var early *outFrame
			req, early, err = c.decode(frame, receivedAt)
			if err == nil {
				if !c.acquire() {
					return
				}
				if early != nil {
					c.send(early)
					continue
				}
				select {
				case c.s.queue <- req:
				case <-c.closed:
					return
				case <-c.s.ctx.Done():
					return
				}
				continue
			}
		}
		var pe *protocolError
		switch {
		case errors.As(err, &pe):
			c.log.Warnf("Closing connection from %s on listener %s: %s", c.peer, c.listener, pe.msg)
			// Let the response to the previous request reach the peer first.
			c.acquire()
		case errors.Is(err, errIdle):
			c.log.Debugf("Closing connection from %s idle for more than %s", c.peer, c.s.cfg.ConnectionsMaxIdle)
		case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
			c.log.Debugf("Connection from %s closed", c.peer)
		default:
			c.log.WithError(err).Debugf("Error reading from %s; closing connection", c.peer)
		}
		return
	}
}

// readFrame reads one size-prefixed frame. The size is checked before the body
// is read, so an oversized or negative size costs no allocation.
func (c *conn) readFrame() ([]byte, error) {
	var sz [4]byte
	if err := c.readFull(sz[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 0 || size > c.s.cfg.SocketRequestMaxBytes {
		return nil, protoErrorf("frame size %d is negative or larger than socket.request.max.bytes (%d)",
			size, c.s.cfg.SocketRequestMaxBytes)
	}
	frame := make([]byte, size)
	if err := c.readFull(frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return frame, nil
}

// readFull is io.ReadFull that survives read deadlines while the connection is
// not idle: the deadline is only a wake-up to check connections.max.idle.ms.
func (c *conn) readFull(p []byte) error {
	for n := 0; n < len(p); {
		m, err := c.br.Read(p[n:])
		n += m
		if m > 0 {
			c.touch()
		}
		if err == nil {
			continue
		}
		var ne net.Error
		if c.s.cfg.ConnectionsMaxIdle > 0 && errors.As(err, &ne) && ne.Timeout() {
			if c.idleExpired() {
				return errIdle
			}
			c.armIdleDeadline()
			continue
		}
		if errors.Is(err, io.EOF) && n > 0 {
			return io.ErrUnexpectedEOF
		}
		return err
	}
	return nil
}

// idleExpired: nothing read or written for ConnectionsMaxIdle and no request in
// flight (a long Fetch wait is not idleness).
func (c *conn) idleExpired() bool {
	idle := time.Since(time.Unix(0, c.lastActive.Load()))
	return idle >= c.s.cfg.ConnectionsMaxIdle && len(c.slot) == 0
}

func (c *conn) armIdleDeadline() {
	last := time.Unix(0, c.lastActive.Load())
	deadline := last.Add(c.s.cfg.ConnectionsMaxIdle)
	if !deadline.After(time.Now()) {
		// In flight: poll again a full idle period from now.
		deadline = time.Now().Add(c.s.cfg.ConnectionsMaxIdle)
	}
	_ = c.nc.SetReadDeadline(deadline)
}

// decode parses and validates one frame. It returns either a request for the
// handler pool, or a ready response frame (KIP-511 ApiVersions), or a
// protocolError that closes the connection.
func (c *conn) decode(frame []byte, receivedAt time.Time) (*Request, *outFrame, error) {
	if len(frame) < 8 {
		return nil, nil, protoErrorf("frame of %d bytes is too short for a request header", len(frame))
	}
	h := RequestHeader{
		APIKey:        int16(binary.BigEndian.Uint16(frame)),
		APIVersion:    int16(binary.BigEndian.Uint16(frame[2:])),
		CorrelationID: int32(binary.BigEndian.Uint32(frame[4:])),
	}
	minV, maxV, ok := c.s.h.Versions(h.APIKey)
	body := kmsg.RequestForKey(h.APIKey)
	if !ok || body == nil {
		return nil, nil, protoErrorf("unsupported API key %d (%s) version %d, correlation id %d",
			h.APIKey, kmsg.NameForKey(h.APIKey), h.APIVersion, h.CorrelationID)
	}
	if h.APIVersion < minV || h.APIVersion > maxV || h.APIVersion > body.MaxVersion() {
		if h.APIKey == apiVersionsKey {
			// KIP-511: the body is in a format we cannot know, so only the
			// correlation id is used; the answer lets the client downgrade.
			c.s.metrics.received(h.APIKey, len(frame))
			buf := getBuf()
			*buf = AppendResponse((*buf)[:0], h.CorrelationID, unsupportedAPIVersionsResponse(minV, maxV))
			return nil, &outFrame{buf: buf, key: h.APIKey, receivedAt: receivedAt}, nil
		}
		return nil, nil, protoErrorf("unsupported version %d of API key %d (%s) (supported %d-%d), correlation id %d",
			h.APIVersion, h.APIKey, kmsg.NameForKey(h.APIKey), minV, maxV, h.CorrelationID)
	}
	body.SetVersion(h.APIVersion)
	hv := int16(1)
	switch {
	case h.APIKey == controlledShutdownKey && h.APIVersion == 0:
		hv = 0
	case body.IsFlexible():
		hv = 2
	}
	h, rest, err := parseHeaderRest(h, hv, frame[8:])
	if err != nil {
		return nil, nil, protoErrorf("bad header of %s v%d request: %v", kmsg.NameForKey(h.APIKey), h.APIVersion, err)
	}
	if err := body.ReadFrom(rest); err != nil {
		return nil, nil, protoErrorf("cannot decode %s v%d request body (correlation id %d): %v",
			kmsg.NameForKey(h.APIKey), h.APIVersion, h.CorrelationID, err)
	}
	c.s.metrics.received(h.APIKey, len(frame))
	return &Request{
		Header:     h,
		Body:       body,
		Listener:   c.listener,
		ClientAddr: c.peer,
		ReceivedAt: receivedAt,
		Size:       len(frame),
		c:          c,
	}, nil, nil
}

// writeLoop copies encoded responses to the socket through a buffered writer,
// flushing whenever no further response is pending.
func (c *conn) writeLoop() {
	for {
		select {
		case f := <-c.out:
			n, err := c.writeFrame(f)
			putBuf(f.buf)
			if err == nil && len(c.out) == 0 {
				err = c.bw.Flush()
			}
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					c.log.WithError(err).Debugf("Error writing response to %s; closing connection", c.peer)
				}
				c.close()
				return
			}
			c.touch()
			c.s.metrics.sent(f.key, n, f.receivedAt)
			c.release()
		case <-c.closed:
			return
		}
	}
}

// writeFrame writes one response; the regions of a spliced one go from file
// to socket with sendfile, after the bytes buffered before them.
func (c *conn) writeFrame(f *outFrame) (int, error) {
	if f.pieces == nil {
		_, err := c.bw.Write(*f.buf)
		return len(*f.buf), err
	}
	for _, p := range f.pieces {
		if p.region.File == nil {
			if _, err := c.bw.Write(p.b); err != nil {
				return 0, err
			}
			continue
		}
		if err := c.bw.Flush(); err != nil {
			return 0, err
		}
		if err := sendRegion(c.nc, p.region); err != nil {
			return 0, err
		}
	}
	return f.size, nil
}

// maxPooledBuf keeps one huge response from pinning memory in the pool forever.
const maxPooledBuf = 8 << 20

var bufPool = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > maxPooledBuf {
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}
