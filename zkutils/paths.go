package zkutils

import "errors"

// persistentPaths is Kafka's ZkData.PersistentZkPaths: every broker makes sure they exist at startup.
var persistentPaths = []string{
	"/consumers",
	"/brokers/ids",
	"/brokers/topics",
	"/config/changes",
	"/admin/delete_topics",
	"/brokers/seqid",
	"/isr_change_notification",
	"/latest_producer_id_block",
	"/log_dir_event_notification",
	"/config/topics",
	"/config/clients",
	"/config/users",
	"/config/brokers",
	"/config/ips",
}

// CreateTopLevelPaths creates Kafka's persistent top-level paths (empty), ignoring those that exist.
func (c *Client) CreateTopLevelPaths() error {
	for _, p := range persistentPaths {
		if err := c.impl.createRecursive(p, nil, 0); err != nil && !errors.Is(err, ErrNodeExists) {
			return err
		}
	}
	return nil
}
