package network

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestStockClient: franz-go opens with an ApiVersions newer than we serve, gets
// the KIP-511 answer, retries with v3, and then negotiates Metadata v12.
func TestStockClient(t *testing.T) {
	ts := startServer(t, nil)
	cl, err := kgo.NewClient(kgo.SeedBrokers(ts.addr), kgo.ClientID("stock"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	resp, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	if err != nil {
		t.Fatal(err)
	}
	mr := resp.(*kmsg.MetadataResponse)
	if mr.GetVersion() != 12 || len(mr.Brokers) != 0 {
		t.Fatalf("metadata v%d brokers %v; want v12 and none", mr.GetVersion(), mr.Brokers)
	}
	var sawV3 bool
	for _, h := range ts.h.seenHeaders() {
		if h.APIKey == 18 && h.APIVersion == 3 {
			sawV3 = true
		}
		if h.APIKey == 18 && h.APIVersion > 3 {
			t.Fatalf("handler got ApiVersions v%d", h.APIVersion)
		}
	}
	if !sawV3 {
		t.Fatalf("franz-go never downgraded to ApiVersions v3; seen %+v", ts.h.seenHeaders())
	}

	versions, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	versions.Each(func(bv kadm.BrokerApiVersions) {
		if bv.Err != nil {
			t.Errorf("broker %d: %v", bv.NodeID, bv.Err)
		}
	})
	if w := ts.warnings(); len(w) != 0 {
		t.Fatalf("warnings while serving a stock client: %v", w)
	}
}
