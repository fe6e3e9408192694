package broker_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zkafka/zkafka/testcluster"
)

// A log dir written by broker 0 must not be adopted by another broker id: start-up is refused with a message
// naming meta.properties, and the original broker still starts from it afterwards.
func TestIntegrationMetaPropertiesMismatchRefusesStart(t *testing.T) {
	c := testcluster.New(t, testcluster.Options{Brokers: 1})
	b := c.Brokers[0]
	meta, err := os.ReadFile(filepath.Join(b.LogDir(), "meta.properties"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"version=0\n", "broker.id=0\n", "cluster.id="} {
		if !strings.Contains(string(meta), want) {
			t.Fatalf("meta.properties lacks %q:\n%s", want, meta)
		}
	}
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(b.LogDir(), ".kafka_cleanshutdown")); err != nil {
		t.Fatalf("clean shutdown left no marker: %v", err)
	}
	if err := b.Reconfigure(map[string]string{"broker.id": "7"}); err != nil {
		t.Fatal(err)
	}
	err = b.Start()
	if err == nil {
		t.Fatal("broker 7 started on broker 0's log dir")
	}
	if !strings.Contains(err.Error(), "meta.properties") || !strings.Contains(err.Error(), "broker.id") {
		t.Fatalf("start-up error does not explain the mismatch: %v", err)
	}
	if err := b.Reconfigure(nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	c.WaitForBrokers(t, 1)
}
