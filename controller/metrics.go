package controller

import (
	"sync/atomic"

	"github.com/rcrowley/go-metrics"
)

// Kafka's JMX names for the controller's gauges and meters.
const (
	metricActiveControllerCount  = "kafka.controller:type=KafkaController,name=ActiveControllerCount"
	metricOfflinePartitionsCount = "kafka.controller:type=KafkaController,name=OfflinePartitionsCount"
	metricGlobalTopicCount       = "kafka.controller:type=KafkaController,name=GlobalTopicCount"
	metricGlobalPartitionCount   = "kafka.controller:type=KafkaController,name=GlobalPartitionCount"
	metricTopicsToDeleteCount    = "kafka.controller:type=KafkaController,name=TopicsToDeleteCount"
	metricUncleanElections       = "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec"
)

// controllerMetrics holds values the event goroutine publishes and the registry reads from any goroutine.
type controllerMetrics struct {
	reg                                                 metrics.Registry
	active, offline, topics, partitions, topicsToDelete atomic.Int64
	unclean                                             metrics.Meter
}

func newControllerMetrics(reg metrics.Registry) *controllerMetrics {
	m := &controllerMetrics{reg: reg, unclean: metrics.NilMeter{}}
	if reg == nil {
		return m
	}
	gauge := func(name string, v *atomic.Int64) {
		reg.GetOrRegister(name, metrics.NewFunctionalGauge(v.Load))
	}
	gauge(metricActiveControllerCount, &m.active)
	gauge(metricOfflinePartitionsCount, &m.offline)
	gauge(metricGlobalTopicCount, &m.topics)
	gauge(metricGlobalPartitionCount, &m.partitions)
	gauge(metricTopicsToDeleteCount, &m.topicsToDelete)
	m.unclean = metrics.NewMeter()
	if got, ok := reg.GetOrRegister(metricUncleanElections, m.unclean).(metrics.Meter); ok {
		m.unclean = got
	}
	return m
}

func (m *controllerMetrics) update(c *Controller) {
	if !c.isActive() {
		m.active.Store(0)
		m.offline.Store(0)
		m.topics.Store(0)
		m.partitions.Store(0)
		m.topicsToDelete.Store(0)
		return
	}
	m.active.Store(1)
	m.offline.Store(int64(c.cc.offlinePartitionCount()))
	m.topics.Store(int64(len(c.cc.allTopics)))
	n := 0
	for _, parts := range c.cc.assignments {
		n += len(parts)
	}
	m.partitions.Store(int64(n))
	m.topicsToDelete.Store(int64(len(c.cc.topicsToBeDeleted)))
}

func (m *controllerMetrics) uncleanElection() { m.unclean.Mark(1) }

func (m *controllerMetrics) unregister() {
	if m.reg == nil {
		return
	}
	m.active.Store(0)
	for _, n := range []string{metricActiveControllerCount, metricOfflinePartitionsCount, metricGlobalTopicCount,
		metricGlobalPartitionCount, metricTopicsToDeleteCount, metricUncleanElections} {
		m.reg.Unregister(n)
	}
}
