package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/zkafka/zkafka/log"
	"github.com/zkafka/zkafka/zkutils"
)

var (
	errNotLeader          = errors.New("this broker is not the leader of the partition")
	errUnknownPartition   = errors.New("this broker does not host the partition")
	errFencedLeaderEpoch  = errors.New("leader epoch is older than the current one")
	errUnknownLeaderEpoch = errors.New("leader epoch is newer than the current one")
	errNotEnoughReplicas  = errors.New("in-sync replicas are fewer than min.insync.replicas")
	errTimedOut           = errors.New("request timed out")
)

// errorCode translates an internal error into Kafka's error code, once, at the handler boundary (STYLE habit 11).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	for _, m := range errorTable {
		if errors.Is(err, m.err) {
			return m.code.Code
		}
	}
	return kerr.UnknownServerError.Code
}

var errorTable = []struct {
	err  error
	code *kerr.Error
}{
	{errNotLeader, kerr.NotLeaderForPartition},
	{errUnknownPartition, kerr.UnknownTopicOrPartition},
	{errFencedLeaderEpoch, kerr.FencedLeaderEpoch},
	{errUnknownLeaderEpoch, kerr.UnknownLeaderEpoch},
	{errNotEnoughReplicas, kerr.NotEnoughReplicas},
	{errTimedOut, kerr.RequestTimedOut},
	{log.ErrCorruptMessage, kerr.CorruptMessage},
	{log.ErrMessageTooLarge, kerr.MessageTooLarge},
	{log.ErrRecordListTooLarge, kerr.RecordListTooLarge},
	{log.ErrInvalidRecord, kerr.InvalidRecord},
	{log.ErrInvalidTimestamp, kerr.InvalidTimestamp},
	{log.ErrUnsupportedForMessageFormat, kerr.UnsupportedForMessageFormat},
	{log.ErrOffsetOutOfRange, kerr.OffsetOutOfRange},
	{log.ErrUnsupportedCompressionType, kerr.UnsupportedCompressionType},
	{zkutils.ErrTopicExists, kerr.TopicAlreadyExists},
	{log.ErrOutOfOrderSequence, kerr.OutOfOrderSequenceNumber},
	{log.ErrInvalidProducerEpoch, kerr.InvalidProducerEpoch},
	{log.ErrUnknownProducerID, kerr.UnknownProducerID},
	{log.ErrInvalidTxnState, kerr.InvalidTxnState},
	{log.ErrTransactionCoordinatorFenced, kerr.TransactionCoordinatorFenced},
}

func errMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}
