package zkutils

// AddTopicPartitions rewrites a topic's assignment with the extra partitions CreatePartitions adds. Like Kafka's
// AdminZkClient.createPartitionsWithAssignment it is not fenced (any broker's admin path may call it), but unlike
// Kafka's MatchAnyVersion write it is conditional on a.ZkVersion (ErrBadVersion), so a concurrent controller
// write (a topic id, a reassignment) is never silently overwritten; −1 matches any version.
func (c *Client) AddTopicPartitions(a TopicAssignment) (newZkVersion int32, err error) {
	st, err := c.impl.conn.Set(c.impl.abs(topicPath(a.Topic)), encodeTopicAssignment(a), a.ZkVersion)
	if err != nil {
		return 0, mapErr("set", topicPath(a.Topic), err)
	}
	return st.Version, nil
}
