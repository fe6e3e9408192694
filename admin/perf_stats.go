package admin

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"
)

// producerStats is ProducerPerformance.Stats: totals, a reporting window,
// and a sample of latencies (at most ~500k) for percentiles. Times are
// milliseconds supplied by the caller so the arithmetic is testable.
type producerStats struct {
	start, windowStart int64
	latencies          []int
	sampling           int64
	iteration          int64
	count, bytes       int64
	maxLatency         int
	totalLatency       int64
	windowCount        int64
	windowMaxLatency   int
	windowTotalLatency int64
	windowBytes        int64
	reportingInterval  int64
}

func newProducerStats(numRecords int64, reportingIntervalMs int64, nowMs int64) *producerStats {
	sampling := int64(1)
	if numRecords > 0 {
		sampling = numRecords / min(numRecords, 500000)
	}
	return &producerStats{
		start: nowMs, windowStart: nowMs, sampling: sampling,
		latencies:         make([]int, 0, numRecords/sampling+1),
		reportingInterval: reportingIntervalMs,
	}
}

// record accounts one acknowledged record; it returns the window report
// line when the reporting interval has passed, else "".
func (s *producerStats) record(latencyMs, bytes int, nowMs int64) string {
	s.count++
	s.bytes += int64(bytes)
	s.totalLatency += int64(latencyMs)
	s.maxLatency = max(s.maxLatency, latencyMs)
	s.windowCount++
	s.windowBytes += int64(bytes)
	s.windowTotalLatency += int64(latencyMs)
	s.windowMaxLatency = max(s.windowMaxLatency, latencyMs)
	if s.iteration%s.sampling == 0 {
		s.latencies = append(s.latencies, latencyMs)
	}
	s.iteration++
	if nowMs-s.windowStart >= s.reportingInterval {
		line := s.windowLine(nowMs)
		s.windowStart, s.windowCount, s.windowMaxLatency, s.windowTotalLatency, s.windowBytes = nowMs, 0, 0, 0, 0
		return line
	}
	return ""
}

func (s *producerStats) windowLine(nowMs int64) string {
	elapsed := float64(nowMs - s.windowStart)
	return fmt.Sprintf("%d records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.",
		s.windowCount,
		1000.0*float64(s.windowCount)/elapsed,
		1000.0*float64(s.windowBytes)/elapsed/(1024.0*1024.0),
		float64(s.windowTotalLatency)/float64(s.windowCount),
		float64(s.windowMaxLatency))
}

// totalLine is the final report line of ProducerPerformance.
func (s *producerStats) totalLine(nowMs int64) string {
	elapsed := float64(nowMs - s.start)
	p := percentiles(s.latencies, 0.5, 0.95, 0.99, 0.999)
	return fmt.Sprintf("%d records sent, %s records/sec (%s MB/sec), %.2f ms avg latency, %.2f ms max latency, %d ms 50th, %d ms 95th, %d ms 99th, %d ms 99.9th.",
		s.count,
		javaFloat("%f", 1000.0*float64(s.count)/elapsed),
		javaFloat("%.2f", 1000.0*float64(s.bytes)/elapsed/(1024.0*1024.0)),
		float64(s.totalLatency)/float64(s.count),
		float64(s.maxLatency),
		p[0], p[1], p[2], p[3])
}

// javaFloat formats like Java's String.format: a run that took under a millisecond divides by zero, which Java
// prints as "Infinity" (Go would print "+Inf").
func javaFloat(format string, f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsNaN(f):
		return "NaN"
	}
	return fmt.Sprintf(format, f)
}

func percentiles(latencies []int, ps ...float64) []int {
	sorted := append([]int(nil), latencies...)
	sort.Ints(sorted)
	out := make([]int, len(ps))
	for i, p := range ps {
		idx := int(p * float64(len(sorted)))
		if idx < len(sorted) {
			out[i] = sorted[idx]
		}
	}
	return out
}

// throttler is Kafka's ThroughputThrottler: it sleeps off a deficit of
// 1/throughput seconds per record once sending runs ahead of the target.
type throttler struct {
	target  int64
	startMs int64
	sleepNs int64
	deficit int64
	sleep   func(time.Duration)
}

const minSleepNs = 2 * int64(time.Millisecond)

func newThrottler(target, startMs int64) *throttler {
	t := &throttler{target: target, startMs: startMs, sleep: time.Sleep}
	if target > 0 {
		t.sleepNs = int64(time.Second) / target
	}
	return t
}

