// Package jhash reproduces Java's hash functions where Kafka's behaviour depends on them (partition-to-thread
// and group-to-partition mappings, map iteration orders). It knows nothing else.
package jhash

// String is java.lang.String.hashCode over UTF-16 code units.
func String(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			h = 31*h + int32(0xD800+(r>>10))
			h = 31*h + int32(0xDC00+(r&0x3FF))
			continue
		}
		h = 31*h + int32(r)
	}
	return h
}

// Abs is Kafka's Utils.abs: the absolute value, with MinInt32 mapped to 0 instead of staying negative.
func Abs(n int32) int32 {
	if n == -1<<31 {
		return 0
	}
	if n < 0 {
		return -n
	}
	return n
}
