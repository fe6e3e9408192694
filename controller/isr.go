package controller

import (
	"errors"

	"github.com/zkafka/zkafka/zkutils"
)

// processIsrChangeNotification handles /isr_change_notification children: leaders changed ISRs in ZooKeeper
// themselves, so the controller re-reads those states, tells every broker, and removes the notifications.
func (c *Controller) processIsrChangeNotification() error {
	names, w, err := c.zk.WatchIsrChangeNotifications()
	if err != nil {
		return err
	}
	c.armWatch(w, c.term.stop, isrChangeNotificationEvent{term: c.term.id})
	if len(names) == 0 {
		return nil
	}
	changed, err := c.zk.GetIsrChangeNotifications(names)
	if err != nil {
		return err
	}
	seen := map[tp]bool{}
	var ps []tp
	for _, p := range changed {
		if seen[p] {
			continue
		}
		seen[p] = true
		if _, ok := c.cc.assignments[p.Topic][p.Partition]; ok {
			ps = append(ps, p)
		}
	}
	sortTPs(ps)
	if len(ps) > 0 {
		states, err := c.zk.GetPartitionStates(ps)
		if err != nil {
			return err
		}
		for p, li := range states {
			c.cc.leadership[p] = li
		}
		c.debugf("Sending MetadataRequest to Brokers: %v for TopicPartitions: %s", c.cc.liveOrShuttingDownIDs(), tpsString(ps))
		b := newRequestBatch()
		b.addUpdateMetadata(c.cc, c.cc.liveOrShuttingDownIDs(), ps)
		c.sendBatch(b)
		// A reassignment completes when its target replicas joined the ISR.
		for _, p := range ps {
			if c.cc.partitionsBeingReassigned[p] {
				if err := c.maybeCompleteReassignment(p); err != nil {
					if errors.Is(err, zkutils.ErrControllerMoved) {
						return err
					}
					c.errorf("Error completing reassignment of partition %s: %v", tpString(p), err)
				}
			}
		}
	}
	return c.zk.DeleteIsrChangeNotifications(c.cc.epochZkVersion, names)
}
