package zkutils

import (
	"bytes"
	"encoding/json"
	"sort"

	"github.com/zkafka/zkafka/internal/jhash"
)

// Kafka writes znode JSON with Jackson from Scala and Java maps, so the key order on the wire is the iteration
// order of whichever map Kafka built. To give `get /path` the same bytes as Kafka, each encoder names the map
// kind Kafka used and these helpers reproduce that kind's iteration order. Readers never depend on order.

func javaStringHash(s string) int32 { return jhash.String(s) }

// scalaImmutableMapOrder is the iteration order of a Scala 2.13 immutable.Map built from keys in this order:
// up to four entries keep insertion order (Map1..Map4); more become a CHAMP HashMap iterated by hash.
func scalaImmutableMapOrder(keys []string) []string {
	if len(keys) <= 4 {
		return keys
	}
	type ent struct {
		key  string
		hash uint32
	}
	ents := make([]ent, len(keys))
	for i, k := range keys {
		ents[i] = ent{k, scalaImprove(javaStringHash(k))}
	}
	var out []string
	// A CHAMP node holds entries whose 5-bit fragment is unique at that level inline (in fragment order) and
	// pushes colliding fragments into sub-nodes, visited after the node's own entries, in fragment order.
	var walk func(es []ent, shift uint)
	walk = func(es []ent, shift uint) {
		if shift >= 35 {
			for _, e := range es { // full hash collision: insertion order
				out = append(out, e.key)
			}
			return
		}
		groups := map[uint32][]ent{}
		for _, e := range es {
			f := (e.hash >> shift) & 31
			groups[f] = append(groups[f], e)
		}
		frags := make([]uint32, 0, len(groups))
		for f := range groups {
			frags = append(frags, f)
		}
		sort.Slice(frags, func(i, j int) bool { return frags[i] < frags[j] })
		for _, f := range frags {
			if len(groups[f]) == 1 {
				out = append(out, groups[f][0].key)
			}
		}
		for _, f := range frags {
			if len(groups[f]) > 1 {
				walk(groups[f], shift+5)
			}
		}
	}
	walk(ents, 0)
	return out
}

// scalaImprove is scala.collection.Hashing.improve, the hash spreading of immutable.HashMap.
func scalaImprove(hcode int32) uint32 {
	h := uint32(hcode) + ^(uint32(hcode) << 9)
	h ^= h >> 14
	h += h << 4
	return h ^ (h >> 10)
}

// scalaMutableMapOrder is the iteration order of a Scala 2.13 mutable.HashMap whose table starts with
// tableLen buckets (16 for `mutable.Map()`, tableSizeFor((n+1)/0.75) for `mutable.Map(n pairs)`) and then
// receives the keys: buckets in index order, each bucket sorted by hash.
func scalaMutableMapOrder(keys []string, tableLen int) []string {
	threshold := int(float64(tableLen) * 0.75)
	seen := map[string]bool{}
	n := 0
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if n+1 >= threshold {
			tableLen *= 2
			threshold = int(float64(tableLen) * 0.75)
		}
		n++
	}
	type ent struct {
		key  string
		hash int32
	}
	ents := make([]ent, 0, n)
	for _, k := range dedup(keys) {
		h := javaStringHash(k)
		ents = append(ents, ent{k, h ^ int32(uint32(h)>>16)})
	}
	mask := int32(tableLen - 1)
	sort.SliceStable(ents, func(i, j int) bool {
		bi, bj := ents[i].hash&mask, ents[j].hash&mask
		if bi != bj {
			return bi < bj
		}
		return ents[i].hash < ents[j].hash
	})
	out := make([]string, len(ents))
	for i, e := range ents {
		out[i] = e.key
	}
	return out
}

// scalaMutableFromLen is the initial table size of `mutable.Map(pairs...)` with n pairs (HashMap.from).
func scalaMutableFromLen(n int) int {
	c := int(float64(n+1) / 0.75)
	if n <= 0 {
		c = 16
	}
	p := 1
	for p*2 <= max(c-1, 4) {
		p *= 2
	}
	return p * 2
}

// javaHashMapOrder is the iteration order of a java.util.HashMap (or a Java 9+ Properties, which delegates to
// a ConcurrentHashMap with the same bucket layout) filled with keys in this order: buckets in index order,
// each bucket in insertion order. Tree bins and the reordering a resize can cause within one bucket are not
// modelled; they only matter for colliding keys.
func javaHashMapOrder(keys []string) []string {
	keys = dedup(keys)
	tableLen := 16
	for len(keys) > tableLen*3/4 {
		tableLen *= 2
	}
	idx := func(k string) uint32 {
		h := uint32(javaStringHash(k))
		return (h ^ h>>16) & uint32(tableLen-1)
	}
	out := append([]string(nil), keys...)
	sort.SliceStable(out, func(i, j int) bool { return idx(out[i]) < idx(out[j]) })
	return out
}

func dedup(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

// object is a JSON object under construction whose members are written in a chosen order.
type object map[string]any

// marshalOrdered writes o with its keys in order (which must name every key of o), compactly and without
// HTML escaping, as Jackson does.
func marshalOrdered(o object, order []string) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range order {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshalValue(k))
		b.WriteByte(':')
		b.Write(marshalValue(o[k]))
	}
	b.WriteByte('}')
	return b.Bytes()
}

func marshalValue(v any) []byte {
	if raw, ok := v.(json.RawMessage); ok {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only our own plain values reach here; a failure is a programming error.
		panic("zkutils: encode JSON: " + err.Error())
	}
	return bytes.TrimRight(b.Bytes(), "\n")
}
