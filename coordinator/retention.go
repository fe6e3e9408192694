package coordinator

// cleanupGroupMetadata removes offsets chosen by selector from each group (under its lock), turns an Empty
// group left without offsets Dead, and writes tombstones for the removed offsets and for dead groups' records.
// Like Kafka (which appends these with acks=0) it does not wait for the writes: a lost tombstone is written
// again by the next expiration run. It returns the number of offsets removed.
func (c *Coordinator) cleanupGroupMetadata(groups []*group, selector func(*group) []topicPartition) int {
	total := 0
	for _, g := range groups {
		g.mu.Lock()
		removed := selector(g)
		if g.is(stateEmpty) && !g.hasOffsets() {
			c.mgr.infof("Group %s transitioned to Dead in generation %d", g.id, g.generation)
			g.transitionTo(stateDead, c.nowMs())
		}
		dead, generation := g.is(stateDead), g.generation
		g.mu.Unlock()

		var tombstones []Record
		for _, tp := range removed {
			tombstones = append(tombstones, Record{Key: offsetCommitKey(g.id, tp)})
		}
		// A group that only ever stored offsets (generation 0) has no group record to delete.
		if dead && c.removeGroupIfSame(g) && generation > 0 {
			tombstones = append(tombstones, Record{Key: groupMetadataKey(g.id)})
		}
		if len(tombstones) == 0 {
			continue
		}
		total += len(removed)
		id, n := g.id, len(tombstones)
		c.log.Append(g.partition, tombstones, func(err error) {
			if err != nil {
				c.mgr.errorf("Failed to append %d tombstones to %s for expired/deleted offsets and/or metadata for group %s: %v",
					n, groupTopicName(g.partition), id, err)
			}
		})
	}
	return total
}

// expireOffsets is one run of the offsets retention task over every group this coordinator holds.
func (c *Coordinator) expireOffsets() {
	start := c.nowMs()
	retention := c.cfg.OffsetsRetention.Milliseconds()
	removed := c.cleanupGroupMetadata(c.allGroups(), func(g *group) []topicPartition {
		return g.removeExpiredOffsets(start, retention)
	})
	if removed > 0 {
		c.mgr.infof("Removed %d expired offsets in %d milliseconds.", removed, c.nowMs()-start)
	}
}

// ExpireOffsetsNow runs the offsets retention task once, at once (for tests and tools).
func (c *Coordinator) ExpireOffsetsNow() { c.expireOffsets() }

func (c *Coordinator) allGroups() []*group {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		out = append(out, g)
	}
	return out
}

// OnTopicsDeleted removes the committed offsets of deleted topics (tombstones are written).
func (c *Coordinator) OnTopicsDeleted(topics []string) {
	deleted := map[string]bool{}
	for _, t := range topics {
		deleted[t] = true
	}
	removed := c.cleanupGroupMetadata(c.allGroups(), func(g *group) []topicPartition {
		var tps []topicPartition
		for tp := range g.offsets {
			if deleted[tp.topic] {
				tps = append(tps, tp)
			}
		}
		for tp := range g.pendingOffsets {
			if deleted[tp.topic] {
				tps = append(tps, tp)
			}
		}
		for _, po := range g.pendingTxn {
			for tp := range po {
				if deleted[tp.topic] {
					tps = append(tps, tp)
				}
			}
		}
		sortTPs(tps)
		return g.removeOffsets(tps)
	})
	c.infof("Removed %d offsets associated with deleted partitions: %v.", removed, topics)
}
