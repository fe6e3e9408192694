package coordinator

// commitEntry is one partition of an OffsetCommit or TxnOffsetCommit in request order, with its answer.
type commitEntry struct {
	tp   topicPartition
	om   offsetAndMetadata
	code int16
	done bool // answered before reaching the group (unknown topic)
}

// commitBatch is the partitions of one OffsetCommit or TxnOffsetCommit: all of them in request order, for
// the response, and those whose topic exists, to commit.
type commitBatch struct {
	entries  []*commitEntry
	toCommit []*commitEntry
}

// add appends a partition; one of a topic that does not exist is answered UNKNOWN_TOPIC_OR_PARTITION
// without reaching the group.
func (b *commitBatch) add(tp topicPartition, om offsetAndMetadata, topicExists bool) {
	e := &commitEntry{tp: tp, om: om}
	if !topicExists {
		e.code, e.done = errUnknownTopicOrPartition, true
	} else {
		b.toCommit = append(b.toCommit, e)
	}
	b.entries = append(b.entries, e)
}

// failAll answers every partition still to commit with code.
func (b *commitBatch) failAll(code int16) {
	for _, e := range b.toCommit {
		e.code = code
	}
}

// eachByTopic walks the entries in request order for a response.
func (b *commitBatch) eachByTopic(topic func(name string), partition func(e *commitEntry)) {
	byTopic(b.entries, func(e *commitEntry) string { return e.tp.topic }, topic, partition)
}

// byTopic walks items in order as responses nest them under their topic: topic is called whenever a run
// of items of another topic starts, then item for every item.
func byTopic[T any](items []T, topicOf func(T) string, topic func(name string), item func(T)) {
	for i, it := range items {
		if name := topicOf(it); i == 0 || topicOf(items[i-1]) != name {
			topic(name)
		}
		item(it)
	}
}

// commitMetadata is a partition's commit metadata; null is stored as empty.
func commitMetadata(md *string) string {
	if md == nil {
		return ""
	}
	return *md
}

// validMetadata answers OFFSET_METADATA_TOO_LARGE for the entries whose metadata exceeds
// offset.metadata.max.bytes and returns the others.
func (c *Coordinator) validMetadata(entries []*commitEntry) []*commitEntry {
	var valid []*commitEntry
	for _, e := range entries {
		if javaLength(e.om.metadata) > c.cfg.OffsetMetadataMaxBytes {
			e.code = errOffsetMetadataTooLarge
		} else {
			valid = append(valid, e)
		}
	}
	return valid
}
