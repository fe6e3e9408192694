package admin

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestProducerStats(t *testing.T) {
	s := newProducerStats(4, 5000, 0)
	lines := []string{
		s.record(10, 1024*1024, 1000),
		s.record(20, 1024*1024, 2000),
		s.record(30, 1024*1024, 5000),
		s.record(40, 1024*1024, 6000),
	}
	want := []string{"", "", "3 records sent, 0.6 records/sec (0.60 MB/sec), 20.0 ms avg latency, 30.0 ms max latency.", ""}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("record %d: %q want %q", i, lines[i], want[i])
		}
	}
	got := s.totalLine(8000)
	wantTotal := "4 records sent, 0.500000 records/sec (0.50 MB/sec), 25.00 ms avg latency, 40.00 ms max latency, 30 ms 50th, 40 ms 95th, 40 ms 99th, 40 ms 99.9th."
	if got != wantTotal {
		t.Errorf("total\n got %q\nwant %q", got, wantTotal)
	}
	// Beyond 500k records only every n-th latency is sampled.
	big := newProducerStats(1500000, 5000, 0)
	for i := 0; i < 9; i++ {
		big.record(i, 1, 0)
	}
	if len(big.latencies) != 3 {
		t.Errorf("sampled %d latencies, want 3", len(big.latencies))
	}
}

func TestThrottler(t *testing.T) {
	var slept time.Duration
	th := newThrottler(100, 0)
	th.sleep = func(d time.Duration) { slept += d }
	if th.shouldThrottle(50, 0) {
		t.Error("throttled at time zero")
	}
	if !th.shouldThrottle(50, 100) || th.shouldThrottle(5, 100) {
		t.Error("wrong throttle decision")
	}
	th.throttle()
	if slept != 10*time.Millisecond {
		t.Errorf("slept %v", slept)
	}
	if newThrottler(-1, 0).shouldThrottle(1e9, 1) {
		t.Error("unlimited throughput throttled")
	}
}

func TestConsumerPerfLines(t *testing.T) {
	loc := time.Local
	time.Local = time.UTC
	defer func() { time.Local = loc }()
	start := time.Date(2024, 1, 2, 3, 4, 5, 6e6, time.UTC).UnixMilli()
	got := consumerPerfLine("yyyy-MM-dd HH:mm:ss:SSS", start, start+2000, 2*1024*1024, 1000, 500)
	want := "2024-01-02 03:04:05:006, 2024-01-02 03:04:07:006, 2.0000, 1.0000, 1000, 500.0000, 500, 1500, 1.3333, 666.6667"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	got = consumerProgressLine("HH:mm", 0, 2*1024*1024, 1024*1024, 100, 50, start, start+1000, 0)
	want = "03:04, 0, 2.0000, 1.0000, 100, 50.0000, 0, 1000, 1.0000, 50.0000"
	if got != want {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	if h := consumerPerfHeader(false); !strings.HasPrefix(h, "start.time, end.time, data.consumed.in.MB") || !strings.HasSuffix(h, "fetch.nMsg.sec") {
		t.Errorf("header %q", h)
	}
	for pattern, want := range map[string]string{
		"yy/M/d h:mm a":      "24/1/2 3:04 AM",
		"'at' HH 'o''clock'": "at 03 o'clock",
	} {
		if got := formatJavaDate(pattern, start); got != want {
			t.Errorf("%q: %q want %q", pattern, got, want)
		}
	}
}

func TestJavaFloat(t *testing.T) {
	for _, tc := range []struct {
		f    float64
		want string
	}{{1.5, "1.500000"}, {math.Inf(1), "Infinity"}, {math.NaN(), "NaN"}} {
		if got := javaFloat("%f", tc.f); got != tc.want {
			t.Errorf("javaFloat(%v) = %q, want %q", tc.f, got, tc.want)
		}
	}
}
