package zkutils

import (
	"errors"
	"math"
	"sort"
	"sync"
	"testing"
)

func TestProducerIDBlockJSON(t *testing.T) {
	tests := []struct {
		name string
		b    ProducerIDBlock
		want string
	}{
		// reference/zookeeper-layout.md, i.e. ProducerIdBlockZNode.generateProducerIdBlockJson.
		{"first block", ProducerIDBlock{BrokerID: 0, First: 0, Last: 999}, `{"version":1,"broker":0,"block_start":"0","block_end":"999"}`},
		{"later block", ProducerIDBlock{BrokerID: 3, First: 5000, Last: 5999}, `{"version":1,"broker":3,"block_start":"5000","block_end":"5999"}`},
		{"near int64 max", ProducerIDBlock{BrokerID: 1, First: math.MaxInt64 - 999, Last: math.MaxInt64},
			`{"version":1,"broker":1,"block_start":"9223372036854774808","block_end":"9223372036854775807"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(encodeProducerIDBlock(tt.b)); got != tt.want {
				t.Fatalf("encode:\n got %s\nwant %s", got, tt.want)
			}
			back, err := decodeProducerIDBlock([]byte(tt.want))
			if err != nil || back != tt.b {
				t.Fatalf("decode: %+v %v", back, err)
			}
		})
	}
	for _, bad := range []string{`{"version":1}`, `{"broker":1,"block_start":0,"block_end":"9"}`,
		`{"broker":1,"block_start":"x","block_end":"9"}`, `{"broker":1,"block_start":"10","block_end":"9"}`, `nope`} {
		if _, err := decodeProducerIDBlock([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestNextProducerIDBlock(t *testing.T) {
	tests := []struct {
		name    string
		cur     *ProducerIDBlock
		want    ProducerIDBlock
		wantErr error
	}{
		{"none yet", nil, ProducerIDBlock{BrokerID: 2, First: 0, Last: 999}, nil},
		{"after another broker's", &ProducerIDBlock{BrokerID: 1, First: 1000, Last: 1999}, ProducerIDBlock{BrokerID: 2, First: 2000, Last: 2999}, nil},
		{"exhausted", &ProducerIDBlock{BrokerID: 1, First: math.MaxInt64 - 1500, Last: math.MaxInt64 - 500}, ProducerIDBlock{}, ErrProducerIDsExhausted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := nextProducerIDBlock(2, tt.cur)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("got %+v %v, want %+v %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// Two clients (two brokers) allocating at once never get overlapping blocks, and blocks are contiguous.
func TestAllocateProducerIDBlockConcurrent(t *testing.T) {
	c1, connect := setup(t)
	c2 := newClient(t, connect)
	const each = 10
	var mu sync.Mutex
	var blocks []ProducerIDBlock
	var wg sync.WaitGroup
	for i, c := range []*Client{c1, c2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				b, err := c.AllocateProducerIDBlock(int32(i + 1))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				blocks = append(blocks, b)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(blocks) != 2*each {
		t.Fatalf("got %d blocks", len(blocks))
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i].First < blocks[j].First })
	for i, b := range blocks {
		if b.First != int64(i)*ProducerIDBlockSize || b.Last != b.First+ProducerIDBlockSize-1 {
			t.Fatalf("block %d: %+v", i, b)
		}
	}
	data, _, err := c1.impl.get(producerIDBlockPath)
	last := blocks[len(blocks)-1]
	if err != nil || string(data) != string(encodeProducerIDBlock(last)) {
		t.Fatalf("znode %s %v, want %+v", data, err, last)
	}
}
