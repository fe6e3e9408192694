package controller

import "fmt"

// partitionState is Kafka's PartitionState; the ids match Kafka's for log parity.
type partitionState int8

const (
	newPartition         partitionState = 0
	onlinePartition      partitionState = 1
	offlinePartition     partitionState = 2
	nonExistentPartition partitionState = 3
)

func (s partitionState) String() string {
	switch s {
	case newPartition:
		return "NewPartition"
	case onlinePartition:
		return "OnlinePartition"
	case offlinePartition:
		return "OfflinePartition"
	case nonExistentPartition:
		return "NonExistentPartition"
	}
	return fmt.Sprintf("PartitionState(%d)", int8(s))
}

// validPartitionTransition is the "valid previous states" column of Kafka's partition state machine.
func validPartitionTransition(from, to partitionState) bool {
	switch to {
	case newPartition:
		return from == nonExistentPartition
	case onlinePartition, offlinePartition:
		return from == newPartition || from == onlinePartition || from == offlinePartition
	case nonExistentPartition:
		return from == offlinePartition
	}
	return false
}

// replicaState is Kafka's ReplicaState; the ids match Kafka's.
type replicaState int8

const (
	newReplica                replicaState = 1
	onlineReplica             replicaState = 2
	offlineReplica            replicaState = 3
	replicaDeletionStarted    replicaState = 4
	replicaDeletionSuccessful replicaState = 5
	replicaDeletionIneligible replicaState = 6
	nonExistentReplica        replicaState = 7
)

func (s replicaState) String() string {
	switch s {
	case newReplica:
		return "NewReplica"
	case onlineReplica:
		return "OnlineReplica"
	case offlineReplica:
		return "OfflineReplica"
	case replicaDeletionStarted:
		return "ReplicaDeletionStarted"
	case replicaDeletionSuccessful:
		return "ReplicaDeletionSuccessful"
	case replicaDeletionIneligible:
		return "ReplicaDeletionIneligible"
	case nonExistentReplica:
		return "NonExistentReplica"
	}
	return fmt.Sprintf("ReplicaState(%d)", int8(s))
}

// validReplicaTransition is the "valid previous states" column of Kafka's replica state machine.
func validReplicaTransition(from, to replicaState) bool {
	switch to {
	case newReplica:
		return from == nonExistentReplica
	case onlineReplica:
		return from == newReplica || from == onlineReplica || from == offlineReplica || from == replicaDeletionIneligible
	case offlineReplica:
		return from == newReplica || from == onlineReplica || from == offlineReplica || from == replicaDeletionIneligible
	case replicaDeletionStarted:
		return from == offlineReplica
	case replicaDeletionSuccessful:
		return from == replicaDeletionStarted
	case replicaDeletionIneligible:
		return from == offlineReplica || from == replicaDeletionStarted
	case nonExistentReplica:
		return from == replicaDeletionSuccessful
	}
	return false
}