func (t *throttler) shouldThrottle(sent, nowMs int64) bool {
	if t.target < 0 {
		return false
	}
	elapsedSec := float64(nowMs-t.startMs) / 1000
	return elapsedSec > 0 && float64(sent)/elapsedSec > float64(t.target)
}

func (t *throttler) throttle() {
	if t.target <= 0 {
		return
	}
	t.deficit += t.sleepNs
	if t.deficit >= minSleepNs {
		t.sleep(time.Duration(t.deficit))
		t.deficit = 0
	}
}

// consumerPerfLine is ConsumerPerformance's final CSV line.
func consumerPerfLine(dateFmt string, startMs, endMs int64, bytes, msgs, joinMs int64) string {
	elapsedSec := float64(endMs-startMs) / 1000.0
	fetchMs := endMs - startMs - joinMs
	mb := float64(bytes) / (1024 * 1024)
	return fmt.Sprintf("%s, %s, %.4f, %.4f, %d, %.4f, %d, %d, %.4f, %.4f",
		formatJavaDate(dateFmt, startMs), formatJavaDate(dateFmt, endMs),
		mb, mb/elapsedSec, msgs, float64(msgs)/elapsedSec, joinMs, fetchMs,
		mb/(float64(fetchMs)/1000.0), float64(msgs)/(float64(fetchMs)/1000.0))
}

// consumerProgressLine is one --show-detailed-stats line.
func consumerProgressLine(dateFmt string, id int, bytes, lastBytes, msgs, lastMsgs, startMs, endMs, joinMs int64) string {
	elapsedMs := float64(endMs - startMs)
	totalMb := float64(bytes) / (1024 * 1024)
	intervalMb := float64(bytes-lastBytes) / (1024 * 1024)
	line := fmt.Sprintf("%s, %d, %.4f, %.4f, %d, %.4f", formatJavaDate(dateFmt, endMs), id,
		totalMb, 1000.0*intervalMb/elapsedMs, msgs, float64(msgs-lastMsgs)/elapsedMs*1000.0)
	fetchMs := endMs - startMs - joinMs
	mbSec, msgSec := 0.0, 0.0
	if fetchMs > 0 {
		mbSec = 1000.0 * intervalMb / float64(fetchMs)
		msgSec = 1000.0 * float64(msgs-lastMsgs) / float64(fetchMs)
	}
	return line + fmt.Sprintf(", %d, %d, %.4f, %.4f", joinMs, fetchMs, mbSec, msgSec)
}

func consumerPerfHeader(detailed bool) string {
	const extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec"
	if detailed {
		return "time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec" + extra
	}
	return "start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec" + extra
}

// formatJavaDate formats epoch millis in local time with the common
// letters of a SimpleDateFormat pattern (y M d H h m s S a, 'quoted').
func formatJavaDate(pattern string, ms int64) string {
	t := time.UnixMilli(ms)
	var b strings.Builder
	for i := 0; i < len(pattern); {
		c := pattern[i]
		if c == '\'' {
			// Quoted literal; '' stands for one quote, inside or outside.
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				b.WriteByte('\'')
				i += 2
				continue
			}
			i++
			for i < len(pattern) {
				if pattern[i] == '\'' {
					if i+1 < len(pattern) && pattern[i+1] == '\'' {
						b.WriteByte('\'')
						i += 2
						continue
					}
					i++
					break
				}
				b.WriteByte(pattern[i])
				i++
			}
			continue
		}
		n := 1
		for i+n < len(pattern) && pattern[i+n] == c {
			n++
		}
		pad := func(v int) { fmt.Fprintf(&b, "%0*d", n, v) }
		switch c {
		case 'y':
			if n == 2 {
				pad(t.Year() % 100)
			} else {
				pad(t.Year())
			}
		case 'M':
			pad(int(t.Month()))
		case 'd':
			pad(t.Day())
		case 'H':
			pad(t.Hour())
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			pad(h)
		case 'm':
			pad(t.Minute())
		case 's':
			pad(t.Second())
		case 'S':
			pad(t.Nanosecond() / int(time.Millisecond))
		case 'a':
			b.WriteString(t.Format("PM"))
		default:
			b.WriteString(pattern[i : i+n])
		}
		i += n
	}
	return b.String()
}
