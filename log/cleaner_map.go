package log

import (
	"hash/maphash"
	"math/bits"
)

// offsetMapSlotBytes is what one key costs: a 128-bit key hash and an
// offset, as Kafka's SkimpyOffsetMap (16-byte MD5 + 8-byte offset).
const offsetMapSlotBytes = 24

// offsetMapInitialSlots is the table a pass starts with; it doubles as keys
// arrive, up to the configured maximum, so a small log does not touch the
// whole dedupe buffer.
const offsetMapInitialSlots = 1 << 14

// offsetMap is SkimpyOffsetMap: key → highest offset seen, by open
// addressing over 128-bit key hashes. Two keys with the same hash count as
// one, as in Kafka (where it is MD5); with 128 bits that is never expected
// to happen. Not safe for concurrent use: each cleaner thread has its own.
type offsetMap struct {
	seed1, seed2 maphash.Seed
	slots        []mapSlot
	maxSlots     int
	loadFactor   float64
	entries      int
	latest       int64 // the highest offset put, -1 if none
}

type mapSlot struct {
	h1, h2 uint64
	off    int64 // offset + 1; 0 marks an empty slot
}

func newOffsetMap(maxSlots int, loadFactor float64) *offsetMap {
	maxSlots = max(maxSlots, 2)
	return &offsetMap{seed1: maphash.MakeSeed(), seed2: maphash.MakeSeed(), maxSlots: maxSlots,
		loadFactor: loadFactor, slots: make([]mapSlot, min(offsetMapInitialSlots, maxSlots)), latest: -1}
}

// maxEntries is Kafka's maxDesiredMapSize: slots * load factor.
func (m *offsetMap) maxEntries() int { return int(float64(m.maxSlots) * m.loadFactor) }

func (m *offsetMap) full() bool { return m.entries >= m.maxEntries() }

// clear empties the map for the next pass, keeping its table.
func (m *offsetMap) clear() {
	clear(m.slots)
	m.entries, m.latest = 0, -1
}

func (m *offsetMap) hash(key []byte) (uint64, uint64) {
	return maphash.Bytes(m.seed1, key), maphash.Bytes(m.seed2, key)
}

// find returns the slot of (h1, h2) or the empty slot where it would go.
func (m *offsetMap) find(h1, h2 uint64) *mapSlot {
	n := uint64(len(m.slots))
	i, _ := bits.Mul64(h1, n) // h1 spread over [0, n)
	for {
		s := &m.slots[i]
		if s.off == 0 || (s.h1 == h1 && s.h2 == h2) {
			return s
		}
		if i++; i == n {
			i = 0
		}
	}
}

// put records offset for key; offsets arrive in increasing order, so the
// last put wins.
func (m *offsetMap) put(key []byte, offset int64) {
	h1, h2 := m.hash(key)
	s := m.find(h1, h2)
	if s.off == 0 {
		if m.entries+1 > len(m.slots)*3/4 && len(m.slots) < m.maxSlots {
			m.grow()
			s = m.find(h1, h2)
		}
		m.entries++
		s.h1, s.h2 = h1, h2
	}
	s.off = offset + 1
	m.latest = offset
}

// get returns the offset stored for key, or -1.
func (m *offsetMap) get(key []byte) int64 {
	h1, h2 := m.hash(key)
	return m.find(h1, h2).off - 1
}

func (m *offsetMap) grow() {
	old := m.slots
	m.slots = make([]mapSlot, min(len(old)*2, m.maxSlots))
	for _, s := range old {
		if s.off != 0 {
			*m.find(s.h1, s.h2) = s
		}
	}
}

// utilization is entries / maximum slots, for the cleaner's summary line.
func (m *offsetMap) utilization() float64 { return float64(m.entries) / float64(m.maxSlots) }
