package broker

import (
	"errors"
	"fmt"
	"hash/crc32"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/network"
)

// The group coordinator's wiring: its Config from server.properties, the coordinator.Log it appends to and loads
// __consumer_offsets through (the transaction coordinator uses the same type over __transaction_state), and the
// client identity group requests carry.

// coordinatorConfig derives the coordinator's Config. partitions is the partition count of __consumer_offsets
// as ZooKeeper has it, or -1 when the topic does not exist yet: Kafka's GroupMetadataManager takes the existing
// topic's count over offsets.topic.num.partitions, so a changed setting cannot move groups to other partitions.
func (c *Config) coordinatorConfig(partitions int32, logger *logrus.Entry) coordinator.Config {
	if partitions <= 0 {
		partitions = c.OffsetsTopicPartitions
	}
	return coordinator.Config{
		BrokerID:                      c.BrokerID,
		OffsetsTopicPartitions:        partitions,
		GroupMinSessionTimeout:        c.GroupMinSessionTimeout,
		GroupMaxSessionTimeout:        c.GroupMaxSessionTimeout,
		GroupInitialRebalanceDelay:    c.GroupInitialRebalanceDelay,
		GroupMaxSize:                  c.GroupMaxSize,
		OffsetMetadataMaxBytes:        c.OffsetMetadataMaxBytes,
		OffsetsRetention:              c.OffsetsRetention,
		OffsetsRetentionCheckInterval: c.OffsetsRetentionCheckInterval,
		Logger:                        logger,
		Now:                           time.Now,
	}
}

// offsetsTopicPartitionCount reads the partition count of an existing __consumer_offsets from ZooKeeper (-1 if
// the topic does not exist).
func (s *Server) offsetsTopicPartitionCount() (int32, error) {
	return s.topicPartitionCount(coordinator.OffsetsTopic)
}

// groupClient is the identity of the connection a group request came on.
func groupClient(nreq *network.Request) coordinator.Client {
	return coordinator.Client{ClientID: clientIDOf(nreq), ClientHost: javaHostString(nreq)}
}

func clientIDOf(nreq *network.Request) string {
	if nreq.Header.ClientID != nil {
		return *nreq.Header.ClientID
	}
	return ""
}

// javaHostString prints the peer address as Java's InetAddress.toString does for an address without a resolved
// hostname: "/" and the literal address, IPv6 as eight uncompressed hex groups ("/0:0:0:0:0:0:0:1").
func javaHostString(nreq *network.Request) string {
	var ip net.IP
	switch a := nreq.ClientAddr.(type) {
	case *net.TCPAddr:
		ip = a.IP
	case nil:
		return ""
	default:
		host, _, err := net.SplitHostPort(a.String())
		if err != nil {
			return "/" + a.String()
		}
		ip = net.ParseIP(host)
		if ip == nil {
			return "/" + host
		}
	}
	if v4 := ip.To4(); v4 != nil {
		return "/" + v4.String()
	}
	var sb strings.Builder
	sb.WriteByte('/')
	for i := 0; i < 16; i += 2 {
		if i > 0 {
			sb.WriteByte(':')
		}
		sb.WriteString(strconv.FormatUint(uint64(ip[i])<<8|uint64(ip[i+1]), 16))
	}
	return sb.String()
}

// groupLog is the broker's coordinator.Log over one internal topic (__consumer_offsets for the group
// coordinator, __transaction_state for the transaction coordinator): appends go through the ReplicaManager's
// leader append and wait in the DelayedProduce purgatory as a Produce with acks=all does; loads read the local log.
type groupLog struct {
	topic      string
	rm         *ReplicaManager
	cache      *metadataCache
	acks       int16         // offsets.commit.required.acks; always -1 for the transaction log
	timeout    time.Duration // offsets.commit.timeout.ms or request.timeout.ms
	bufferSize int           // offsets.load.buffer.size or transaction.state.log.load.buffer.size
	now        func() time.Time

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup // goroutines delivering done callbacks
}

func newGroupLog(rm *ReplicaManager, cache *metadataCache, cfg *Config) *groupLog {
	return &groupLog{topic: coordinator.OffsetsTopic, rm: rm, cache: cache, acks: cfg.OffsetCommitRequiredAcks,
		timeout: cfg.OffsetCommitTimeout, bufferSize: cfg.OffsetsLoadBufferSize, now: time.Now}
}

