package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

func init() { register(19, 0, 7, (*Server).handleCreateTopics) }

// handleCreateTopics is served by the active controller only: it validates, writes the topic znodes, then waits
// (without holding a handler) until every new partition has a leader in the metadata cache, or the timeout.
func (s *Server) handleCreateTopics(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	active := s.ctrl.IsActive()
	seen := map[string]int{}
	for _, t := range req.Topics {
		seen[t.Topic]++
	}
	type waitFor struct {
		idx        int
		name       string
		partitions int
	}
	var waits []waitFor
	for _, t := range req.Topics {
		rt := kmsg.NewCreateTopicsResponseTopic()
		rt.Topic = t.Topic
		rt.NumPartitions, rt.ReplicationFactor = -1, -1
		var err error
		switch {
		case seen[t.Topic] > 1:
			err = newAPIError(kerr.InvalidRequest, "Create topics request from client `%s` contains multiple entries for the following topics: %s", clientID(nreq), t.Topic)
		case !active:
			err = newAPIError(kerr.NotController, "This is not the correct controller for this cluster.")
		case len(t.ReplicaAssignment) > 0 && (t.NumPartitions != -1 || t.ReplicationFactor != -1):
			err = newAPIError(kerr.InvalidRequest, "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.")
		default:
			var manual map[int32][]int32
			if len(t.ReplicaAssignment) > 0 {
				manual = map[int32][]int32{}
				for _, a := range t.ReplicaAssignment {
					manual[a.Partition] = a.Replicas
				}
			}
			configs := map[string]string{}
			for _, c := range t.Configs {
				if c.Value != nil {
					configs[c.Name] = *c.Value
				}
			}
			var assignment map[int32][]int32
			assignment, err = s.planTopic(t.Topic, t.NumPartitions, t.ReplicationFactor, manual, configs)
			if err == nil {
				rt.NumPartitions = int32(len(assignment))
				rt.ReplicationFactor = int16(len(assignment[0]))
				for k, v := range configs {
					c := kmsg.NewCreateTopicsResponseTopicConfig()
					c.Name, c.Value = k, &v
					c.Source = 1 // DYNAMIC_TOPIC_CONFIG
					rt.Configs = append(rt.Configs, c)
				}
				if !req.ValidateOnly {
					err = s.createTopic(t.Topic, -1, -1, assignment, configs)
					if err == nil {
						s.logger.Infof("Created topic %s with %d partitions", t.Topic, len(assignment))
						waits = append(waits, waitFor{len(resp.Topics), t.Topic, len(assignment)})
					}
				}
			}
		}
		if err != nil {
			rt.ErrorCode = errorCode(err)
			var ae *apiError
			if errors.As(err, &ae) {
				rt.ErrorMessage = &ae.msg
			} else {
				s.logger.Errorf("CreateTopics of %s failed: %v", t.Topic, err)
				rt.ErrorMessage = errMessage(err)
			}
			rt.NumPartitions, rt.ReplicationFactor, rt.Configs = -1, -1, nil
		}
		resp.Topics = append(resp.Topics, rt)
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
	}, func(ok bool) {
		for _, w := range waits {
			rt := &resp.Topics[w.idx]
			rt.TopicID = s.cache.topicID(w.name)
			if !s.cache.allPartitionsHaveLeaders(w.name, w.partitions) {
				rt.ErrorCode = kerr.RequestTimedOut.Code
				msg := "Timed out waiting for topic creation"
				rt.ErrorMessage = &msg
			}
		}
		respond(resp)
	})
}

func clientID(r *network.Request) string {
	if r.Header.ClientID == nil {
		return ""
	}
	return *r.Header.ClientID
}

// waitForMetadata calls done(true) as soon as cond holds after a metadata update, or done(false) at the timeout.
// One goroutine per waiting admin request (rare) keeps handler threads free; it is owned by the server.
func (s *Server) waitForMetadata(timeout time.Duration, cond func() bool, done func(bool)) {
	s.goAttach(func() {
		deadline := time.NewTimer(timeout)
		defer deadline.Stop()
		for {
			ch := s.cache.changed()
			if cond() {
				done(true)
				return
			}
			select {
			case <-ch:
			case <-deadline.C:
				done(cond())
				return
			case <-s.stopping:
				done(false)
				return
			}
		}
	})
}
