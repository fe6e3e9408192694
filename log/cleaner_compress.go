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

// Compression for batches the cleaner rewrites: a cleaned batch keeps its
// codec, as Kafka's MemoryRecordsBuilder does, in the framing Kafka's own
// clients write (snappy-java's stream framing for snappy, an LZ4 frame of
// 64 KiB independent blocks for lz4).

// xerialBlockSize is snappy-java's default block size.
const xerialBlockSize = 32 << 10

var (
	gzipWriters = sync.Pool{New: func() any { w, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression); return w }}
	lz4Writers  = sync.Pool{New: func() any {
		w := lz4.NewWriter(nil)
		_ = w.Apply(lz4.BlockSizeOption(lz4.Block64Kb), lz4.ChecksumOption(false))
		return w
	}}

	zstdEncOnce sync.Once
	zstdEnc     *zstd.Encoder
	zstdEncErr  error
)

// compressRecords appends the compressed form of the records section src
// to dst.
func compressRecords(codec int, src, dst []byte) ([]byte, error) {
	switch codec {
	case codecNone:
		return append(dst, src...), nil
	case codecGzip:
		return compressStream(&gzipWriters, src, dst)
	case codecSnappy:
		dst = append(dst, xerialMagic...)
		dst = binary.BigEndian.AppendUint32(dst, 1) // version
		dst = binary.BigEndian.AppendUint32(dst, 1) // compatible version
		for len(src) > 0 {
			chunk := src[:min(len(src), xerialBlockSize)]
			src = src[len(chunk):]
			at := len(dst)
			dst = append(dst, 0, 0, 0, 0)
			dst = append(dst, make([]byte, snappy.MaxEncodedLen(len(chunk)))...)
			enc := snappy.Encode(dst[at+4:], chunk)
			binary.BigEndian.PutUint32(dst[at:], uint32(len(enc)))
			dst = dst[:at+4+len(enc)]
		}
		return dst, nil
	case codecLZ4:
		return compressStream(&lz4Writers, src, dst)
	case codecZstd:
		zstdEncOnce.Do(func() {
			zstdEnc, zstdEncErr = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		})
		if zstdEncErr != nil {
			return dst, zstdEncErr
		}
		return zstdEnc.EncodeAll(src, dst), nil
	}
	return dst, fmt.Errorf("%w: codec %d", ErrUnsupportedCompressionType, codec)
}

// streamWriter is a pooled stream compressor (gzip, lz4) that Reset points at a new output.
type streamWriter interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// compressStream appends src compressed by a writer of pool to dst.
func compressStream(pool *sync.Pool, src, dst []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w := pool.Get().(streamWriter)
	defer pool.Put(w)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}
