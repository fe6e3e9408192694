package admin

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// abortSpec is AbortTransactionSpec: the marker an operator writes by hand to close a hanging transaction on one
// partition.
type abortSpec struct {
	topic            string
	partition        int32
	producerID       int64
	producerEpoch    int16
	coordinatorEpoch int32
}

func (s abortSpec) String() string {
	return fmt.Sprintf("AbortTransactionSpec(topicPartition=%s-%d, producerId=%d, producerEpoch=%d, coordinatorEpoch=%d)",
		s.topic, s.partition, s.producerID, s.producerEpoch, s.coordinatorEpoch)
}

// abort is AbortTransactionCommand: identify the transaction by --start-offset (the partition leader's
// DescribeProducers tells its producer) or by the producer's id, epoch and coordinator epoch, then write an ABORT
// marker to the partition's leader.
func (t *txnCmd) abort(ctx context.Context, a *txnArgs) error {
	topic, partition := a.values["topic"], int32(a.int64("partition"))
	tp := fmt.Sprintf("%s-%d", topic, partition)
	if !a.has("start-offset") && !a.has("producer-id") {
		return errors.New("The transaction to abort must be identified either with --start-offset (for brokers on 3.0 or above) " +
			"or with --producer-id, --producer-epoch, and --coordinator-epoch (for older brokers)")
	}
	var spec abortSpec
	if !a.has("start-offset") {
		if !a.has("producer-epoch") {
			return errors.New("Missing required argument --producer-epoch")
		}
		if !a.has("coordinator-epoch") {
			return errors.New("Missing required argument --coordinator-epoch")
		}
		// A transaction that hung before its producer id's first marker shows coordinator epoch -1; 0 is no
		// greater than any real coordinator epoch, so the leader accepts it.
		spec = abortSpec{topic: topic, partition: partition, producerID: a.int64("producer-id"),
			producerEpoch: int16(a.int64("producer-epoch")), coordinatorEpoch: int32(max(a.int64("coordinator-epoch"), 0))}
	} else {
		start := a.int64("start-offset")
		producers, err := t.producers(ctx, topic, partition, -1)
		if err != nil {
			return txnFailure("Failed to validate producer state for partition "+tp, err)
		}
		found := false
		for _, p := range producers {
			if p.CurrentTxnStartOffset >= 0 && p.CurrentTxnStartOffset == start {
				spec = abortSpec{topic: topic, partition: partition, producerID: p.ProducerID,
					producerEpoch: int16(p.ProducerEpoch), coordinatorEpoch: max(p.CoordinatorEpoch, 0)}
				found = true
				break
			}
		}
		if !found {
			return fmt.Errorf("Could not find any open transactions starting at offset %d on partition %s", start, tp)
		}
	}
	if err := t.writeAbort(ctx, spec); err != nil {
		return txnFailure("Failed to abort transaction "+spec.String(), err)
	}
	return nil
}

// writeAbort sends the WriteTxnMarkers request (kgo routes it to the partition's leader) and maps the partition's
// error as AbortTransactionHandler does.
func (t *txnCmd) writeAbort(ctx context.Context, s abortSpec) error {
	m := kadm.TxnMarkers{ProducerID: s.producerID, ProducerEpoch: s.producerEpoch, Commit: false,
		CoordinatorEpoch: s.coordinatorEpoch, Topics: kadm.TopicsSet{}}
	m.Topics.Add(s.topic, s.partition)
	resps, err := t.adm.WriteTxnMarkers(ctx, m)
	if err != nil {
		return err
	}
	var perr error = &txnHandlerError{fmt.Sprintf("WriteTxnMarkers response did not include the partition %s-%d", s.topic, s.partition)}
	resps.EachPartition(func(p kadm.TxnMarkersPartitionResponse) {
		if p.ProducerID == s.producerID && p.Topic == s.topic && p.Partition == s.partition {
			perr = abortError(s, p.Err)
		}
	})
	return perr
}

func abortError(s abortSpec, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, kerr.ClusterAuthorizationFailed):
		return &txnHandlerError{"WriteTxnMarkers request with " + s.String() + " failed due to cluster authorization error"}
	case errors.Is(err, kerr.InvalidProducerEpoch):
		return &txnHandlerError{"WriteTxnMarkers request with " + s.String() + " failed due an invalid producer epoch"}
	case errors.Is(err, kerr.TransactionCoordinatorFenced):
		return &txnHandlerError{fmt.Sprintf("WriteTxnMarkers request with %s failed since the provided coordinator epoch %d has been fenced by the active coordinator", s, s.coordinatorEpoch)}
	}
	var ke *kerr.Error
	desc := err.Error()
	if errors.As(err, &ke) {
		desc = ke.Description
	}
	return &txnHandlerError{"WriteTxnMarkers request with " + s.String() + " failed due to unexpected error: " + desc}
}
