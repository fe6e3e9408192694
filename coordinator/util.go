package coordinator

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/internal/jhash"
)

// Error codes the coordinator answers with.
var (
	errNone                      int16 = 0
	errUnknownServerError              = kerr.UnknownServerError.Code
	errUnknownTopicOrPartition         = kerr.UnknownTopicOrPartition.Code
	errOffsetMetadataTooLarge          = kerr.OffsetMetadataTooLarge.Code
	errCoordinatorLoadInProgress       = kerr.CoordinatorLoadInProgress.Code
	errCoordinatorNotAvailable         = kerr.CoordinatorNotAvailable.Code
	errNotCoordinator                  = kerr.NotCoordinator.Code
	errIllegalGeneration               = kerr.IllegalGeneration.Code
	errInconsistentGroupProtocol       = kerr.InconsistentGroupProtocol.Code
	errInvalidGroupID                  = kerr.InvalidGroupID.Code
	errUnknownMemberID                 = kerr.UnknownMemberID.Code
	errInvalidSessionTimeout           = kerr.InvalidSessionTimeout.Code
	errRebalanceInProgress             = kerr.RebalanceInProgress.Code
	errInvalidCommitOffsetSize         = kerr.InvalidCommitOffsetSize.Code
	errNonEmptyGroup                   = kerr.NonEmptyGroup.Code
	errGroupIDNotFound                 = kerr.GroupIDNotFound.Code
	errMemberIDRequired                = kerr.MemberIDRequired.Code
	errGroupMaxSizeReached             = kerr.GroupMaxSizeReached.Code
	errFencedInstanceID                = kerr.FencedInstanceID.Code
	errGroupSubscribedToTopic          = kerr.GroupSubscribedToTopic.Code
	errUnstableOffsetCommit            = kerr.UnstableOffsetCommit.Code
)

// errorCode extracts the Kafka error code of an append error.
func errorCode(err error) int16 {
	if err == nil {
		return errNone
	}
	var ke *kerr.Error
	if errors.As(err, &ke) {
		return ke.Code
	}
	return errUnknownServerError
}

// offsetCommitError is GroupMetadataManager.maybeConvertOffsetCommitError: what an offset commit answers
// when its append failed.
func offsetCommitError(code int16) int16 {
	switch code {
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return errCoordinatorNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return errNotCoordinator
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return errInvalidCommitOffsetSize
	}
	return code
}

// storeGroupError is the mapping of GroupMetadataManager.storeGroup: what a group-record write failure
// becomes for the members waiting on it.
func storeGroupError(code int16) int16 {
	switch code {
	case errNone:
		return errNone
	case kerr.UnknownTopicOrPartition.Code, kerr.NotEnoughReplicas.Code, kerr.NotEnoughReplicasAfterAppend.Code:
		return errCoordinatorNotAvailable
	case kerr.NotLeaderForPartition.Code, kerr.KafkaStorageError.Code:
		return errNotCoordinator
	case kerr.RequestTimedOut.Code:
		return errRebalanceInProgress
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code, kerr.InvalidFetchSize.Code:
		return errUnknownServerError
	}
	return code
}

func errName(code int16) string {
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return "NONE"
}

// newUUID is a random (version 4) UUID in its canonical text form, as Java's UUID.randomUUID prints it.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func sortTPs(tps []topicPartition) {
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].partition < tps[j].partition
	})
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// parseSubscriptionTopics reads the topics of a consumer-protocol subscription: its version and the version 0
// fields, which every later version starts with.
func parseSubscriptionTopics(b []byte) ([]string, bool) {
	if len(b) < 2 {
		return nil, false
	}
	// Parse as version 0 whatever the stored version: later versions only append fields.
	v0 := append([]byte{0, 0}, b[2:]...)
	var m kmsg.ConsumerMemberMetadata
	if err := m.ReadFrom(v0); err != nil {
		return nil, false
	}
	return m.Topics, true
}

// scalaImprove is scala.collection.Hashing.improve, which Scala's immutable HashMap applies to hashCode.
func scalaImprove(h int32) int32 {
	u := uint32(h)
	u = u + ^(u << 9)
	u ^= u >> 14
	u += u << 4
	u ^= u >> 10
	return int32(u)
}

// scalaHashOrder orders distinct strings as a Scala 2.13 immutable.HashMap (a CHAMP trie) iterates them:
// at each level of 5 hash bits, the keys alone in their slot come first in slot order, then the sub-tries of
// colliding slots in slot order.
func scalaHashOrder(keys []string) []string {
	type kh struct {
		k string
		h uint32
	}
	in := make([]kh, len(keys))
	for i, k := range keys {
		in[i] = kh{k, uint32(scalaImprove(jhash.String(k)))}
	}
	var walk func(ks []kh, shift uint) []string
	walk = func(ks []kh, shift uint) []string {
		if len(ks) <= 1 || shift >= 32 {
			out := make([]string, len(ks))
			for i, x := range ks {
				out[i] = x.k
			}
			return out
		}
		var slots [32][]kh
		for _, x := range ks {
			s := (x.h >> shift) & 31
			slots[s] = append(slots[s], x)
		}
		var out []string
		for _, s := range slots {
			if len(s) == 1 {
				out = append(out, s[0].k)
			}
		}
		for _, s := range slots {
			if len(s) > 1 {
				out = append(out, walk(s, shift+5)...)
			}
		}
		return out
	}
	return walk(in, 0)
}
