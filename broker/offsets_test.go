package broker

import (
	"encoding/binary"
	"hash/crc32"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/log"
)

// testBatch is a magic 2 batch of one record with the given CreateTime, as a producer sends it.
func testBatch(ts int64) []byte {
	rec := kmsg.NewRecord()
	rec.Value = []byte("v")
	rec.Length = int32(len(rec.AppendTo(nil)) - 1)
	b := kmsg.RecordBatch{Magic: 2, PartitionLeaderEpoch: -1, FirstTimestamp: ts, MaxTimestamp: ts, ProducerID: -1,
		ProducerEpoch: -1, FirstSequence: -1, NumRecords: 1, Records: rec.AppendTo(nil)}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	return raw
}

// testPartition is a partition this broker leads at epoch 2, holding records with CreateTime 100, 300, 200 (offsets
// 0–2) and the high watermark at hw.
func testPartition(t *testing.T, cfg log.Config, hw int64) (*ReplicaManager, *Partition, *log.Log) {
	t.Helper()
	quiet := logrus.New()
	quiet.SetLevel(logrus.PanicLevel)
	lm, err := log.NewLogManager(log.ManagerConfig{Dirs: []string{t.TempDir()}, Default: cfg, Logger: logrus.NewEntry(quiet)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lm.Shutdown() })
	l, err := lm.GetOrCreateLog("t", 0, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, ts := range []int64{100, 300, 200} {
		if _, err := l.AppendAsLeader(testBatch(ts), 2); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermark(hw)
	tp := topicPartition{Topic: "t", Partition: 0}
	p := &Partition{tp: tp, brokerID: 1, log: l, leader: 1, leaderEpoch: 2, isr: []int32{1}, replicas: []int32{1}}
	rm := &ReplicaManager{brokerID: 1, logger: logrus.NewEntry(quiet), partitions: map[topicPartition]*Partition{tp: p}}
	return rm, p, l
}

func TestListOffset(t *testing.T) {
	cache := newMetadataCache()
	tests := []struct {
		name        string
		hw          int64
		ts          int64
		epoch       int32
		replica     int32
		follower    bool
		wantOK      bool
		wantOffset  int64
		wantTs      int64
		wantEpoch   int32
		wantErrCode int16
	}{
		{name: "earliest", hw: 3, ts: -2, epoch: -1, replica: -1, wantOK: true, wantOffset: 0, wantTs: -1, wantEpoch: 2},
		{name: "earliest local (v8)", hw: 3, ts: -4, epoch: -1, replica: -1, wantOK: true, wantOffset: 0, wantTs: -1, wantEpoch: 2},
		{name: "latest is the high watermark for consumers", hw: 2, ts: -1, epoch: -1, replica: -1, wantOK: true, wantOffset: 2, wantTs: -1, wantEpoch: 2},
		{name: "latest is the log end for replicas", hw: 2, ts: -1, epoch: -1, replica: 5, wantOK: true, wantOffset: 3, wantTs: -1, wantEpoch: 2},
		{name: "by time", hw: 3, ts: 150, epoch: -1, replica: -1, wantOK: true, wantOffset: 1, wantTs: 300, wantEpoch: 2},
		{name: "by time before everything", hw: 3, ts: 0, epoch: 2, replica: -1, wantOK: true, wantOffset: 0, wantTs: 100, wantEpoch: 2},
		{name: "by time after everything", hw: 3, ts: 301, epoch: -1, replica: -1},
		{name: "by time not past the high watermark", hw: 1, ts: 150, epoch: -1, replica: -1},
		{name: "by time past the high watermark for the debugging replica", hw: 1, ts: 150, epoch: -1, replica: -2, wantOK: true, wantOffset: 1, wantTs: 300, wantEpoch: 2},
		{name: "max timestamp", hw: 3, ts: -3, epoch: -1, replica: -1, wantOK: true, wantOffset: 1, wantTs: 300, wantEpoch: 2},
		{name: "max timestamp beyond the high watermark", hw: 1, ts: -3, epoch: -1, replica: -1},
		{name: "fenced epoch", hw: 3, ts: -1, epoch: 1, replica: -1, wantErrCode: kerr.FencedLeaderEpoch.Code},
		{name: "unknown epoch", hw: 3, ts: -1, epoch: 3, replica: -1, wantErrCode: kerr.UnknownLeaderEpoch.Code},
		{name: "follower", hw: 3, ts: -1, epoch: -1, replica: -1, follower: true, wantErrCode: kerr.NotLeaderForPartition.Code},
		{name: "debugging replica may read a follower", hw: 3, ts: -2, epoch: -1, replica: -2, follower: true, wantOK: true, wantOffset: 0, wantTs: -1, wantEpoch: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rm, p, _ := testPartition(t, log.DefaultConfig(), tc.hw)
			if tc.follower {
				p.leader = 7
			}
			s := &Server{replicas: rm, cache: cache}
			got, ok, err := s.listOffset(p.tp, tc.ts, tc.epoch, tc.replica, 0)
			if code := errorCode(err); code != tc.wantErrCode {
				t.Fatalf("error %v (code %d), want code %d", err, code, tc.wantErrCode)
			}
			if ok != tc.wantOK || (ok && (got.Offset != tc.wantOffset || got.Timestamp != tc.wantTs || got.LeaderEpoch != tc.wantEpoch)) {
				t.Fatalf("got %+v ok=%v, want offset %d ts %d epoch %d ok=%v", got, ok, tc.wantOffset, tc.wantTs, tc.wantEpoch, tc.wantOK)
			}
		})
	}
	s := &Server{replicas: &ReplicaManager{partitions: map[topicPartition]*Partition{}}, cache: cache}
	if _, _, err := s.listOffset(topicPartition{Topic: "nope"}, -1, -1, -1, 0); errorCode(err) != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", err)
	}
}

