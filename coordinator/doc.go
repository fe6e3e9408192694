// Package coordinator is classic Kafka's group coordinator: the group state machines (JoinGroup, SyncGroup,
// Heartbeat, LeaveGroup with Kafka's states and transitions), committed offsets and their retention, and the
// __consumer_offsets record schemas, loaded when this broker becomes leader of a partition of that topic and
// unloaded when it stops. It knows nothing of the network, the log's files or ZooKeeper: it appends and loads
// through the Log interface the broker implements.
package coordinator
