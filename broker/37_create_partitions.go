package broker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(37, 0, 3, (*Server).handleCreatePartitions) }

// handleCreatePartitions is Kafka's ZK-mode path: only the active controller serves it (others answer
// NOT_CONTROLLER per topic); it extends /brokers/topics/<t>, the controller's watch on that znode creates the
// partitions, and the response waits until every partition has a leader in the metadata cache.
func (s *Server) handleCreatePartitions(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	add := func(topic string, err error) {
		rt := kmsg.NewCreatePartitionsResponseTopic()
		rt.Topic = topic
		if err != nil {
			rt.ErrorCode = errorCode(err)
			var ae *apiError
			if errors.As(err, &ae) {
				rt.ErrorMessage = &ae.msg
			} else if rt.ErrorCode == kerr.UnknownServerError.Code {
				s.logger.Errorf("CreatePartitions of %s failed: %v", topic, err)
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if !s.ctrl.IsActive() {
		for _, t := range req.Topics {
			add(t.Topic, kerr.NotController)
		}
		respond(resp)
		return
	}
	registered, err := s.zk.GetAllBrokers()
	brokers := brokerMetadatas(registered)
	if err == nil {
		err = racksComplete(brokers)
	}
	if err != nil {
		// Kafka reads the brokers before looking at any topic, so this fails the whole request.
		for _, t := range req.Topics {
			add(t.Topic, err)
		}
		respond(resp)
		return
	}
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	type waitFor struct {
		name       string
		partitions int
	}
	var waits []waitFor
	for _, t := range req.Topics {
		if seen[t.Topic] > 1 {
			add(t.Topic, newAPIError(kerr.InvalidRequest, "Duplicate topic in request."))
			continue
		}
		if marked, err := s.zk.IsTopicMarkedForDeletion(t.Topic); err != nil || marked {
			if err == nil {
				err = newAPIError(kerr.InvalidTopicException, "The topic is queued for deletion.")
			}
			add(t.Topic, err)
			continue
		}
		var manual [][]int32
		if t.Assignment != nil {
			manual = make([][]int32, len(t.Assignment))
			for i, a := range t.Assignment {
				manual[i] = a.Replicas
			}
		}
		n, err := s.createPartitions(t.Topic, t.Count, manual, brokers, req.ValidateOnly)
		add(t.Topic, err)
		if err == nil && !req.ValidateOnly {
			waits = append(waits, waitFor{t.Topic, n})
		}
	}
	if len(waits) == 0 || req.TimeoutMillis <= 0 {
		respond(resp)
		return
	}
	s.waitForMetadata(time.Duration(req.TimeoutMillis)*time.Millisecond, func() bool {
		for _, w := range waits {
			if !s.cache.allPartitionsHaveLeaders(w.name, w.partitions) {
				return false
			}
		}
		return true
	}, func(bool) {
		for i := range resp.Topics {
			rt := &resp.Topics[i]
			for _, w := range waits {
				if w.name == rt.Topic && rt.ErrorCode == 0 && !s.cache.allPartitionsHaveLeaders(w.name, w.partitions) {
					rt.ErrorCode = kerr.RequestTimedOut.Code
					msg := "Timed out waiting for partition creation"
					rt.ErrorMessage = &msg
				}
			}
		}
		respond(resp)
	})
}

// createPartitions plans and (unless validateOnly) writes a topic's new partitions; it returns the new count.
// A concurrent write to the topic znode (a controller adding the topic id) makes it plan again.
func (s *Server) createPartitions(topic string, count int32, manual [][]int32, brokers []brokerMetadata, validateOnly bool) (int, error) {
	for attempt := 0; ; attempt++ {
		existing, err := s.zk.GetTopicAssignments([]string{topic})
		if err != nil {
			return 0, err
		}
		cur := existing[topic]
		added, err := planNewPartitions(topic, cur, count, manual, brokers)
		if err != nil || validateOnly {
			return int(count), err
		}
		for p, rs := range added {
			cur.Partitions[p] = rs
		}
		if _, err = s.zk.AddTopicPartitions(cur); errors.Is(err, zkutils.ErrBadVersion) && attempt < 3 {
			continue
		}
		if err == nil {
			s.logger.Infof("Creating %d partitions for '%s' with the following replica assignment: %v.", len(added), topic, added)
		}
		return int(count), err
	}
}

// planNewPartitions is ZkAdminManager.createPartitions with AdminZkClient.createNewPartitionsAssignment: the
// checks in Kafka's order, then the manual assignment or one that continues partition 0's pattern.
func planNewPartitions(topic string, existing zkutils.TopicAssignment, count int32, manual [][]int32, brokers []brokerMetadata) (map[int32][]int32, error) {
	if len(existing.Adding) > 0 || len(existing.Removing) > 0 {
		return nil, newAPIError(kerr.ReassignmentInProgress, "A partition reassignment is in progress for the topic '%s'.", topic)
	}
	if len(existing.Partitions) == 0 {
		return nil, newAPIError(kerr.UnknownTopicOrPartition, "The topic '%s' does not exist.", topic)
	}
	old := int32(len(existing.Partitions))
	switch inc := count - old; {
	case inc < 0:
		return nil, newAPIError(kerr.InvalidPartitions, "Topic currently has %d partitions, which is higher than the requested %d.", old, count)
	case inc == 0:
		return nil, newAPIError(kerr.InvalidPartitions, "Topic already has %d partitions.", old)
	}
	known := map[int32]bool{}
	for _, b := range brokers {
		known[b.id] = true
	}
	if manual != nil {
		var unknown []int32
		seen := map[int32]bool{}
		for _, rs := range manual {
			for _, r := range rs {
				if !known[r] && !seen[r] {
					seen[r] = true
					unknown = append(unknown, r)
				}
			}
		}
		if len(unknown) > 0 {
			return nil, newAPIError(kerr.InvalidReplicaAssignment, "Unknown broker(s) in replica assignment: %s.", joinInt32s(sortedIDs(unknown), ", "))
		}
		if int32(len(manual)) != count-old {
			return nil, newAPIError(kerr.InvalidReplicaAssignment, "Increasing the number of partitions by %d but %d assignments provided.", count-old, len(manual))
		}
	}
	p0, ok := existing.Partitions[0]
	if !ok || len(p0) == 0 {
		return nil, fmt.Errorf("Unexpected existing replica assignment for topic '%s', partition id 0 is missing.", topic)
	}
	if manual != nil {
		out := make(map[int32][]int32, len(manual))
		for i, rs := range manual {
			p := old + int32(i)
			if err := validateNewPartition(p, rs, len(p0), known, brokers); err != nil {
				return nil, err
			}
			out[p] = rs
		}
		return out, nil
	}
	start := 0
	for i, b := range brokers {
		if b.id >= p0[0] {
			start = i
			break
		}
	}
	return assignReplicasToBrokers(brokers, count-old, int16(len(p0)), start, old, nil)
}

// validateNewPartition is AdminZkClient.validateReplicaAssignment for one added partition.
func validateNewPartition(p int32, rs []int32, rf int, known map[int32]bool, brokers []brokerMetadata) error {
	if len(rs) == 0 {
		return newAPIError(kerr.InvalidReplicaAssignment, "Cannot have replication factor of 0 for partition id %d.", p)
	}
	seen := map[int32]bool{}
	for _, r := range rs {
		if seen[r] {
			return newAPIError(kerr.InvalidReplicaAssignment, "Duplicate brokers not allowed in replica assignment: %s for partition id %d.", joinInt32s(rs, ", "), p)
		}
		seen[r] = true
	}
	for _, r := range rs {
		if !known[r] {
			ids := make([]int32, len(brokers))
			for i, b := range brokers {
				ids[i] = b.id
			}
			return newAPIError(kerr.BrokerNotAvailable, "Some brokers specified for partition id %d are not available. Specified brokers: %s, available brokers: %s.", p, joinInt32s(rs, ", "), joinInt32s(ids, ", "))
		}
	}
	if len(rs) != rf {
		return newAPIError(kerr.InvalidReplicaAssignment, "Inconsistent replication factor between partitions, partition 0 has %d while partition %d has %d.", rf, p, len(rs))
	}
	return nil
}

func sortedIDs(ids []int32) []int32 {
	out := append([]int32(nil), ids...)
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

func joinInt32s(ids []int32, sep string) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = fmt.Sprint(id)
	}
	return strings.Join(parts, sep)
}
