package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(20, 0, 6, (*Server).handleDeleteTopics) }

// handleDeleteTopics (controller only) writes /admin/delete_topics markers and waits until the controller has
// removed the topics from the metadata cache.
func (s *Server) handleDeleteTopics(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.DeleteTopicsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type entry struct {
		name string
		id   [16]byte
	}
	var entries []entry
	if req.Version >= 6 {
		for _, t := range req.Topics {
			e := entry{id: t.TopicID}
			if t.Topic != nil {
				e.name = *t.Topic
			}
			entries = append(entries, e)
		}
	} else {
		for _, n := range req.TopicNames {
			entries = append(entries, entry{name: n})
		}
	}
	active := s.ctrl.IsActive()
	var waiting []string
	for _, e := range entries {
		rt := kmsg.NewDeleteTopicsResponseTopic()
		if e.name == "" && e.id != ([16]byte{}) {
			if n, ok := s.cache.topicName(e.id); ok {
				e.name = n
			}
		}
		rt.TopicID = e.id
		if e.name != "" {
			n := e.name
			rt.Topic = &n
		}
		switch {
		case !active:
			rt.ErrorCode = kerr.NotController.Code
		case e.name == "" && e.id != ([16]byte{}):
			rt.ErrorCode = kerr.UnknownTopicID.Code
		case !s.cfg.DeleteTopicEnable:
			rt.ErrorCode = kerr.TopicDeletionDisabled.Code
		default:
			exists, err := s.zk.TopicExists(e.name)
			switch {
			case err != nil:
				rt.ErrorCode = kerr.UnknownServerError.Code
				rt.ErrorMessage = errMessage(err)
			case !exists:
				rt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				rt.TopicID = s.cache.topicID(e.name)
				if err := s.zk.MarkTopicForDeletion(e.name); err != nil && !errors.Is(err, zkutils.ErrNodeExists) {
					rt.ErrorCode = kerr.UnknownServerError.Code
					rt.ErrorMessage = errMessage(err)
				} else {
					waiting = append(waiting, e.name)
				}
			}
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if len(waiting) == 0 || req.TimeoutMillis <= 0 {
		respond(resp)
		return
	}
	s.waitForMetadata(time.Duration(req.TimeoutMillis)*time.Millisecond, func() bool {
		for _, n := range waiting {
			if s.cache.contains(n) {
				return false
			}
		}
		return true
	}, func(bool) {
		for i := range resp.Topics {
			if t := resp.Topics[i].Topic; t != nil && resp.Topics[i].ErrorCode == 0 && s.cache.contains(*t) {
				resp.Topics[i].ErrorCode = kerr.RequestTimedOut.Code
			}
		}
		respond(resp)
	})
}
