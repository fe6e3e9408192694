package testcluster_test

import (
	"os"
	"testing"

	"github.com/zkafka/zkafka/testcluster"
)

// One real ZooKeeper for the whole package; each cluster gets its own chroot.
func TestMain(m *testing.M) { os.Exit(testcluster.Main(m)) }
