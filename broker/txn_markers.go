package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/network"
)

// markerConn is one connection to a partition leader (a *network.Client; tests substitute it).
type markerConn interface {
	Request(ctx context.Context, req kmsg.Request) (kmsg.Response, error)
	Close() error
}

// markerWriter is the broker's coordinator.MarkerWriter, Kafka's TransactionMarkerChannelManager: it sends
// WriteTxnMarkers (v1) to each partition's leader over the inter-broker listener — this broker included, through
// its own listener — and retries what can be retried until every partition is written, gone, or failed for good.
type markerWriter struct {
	brokerID int32
	leaderOf func(tp coordinator.TopicPartition) (addr string, exists, ok bool)
	dial     func(ctx context.Context, addr string) (markerConn, error)
	timeout  time.Duration // one request: the leader waits up to request.timeout.ms for acks=all
	backoff  time.Duration // between rounds of retries
	logger   *logrus.Entry

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[string]markerConn // by leader address
}

// markerRetryBackoff is the client default retry.backoff.ms the marker channel's network client uses.
const markerRetryBackoff = 100 * time.Millisecond

func newMarkerWriter(s *Server) *markerWriter {
	ctx, cancel := context.WithCancel(context.Background())
	listener := s.cfg.InterBrokerListenerName
	clientID := fmt.Sprintf("broker-%d-txn-marker-sender", s.cfg.BrokerID)
	return &markerWriter{
		brokerID: s.cfg.BrokerID,
		leaderOf: func(tp coordinator.TopicPartition) (string, bool, bool) {
			return s.cache.partitionLeaderAddr(tp.Topic, tp.Partition, listener)
		},
		dial: func(ctx context.Context, addr string) (markerConn, error) {
			return network.Dial(ctx, addr, clientID)
		},
		timeout: s.cfg.RequestTimeout + s.cfg.ReplicaSocketTimeout,
		backoff: markerRetryBackoff,
		logger:  s.logger.WithField("component", "txn-marker-channel"),
		ctx:     ctx,
		cancel:  cancel,
		conns:   map[string]markerConn{},
	}
}

var _ coordinator.MarkerWriter = (*markerWriter)(nil)

// errMarkerWriterClosed is what done gets for partitions not written when the broker shuts down: the
// coordinator that asked is going away too, and the next one resends the markers when it loads the transaction.
var errMarkerWriterClosed = kerr.NotCoordinator

// WriteMarkers sends m to its partitions' leaders on a goroutine the writer owns; done runs once, on it.
func (w *markerWriter) WriteMarkers(m coordinator.TxnMarker, done func(map[coordinator.TopicPartition]error)) {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		go done(allFailed(m.Partitions, errMarkerWriterClosed))
		return
	}
	w.wg.Add(1)
	w.mu.Unlock()
	go func() {
		defer w.wg.Done()
		done(w.write(m))
	}()
}

func allFailed(tps []coordinator.TopicPartition, err error) map[coordinator.TopicPartition]error {
	out := make(map[coordinator.TopicPartition]error, len(tps))
	for _, tp := range tps {
		out[tp] = err
	}
	return out
}

// write runs rounds until no partition is left: each round groups the pending partitions by their current
// leader (TransactionMarkerChannelManager.addTxnMarkersToBrokerQueue), sends one request per leader in parallel
// and keeps the partitions whose error is retriable for the next round.
func (w *markerWriter) write(m coordinator.TxnMarker) map[coordinator.TopicPartition]error {
	results := make(map[coordinator.TopicPartition]error, len(m.Partitions))
	pending := make(map[coordinator.TopicPartition]bool, len(m.Partitions))
	for _, tp := range m.Partitions {
		pending[tp] = true
	}
	for len(pending) > 0 {
		if w.ctx.Err() != nil {
			for tp := range pending {
				results[tp] = errMarkerWriterClosed
			}
			break
		}
		byLeader := map[string][]coordinator.TopicPartition{}
		for tp := range pending {
			addr, exists, ok := w.leaderOf(tp)
			switch {
			case !exists:
				// The partition left the metadata: its topic was deleted, and so were the records the
				// marker would end (as Kafka, treated as written).
				w.logger.Infof("Dropping the transaction marker of producer %d for %s-%d: the partition no longer exists",
					m.ProducerID, tp.Topic, tp.Partition)
				results[tp] = nil
				delete(pending, tp)
			case ok:
				byLeader[addr] = append(byLeader[addr], tp)
			}
			// No live leader yet: retried next round.
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for addr, tps := range byLeader {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes := w.send(addr, m, tps)
				mu.Lock()
				defer mu.Unlock()
				for tp, code := range codes {
					if final, err := markerOutcome(code); final {
						results[tp] = err
						delete(pending, tp)
					}
				}
			}()
		}
		wg.Wait()
		if len(pending) > 0 {
			select {
			case <-w.ctx.Done():
			case <-time.After(w.backoff):
			}
		}
	}
	return results
}

