package coordinator

import (
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupAuthorizedOperations is the bit set of operations on a group (READ 3, DELETE 6, DESCRIBE 8) that
// Kafka reports, when asked, to a client allowed everything (no authorizer).
const groupAuthorizedOperations = 1<<3 | 1<<6 | 1<<8

// DescribeGroups is Kafka's handleDescribeGroup per group: an unknown group is "Dead" without error; member
// metadata and assignments are only shown for a Stable group.
func (c *Coordinator) DescribeGroups(req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		c.describeGroup(id, &dg)
		if req.Version >= 3 && req.IncludeAuthorizedOperations && dg.ErrorCode == errNone {
			dg.AuthorizedOperations = groupAuthorizedOperations
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeGroup(id string, dg *kmsg.DescribeGroupsResponseGroup) {
	if code := c.validateGroupStatus(id, emptyIDAllowed); code != errNone {
		dg.ErrorCode = code
		return
	}
	g := c.getGroup(id)
	if g == nil {
		dg.State = stateDead.String()
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.is(stateStable) && g.protocolName != nil
	if stable {
		dg.Protocol = *g.protocolName
	}
	for _, m := range g.members {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		dm.InstanceID = m.instanceID
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.ProtocolMetadata = []byte{}
		dm.MemberAssignment = []byte{}
		if stable {
			dm.ProtocolMetadata = nonNil(m.metadataFor(*g.protocolName))
			dm.MemberAssignment = nonNil(m.assignment)
		}
		dg.Members = append(dg.Members, dm)
	}
}

// ListGroups lists every group this coordinator holds (v4+: only those in one of StatesFilter's states);
// while a partition is loading it lists what it has with COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) ListGroups(req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	c.mu.Lock()
	if !c.active {
		c.mu.Unlock()
		resp.ErrorCode = errCoordinatorNotAvailable
		return resp
	}
	if len(c.loading) > 0 {
		resp.ErrorCode = errCoordinatorLoadInProgress
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()

	filter := map[string]bool{}
	if req.Version >= 4 {
		for _, s := range req.StatesFilter {
			filter[s] = true
		}
	}
	for _, g := range groups {
		g.mu.Lock()
		state, ptype := g.state.String(), g.protocolType
		g.mu.Unlock()
		if len(filter) > 0 && !filter[state] {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState = g.id, ptype, state
		if req.Version >= 5 {
			lg.GroupType = "classic"
		}
		resp.Groups = append(resp.Groups, lg)
	}
	sortListed(resp.Groups)
	return resp
}

func sortListed(gs []kmsg.ListGroupsResponseGroup) {
	sort.Slice(gs, func(i, j int) bool { return gs[i].Group < gs[j].Group })
}

// DeleteGroups is Kafka's handleDeleteGroups: Empty groups become Dead and get tombstones for their offsets
// and group record; groups with members answer NON_EMPTY_GROUP. Like Kafka, it answers without waiting for
// the tombstones to be written.
func (c *Coordinator) DeleteGroups(req *kmsg.DeleteGroupsRequest, respond func(*kmsg.DeleteGroupsResponse)) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	seen := map[string]bool{}
	var ids []string
	for _, id := range req.Groups {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	codes := map[string]int16{}
	var eligible []*group
	for _, id := range ids {
		if code := c.validateGroupStatus(id, emptyIDAllowed); code != errNone {
			codes[id] = code
			continue
		}
		g := c.getGroup(id)
		if g == nil {
			codes[id] = c.notFoundOrNotCoordinator(id)
			continue
		}
		g.mu.Lock()
		switch g.state {
		case stateDead:
			g.mu.Unlock()
			codes[id] = c.notFoundOrNotCoordinator(id)
			continue
		case stateEmpty:
			g.transitionTo(stateDead, c.nowMs())
			eligible = append(eligible, g)
		default:
			codes[id] = errNonEmptyGroup
		}
		g.mu.Unlock()
	}
	if len(eligible) > 0 {
		removed := c.cleanupGroupMetadata(eligible, func(g *group) []topicPartition {
			return g.removeOffsets(g.allOffsetPartitions())
		})
		names := make([]string, len(eligible))
		for i, g := range eligible {
			codes[g.id] = errNone
			names[i] = g.id
		}
		c.infof("The following groups were deleted: %s. A total of %d offsets were removed.", strings.Join(names, ", "), removed)
	}
	for _, id := range ids {
		r := kmsg.NewDeleteGroupsResponseGroup()
		r.Group = id
		r.ErrorCode = codes[id]
		resp.Groups = append(resp.Groups, r)
	}
	respond(resp)
}

func (c *Coordinator) notFoundOrNotCoordinator(id string) int16 {
	if c.groupNotExists(id) {
		return errGroupIDNotFound
	}
	return errNotCoordinator
}

// OffsetDelete is Kafka's handleDeleteOffsets: an Empty group loses the given offsets; a consumer group with
// members only those of topics it is not subscribed to (GROUP_SUBSCRIBED_TO_TOPIC for the others); any other
// group with members answers NON_EMPTY_GROUP. Unknown topics answer UNKNOWN_TOPIC_OR_PARTITION.
func (c *Coordinator) OffsetDelete(req *kmsg.OffsetDeleteRequest, respond func(*kmsg.OffsetDeleteResponse)) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	type entry struct {
		tp   topicPartition
		code int16
	}
	var entries []*entry
	var candidates []*entry
	for _, t := range req.Topics {
		exists := c.log.TopicExists(t.Topic)
		for _, p := range t.Partitions {
			e := &entry{tp: topicPartition{t.Topic, p.Partition}}
			if !exists {
				e.code = errUnknownTopicOrPartition
			} else {
				candidates = append(candidates, e)
			}
			entries = append(entries, e)
		}
	}
	groupErr := c.validateGroupStatus(req.Group, emptyIDInvalid)
	if groupErr == errNone {
		g := c.getGroup(req.Group)
		if g == nil {
			groupErr = c.notFoundOrNotCoordinator(req.Group)
		} else {
			var eligible []topicPartition
			g.mu.Lock()
			switch {
			case g.is(stateDead):
				groupErr = -1 // resolved below, without the group lock
			case g.is(stateEmpty):
				for _, e := range candidates {
					eligible = append(eligible, e.tp)
				}
			case g.protocolType == consumerProtocolType:
				for _, e := range candidates {
					if g.isSubscribedToTopic(e.tp.topic) {
						e.code = errGroupSubscribedToTopic
					} else {
						eligible = append(eligible, e.tp)
					}
				}
			default:
				groupErr = errNonEmptyGroup
			}
			g.mu.Unlock()
			if groupErr == -1 {
				groupErr = c.notFoundOrNotCoordinator(req.Group)
			}
			if groupErr == errNone && len(eligible) > 0 {
				removed := c.cleanupGroupMetadata([]*group{g}, func(g *group) []topicPartition {
					return g.removeOffsets(eligible)
				})
				c.infof("The following offsets of the group %s were deleted: %v. A total of %d offsets were removed.", g.id, eligible, removed)
			}
		}
	}
	if groupErr != errNone {
		resp.ErrorCode = groupErr
		respond(resp)
		return
	}
	byTopic(entries, func(e *entry) string { return e.tp.topic }, func(name string) {
		t := kmsg.NewOffsetDeleteResponseTopic()
		t.Topic = name
		resp.Topics = append(resp.Topics, t)
	}, func(e *entry) {
		p := kmsg.NewOffsetDeleteResponseTopicPartition()
		p.Partition = e.tp.partition
		p.ErrorCode = e.code
		last := &resp.Topics[len(resp.Topics)-1]
		last.Partitions = append(last.Partitions, p)
	})
	respond(resp)
}
