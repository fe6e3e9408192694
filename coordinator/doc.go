// Package coordinator is classic Kafka's group coordinator and transaction coordinator.
//
// The group coordinator owns the group state machines (JoinGroup, SyncGroup, Heartbeat, LeaveGroup with
// Kafka's states and transitions), committed offsets (plain and transactional, the latter pending per
// producer until their transaction's marker) and their retention, and the __consumer_offsets record schemas.
//
// The transaction coordinator (TxnCoordinator) owns transactional ids: producer ids and epochs
// (InitProducerId), the transaction state machine (AddPartitionsToTxn, AddOffsetsToTxn, EndTxn, timeouts,
// fencing), the __transaction_state record schemas, and when to have COMMIT/ABORT markers written.
//
// Both load their partitions when this broker becomes leader of them and unload them when it stops. The
// package knows nothing of the network, the log's files, replication or ZooKeeper: it appends and loads
// through the Log interface, allocates producer ids through ProducerIDs and sends markers through
// MarkerWriter, all implemented by the broker.
package coordinator
