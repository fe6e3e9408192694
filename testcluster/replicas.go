package testcluster

// Comparing replicas on disk. A follower stores the leader's batches as they are (offsets, leader epochs,
// timestamps, CRCs), so once replication has caught up the committed part of every replica's log is byte-identical.
// These helpers read the `.log` segment files of a partition directly (reading a running broker's files is fine:
// segments are append-only, and a batch torn by a concurrent write is simply left out) and compare them.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Batch header fields of record batch v2 (log-format.md): baseOffset int64 @0, batchLength int32 @8 (bytes after
// itself), partitionLeaderEpoch int32 @12, magic int8 @16, lastOffsetDelta int32 @23.
const (
	batchLengthOffset     = 8
	batchEpochOffset      = 12
	batchMagicOffset      = 16
	batchLastDeltaOffset  = 23
	batchHeaderBytes      = 61 // fixed part of a v2 batch up to the record count
	batchLogOverheadBytes = 12 // baseOffset + batchLength
)

// LogBatch is one whole record batch found in a segment file.
type LogBatch struct {
	Segment     int64 // base offset of the segment file holding it
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32
	Bytes       []byte // the whole batch as stored
}

// PartitionDir is the directory of topic-partition under the broker's log.dirs.
func (b *Broker) PartitionDir(topic string, partition int32) string {
	return filepath.Join(b.LogDir(), fmt.Sprintf("%s-%d", topic, partition))
}

// segmentBases lists the base offsets of the `.log` segment files in dir, ascending. Transient files (`.deleted`,
// `.cleaned`, `.swap`) are not segments of the live log and are skipped.
func segmentBases(dir string) ([]int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var bases []int64
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".log") || len(name) != 20+len(".log") {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, ".log"), 10, 64)
		if err != nil {
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

// ReadBatches walks every whole batch of the partition's segments in offset order. A missing partition directory
// is an empty log. A torn batch at the end of a segment (being written, or left by kill -9 before recovery) ends
// that segment's walk. Offsets going backwards or overlapping between batches is a corrupt log and an error.
func ReadBatches(dir string) ([]LogBatch, error) {
	bases, err := segmentBases(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []LogBatch
	next := int64(-1)
	for _, base := range bases {
		data, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)))
		if errors.Is(err, fs.ErrNotExist) {
			continue // deleted (retention, truncation) between the listing and the read
		}
		if err != nil {
			return nil, err
		}
		for pos := 0; pos+batchHeaderBytes <= len(data); {
			length := int(int32(binary.BigEndian.Uint32(data[pos+batchLengthOffset:])))
			end := pos + batchLogOverheadBytes + length
			if length < batchHeaderBytes-batchLogOverheadBytes || end > len(data) {
				break // torn tail, or zeroed preallocated space
			}
			b := data[pos:end]
			if b[batchMagicOffset] != 2 {
				return nil, fmt.Errorf("%s segment %d position %d: magic %d, want 2", dir, base, pos, b[batchMagicOffset])
			}
			lb := LogBatch{
				Segment:     base,
				BaseOffset:  int64(binary.BigEndian.Uint64(b)),
				LeaderEpoch: int32(binary.BigEndian.Uint32(b[batchEpochOffset:])),
				Bytes:       b,
			}
			lb.LastOffset = lb.BaseOffset + int64(int32(binary.BigEndian.Uint32(b[batchLastDeltaOffset:])))
			if lb.BaseOffset < next || lb.LastOffset < lb.BaseOffset {
				return nil, fmt.Errorf("%s segment %d position %d: batch [%d, %d] after offset %d", dir, base, pos, lb.BaseOffset, lb.LastOffset, next-1)
			}
			next = lb.LastOffset + 1
			out = append(out, lb)
			pos = end
		}
	}
	return out, nil
}

// LogBytesUpTo concatenates the whole batches of the broker's replica of topic-partition whose last offset is
// below upTo, in offset order, and returns them with the number of batches.
func (b *Broker) LogBytesUpTo(topic string, partition int32, upTo int64) ([]byte, int, error) {
	batches, err := ReadBatches(b.PartitionDir(topic, partition))
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	n := 0
	for _, lb := range batches {
		if lb.LastOffset >= upTo {
			break
		}
		buf.Write(lb.Bytes)
		n++
	}
	return buf.Bytes(), n, nil
}

// LogEndOffset is the broker's log end offset of topic-partition as its files show it: one past the last whole
// batch, or the newest segment's base offset when that segment holds none (0 without any segment).
func (b *Broker) LogEndOffset(topic string, partition int32) (int64, error) {
	dir := b.PartitionDir(topic, partition)
	batches, err := ReadBatches(dir)
	if err != nil {
		return 0, err
	}
	leo := int64(0)
	if bases, err := segmentBases(dir); err == nil && len(bases) > 0 {
		leo = bases[len(bases)-1]
	}
	if n := len(batches); n > 0 && batches[n-1].LastOffset+1 > leo {
		leo = batches[n-1].LastOffset + 1
	}
	return leo, nil
}

