package network

import (
	"sync"
	"sync/atomic"
	"time"

	metrics "github.com/rcrowley/go-metrics"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metric names follow Kafka's JMX names where Kafka has one.
const (
	metricIncomingBytes = "kafka.server:type=socket-server-metrics,name=incoming-byte-rate"
	metricOutgoingBytes = "kafka.server:type=socket-server-metrics,name=outgoing-byte-rate"
	metricQueueSize     = "kafka.network:type=RequestChannel,name=RequestQueueSize"
	metricConnections   = "kafka.server:type=socket-server-metrics,name=connection-count"
)

// apiMetrics are the per-API request metrics, named as Kafka's RequestMetrics.
type apiMetrics struct {
	requests      metrics.Meter     // RequestsPerSec
	requestBytes  metrics.Histogram // RequestBytes
	responseBytes metrics.Meter     // ResponseBytesPerSec (not a Kafka name; Kafka only has totals)
	totalTime     metrics.Histogram // TotalTimeMs: frame read to response flushed
}

// serverMetrics is a nil-safe wrapper: with no registry every method is a no-op,
// so the hot path needs no checks.
type serverMetrics struct {
	reg      metrics.Registry
	bytesIn  metrics.Meter
	bytesOut metrics.Meter
	mu       sync.Mutex // serialises registration only
	perAPI   [128]atomic.Pointer[apiMetrics]
}

func newServerMetrics(reg metrics.Registry, queueLen func() int, connCount func() int) *serverMetrics {
	m := &serverMetrics{reg: reg}
	if reg == nil {
		return m
	}
	m.bytesIn = metrics.GetOrRegisterMeter(metricIncomingBytes, reg)
	m.bytesOut = metrics.GetOrRegisterMeter(metricOutgoingBytes, reg)
	reg.Unregister(metricQueueSize)
	_ = reg.Register(metricQueueSize, metrics.NewFunctionalGauge(func() int64 { return int64(queueLen()) }))
	reg.Unregister(metricConnections)
	_ = reg.Register(metricConnections, metrics.NewFunctionalGauge(func() int64 { return int64(connCount()) }))
	return m
}

func (m *serverMetrics) api(key int16) *apiMetrics {
	if m.reg == nil || key < 0 || int(key) >= len(m.perAPI) {
		return nil
	}
	if a := m.perAPI[key].Load(); a != nil {
		return a
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if a := m.perAPI[key].Load(); a != nil {
		return a
	}
	prefix := "kafka.network:type=RequestMetrics,name="
	suffix := ",request=" + kmsg.NameForKey(key)
	a := &apiMetrics{
		requests:      metrics.GetOrRegisterMeter(prefix+"RequestsPerSec"+suffix, m.reg),
		requestBytes:  metrics.GetOrRegisterHistogram(prefix+"RequestBytes"+suffix, m.reg, metrics.NewExpDecaySample(1028, 0.015)),
		responseBytes: metrics.GetOrRegisterMeter(prefix+"ResponseBytesPerSec"+suffix, m.reg),
		totalTime:     metrics.GetOrRegisterHistogram(prefix+"TotalTimeMs"+suffix, m.reg, metrics.NewExpDecaySample(1028, 0.015)),
	}
	m.perAPI[key].Store(a)
	return a
}

// received records a request frame of size bytes (without the size prefix).
func (m *serverMetrics) received(key int16, size int) {
	if m.reg == nil {
		return
	}
	m.bytesIn.Mark(int64(size + 4))
	if a := m.api(key); a != nil {
		a.requests.Mark(1)
		a.requestBytes.Update(int64(size))
	}
}

// sent records a response frame of n bytes (with the size prefix) for a request
// received at start.
func (m *serverMetrics) sent(key int16, n int, start time.Time) {
	if m.reg == nil {
		return
	}
	m.bytesOut.Mark(int64(n))
	if a := m.api(key); a != nil {
		a.responseBytes.Mark(int64(n))
		a.totalTime.Update(time.Since(start).Milliseconds())
	}
}
