package log

import "time"

// CleanerConfig configures the log cleaner (Kafka's CleanerConfig, from the
// broker's log.cleaner.* settings). Field comments give Kafka's names and
// defaults.
type CleanerConfig struct {
	Enable bool // log.cleaner.enable (true)
	// Threads is log.cleaner.threads (1): cleaner goroutines, each with
	// its own offset map.
	Threads int
	// DedupeBufferSize is log.cleaner.dedupe.buffer.size (134217728): the
	// memory of all offset maps together; each thread gets its share.
	DedupeBufferSize int64
	// DedupeBufferLoadFactor is log.cleaner.io.buffer.load.factor (0.9):
	// how full an offset map may get before a pass stops mapping.
	DedupeBufferLoadFactor float64
	// IOBufferSize is log.cleaner.io.buffer.size (524288): the read and
	// write buffers of all threads together (half for reading, half for
	// writing); a buffer grows past it for a larger batch.
	IOBufferSize int
	// MaxMessageSize bounds how far an I/O buffer may grow (message.max.bytes).
	MaxMessageSize int
	// Backoff is log.cleaner.backoff.ms (15000): the sleep of a thread that
	// found nothing to clean.
	Backoff time.Duration
}

// DefaultCleanerConfig returns Kafka 3.7's defaults.
func DefaultCleanerConfig() CleanerConfig {
	return CleanerConfig{
		Enable:                 true,
		Threads:                1,
		DedupeBufferSize:       134217728,
		DedupeBufferLoadFactor: 0.9,
		IOBufferSize:           524288,
		MaxMessageSize:         1048588,
		Backoff:                15 * time.Second,
	}
}

// normalized fills zero fields with defaults so a partly filled config
// (tests, older callers) still runs.
func (c CleanerConfig) normalized() CleanerConfig {
	d := DefaultCleanerConfig()
	if c.Threads <= 0 {
		c.Threads = d.Threads
	}
	if c.DedupeBufferSize <= 0 {
		c.DedupeBufferSize = d.DedupeBufferSize
	}
	if c.DedupeBufferLoadFactor <= 0 || c.DedupeBufferLoadFactor > 1 {
		c.DedupeBufferLoadFactor = d.DedupeBufferLoadFactor
	}
	if c.IOBufferSize <= 0 {
		c.IOBufferSize = d.IOBufferSize
	}
	if c.MaxMessageSize <= 0 {
		c.MaxMessageSize = d.MaxMessageSize
	}
	if c.Backoff <= 0 {
		c.Backoff = d.Backoff
	}
	return c
}

// ioBufferPerThread is Kafka's ioBufferSize / threads / 2 (a read and a
// write buffer per thread), at least one batch header.
func (c CleanerConfig) ioBufferPerThread() int {
	return max(c.IOBufferSize/c.Threads/2, batchHeaderSize)
}

// mapSlotsPerThread is how many keys a thread's offset map can hold
// (dedupe buffer / threads / bytes per slot).
func (c CleanerConfig) mapSlotsPerThread() int {
	return int(c.DedupeBufferSize / int64(c.Threads) / offsetMapSlotBytes)
}