// markerOutcome is TransactionMarkerRequestCompletionHandler's reading of one partition's error: final reports
// whether the partition is done (err nil = written, or nothing left to write), else it is retried.
func markerOutcome(code int16) (final bool, err error) {
	switch code {
	case 0:
		return true, nil
	case kerr.UnknownTopicOrPartition.Code, kerr.NotLeaderForPartition.Code, kerr.NotEnoughReplicas.Code,
		kerr.NotEnoughReplicasAfterAppend.Code, kerr.RequestTimedOut.Code, kerr.KafkaStorageError.Code:
		return false, nil
	case kerr.UnsupportedForMessageFormat.Code, kerr.UnsupportedVersion.Code:
		// The producer could not have written to such a partition: nothing to end there.
		return true, nil
	default:
		return true, kerr.ErrorForCode(code)
	}
}

// send writes the marker for tps to the leader at addr; a transport failure answers every partition with
// NOT_LEADER_OR_FOLLOWER, so all of them are retried (with a fresh connection and a fresh leader lookup).
func (w *markerWriter) send(addr string, m coordinator.TxnMarker, tps []coordinator.TopicPartition) map[coordinator.TopicPartition]int16 {
	codes := make(map[coordinator.TopicPartition]int16, len(tps))
	for _, tp := range tps {
		codes[tp] = kerr.NotLeaderForPartition.Code
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	req.Version = 1
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = m.ProducerID, m.ProducerEpoch, m.Commit, m.CoordinatorEpoch
	idx := map[string]int{}
	for _, tp := range tps {
		i, ok := idx[tp.Topic]
		if !ok {
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
			i = len(mk.Topics) - 1
			idx[tp.Topic] = i
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, mk)

	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	conn, err := w.conn(ctx, addr)
	if err == nil {
		var r kmsg.Response
		if r, err = conn.Request(ctx, req); err == nil {
			resp, ok := r.(*kmsg.WriteTxnMarkersResponse)
			if !ok {
				err = fmt.Errorf("unexpected response %T", r)
			} else {
				for _, rm := range resp.Markers {
					if rm.ProducerID != m.ProducerID {
						continue
					}
					for _, t := range rm.Topics {
						for _, p := range t.Partitions {
							tp := coordinator.TopicPartition{Topic: t.Topic, Partition: p.Partition}
							if _, asked := codes[tp]; asked {
								codes[tp] = p.ErrorCode
							}
						}
					}
				}
				return codes
			}
		}
		w.dropConn(addr, conn)
	}
	if w.ctx.Err() == nil && !errors.Is(err, context.Canceled) {
		w.logger.Warnf("Sending the transaction markers of producer %d to %s failed, retrying: %v", m.ProducerID, addr, err)
	}
	return codes
}

func (w *markerWriter) conn(ctx context.Context, addr string) (markerConn, error) {
	w.mu.Lock()
	c, ok := w.conns[addr]
	w.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := w.dial(ctx, addr)
	if err != nil {
		return nil, err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		c.Close()
		return nil, errMarkerWriterClosed
	}
	if prev, ok := w.conns[addr]; ok {
		c.Close() // another sender dialed first: share its connection
		return prev, nil
	}
	w.conns[addr] = c
	return c, nil
}

func (w *markerWriter) dropConn(addr string, c markerConn) {
	w.mu.Lock()
	if w.conns[addr] == c {
		delete(w.conns, addr)
	}
	w.mu.Unlock()
	c.Close()
}

// close stops retrying: every marker in flight completes with errMarkerWriterClosed for the partitions not yet
// written; close returns once all done callbacks ran.
func (w *markerWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.cancel()
	w.wg.Wait()
	w.mu.Lock()
	for addr, c := range w.conns {
		c.Close()
		delete(w.conns, addr)
	}
	w.mu.Unlock()
}

// partitionLeaderAddr is MetadataCache.getPartitionLeaderEndpoint for the marker channel: exists is false when the
// partition is not in the metadata (deleted); ok is false when it has no live leader reachable on the listener.
func (c *metadataCache) partitionLeaderAddr(topic string, partition int32, listener string) (addr string, exists, ok bool) {
	_, hp, topicKnown, ok := c.partitionLeaderNode(topic, partition, listener)
	if ok {
		return net.JoinHostPort(hp.host, strconv.Itoa(int(hp.port))), true, true
	}
	if !topicKnown {
		return "", false, false
	}
	return "", c.partitionExists(topic, partition), false
}

// partitionExists is MetadataCache.contains(TopicPartition).
func (c *metadataCache) partitionExists(topic string, partition int32) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	t, ok := c.topics[topic]
	if !ok {
		return false
	}
	_, ok = t.partitions[partition]
	return ok
}