// LogEndOffsets is LogEndOffset of every replica in the topic's assignment of the partition, by broker id.
func (c *Cluster) LogEndOffsets(topic string, partition int32) (map[int32]int64, error) {
	replicas, err := c.replicasOf(topic, partition)
	if err != nil {
		return nil, err
	}
	out := make(map[int32]int64, len(replicas))
	for _, id := range replicas {
		b := c.Broker(id)
		if b == nil {
			return nil, fmt.Errorf("replica %d of %s-%d is not a broker of this cluster", id, topic, partition)
		}
		if out[id], err = b.LogEndOffset(topic, partition); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (c *Cluster) replicasOf(topic string, partition int32) ([]int32, error) {
	as, err := c.Assignment(topic)
	if err != nil {
		return nil, err
	}
	replicas, ok := as[partition]
	if !ok {
		return nil, fmt.Errorf("%s has no partition %d in its assignment", topic, partition)
	}
	return replicas, nil
}

// HighWatermark asks the broker (normally the leader) for the partition's latest offset as a consumer sees it
// (ListOffsets, timestamp -1, read_uncommitted): that is the high watermark.
func (b *Broker) HighWatermark(ctx context.Context, topic string, partition int32) (int64, error) {
	cl, err := b.directClient()
	if err != nil {
		return -1, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = partition, -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.SeedBrokers()[0])
	if err != nil {
		return -1, err
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if t.Topic == topic && p.Partition == partition {
				if p.ErrorCode != 0 {
					return -1, kerr.ErrorForCode(p.ErrorCode)
				}
				return p.Offset, nil
			}
		}
	}
	return -1, fmt.Errorf("broker %d did not answer for %s-%d", b.ID, topic, partition)
}

// ReplicasInSync compares, once, every running replica of topic-partition with the leader named in ZooKeeper up
// to the leader's high watermark. It returns the HW, and a description of the first difference (empty when the
// replicas agree).
func (c *Cluster) ReplicasInSync(topic string, partition int32) (hw int64, diff string, err error) {
	st, err := c.PartitionState(topic, partition)
	if err != nil {
		return -1, "", err
	}
	replicas, err := c.replicasOf(topic, partition)
	if err != nil {
		return -1, "", err
	}
	leader := c.Broker(st.Leader)
	if leader == nil || !leader.Running() {
		return -1, fmt.Sprintf("%s-%d has no running leader (state %+v)", topic, partition, st), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hw, err = leader.HighWatermark(ctx, topic, partition)
	if err != nil {
		return -1, fmt.Sprintf("high watermark from leader %d: %v", leader.ID, err), nil
	}
	want, n, err := leader.LogBytesUpTo(topic, partition, hw)
	if err != nil {
		return hw, "", err
	}
	if leo, err := leader.LogEndOffset(topic, partition); err == nil && leo < hw {
		return hw, fmt.Sprintf("leader %d reports HW %d above its log end offset %d on disk", leader.ID, hw, leo), nil
	}
	for _, id := range replicas {
		b := c.Broker(id)
		if b == nil || id == leader.ID || !b.Running() {
			continue
		}
		got, m, err := b.LogBytesUpTo(topic, partition, hw)
		if err != nil {
			return hw, "", err
		}
		if !bytes.Equal(got, want) {
			return hw, fmt.Sprintf("%s-%d below HW %d: broker %d has %d batches (%d bytes), leader %d has %d batches (%d bytes)%s",
				topic, partition, hw, id, m, len(got), leader.ID, n, len(want), firstDifference(got, want)), nil
		}
	}
	return hw, "", nil
}

func firstDifference(a, b []byte) string {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("; first different byte at %d", i)
		}
	}
	return ""
}

// WaitForReplicasInSync waits until every running replica of topic-partition holds the same bytes as the leader
// up to the leader's high watermark (see ReplicasInSync) and returns that HW. The caller should check the HW is
// what it expects: identical empty logs agree too.
func (c *Cluster) WaitForReplicasInSync(t testing.TB, timeout time.Duration, topic string, partition int32) int64 {
	t.Helper()
	var hw int64
	var last string
	deadline := time.Now().Add(timeout)
	for {
		h, diff, err := c.ReplicasInSync(topic, partition)
		if err != nil {
			last = err.Error()
		} else if diff == "" {
			hw = h
			break
		} else {
			last = diff
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for the replicas of %s-%d to agree up to the HW; last: %s", timeout, topic, partition, last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return hw
}
