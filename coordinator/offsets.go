package coordinator

import (
	"unicode/utf16"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit is Kafka's handleCommitOffsets: the request's offsets are written in one batch and become
// visible (OffsetFetch) only once the write succeeded; respond is called when it completed.
//
// Kafka stores v0 commits in ZooKeeper; here every version goes to __consumer_offsets.
func (c *Coordinator) OffsetCommit(req *kmsg.OffsetCommitRequest, respond func(*kmsg.OffsetCommitResponse)) {
	now := c.nowMs()
	// v2–v4 carry a retention time; Kafka turns it into an explicit expire timestamp (written as value v1).
	expire := int64(-1)
	if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis != -1 {
		expire = now + req.RetentionTimeMillis
	}
	var b commitBatch
	for _, t := range req.Topics {
		exists := c.log.TopicExists(t.Topic)
		for _, p := range t.Partitions {
			om := offsetAndMetadata{offset: p.Offset, leaderEpoch: -1, metadata: commitMetadata(p.Metadata),
				commitTimestamp: now, expireTimestamp: expire}
			if req.Version >= 6 {
				om.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp != -1 {
				om.commitTimestamp = p.Timestamp
			}
			b.add(topicPartition{t.Topic, p.Partition}, om, exists)
		}
	}
	answer := func() {
		resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
		b.eachByTopic(func(name string) {
			rt := kmsg.NewOffsetCommitResponseTopic()
			rt.Topic = name
			resp.Topics = append(resp.Topics, rt)
		}, func(e *commitEntry) {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = e.tp.partition
			rp.ErrorCode = e.code
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
	if code := c.validateGroupStatus(req.Group, emptyIDAllowed); code != errNone {
		fail(code)
		return
	}
	g := c.getGroup(req.Group)
	if g == nil {
		if req.Generation >= 0 {
			// A commit from an older generation of a group that no longer exists.
			fail(errIllegalGeneration)
			return
		}
		// Not using Kafka's group management: the group exists only to hold offsets.
		g = c.getOrCreateGroup(req.Group, true)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if code := c.validateOffsetCommitLocked(g, req.Generation, req.MemberID, req.InstanceID, false); code != errNone {
		fail(code)
		return
	}
	switch g.state {
	case stateCompletingRebalance:
		// The member has the new generation but no assignment yet: let it finish the rebalance first.
		fail(errRebalanceInProgress)
		return
	case stateStable, statePreparingRebalance:
		// During PreparingRebalance commits are still allowed: the heartbeat tells the member to rejoin.
		c.scheduleHeartbeatLocked(g, g.byID[req.MemberID])
	}
	c.storeOffsetsLocked(g, b.toCommit, answer)
}

// validateOffsetCommitLocked is GroupCoordinator.validateOffsetCommit; transactional is set for
// TxnOffsetCommit.
func (c *Coordinator) validateOffsetCommitLocked(g *group, generation int32, memberID string, instanceID *string, transactional bool) int16 {
	op := "offset-commit"
	if transactional {
		op = "txn-offset-commit"
	}
	switch {
	case g.is(stateDead):
		return errCoordinatorNotAvailable
	case generation < 0 && g.is(stateEmpty):
		// The admin client or a consumer without group management may commit while the group is empty.
		return errNone
	case generation >= 0 || memberID != "" || instanceID != nil:
		if code := c.validateCurrentMemberLocked(g, memberID, instanceID, op); code != errNone {
			return code
		}
		if generation != g.generation {
			return errIllegalGeneration
		}
		return errNone
	case !transactional && !g.is(stateEmpty):
		// Only members commit to a group that has members; not checked for transactional commits, whose
		// versions before 3 carry no member id or generation.
		return errUnknownMemberID
	}
	return errNone
}

// javaLength is String.length(): UTF-16 code units, which offset.metadata.max.bytes actually bounds.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		if utf16.IsSurrogate(r) || r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// storeOffsetsLocked appends the commits with valid metadata as one batch; answer is called once every entry
// has its code (at once if none can be written).
func (c *Coordinator) storeOffsetsLocked(g *group, entries []*commitEntry, answer func()) {
	valid := c.validMetadata(entries)
	if len(valid) == 0 {
		answer()
		return
	}
	recs := make([]Record, len(valid))
	for i, e := range valid {
		recs[i] = Record{Key: offsetCommitKey(g.id, e.tp), Value: offsetCommitValue(e.om)}
		g.pendingOffsets[e.tp] = e.om
	}
	seq := c.appendSeq.Add(1)
	c.log.Append(g.partition, recs, func(err error) {
		code := errorCode(err)
		g.mu.Lock()
		for _, e := range valid {
			if code == errNone {
				if !g.is(stateDead) {
					if _, ok := g.pendingOffsets[e.tp]; ok {
						// Still wanted (not deleted meanwhile): the newest write wins.
						if cur, ok := g.offsets[e.tp]; !ok || cur.batchOffset < seq {
							g.offsets[e.tp] = commitRecord{batchOffset: seq, om: e.om}
						}
					}
				}
			}
			if staged, ok := g.pendingOffsets[e.tp]; ok && staged == e.om {
				delete(g.pendingOffsets, e.tp)
			}
			e.code = offsetCommitError(code)
		}
		if code != errNone {
			c.debugf("Offset commit from group %s with generation %d failed when appending to log due to %s", g.id, g.generation, errName(code))
		}
		g.mu.Unlock()
		answer()
	})
}

// OffsetFetch is Kafka's handleFetchOffsets, for one group (v0–7) or several (v8+): offsets are returned
// whatever the group's state; unknown partitions get offset -1.
func (c *Coordinator) OffsetFetch(req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var tps []topicPartition
			if rg.Topics != nil {
				tps = []topicPartition{}
				for _, t := range rg.Topics {
					for _, p := range t.Partitions {
						tps = append(tps, topicPartition{t.Topic, p})
					}
				}
			}
			code, parts := c.fetchOffsets(rg.Group, req.RequireStable, tps)
			out := kmsg.NewOffsetFetchResponseGroup()
			out.Group = rg.Group
			out.ErrorCode = code
			byTopic(parts, topicOfFetched, func(name string) {
				t := kmsg.NewOffsetFetchResponseGroupTopic()
				t.Topic = name
				out.Topics = append(out.Topics, t)
			}, func(fp fetchedPartition) {
				p := kmsg.NewOffsetFetchResponseGroupTopicPartition()
				p.Partition = fp.tp.partition
				p.Offset, p.LeaderEpoch, p.ErrorCode = fp.offset, fp.leaderEpoch, fp.code
				md := fp.metadata
				p.Metadata = &md
				last := &out.Topics[len(out.Topics)-1]
				last.Partitions = append(last.Partitions, p)
			})
			resp.Groups = append(resp.Groups, out)
		}
		return resp
	}

	var tps []topicPartition
	if req.Topics != nil || req.Version < 2 {
		tps = []topicPartition{}
		for _, t := range req.Topics {
			for _, p := range t.Partitions {
				tps = append(tps, topicPartition{t.Topic, p})
			}
		}
	}
	code, parts := c.fetchOffsets(req.Group, req.RequireStable && req.Version >= 7, tps)
	if code != errNone {
		if req.Version >= 2 {
			resp.ErrorCode = code
			return resp
		}
		// No top-level error before v2: every requested partition carries it.
		parts = parts[:0]
		for _, tp := range tps {
			parts = append(parts, fetchedPartition{tp: tp, offset: -1, leaderEpoch: -1, code: code})
		}
	}
	byTopic(parts, topicOfFetched, func(name string) {
		t := kmsg.NewOffsetFetchResponseTopic()
		t.Topic = name
		resp.Topics = append(resp.Topics, t)
	}, func(fp fetchedPartition) {
		p := kmsg.NewOffsetFetchResponseTopicPartition()
		p.Partition = fp.tp.partition
		p.Offset, p.LeaderEpoch, p.ErrorCode = fp.offset, fp.leaderEpoch, fp.code
		md := fp.metadata
		p.Metadata = &md
		last := &resp.Topics[len(resp.Topics)-1]
		last.Partitions = append(last.Partitions, p)
	})
	return resp
}

func topicOfFetched(fp fetchedPartition) string { return fp.tp.topic }

type fetchedPartition struct {
	tp          topicPartition
	offset      int64
	leaderEpoch int32
	metadata    string
	code        int16
}

// fetchOffsets answers for tps, or every committed partition when tps is nil (sorted by topic, partition).
func (c *Coordinator) fetchOffsets(groupID string, requireStable bool, tps []topicPartition) (int16, []fetchedPartition) {
	if code := c.validateGroupStatus(groupID, emptyIDAllowed); code != errNone {
		return code, nil
	}
	unknown := func(tp topicPartition) fetchedPartition {
		return fetchedPartition{tp: tp, offset: -1, leaderEpoch: -1}
	}
	var out []fetchedPartition
	g := c.getGroup(groupID)
	if g == nil {
		for _, tp := range tps {
			out = append(out, unknown(tp))
		}
		return errNone, out
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.is(stateDead) {
		for _, tp := range tps {
			out = append(out, unknown(tp))
		}
		return errNone, out
	}
	if tps == nil {
		tps = g.allOffsetPartitions()
	}
	for _, tp := range tps {
		if requireStable && g.hasPendingCommitsFor(tp) {
			fp := unknown(tp)
			fp.code = errUnstableOffsetCommit
			out = append(out, fp)
			continue
		}
		cr, ok := g.offsets[tp]
		if !ok {
			out = append(out, unknown(tp))
			continue
		}
		out = append(out, fetchedPartition{tp: tp, offset: cr.om.offset, leaderEpoch: cr.om.leaderEpoch, metadata: cr.om.metadata})
	}
	return errNone, out
}
