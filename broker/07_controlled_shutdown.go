package broker

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/controller"
	"github.com/zkafka/zkafka/network"
	"github.com/zkafka/zkafka/zkutils"
)

func init() { register(7, 0, 3, (*Server).handleControlledShutdown) }

// handleControlledShutdown is the controller's side of a broker's controlled shutdown: only the active controller
// answers. The controller moves leadership off the broker and answers with the partitions it still leads; the
// broker retries until that list is empty.
func (s *Server) handleControlledShutdown(ctx context.Context, nreq *network.Request, respond respondFunc) {
	req := nreq.Body.(*kmsg.ControlledShutdownRequest)
	resp := req.ResponseKind().(*kmsg.ControlledShutdownResponse)
	brokerEpoch := req.BrokerEpoch
	if req.Version < 2 {
		brokerEpoch = -1 // no epoch before v2: Kafka's UNKNOWN_BROKER_EPOCH skips the fence
	}
	// No timeout beyond the request's own context: the controller answers only after the elections and ZooKeeper
	// writes.
	var remaining []zkutils.TopicPartition
	s.controllerCall(ctx, 0,
		func(cctx context.Context) (err error) {
			remaining, err = s.ctrl.ControlledShutdown(cctx, req.BrokerID, brokerEpoch)
			return err
		},
		func(code int16, err error) {
			resp.ErrorCode = code
			if err != nil {
				s.logger.Infof("Controlled shutdown request from broker %d failed: %v", req.BrokerID, err)
			}
			respond(resp)
		},
		func() {
			for _, tp := range remaining {
				p := kmsg.NewControlledShutdownResponsePartitionsRemaining()
				p.Topic, p.Partition = tp.Topic, tp.Partition
				resp.PartitionsRemaining = append(resp.PartitionsRemaining, p)
			}
			respond(resp)
		})
}

// controllerErrors translates the controller's errors into Kafka's codes at the handler boundary (STYLE habit 11).
var controllerErrors = []struct {
	err  error
	code *kerr.Error
}{
	{controller.ErrNotController, kerr.NotController},
	{controller.ErrStaleBrokerEpoch, kerr.StaleBrokerEpoch},
	{controller.ErrBrokerNotAvailable, kerr.BrokerNotAvailable},
	{controller.ErrElectionNotNeeded, kerr.ElectionNotNeeded},
	{controller.ErrPreferredLeaderNotAvailable, kerr.PreferredLeaderNotAvailable},
	{controller.ErrEligibleLeadersNotAvailable, kerr.EligibleLeadersNotAvailable},
	{controller.ErrUnknownTopicOrPartition, kerr.UnknownTopicOrPartition},
	{controller.ErrTopicBeingDeleted, kerr.InvalidTopicException},
	{controller.ErrInvalidElectionType, kerr.InvalidRequest},
	{context.DeadlineExceeded, kerr.RequestTimedOut},
	{context.Canceled, kerr.RequestTimedOut},
}

func controllerErrorCode(err error) int16 {
	for _, m := range controllerErrors {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	return errorCode(err)
}
