package network

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// sendRegion writes r to the socket with sendfile(2) at an explicit offset,
// so the file's shared read position is never used. The file's descriptor is
// held (Control) for the whole transfer: a concurrent Close cannot recycle
// its number under us.
func sendRegion(nc net.Conn, r FileRegion) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return copyRegion(nc, r)
	}
	out, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	in, err := r.File.SyscallConn()
	if err != nil {
		return err
	}
	var sendErr error
	ctlErr := in.Control(func(infd uintptr) {
		off, remain := r.Pos, r.Len
		werr := out.Write(func(outfd uintptr) bool {
			for remain > 0 {
				n, err := syscall.Sendfile(int(outfd), int(infd), &off, int(min(remain, 1<<30)))
				if n > 0 {
					remain -= int64(n)
				}
				switch {
				case errors.Is(err, syscall.EAGAIN):
					return false // wait until the socket is writable
				case errors.Is(err, syscall.EINTR):
				case err != nil:
					sendErr = err
					return true
				case n == 0:
					// The file is shorter than the region: never send a short
					// frame, the client could not resynchronize.
					sendErr = fmt.Errorf("%w: %s has no bytes at %d (region %d+%d)",
						io.ErrUnexpectedEOF, r.File.Name(), off, r.Pos, r.Len)
					return true
				}
			}
			return true
		})
		if sendErr == nil {
			sendErr = werr
		}
	})
	if ctlErr != nil {
		return ctlErr
	}
	return sendErr
}
