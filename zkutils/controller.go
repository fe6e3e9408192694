package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-zookeeper/zk"
)

const (
	controllerPath      = "/controller"
	controllerEpochPath = "/controller_epoch"
)

// encodeController writes the v2 /controller JSON as Kafka 3.x does (a Map4: insertion order; timestamp is a
// string; ZooKeeper controllers write kraftControllerEpoch -1).
func encodeController(brokerID int32, timestampMs int64) []byte {
	return marshalOrdered(object{
		"version":              2,
		"brokerid":             brokerID,
		"timestamp":            strconv.FormatInt(timestampMs, 10),
		"kraftControllerEpoch": -1,
	}, []string{"version", "brokerid", "timestamp", "kraftControllerEpoch"})
}

func decodeController(data []byte) (int32, error) {
	var v struct {
		BrokerID *int32 `json:"brokerid"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.BrokerID == nil {
		return 0, fmt.Errorf("zkutils: bad /controller JSON %q: %v", data, err)
	}
	return *v.BrokerID, nil
}

func encodeControllerEpoch(epoch int32) []byte { return []byte(strconv.FormatInt(int64(epoch), 10)) }

func decodeControllerEpoch(data []byte) (int32, error) {
	e, err := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 32)
	if err != nil {
		return 0, fmt.Errorf("zkutils: bad /controller_epoch %q: %w", data, err)
	}
	return int32(e), nil
}

// GetControllerID reads /controller.
func (c *Client) GetControllerID() (id int32, exists bool, err error) {
	data, _, err := c.impl.get(controllerPath)
	if errors.Is(err, ErrNoNode) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	id, err = decodeController(data)
	return id, err == nil, err
}

// WatchController reads /controller and sets an exists/data watch that fires on creation, change or deletion.
func (c *Client) WatchController() (id int32, exists bool, w Watch, err error) {
	data, _, found, w, err := c.impl.getW(controllerPath)
	if err != nil || !found {
		return 0, false, w, err
	}
	id, err = decodeController(data)
	if err != nil {
		return 0, false, w, err
	}
	return id, true, w, nil
}

// GetControllerEpoch reads /controller_epoch and its zkVersion.
func (c *Client) GetControllerEpoch() (epoch int32, zkVersion int32, exists bool, err error) {
	data, st, err := c.impl.get(controllerEpochPath)
	if errors.Is(err, ErrNoNode) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, err
	}
	epoch, err = decodeControllerEpoch(data)
	return epoch, st.Version, err == nil, err
}

// TryElectController runs steps 2-3 of Kafka's election (registerControllerAndIncrementControllerEpoch):
// read or create /controller_epoch, then atomically create /controller and bump the epoch conditionally.
// It returns the new epoch and the epochZkVersion that fences this controller's writes, or
// ErrControllerExists when another broker holds /controller or won the race.
func (c *Client) TryElectController(brokerID int32, timestampMs int64) (epoch int32, epochZkVersion int32, err error) {
	cl := c.impl
	cur, ver, ok, err := c.GetControllerEpoch()
	if err != nil {
		return 0, 0, err
	}
	if !ok {
		err := cl.createRecursive(controllerEpochPath, encodeControllerEpoch(0), 0)
		switch {
		case err == nil:
			cur, ver = 0, 0
		case errors.Is(err, ErrNodeExists):
			if cur, ver, _, err = c.GetControllerEpoch(); err != nil {
				return 0, 0, err
			}
		default:
			return 0, 0, err
		}
	}
	next := cur + 1
	res, _, err := cl.multi(
		&zk.CreateRequest{Path: cl.abs(controllerPath), Data: encodeController(brokerID, timestampMs),
			Acl: openACL, Flags: zk.FlagEphemeral},
		&zk.SetDataRequest{Path: cl.abs(controllerEpochPath), Data: encodeControllerEpoch(next), Version: ver})
	if err == nil {
		return next, res[1].Stat.Version, nil
	}
	if !errors.Is(err, zk.ErrNodeExists) && !errors.Is(err, zk.ErrBadVersion) {
		return 0, 0, mapErr("elect", controllerPath, err)
	}
	// Either someone else won, or our own write succeeded on a connection that dropped before the reply and
	// this is not the first attempt: only /controller naming us with epoch next proves the latter.
	id, exists, err := c.GetControllerID()
	if err != nil {
		return 0, 0, err
	}
	if exists && id == brokerID {
		e, v, ok, err := c.GetControllerEpoch()
		if err != nil {
			return 0, 0, err
		}
		if ok && e == next {
			return next, v, nil
		}
	}
	if !exists {
		return 0, 0, fmt.Errorf("%w: /controller went away while checking the election", ErrControllerExists)
	}
	return 0, 0, fmt.Errorf("%w: broker %d", ErrControllerExists, id)
}

// DeleteController resigns: deletes /controller behind the epoch fence. A missing /controller is fine.
func (c *Client) DeleteController(epochZkVersion int32) error {
	return c.impl.fencedDelete(epochZkVersion, controllerPath)
}

// DeleteControllerIfOwner deletes /controller when it names brokerID and is an ephemeral of this client's
// current or an earlier session: a broker that lost the controller epoch without losing /controller (or whose
// old session's node lingers, ZOOKEEPER-2985) would otherwise block every election until that session ends.
// It reports whether it deleted the node. The delete is conditional on the version read; the one race left (our
// node vanishing and another broker's appearing between the read and the delete) costs only a re-election.
func (c *Client) DeleteControllerIfOwner(brokerID int32) (bool, error) {
	cl := c.impl
	data, st, err := cl.get(controllerPath)
	if errors.Is(err, ErrNoNode) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	id, err := decodeController(data)
	if err != nil || id != brokerID {
		return false, err
	}
	cl.mu.Lock()
	ours := st.EphemeralOwner == cl.sessionID || cl.pastIDs[st.EphemeralOwner]
	cl.mu.Unlock()
	if !ours && st.EphemeralOwner != cl.conn.SessionID() {
		return false, nil
	}
	err = cl.conn.Delete(cl.abs(controllerPath), st.Version)
	if errors.Is(err, zk.ErrNoNode) || errors.Is(err, zk.ErrBadVersion) {
		return false, nil
	}
	if err != nil {
		return false, mapErr("delete", controllerPath, err)
	}
	return true, nil
}