// newTxnStateLog is the transaction coordinator's log: TransactionStateManager appends with acks=-1
// (TransactionLog.EnforcedRequiredAcks) and request.timeout.ms.
func newTxnStateLog(rm *ReplicaManager, cache *metadataCache, cfg *Config) *groupLog {
	return &groupLog{topic: coordinator.TxnTopic, rm: rm, cache: cache, acks: -1,
		timeout: cfg.RequestTimeout, bufferSize: cfg.TxnLogLoadBufferSize, now: time.Now}
}

var _ coordinator.Log = (*groupLog)(nil)

// Append writes records as one batch. The local append happens in the caller's goroutine, so appends the
// coordinator makes in order land in that order (it calls Append under its group lock, as Kafka's
// GroupMetadataManager does); done always runs on another goroutine, after Append returned, because the caller
// may still hold that lock and done takes it.
func (g *groupLog) Append(p int32, records []coordinator.Record, done func(error)) {
	g.appendBatch(p, encodeGroupBatch(records, g.now().UnixMilli()), appendFromClient, done)
}

// AppendTransactional writes records as one transactional batch of the producer, as
// GroupMetadataManager.storeOffsets builds it for TxnOffsetCommit (base sequence 0), appended with the
// coordinator's origin: the producer epoch is checked, the sequence is not.
func (g *groupLog) AppendTransactional(p int32, producerID int64, producerEpoch int16, records []coordinator.Record, done func(error)) {
	batch := encodeTxnGroupBatch(records, g.now().UnixMilli(), producerID, producerEpoch)
	g.appendBatch(p, batch, appendFromCoordinator, done)
}

func (g *groupLog) appendBatch(p int32, batch []byte, origin appendOrigin, done func(error)) {
	returned := make(chan struct{})
	defer close(returned)
	var once sync.Once
	finish := func(err error) {
		once.Do(func() {
			g.deliver(func() {
				<-returned
				done(err)
			})
		})
	}
	tp := topicPartition{Topic: g.topic, Partition: p}
	if g.acks != -1 && g.acks != 0 && g.acks != 1 {
		finish(kerr.InvalidRequiredAcks)
		return
	}
	res := g.rm.appendRecordsFrom(tp, batch, g.acks, origin)
	if res.err != nil {
		finish(kerrOf(res.err))
		return
	}
	if g.acks != -1 {
		finish(nil)
		return
	}
	last := res.info.LastOffset
	g.rm.produces.watchAll([]topicPartition{tp}, g.timeout, func(int) bool {
		ok, _ := g.rm.acksAllSatisfied(tp, last)
		return ok
	}, func() {
		ok, code := g.rm.acksAllSatisfied(tp, last)
		if !ok {
			code = kerr.RequestTimedOut.Code
		}
		finish(kerrOf(codeError(code)))
	})
}

// deliver runs fn on a goroutine the groupLog owns (close waits for it); after close it still runs, unowned, so
// no callback is lost.
func (g *groupLog) deliver(fn func()) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		go fn()
		return
	}
	g.wg.Add(1)
	g.mu.Unlock()
	go func() {
		defer g.wg.Done()
		fn()
	}()
}

// close waits for the done callbacks in flight. Call it after the ReplicaManager shut down, which completes the
// parked appends.
func (g *groupLog) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait()
}

// Load reads partition p from its log start to its log end at the time of the call, the load buffer size
// bytes at a time, as GroupMetadataManager.doLoadGroupsAndOffsets (and TransactionStateManager's load) does.
func (g *groupLog) Load(p int32, fn func(coordinator.Batch) error) error {
	l := g.rm.logs.GetLog(g.topic, p)
	if l == nil {
		return fmt.Errorf("broker %d has no log for %s-%d", g.rm.brokerID, g.topic, p)
	}
	end := l.LogEndOffset()
	off := l.LogStartOffset()
	for off < end {
		info, err := l.Read(off, g.bufferSize, end, true)
		if err != nil {
			return fmt.Errorf("loading %s-%d at offset %d: %w", g.topic, p, off, err)
		}
		if info.Size == 0 {
			return nil
		}
		// A fresh buffer per read: the loaded records' keys and values point into it and the coordinator may
		// keep them.
		buf, err := info.AppendTo(make([]byte, 0, info.Size))
		if err != nil {
			return fmt.Errorf("loading %s-%d at offset %d: %w", g.topic, p, off, err)
		}
		next := off
		if _, err := log.DecodeBatches(buf, func(b log.BatchInfo, recs []log.Record) error {
			next = b.LastOffset + 1
			return fn(loadedBatch(b, recs))
		}); err != nil {
			return err
		}
		if next <= off {
			return nil // nothing whole was read: the log changed under us (truncated or deleted)
		}
		off = next
	}
	return nil
}

