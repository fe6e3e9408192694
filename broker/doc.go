// Package broker is the zkafka server: configuration, start-up and shutdown, API dispatch (one file per API
// key, named by key), the metadata cache fed by the controller's UpdateMetadata, the ReplicaManager and its
// Partitions, and the purgatory of delayed operations. It wires network, log, zkutils, controller and (later)
// coordinator together and is the only package that imports controller and coordinator. It knows no znode path
// or JSON: it asks zkutils.
package broker
