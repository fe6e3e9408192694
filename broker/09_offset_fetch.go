package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// OffsetFetch v1–v9 (KafkaApis.handleOffsetFetchRequestFromCoordinator). Version 0 reads offsets from ZooKeeper
// in Kafka and is not served, as OffsetCommit v0 is not. v8+ batches groups; v9's member id and epoch belong to
// the KIP-848 protocol and are ignored by the classic coordinator, as Kafka 3.7's is.
func init() { register(9, 1, 9, (*Server).handleOffsetFetch) }

func (s *Server) handleOffsetFetch(ctx context.Context, nreq *network.Request, respond respondFunc) {
	respond(s.coord.OffsetFetch(nreq.Body.(*kmsg.OffsetFetchRequest)))
}
