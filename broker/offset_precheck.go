package broker

// OffsetCommit and OffsetDelete answer partitions the metadata cache does not know themselves, as KafkaApis
// does, and merge the coordinator's answer for the rest into theirs. The helpers here do that for any
// request/response topic type T with partitions of type P, reached through a topicFields accessor.

// topicFields gives the name and partitions of a request or response topic.
type topicFields[T, P any] func(t *T) (name *string, partitions *[]P)

// hostedOnly returns topics keeping only the partitions the metadata cache hosts (topics left without any
// are dropped); reject is called, in request order, for every other partition.
func hostedOnly[T, P any](s *Server, topics []T, fields topicFields[T, P], partitionOf func(P) int32,
	reject func(topic string, partition int32)) []T {
	var valid []T
	for _, t := range topics {
		name, parts := fields(&t)
		if !s.cache.contains(*name) {
			for _, p := range *parts {
				reject(*name, partitionOf(p))
			}
			continue
		}
		all := *parts
		*parts = nil
		for _, p := range all {
			if s.cache.hostsPartition(topicPartition{Topic: *name, Partition: partitionOf(p)}) {
				*parts = append(*parts, p)
			} else {
				reject(*name, partitionOf(p))
			}
		}
		if len(*parts) > 0 {
			valid = append(valid, t)
		}
	}
	return valid
}

// localTopics is the topic list of a response the broker answers in part itself, indexed by name so that
// partitions join their topic whatever order they come in.
type localTopics[T, P any] struct {
	topics   *[]T
	fields   topicFields[T, P]
	newTopic func() T
	byName   map[string]int
}

func newLocalTopics[T, P any](topics *[]T, fields topicFields[T, P], newTopic func() T) *localTopics[T, P] {
	return &localTopics[T, P]{topics: topics, fields: fields, newTopic: newTopic, byName: map[string]int{}}
}

func (l *localTopics[T, P]) empty() bool { return len(*l.topics) == 0 }

// add appends p to topic's partitions, adding the topic first if it is new.
func (l *localTopics[T, P]) add(topic string, p P) {
	i, ok := l.byName[topic]
	if !ok {
		rt := l.newTopic()
		name, _ := l.fields(&rt)
		*name = topic
		*l.topics = append(*l.topics, rt)
		i = len(*l.topics) - 1
		l.byName[topic] = i
	}
	_, parts := l.fields(&(*l.topics)[i])
	*parts = append(*parts, p)
}

// merge is the topics half of Kafka's response Builder.merge: the coordinator's partitions join those of
// the same topic answered here, new topics go to the end.
func (l *localTopics[T, P]) merge(remote []T) {
	for _, t := range remote {
		name, parts := l.fields(&t)
		if i, ok := l.byName[*name]; ok {
			_, local := l.fields(&(*l.topics)[i])
			*local = append(*local, *parts...)
			continue
		}
		l.byName[*name] = len(*l.topics)
		*l.topics = append(*l.topics, t)
	}
}
