package coordinator

import (
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TxnOffsetCommit is Kafka's handleTxnCommitOffsets: the offsets are written as one transactional batch of
// the producer into __consumer_offsets and stay pending (invisible to OffsetFetch, UNSTABLE_OFFSET_COMMIT
// for requireStable) until the transaction's COMMIT marker materializes them or its ABORT drops them
// (OnTxnCompleted). respond is called once the write completed.
func (c *Coordinator) TxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, respond func(*kmsg.TxnOffsetCommitResponse)) {
	now := c.nowMs()
	var b commitBatch
	for _, t := range req.Topics {
		exists := c.log.TopicExists(t.Topic)
		for _, p := range t.Partitions {
			om := offsetAndMetadata{offset: p.Offset, leaderEpoch: -1, metadata: commitMetadata(p.Metadata),
				commitTimestamp: now, expireTimestamp: -1}
			if req.Version >= 2 {
				om.leaderEpoch = p.LeaderEpoch
			}
			b.add(topicPartition{t.Topic, p.Partition}, om, exists)
		}
	}
	answer := func() {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		b.eachByTopic(func(name string) {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = name
			resp.Topics = append(resp.Topics, rt)
		}, func(e *commitEntry) {
			rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			rp.Partition = e.tp.partition
			rp.ErrorCode = e.code
			if req.Version < 2 && rp.ErrorCode == errCoordinatorLoadInProgress {
				// Producers before 2.0 (KAFKA-7296) do not retry COORDINATOR_LOAD_IN_PROGRESS here.
				rp.ErrorCode = errCoordinatorNotAvailable
			}
			last := &resp.Topics[len(resp.Topics)-1]
			last.Partitions = append(last.Partitions, rp)
		})
		respond(resp)
	}
	fail := func(code int16) {
		b.failAll(code)
		answer()
	}
	if len(b.toCommit) == 0 {
		answer()
		return
	}
	if code := c.validateGroupStatus(req.Group, emptyIDInvalid); code != errNone {
		fail(code)
		return
	}
	// A transactional producer may commit for a group that does not exist (yet): it is created Empty.
	g := c.getOrCreateGroup(req.Group, true)
	g.mu.Lock()
	defer g.mu.Unlock()
	generation, memberID, instanceID := int32(-1), "", (*string)(nil)
	if req.Version >= 3 {
		generation, memberID, instanceID = req.Generation, req.MemberID, req.InstanceID
	}
	if code := c.validateOffsetCommitLocked(g, generation, memberID, instanceID, true); code != errNone {
		fail(code)
		return
	}
	c.storeTxnOffsetsLocked(g, req.ProducerID, req.ProducerEpoch, b.toCommit, answer)
}

// storeTxnOffsetsLocked is storeOffsetsLocked for a producer's transaction: the valid commits are staged
// as pending for the producer and appended as one transactional batch.
func (c *Coordinator) storeTxnOffsetsLocked(g *group, pid int64, epoch int16, entries []*commitEntry, answer func()) {
	valid := c.validMetadata(entries)
	if len(valid) == 0 {
		answer()
		return
	}
	// The batch's place among this coordinator's writes decides, at COMMIT, whether it is newer than a
	// plain commit of the same partition.
	seq := c.appendSeq.Add(1)
	recs := make([]Record, len(valid))
	po := g.pendingTxn[pid]
	if po == nil {
		po = map[topicPartition]commitRecord{}
		g.pendingTxn[pid] = po
	}
	for i, e := range valid {
		recs[i] = Record{Key: offsetCommitKey(g.id, e.tp), Value: offsetCommitValue(e.om)}
		po[e.tp] = commitRecord{batchOffset: seq, om: e.om}
	}
	c.addProducerGroup(pid, g.id)
	c.log.AppendTransactional(g.partition, pid, epoch, recs, func(err error) {
		code := errorCode(err)
		g.mu.Lock()
		if code != errNone && !g.is(stateDead) {
			// Not on the log: the staged offsets go (unless a later commit of the same producer replaced them).
			cur := g.pendingTxn[pid]
			for _, e := range valid {
				if cr, ok := cur[e.tp]; ok && cr.batchOffset == seq {
					delete(cur, e.tp)
				}
			}
			if len(cur) == 0 {
				delete(g.pendingTxn, pid)
				c.removeProducerGroup(pid, g.id)
			}
			c.debugf("TxnOffsetCommit of producer %d for group %s failed when appending to log due to %s", pid, g.id, errName(code))
		}
		for _, e := range valid {
			e.code = offsetCommitError(code)
		}
		g.mu.Unlock()
		answer()
	})
}
