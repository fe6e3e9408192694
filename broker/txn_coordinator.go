package broker

import (
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/zkafka/zkafka/coordinator"
	"github.com/zkafka/zkafka/zkutils"
)

// The transaction coordinator's wiring: its TxnConfig from server.properties, the producer id allocator over
// /latest_producer_id_block, the __transaction_state log (a groupLog over that topic) and the marker writer.

// txnConfig derives the transaction coordinator's config. partitions is the partition count of
// __transaction_state in ZooKeeper, or -1 when it does not exist yet: like offsets, an existing topic's count
// wins over transaction.state.log.num.partitions (TransactionStateManager.transactionTopicPartitionCount).
func (c *Config) txnConfig(partitions, offsetsPartitions int32, groupPartitionFor func(string) int32, logger *logrus.Entry) coordinator.TxnConfig {
	if partitions <= 0 {
		partitions = c.TxnLogPartitions
	}
	if offsetsPartitions <= 0 {
		offsetsPartitions = c.OffsetsTopicPartitions
	}
	return coordinator.TxnConfig{
		BrokerID:                  c.BrokerID,
		TxnLogPartitions:          partitions,
		TxnMaxTimeout:             c.TxnMaxTimeout,
		AbortTimedOutInterval:     c.TxnAbortTimedOutInterval,
		TransactionalIDExpiration: c.TransactionalIDExpiration,
		RemoveExpiredInterval:     c.TxnRemoveExpiredInterval,
		GroupPartitionFor:         groupPartitionFor,
		OffsetsTopicPartitions:    offsetsPartitions,
		Logger:                    logger,
		Now:                       time.Now,
	}
}

// topicPartitionCount reads the partition count of an existing topic from ZooKeeper (-1 if it does not exist).
func (s *Server) topicPartitionCount(topic string) (int32, error) {
	as, err := s.zk.GetTopicAssignments([]string{topic})
	if err != nil {
		return -1, err
	}
	a, ok := as[topic]
	if !ok {
		return -1, nil
	}
	return int32(len(a.Partitions)), nil
}

// producerIDPrefetchThreshold is ProducerIdManager.PidPrefetchThreshold: the next block is claimed in the
// background once this fraction of the current one is handed out, so InitProducerId rarely waits on ZooKeeper.
const producerIDPrefetchThreshold = 0.9

// producerIDManager is the broker's coordinator.ProducerIDs: blocks of zkutils.ProducerIDBlockSize ids claimed
// from /latest_producer_id_block with a conditional write (Kafka's ZkProducerIdManager, as brokers before IBP
// 3.0-IV0 did), so no id is handed out twice in the cluster.
type producerIDManager struct {
	brokerID int32
	allocate func(brokerID int32) (zkutils.ProducerIDBlock, error)
	logger   *logrus.Entry

	mu         sync.Mutex
	cur        zkutils.ProducerIDBlock
	next       int64 // next id of cur to hand out; > cur.Last when cur is used up (or none yet)
	prefetched *zkutils.ProducerIDBlock
	fetching   chan struct{} // non-nil while a prefetch runs; closed when it ends
	closed     bool
	wg         sync.WaitGroup
}

func newProducerIDManager(brokerID int32, allocate func(int32) (zkutils.ProducerIDBlock, error), logger *logrus.Entry) *producerIDManager {
	return &producerIDManager{brokerID: brokerID, allocate: allocate, logger: logger, next: 0, cur: zkutils.ProducerIDBlock{First: 0, Last: -1}}
}

var _ coordinator.ProducerIDs = (*producerIDManager)(nil)

// NextProducerID hands out the next id of the current block, moving to the next block when it is used up.
func (m *producerIDManager) NextProducerID() (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for m.next > m.cur.Last {
		switch {
		case m.prefetched != nil:
			m.cur, m.prefetched = *m.prefetched, nil
			m.next = m.cur.First
		case m.fetching != nil:
			ch := m.fetching
			m.mu.Unlock()
			<-ch
			m.mu.Lock()
			if m.prefetched == nil && m.next > m.cur.Last && m.fetching == nil {
				// The prefetch failed: claim a block ourselves (and report its error if that fails too).
				if err := m.claimLocked(); err != nil {
					return -1, err
				}
			}
		default:
			if err := m.claimLocked(); err != nil {
				return -1, err
			}
		}
	}
	id := m.next
	m.next++
	used := float64(m.next-m.cur.First) / float64(m.cur.Last-m.cur.First+1)
	if used >= producerIDPrefetchThreshold && m.prefetched == nil && m.fetching == nil && !m.closed {
		m.startPrefetchLocked()
	}
	return id, nil
}

// claimLocked claims a block synchronously. ZooKeeper I/O under the lock is deliberate: every caller needs the
// block before it can go on.
func (m *producerIDManager) claimLocked() error {
	b, err := m.allocate(m.brokerID)
	if err != nil {
		return err
	}
	m.logger.Infof("[ZK ProducerId Manager %d]: Acquired new producerId block %+v", m.brokerID, b)
	m.cur, m.next = b, b.First
	return nil
}

func (m *producerIDManager) startPrefetchLocked() {
	ch := make(chan struct{})
	m.fetching = ch
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		b, err := m.allocate(m.brokerID)
		m.mu.Lock()
		if err != nil {
			m.logger.Warnf("[ZK ProducerId Manager %d]: Prefetching a producerId block failed: %v", m.brokerID, err)
		} else {
			m.logger.Infof("[ZK ProducerId Manager %d]: Acquired new producerId block %+v", m.brokerID, b)
			m.prefetched = &b
		}
		m.fetching = nil
		m.mu.Unlock()
		close(ch)
	}()
}

// close waits for a prefetch in flight.
func (m *producerIDManager) close() {
	m.mu.Lock()
	m.closed = true
	m.mu.Unlock()
	m.wg.Wait()
}