func loadedBatch(b log.BatchInfo, recs []log.Record) coordinator.Batch {
	out := coordinator.Batch{
		BaseOffset:    b.BaseOffset,
		LastOffset:    b.LastOffset,
		ProducerID:    b.ProducerID,
		ProducerEpoch: b.ProducerEpoch,
		Transactional: b.Transactional,
		Control:       b.Control,
		Records:       make([]coordinator.LoadedRecord, len(recs)),
	}
	for i, r := range recs {
		out.Records[i] = coordinator.LoadedRecord{Offset: r.Offset, Timestamp: r.Timestamp, Key: r.Key, Value: r.Value}
	}
	return out
}

// TopicExists answers from the metadata cache, as KafkaApis checks OffsetCommit's topics.
func (g *groupLog) TopicExists(topic string) bool { return g.cache.contains(topic) }

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// encodeGroupBatch builds the uncompressed magic-2 batch Kafka's coordinator writes (MemoryRecords.withRecords
// with CreateTime now, no producer): offsets and the leader epoch are assigned by the leader append.
func encodeGroupBatch(records []coordinator.Record, nowMs int64) []byte {
	return encodeCoordinatorBatch(records, nowMs, -1, -1, -1, false)
}

// encodeTxnGroupBatch is the transactional batch of TxnOffsetCommit (MemoryRecords.withTransactionalRecords with
// base sequence 0).
func encodeTxnGroupBatch(records []coordinator.Record, nowMs, producerID int64, producerEpoch int16) []byte {
	return encodeCoordinatorBatch(records, nowMs, producerID, producerEpoch, 0, true)
}

func encodeCoordinatorBatch(records []coordinator.Record, nowMs, producerID int64, producerEpoch int16, baseSeq int32, transactional bool) []byte {
	var body []byte
	for i, r := range records {
		rec := kmsg.NewRecord()
		rec.OffsetDelta = int32(i)
		rec.Key, rec.Value = r.Key, r.Value
		// The record's length prefix counts what follows it: encode once to measure (a zero length is one
		// byte), then for real.
		rec.Length = int32(len(rec.AppendTo(nil)) - 1)
		body = rec.AppendTo(body)
	}
	b := kmsg.NewRecordBatch()
	b.FirstOffset = 0
	b.PartitionLeaderEpoch = -1
	b.Magic = 2
	if transactional {
		b.Attributes = 0x10
	}
	b.LastOffsetDelta = int32(len(records) - 1)
	b.FirstTimestamp, b.MaxTimestamp = nowMs, nowMs
	b.ProducerID, b.ProducerEpoch, b.FirstSequence = producerID, producerEpoch, baseSeq
	b.NumRecords = int32(len(records))
	b.Records = body
	// Length counts everything after itself: the 49 header bytes from the leader epoch on, then the records.
	b.Length = int32(49 + len(body))
	out := b.AppendTo(nil)
	// The CRC covers the attributes to the end (bytes 21 on); it sits at bytes 17-20.
	crc := crc32.Checksum(out[21:], crc32c)
	out[17], out[18], out[19], out[20] = byte(crc>>24), byte(crc>>16), byte(crc>>8), byte(crc)
	return out
}

// kerrOf turns an append error into the *kerr.Error the produce path would answer for the partition.
func kerrOf(err error) error {
	if err == nil {
		return nil
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke
	}
	return codeError(errorCode(err))
}

func codeError(code int16) error {
	if code == 0 {
		return nil
	}
	return kerr.ErrorForCode(code)
}
