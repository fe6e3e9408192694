package network

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkRoundTrip measures one small request and response over loopback.
func BenchmarkRoundTrip(b *testing.B) {
	ts := startServer(b, nil)
	c := dialClient(b, ts.addr)
	req := metadataReq(12, "bench")
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		resp, err := c.Request(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		if len(resp.(*kmsg.MetadataResponse).Topics) != 1 {
			b.Fatal("bad response")
		}
	}
}

// BenchmarkRoundTripParallel spreads round trips over several connections.
func BenchmarkRoundTripParallel(b *testing.B) {
	ts := startServer(b, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		c := dialClient(b, ts.addr)
		req := metadataReq(12, "bench")
		for pb.Next() {
			if _, err := c.Request(ctx, req); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
