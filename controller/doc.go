// Package controller is the active controller of classic ZooKeeper-mode Kafka: election on /controller with
// /controller_epoch fencing, one event goroutine that owns all controller state, the partition and replica state
// machines, the four leader elections, topic creation and deletion, controlled shutdown, preferred-leader elections
// (ElectLeaders, /admin/preferred_replica_election, auto-rebalance), KIP-455 partition reassignment, and the
// channel that carries LeaderAndIsr, UpdateMetadata and StopReplica to brokers over the Kafka protocol.
//
// It must not know znode paths or their JSON (zkutils owns them), nor anything of the broker's data path: it
// reaches every broker, including the one it lives in, only through BrokerConn.
//
// Threading: ZooKeeper watch callbacks, broker responses and the exported methods only enqueue events or read
// published atomics; everything else runs on the event goroutine, so controller state needs no locks.
package controller
