package broker

import (
	"math"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchSessionCache implements incremental fetch sessions (KIP-227): a client creates a session with a full
// fetch (id 0, epoch 0), then sends only what changed with epochs 1, 2, …; the broker answers incremental
// fetches with only the partitions that have news. When the cache is full the broker answers with session id
// 0, which tells the client to keep sending full fetches (Kafka's refusal).
type fetchSessionCache struct {
	maxSlots int
	now      func() time.Time
	names    func(id [16]byte) (string, bool)

	mu       sync.Mutex
	nextID   int32
	sessions map[int32]*fetchSession
}

// evictableAfter is how long a session must have been idle before a new one may take its slot.
const evictableAfter = 2 * time.Minute

type fetchSession struct {
	id int32

	mu        sync.Mutex
	nextEpoch int32
	parts     []fetchPartition
	index     map[topicPartition]int
	sent      map[topicPartition][3]int64 // last HW, LSO, log start offset sent
	lastUsed  time.Time
}

// fetchView is what one Fetch request reads: its partitions and how the response is filtered.
type fetchView struct {
	id         int32
	partitions []fetchPartition
	session    *fetchSession // nil for sessionless fetches
	full       bool
}

func newFetchSessionCache(maxSlots int, names func([16]byte) (string, bool)) *fetchSessionCache {
	return &fetchSessionCache{maxSlots: maxSlots, now: time.Now, names: names, nextID: 1, sessions: map[int32]*fetchSession{}}
}

func (c *fetchSessionCache) requestPartitions(req *kmsg.FetchRequest) []fetchPartition {
	var out []fetchPartition
	for _, t := range req.Topics {
		name, errCode := t.Topic, int16(0)
		if req.Version >= 13 {
			n, ok := c.names(t.TopicID)
			name = n
			if !ok {
				errCode = kerr.UnknownTopicID.Code
			}
		}
		for _, p := range t.Partitions {
			out = append(out, fetchPartition{
				tp:          topicPartition{Topic: name, Partition: p.Partition},
				topicID:     t.TopicID,
				offset:      p.FetchOffset,
				maxBytes:    p.PartitionMaxBytes,
				leaderEpoch: p.CurrentLeaderEpoch,
				lastEpoch:   p.LastFetchedEpoch,
				logStart:    p.LogStartOffset,
				err:         errCode,
			})
		}
	}
	return out
}

// resolve turns a Fetch request into the partitions to read, creating, updating or closing its session.
func (c *fetchSessionCache) resolve(req *kmsg.FetchRequest) (*fetchView, int16) {
	parts := c.requestPartitions(req)
	if req.Version < 7 {
		return &fetchView{partitions: parts, full: true}, 0
	}
	switch {
	case req.SessionID == 0 && req.SessionEpoch == -1: // sessionless full fetch
		return &fetchView{partitions: parts, full: true}, 0
	case req.SessionEpoch == -1: // close the session, full fetch
		c.remove(req.SessionID)
		return &fetchView{partitions: parts, full: true}, 0
	case req.SessionEpoch == 0: // (re)create
		if req.SessionID != 0 {
			c.remove(req.SessionID)
		}
		s := c.create(parts)
		if s == nil {
			return &fetchView{partitions: parts, full: true}, 0
		}
		return &fetchView{id: s.id, partitions: parts, session: s, full: true}, 0
	}
	c.mu.Lock()
	s := c.sessions[req.SessionID]
	c.mu.Unlock()
	if s == nil {
		return nil, kerr.FetchSessionIDNotFound.Code
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if req.SessionEpoch != s.nextEpoch {
		return nil, kerr.InvalidFetchSessionEpoch.Code
	}
	s.lastUsed = c.now()
	if s.nextEpoch == math.MaxInt32 {
		s.nextEpoch = 1
	} else {
		s.nextEpoch++
	}
	for _, fp := range parts {
		if i, ok := s.index[fp.tp]; ok {
			s.parts[i] = fp
		} else {
			s.index[fp.tp] = len(s.parts)
			s.parts = append(s.parts, fp)
		}
	}
	forgotten := map[topicPartition]bool{}
	for _, t := range req.ForgottenTopics {
		name := t.Topic
		if req.Version >= 13 {
			name, _ = c.names(t.TopicID)
		}
		for _, p := range t.Partitions {
			forgotten[topicPartition{Topic: name, Partition: p}] = true
		}
	}
	if len(forgotten) > 0 {
		kept := s.parts[:0]
		for _, fp := range s.parts {
			if !forgotten[fp.tp] {
				kept = append(kept, fp)
			} else {
				delete(s.sent, fp.tp)
			}
		}
		s.parts = kept
		s.index = make(map[topicPartition]int, len(s.parts))
		for i, fp := range s.parts {
			s.index[fp.tp] = i
		}
	}
	return &fetchView{id: s.id, partitions: append([]fetchPartition(nil), s.parts...), session: s}, 0
}

func (c *fetchSessionCache) create(parts []fetchPartition) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.maxSlots <= 0 {
		return nil
	}
	if len(c.sessions) >= c.maxSlots {
		var oldest *fetchSession
		for _, s := range c.sessions {
			s.mu.Lock()
			if oldest == nil || s.lastUsed.Before(oldest.lastUsed) {
				oldest = s
			}
			s.mu.Unlock()
		}
		if oldest == nil || c.now().Sub(oldest.lastUsed) < evictableAfter {
			return nil
		}
		delete(c.sessions, oldest.id)
	}
	for {
		id := c.nextID
		c.nextID++
		if c.nextID <= 0 {
			c.nextID = 1
		}
		if _, taken := c.sessions[id]; !taken {
			s := &fetchSession{id: id, nextEpoch: 1, index: map[topicPartition]int{}, sent: map[topicPartition][3]int64{}, lastUsed: c.now()}
			for _, fp := range parts {
				if _, dup := s.index[fp.tp]; !dup {
					s.index[fp.tp] = len(s.parts)
					s.parts = append(s.parts, fp)
				}
			}
			c.sessions[id] = s
			return s
		}
	}
}

func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	delete(c.sessions, id)
	c.mu.Unlock()
}

// include decides whether a partition goes into the response: always for full fetches; for incremental ones only
// when it has records, an error, or a changed HW / LSO / log start offset. It records what was sent.
func (v *fetchView) include(fp fetchPartition, rp kmsg.FetchResponseTopicPartition) bool {
	if v.session == nil {
		return true
	}
	v.session.mu.Lock()
	defer v.session.mu.Unlock()
	state := [3]int64{rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset}
	prev, seen := v.session.sent[fp.tp]
	if rp.ErrorCode == 0 {
		v.session.sent[fp.tp] = state
	}
	if v.full {
		return true
	}
	return rp.ErrorCode != 0 || len(rp.RecordBatches) > 0 || !seen || prev != state
}
