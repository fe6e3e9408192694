package broker

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/zkafka/zkafka/network"
)

// respondFunc delivers a request's response; it is called exactly once (nil = no response, Produce acks=0).
// Handlers that must wait (acks=all, Fetch max.wait.ms, admin waits) return at once and call it later, so no
// handler thread is held by a waiting request.
type respondFunc func(kmsg.Response)

type apiHandler struct {
	min, max int16
	fn       func(s *Server, ctx context.Context, req *network.Request, respond respondFunc)
}

// apis is the registry of implemented APIs, filled by each NN_name.go file's init. ApiVersions answers from it,
// so only what exists is advertised.
var apis = map[int16]apiHandler{}

func register(key int16, min, max int16, fn func(s *Server, ctx context.Context, req *network.Request, respond respondFunc)) {
	if _, dup := apis[key]; dup {
		panic(fmt.Sprintf("broker: API %d registered twice", key))
	}
	apis[key] = apiHandler{min: min, max: max, fn: fn}
}

func apiKeys() []int16 {
	keys := make([]int16, 0, len(apis))
	for k := range apis {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}
