package zkutils

import "errors"

const deleteTopicsPath = "/admin/delete_topics"

func deleteTopicPath(topic string) string { return deleteTopicsPath + "/" + topic }

// MarkTopicForDeletion creates the empty /admin/delete_topics/<topic>; ErrNodeExists if already marked.
func (c *Client) MarkTopicForDeletion(topic string) error {
	return c.impl.createRecursive(deleteTopicPath(topic), nil, 0)
}

// WatchTopicDeletions lists topics marked for deletion (sorted) and sets a child watch.
func (c *Client) WatchTopicDeletions() ([]string, Watch, error) {
	return c.impl.childrenW(deleteTopicsPath)
}

// IsTopicMarkedForDeletion reports whether the deletion marker exists.
func (c *Client) IsTopicMarkedForDeletion(topic string) (bool, error) {
	ok, _, err := c.impl.exists(deleteTopicPath(topic))
	return ok, err
}

// DeleteTopicZNodes removes /brokers/topics/<topic> recursively and /config/topics/<topic>, every delete
// fenced (Kafka's deleteTopicZNode and deleteTopicConfigs). Missing nodes are fine.
func (c *Client) DeleteTopicZNodes(epochZkVersion int32, topic string) error {
	if err := c.impl.deleteRecursiveFenced(epochZkVersion, topicPath(topic)); err != nil {
		return err
	}
	return c.impl.fencedDelete(epochZkVersion, topicConfigPath(topic))
}

// DeleteTopicDeletionMarkers removes the markers of topics, each fenced; missing ones are ignored.
func (c *Client) DeleteTopicDeletionMarkers(epochZkVersion int32, topics []string) error {
	err := c.impl.fencedDeleteAll(epochZkVersion, deleteTopicsPath, topics)
	if errors.Is(err, ErrControllerMoved) {
		return ErrControllerMoved
	}
	return err
}
