package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// maxDecompressedBytes bounds the records stream of one compressed batch so
// a small hostile batch cannot make the broker allocate without limit.
// Kafka has no such bound; 256 MiB is far above any sane batch.
var maxDecompressedBytes = 256 << 20

// bufPool holds scratch buffers for decompressed record streams; the stored
// batch bytes stay exactly as received, so these never escape validation.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 16<<20 { // do not pin huge buffers
		return
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

type gzipState struct {
	src bytes.Reader
	zr  *gzip.Reader
}

var (
	gzipPool = sync.Pool{New: func() any { return new(gzipState) }}
	lz4Pool  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}

	zstdOnce sync.Once
	zstdDec  *zstd.Decoder
	zstdErr  error
)

// zstdDecoder is shared: DecodeAll is safe for concurrent use and starts no
// goroutines, so one decoder for the process is enough.
func zstdDecoder() (*zstd.Decoder, error) {
	zstdOnce.Do(func() {
		zstdDec, zstdErr = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(0),
			zstd.WithDecoderMaxMemory(uint64(maxDecompressedBytes)))
	})
	return zstdDec, zstdErr
}

// decompress returns the records stream of a compressed batch payload,
// written into dst[:0] (grown as needed).
func decompress(codec int, src, dst []byte) ([]byte, error) {
	dst = dst[:0]
	switch codec {
	case codecGzip:
		st := gzipPool.Get().(*gzipState)
		defer gzipPool.Put(st)
		st.src.Reset(src)
		var err error
		if st.zr == nil {
			st.zr, err = gzip.NewReader(&st.src)
		} else {
			err = st.zr.Reset(&st.src)
		}
		if err != nil {
			return dst, err
		}
		return readAllLimited(st.zr, dst)
	case codecSnappy:
		return snappyXerialDecode(src, dst)
	case codecLZ4:
		zr := lz4Pool.Get().(*lz4.Reader)
		defer lz4Pool.Put(zr)
		zr.Reset(bytes.NewReader(src))
		return readAllLimited(zr, dst)
	case codecZstd:
		d, err := zstdDecoder()
		if err != nil {
			return dst, err
		}
		return d.DecodeAll(src, dst)
	}
	return dst, fmt.Errorf("%w: codec %d", ErrUnsupportedCompressionType, codec)
}

func readAllLimited(r io.Reader, dst []byte) ([]byte, error) {
	for {
		if len(dst) == cap(dst) {
			if len(dst) >= maxDecompressedBytes {
				return dst, fmt.Errorf("decompressed batch exceeds %d bytes", maxDecompressedBytes)
			}
			dst = append(dst, 0)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst, err
		}
	}
}

// xerialHeader starts snappy-java's SnappyOutputStream format, which Kafka
// uses for codec 2: the 8-byte magic, int32 version, int32 compatible
// version, then blocks of int32 length + raw snappy block.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const xerialHeaderLen = 16

// snappyXerialDecode mirrors snappy-java's SnappyInputStream: without the
// magic header the whole input is one raw snappy block; a header may recur
// where streams were concatenated.
func snappyXerialDecode(src, dst []byte) ([]byte, error) {
	if len(src) < xerialHeaderLen || !bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return snappyAppend(dst, src)
	}
	src = src[xerialHeaderLen:]
	for len(src) > 0 {
		if len(src) >= xerialHeaderLen && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
			src = src[xerialHeaderLen:]
			continue
		}
		if len(src) < 4 {
			return dst, fmt.Errorf("snappy: truncated block length")
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst, fmt.Errorf("snappy: block of %d bytes exceeds the %d left", n, len(src))
		}
		var err error
		if dst, err = snappyAppend(dst, src[:n]); err != nil {
			return dst, err
		}
		src = src[n:]
	}
	return dst, nil
}

func snappyAppend(dst, block []byte) ([]byte, error) {
	n, err := snappy.DecodedLen(block)
	if err != nil {
		return dst, err
	}
	if n < 0 || len(dst)+n > maxDecompressedBytes {
		return dst, fmt.Errorf("decompressed batch exceeds %d bytes", maxDecompressedBytes)
	}
	if cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	out, err := snappy.DecodeStrict(dst[len(dst):len(dst)+n], block)
	if err != nil {
		return dst, err
	}
	return dst[:len(dst)+len(out)], nil
}
