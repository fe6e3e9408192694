package coordinator

import (
	"encoding/binary"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record versions Kafka 3.7 writes to __consumer_offsets (with inter.broker.protocol.version 3.7): offset keys
// v1, offset values v3 (v1 when the commit carries an explicit expire timestamp), group keys v2, group values v3.
const (
	offsetKeyVersion        = 1
	offsetValueVersion      = 3
	offsetValueVersionLegal = 1
	groupKeyVersion         = 2
	groupValueVersion       = 3
)

func offsetCommitKey(group string, tp topicPartition) []byte {
	k := kmsg.NewOffsetCommitKey()
	k.Version = offsetKeyVersion
	k.Group, k.Topic, k.Partition = group, tp.topic, tp.partition
	return k.AppendTo(nil)
}

func offsetCommitValue(om offsetAndMetadata) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version = offsetValueVersion
	if om.expireTimestamp >= 0 {
		v.Version = offsetValueVersionLegal
		v.ExpireTimestamp = om.expireTimestamp
	}
	v.Offset = om.offset
	v.LeaderEpoch = om.leaderEpoch
	v.Metadata = om.metadata
	v.CommitTimestamp = om.commitTimestamp
	return v.AppendTo(nil)
}

func groupMetadataKey(group string) []byte {
	k := kmsg.NewGroupMetadataKey()
	k.Version = groupKeyVersion
	k.Group = group
	return k.AppendTo(nil)
}

// groupMetadataValue is the group record: the group's generation with each member's subscription for the
// selected protocol and the given assignment.
func groupMetadataValue(g *group, assignment map[string][]byte) []byte {
	v := kmsg.NewGroupMetadataValue()
	v.Version = groupValueVersion
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	v.Protocol = g.protocolName
	if g.leaderID != "" {
		l := g.leaderID
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTimestamp
	for _, m := range g.members {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = m.rebalanceMs
		vm.SessionTimeoutMillis = m.sessionMs
		if g.protocolName != nil {
			vm.Subscription = nonNil(m.metadataFor(*g.protocolName))
		}
		vm.Assignment = nonNil(assignment[m.id])
		v.Members = append(v.Members, vm)
	}
	return v.AppendTo(nil)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// recordKey is a decoded __consumer_offsets key: an offset key (group, tp) or a group key (group only).
type recordKey struct {
	version  int16
	isOffset bool
	group    string
	tp       topicPartition
}

// readKey decodes a key; known false for a key version this coordinator does not know (skipped on load).
func readKey(b []byte) (k recordKey, known bool, err error) {
	if len(b) < 2 {
		return k, false, fmt.Errorf("key of %d bytes", len(b))
	}
	k.version = int16(binary.BigEndian.Uint16(b))
	switch k.version {
	case 0, 1:
		var ok kmsg.OffsetCommitKey
		if err := ok.ReadFrom(b); err != nil {
			return k, false, fmt.Errorf("offset commit key: %w", err)
		}
		k.isOffset, k.group, k.tp = true, ok.Group, topicPartition{ok.Topic, ok.Partition}
		return k, true, nil
	case 2:
		var gk kmsg.GroupMetadataKey
		if err := gk.ReadFrom(b); err != nil {
			return k, false, fmt.Errorf("group metadata key: %w", err)
		}
		k.group = gk.Group
		return k, true, nil
	}
	return k, false, nil
}

// readOffsetValue decodes an offset commit value of any version 0–4.
func readOffsetValue(b []byte) (offsetAndMetadata, error) {
	var v kmsg.OffsetCommitValue
	if len(b) < 2 {
		return offsetAndMetadata{}, fmt.Errorf("offset commit value of %d bytes", len(b))
	}
	if ver := int16(binary.BigEndian.Uint16(b)); ver < 0 || ver > 4 {
		return offsetAndMetadata{}, fmt.Errorf("unknown offset message version: %d", ver)
	}
	if err := v.ReadFrom(b); err != nil {
		return offsetAndMetadata{}, fmt.Errorf("offset commit value: %w", err)
	}
	om := offsetAndMetadata{
		offset:          v.Offset,
		leaderEpoch:     -1,
		metadata:        v.Metadata,
		commitTimestamp: v.CommitTimestamp,
		expireTimestamp: -1,
	}
	if v.Version >= 3 {
		om.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		om.expireTimestamp = v.ExpireTimestamp
	}
	return om, nil
}

// readGroupValue decodes a group metadata value of any version 0–4 into a group (Stable with members, else
// Empty), as GroupMetadataManager.readGroupMessageValue does.
func readGroupValue(id string, partition int32, b []byte) (*group, error) {
	var v kmsg.GroupMetadataValue
	if len(b) < 2 {
		return nil, fmt.Errorf("group metadata value of %d bytes", len(b))
	}
	if ver := int16(binary.BigEndian.Uint16(b)); ver < 0 || ver > 4 {
		return nil, fmt.Errorf("unknown group metadata message version: %d", ver)
	}
	if err := v.ReadFrom(b); err != nil {
		return nil, fmt.Errorf("group metadata value: %w", err)
	}
	g := newGroup(id, partition, -1)
	g.generation = v.Generation
	g.protocolType = v.ProtocolType
	g.protocolName = v.Protocol
	g.stateTimestamp = -1
	if v.Version >= 2 {
		g.stateTimestamp = v.CurrentStateTimestamp
	}
	for _, vm := range v.Members {
		m := &member{
			id:           vm.MemberID,
			instanceID:   vm.InstanceID,
			clientID:     vm.ClientID,
			clientHost:   vm.ClientHost,
			rebalanceMs:  vm.RebalanceTimeoutMillis,
			sessionMs:    vm.SessionTimeoutMillis,
			protocolType: v.ProtocolType,
			assignment:   vm.Assignment,
		}
		if v.Version == 0 {
			m.rebalanceMs = vm.SessionTimeoutMillis
		}
		name := ""
		if v.Protocol != nil {
			name = *v.Protocol
		}
		m.protocols = []protocol{{name: name, metadata: vm.Subscription}}
		g.add(m, nil)
	}
	// add made the first member leader; the record says who it is.
	g.leaderID = ""
	if v.Leader != nil {
		g.leaderID = *v.Leader
	}
	if len(g.members) > 0 {
		g.state = stateStable
	}
	g.subscribed, g.hasSubscribed = g.computeSubscribedTopics()
	return g, nil
}
