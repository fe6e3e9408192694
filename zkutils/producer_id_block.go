package zkutils

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
)

const producerIDBlockPath = "/latest_producer_id_block"

// ProducerIDBlockSize is ProducerIdsBlock.PRODUCER_ID_BLOCK_SIZE: how many producer ids one allocation hands out.
const ProducerIDBlockSize = 1000

// ErrProducerIDsExhausted means the next block would pass the int64 range (Kafka treats it as fatal).
var ErrProducerIDsExhausted = errors.New("zkutils: have exhausted all producerIds")

// ProducerIDBlock is a range of producer ids [First, Last] assigned to one broker (Kafka's ProducerIdsBlock).
type ProducerIDBlock struct {
	BrokerID int32
	First    int64
	Last     int64
}

// encodeProducerIDBlock writes ProducerIdBlockZNode's JSON. Kafka builds a four-entry Scala Map, which keeps
// insertion order; block_start and block_end are strings.
func encodeProducerIDBlock(b ProducerIDBlock) []byte {
	return marshalOrdered(object{
		"version":     1,
		"broker":      b.BrokerID,
		"block_start": strconv.FormatInt(b.First, 10),
		"block_end":   strconv.FormatInt(b.Last, 10),
	}, []string{"version", "broker", "block_start", "block_end"})
}

func decodeProducerIDBlock(data []byte) (ProducerIDBlock, error) {
	var v struct {
		Broker *int32  `json:"broker"`
		Start  *string `json:"block_start"`
		End    *string `json:"block_end"`
	}
	if err := json.Unmarshal(data, &v); err != nil || v.Broker == nil || v.Start == nil || v.End == nil {
		return ProducerIDBlock{}, fmt.Errorf("zkutils: failed to parse the producerId block json %q: %v", data, err)
	}
	first, err1 := strconv.ParseInt(*v.Start, 10, 64)
	last, err2 := strconv.ParseInt(*v.End, 10, 64)
	if err1 != nil || err2 != nil || last < first {
		return ProducerIDBlock{}, fmt.Errorf("zkutils: bad producerId block range in %q", data)
	}
	return ProducerIDBlock{BrokerID: *v.Broker, First: first, Last: last}, nil
}

// nextProducerIDBlock is the block that follows cur (nil: none was ever allocated), as
// ZkProducerIdManager.getNewProducerIdBlock computes it.
func nextProducerIDBlock(brokerID int32, cur *ProducerIDBlock) (ProducerIDBlock, error) {
	first := int64(0)
	if cur != nil {
		if cur.Last > math.MaxInt64-ProducerIDBlockSize {
			return ProducerIDBlock{}, ErrProducerIDsExhausted
		}
		first = cur.Last + 1
	}
	return ProducerIDBlock{BrokerID: brokerID, First: first, Last: first + ProducerIDBlockSize - 1}, nil
}

// AllocateProducerIDBlock claims the next block of producer ids for brokerID: it reads
// /latest_producer_id_block, writes the following block conditionally on the version it read, and retries when
// another broker wrote in between, so no two callers ever get overlapping blocks. An empty or missing node means
// no block was allocated yet (the first block starts at 0).
func (c *Client) AllocateProducerIDBlock(brokerID int32) (ProducerIDBlock, error) {
	for {
		data, st, err := c.impl.get(producerIDBlockPath)
		var cur *ProducerIDBlock
		version := int32(-1)
		switch {
		case errors.Is(err, ErrNoNode):
		case err != nil:
			return ProducerIDBlock{}, err
		default:
			version = st.Version
			if len(data) > 0 {
				b, err := decodeProducerIDBlock(data)
				if err != nil {
					return ProducerIDBlock{}, err
				}
				cur = &b
			}
		}
		next, err := nextProducerIDBlock(brokerID, cur)
		if err != nil {
			return ProducerIDBlock{}, err
		}
		data = encodeProducerIDBlock(next)
		if version < 0 {
			err = c.impl.createRecursive(producerIDBlockPath, data, 0)
			if errors.Is(err, ErrNodeExists) {
				continue
			}
		} else {
			_, err = c.impl.conn.Set(c.impl.abs(producerIDBlockPath), data, version)
			err = mapErr("set", producerIDBlockPath, err)
			if errors.Is(err, ErrBadVersion) || errors.Is(err, ErrNoNode) {
				continue
			}
		}
		if err != nil {
			return ProducerIDBlock{}, err
		}
		return next, nil
	}
}