func TestDuplicateListOffsetsPartitions(t *testing.T) {
	topic := func(name string, parts ...int32) kmsg.ListOffsetsRequestTopic {
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = name
		for _, p := range parts {
			rp := kmsg.NewListOffsetsRequestTopicPartition()
			rp.Partition = p
			rt.Partitions = append(rt.Partitions, rp)
		}
		return rt
	}
	tests := []struct {
		topics []kmsg.ListOffsetsRequestTopic
		want   []topicPartition
	}{
		{[]kmsg.ListOffsetsRequestTopic{topic("a", 0, 1), topic("b", 0)}, nil},
		{[]kmsg.ListOffsetsRequestTopic{topic("a", 0, 1, 0)}, []topicPartition{{Topic: "a", Partition: 0}}},
		{[]kmsg.ListOffsetsRequestTopic{topic("a", 2), topic("b", 1), topic("a", 2)}, []topicPartition{{Topic: "a", Partition: 2}}},
	}
	for i, tc := range tests {
		got := duplicateListOffsetsPartitions(tc.topics)
		if len(got) != len(tc.want) {
			t.Fatalf("case %d: got %v, want %v", i, got, tc.want)
		}
		for _, tp := range tc.want {
			if !got[tp] {
				t.Fatalf("case %d: %v not reported in %v", i, tp, got)
			}
		}
	}
}

func TestDeleteRecords(t *testing.T) {
	tests := []struct {
		name     string
		topic    string
		compact  bool
		hw       int64
		offset   int64
		follower bool
		wantLow  int64
		wantErr  *kerr.Error
	}{
		{name: "to an offset", hw: 3, offset: 2, wantLow: 2},
		{name: "to the high watermark", hw: 2, offset: -1, wantLow: 2},
		{name: "to the current start is a no-op", hw: 3, offset: 0, wantLow: 0},
		{name: "past the high watermark", hw: 2, offset: 3, wantErr: kerr.OffsetOutOfRange},
		{name: "negative", hw: 3, offset: -2, wantErr: kerr.OffsetOutOfRange},
		{name: "compacted topic", hw: 3, offset: 1, compact: true, wantErr: kerr.PolicyViolation},
		{name: "follower", hw: 3, offset: 1, follower: true, wantErr: kerr.NotLeaderForPartition},
		{name: "internal topic", topic: "__consumer_offsets", hw: 3, offset: 1, wantErr: kerr.InvalidTopicException},
		{name: "not hosted here", topic: "other", hw: 3, offset: 1, wantErr: kerr.NotLeaderForPartition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rm, p, l := testPartition(t, log.DefaultConfig(), tc.hw)
			if tc.compact {
				cfg := log.DefaultConfig()
				cfg.CleanupPolicy = "compact"
				l.UpdateConfig(cfg)
			}
			if tc.follower {
				p.leader = 7
			}
			tp := p.tp
			if tc.topic != "" {
				tp.Topic = tc.topic
			}
			low, target, err := rm.deleteRecords(tp, tc.offset)
			if tc.wantErr != nil {
				if errorCode(err) != tc.wantErr.Code || low != -1 {
					t.Fatalf("got low %d err %v, want %v", low, err, tc.wantErr)
				}
				if l.LogStartOffset() != 0 {
					t.Fatalf("a refused delete moved the log start to %d", l.LogStartOffset())
				}
				return
			}
			if err != nil || low != tc.wantLow || l.LogStartOffset() != tc.wantLow || target < tc.wantLow {
				t.Fatalf("got low %d target %d err %v (log start %d), want %d", low, target, err, l.LogStartOffset(), tc.wantLow)
			}
		})
	}
}
