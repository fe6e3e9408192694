package broker

import (
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"regexp"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/zkutils"
)

// apiError is an error with Kafka's code and the message Kafka puts in the response.
type apiError struct {
	code *kerr.Error
	msg  string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.code }

func newAPIError(code *kerr.Error, format string, args ...any) error {
	return &apiError{code: code, msg: fmt.Sprintf(format, args...)}
}

const maxTopicNameLength = 249

var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validateTopicName applies Kafka's Topic.validate rules.
func validateTopicName(name string) error {
	switch {
	case name == "":
		return newAPIError(kerr.InvalidTopicException, "Topic name is illegal, it can't be empty")
	case name == "." || name == "..":
		return newAPIError(kerr.InvalidTopicException, "Topic name cannot be \".\" or \"..\"")
	case len(name) > maxTopicNameLength:
		return newAPIError(kerr.InvalidTopicException, "Topic name is illegal, it can't be longer than %d characters, topic name: %s", maxTopicNameLength, name)
	case !legalTopicName.MatchString(name):
		return newAPIError(kerr.InvalidTopicException, "Topic name \"%s\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'", name)
	}
	return nil
}

// topicCollisionName is how Kafka detects names that collide in metrics ('.' and '_' are the same there).
func topicCollisionName(name string) string { return strings.ReplaceAll(name, ".", "_") }

// createTopic validates a topic and writes its znodes; the controller then creates partitions and leaders.
// partitions/rf of -1 take num.partitions/default.replication.factor. manual may be nil.
func (s *Server) createTopic(name string, partitions int32, rf int16, manual map[int32][]int32, configs map[string]string) error {
	assignment, err := s.planTopic(name, partitions, rf, manual, configs)
	if err != nil {
		return err
	}
	var id [16]byte
	rand.Read(id[:])
	if err := s.zk.CreateTopic(name, assignment, id, configs); err != nil {
		if errors.Is(err, zkutils.ErrTopicExists) {
			return newAPIError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
		}
		return err
	}
	return nil
}

// planTopic validates a CreateTopics entry against ZooKeeper's state and returns the replica assignment.
func (s *Server) planTopic(name string, partitions int32, rf int16, manual map[int32][]int32, configs map[string]string) (map[int32][]int32, error) {
	if err := validateTopicName(name); err != nil {
		return nil, err
	}
	if exists, err := s.zk.TopicExists(name); err != nil {
		return nil, err
	} else if exists {
		return nil, newAPIError(kerr.TopicAlreadyExists, "Topic '%s' already exists.", name)
	}
	if marked, err := s.zk.IsTopicMarkedForDeletion(name); err != nil {
		return nil, err
	} else if marked {
		return nil, newAPIError(kerr.TopicAlreadyExists, "Topic '%s' is marked for deletion.", name)
	}
	topics, err := s.zk.GetAllTopics()
	if err != nil {
		return nil, err
	}
	for _, t := range topics {
		if t != name && topicCollisionName(t) == topicCollisionName(name) {
			return nil, newAPIError(kerr.InvalidTopicException, "Topic '%s' collides with existing topic: %s", name, t)
		}
	}
	if err := validateTopicConfigs(configs); err != nil {
		return nil, newAPIError(kerr.InvalidConfig, "%s", err.Error())
	}
	registered, err := s.zk.GetAllBrokers()
	if err != nil {
		return nil, err
	}
	brokerIDs := make([]int32, 0, len(registered))
	for _, b := range registered {
		brokerIDs = append(brokerIDs, b.ID)
	}
	if len(manual) > 0 {
		return manual, validateManualAssignment(manual, brokerIDs)
	}
	if partitions == -1 {
		partitions = s.cfg.NumPartitions
	}
	if rf == -1 {
		rf = s.cfg.DefaultReplicationFactor
	}
	return assignReplicasToBrokers(brokerMetadatas(registered), partitions, rf, -1, 0, mrand.IntN)
}

func validateManualAssignment(a map[int32][]int32, brokers []int32) error {
	live := map[int32]bool{}
	for _, b := range brokers {
		live[b] = true
	}
	rf := -1
	for p := int32(0); p < int32(len(a)); p++ {
		replicas, ok := a[p]
		if !ok {
			return newAPIError(kerr.InvalidReplicaAssignment, "Partitions should be consecutive and start from 0.")
		}
		if len(replicas) == 0 {
			return newAPIError(kerr.InvalidReplicaAssignment, "Replica assignment for partition %d is empty.", p)
		}
		if rf == -1 {
			rf = len(replicas)
		} else if rf != len(replicas) {
			return newAPIError(kerr.InvalidReplicaAssignment, "All partitions should have the same number of replicas.")
		}
		seen := map[int32]bool{}
		for _, r := range replicas {
			if seen[r] {
				return newAPIError(kerr.InvalidReplicaAssignment, "Duplicate brokers not allowed in replica assignment: %v for partition id %d.", replicas, p)
			}
			seen[r] = true
			if !live[r] {
				return newAPIError(kerr.BrokerNotAvailable, "Some brokers specified for partition id %d are not available. Specified brokers: %v, available brokers: %v.", p, replicas, brokers)
			}
		}
	}
	return nil
}
