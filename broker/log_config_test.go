package broker

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestLogConfigCleanerSettings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		props     map[string]string
		overrides map[string]string
		retention int64
		ratio     float64
		minLag    int64
		maxLag    int64
	}{
		{"kafka defaults", nil, nil, 86400000, 0.5, 0, math.MaxInt64},
		{"broker defaults", map[string]string{"log.cleaner.delete.retention.ms": "1000", "log.cleaner.min.cleanable.ratio": "0.1",
			"log.cleaner.min.compaction.lag.ms": "5", "log.cleaner.max.compaction.lag.ms": "60000"}, nil, 1000, 0.1, 5, 60000},
		{"topic overrides win", map[string]string{"log.cleaner.delete.retention.ms": "1000"},
			map[string]string{"delete.retention.ms": "7", "min.cleanable.dirty.ratio": "0.9", "min.compaction.lag.ms": "8",
				"max.compaction.lag.ms": "9"}, 7, 0.9, 8, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := map[string]string{"zookeeper.connect": "zk:2181"}
			for k, v := range tc.props {
				props[k] = v
			}
			c, err := NewConfig(props)
			if err != nil {
				t.Fatal(err)
			}
			lc := c.logConfig(tc.overrides)
			if lc.DeleteRetentionMs != tc.retention || lc.MinCleanableDirtyRatio != tc.ratio ||
				lc.MinCompactionLagMs != tc.minLag || lc.MaxCompactionLagMs != tc.maxLag {
				t.Errorf("got %d %v %d %d", lc.DeleteRetentionMs, lc.MinCleanableDirtyRatio, lc.MinCompactionLagMs, lc.MaxCompactionLagMs)
			}
		})
	}
}

func TestCleanerConfigFromProperties(t *testing.T) {
	c, err := NewConfig(map[string]string{"zookeeper.connect": "zk:2181", "log.cleaner.enable": "false",
		"log.cleaner.threads": "3", "log.cleaner.dedupe.buffer.size": "1048576", "log.cleaner.backoff.ms": "250"})
	if err != nil {
		t.Fatal(err)
	}
	cc := c.CleanerConfig()
	if cc.Enable || cc.Threads != 3 || cc.DedupeBufferSize != 1<<20 || cc.Backoff != 250*time.Millisecond || cc.IOBufferSize != 524288 {
		t.Errorf("CleanerConfig = %+v", cc)
	}
}

func TestValidateCleanerTopicConfigs(t *testing.T) {
	for _, tc := range []struct {
		cfgs map[string]string
		err  string
	}{
		{map[string]string{"min.cleanable.dirty.ratio": "0.3", "delete.retention.ms": "10"}, ""},
		{map[string]string{"min.cleanable.dirty.ratio": "x"}, "Not a number of type DOUBLE"},
		{map[string]string{"min.cleanable.dirty.ratio": "1.5"}, "no more than 1"},
		{map[string]string{"max.compaction.lag.ms": "soon"}, "Not a number of type LONG"},
	} {
		err := validateTopicConfigs(tc.cfgs)
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("validateTopicConfigs(%v) = %v, want %q", tc.cfgs, err, tc.err)
		}
	}
}
