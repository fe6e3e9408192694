package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// MetaProperties is the content of a ZooKeeper-mode (version 0)
// meta.properties file.
type MetaProperties struct {
	BrokerID  int32
	ClusterID string // "" if the file predates cluster ids
}

// ReadMetaProperties parses a Java properties file holding version=0,
// broker.id and cluster.id.
func ReadMetaProperties(path string) (MetaProperties, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return MetaProperties{}, err
	}
	props := parseProperties(data)
	if v := props["version"]; v != "0" {
		return MetaProperties{}, fmt.Errorf("log: %s: unsupported version %q (only the ZooKeeper-mode version 0 is known)", path, v)
	}
	id, err := strconv.ParseInt(props["broker.id"], 10, 32)
	if err != nil {
		return MetaProperties{}, fmt.Errorf("log: %s: bad broker.id %q", path, props["broker.id"])
	}
	return MetaProperties{BrokerID: int32(id), ClusterID: props["cluster.id"]}, nil
}

// parseProperties reads the simple key=value subset of Java properties
// that Kafka writes (no continuations or escapes in these values).
func parseProperties(data []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			k, v, _ = strings.Cut(line, ":")
		}
		out[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return out
}

// formatMetaProperties renders the file as Java's Properties.store does for
// Kafka: an empty comment line, the date line, then the entries.
func formatMetaProperties(m MetaProperties, now time.Time) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "#\n#%s\n", now.Format("Mon Jan 02 15:04:05 MST 2006"))
	fmt.Fprintf(&b, "version=0\nbroker.id=%d\n", m.BrokerID)
	if m.ClusterID != "" {
		fmt.Fprintf(&b, "cluster.id=%s\n", m.ClusterID)
	}
	return b.Bytes()
}

// checkOrWriteMeta compares a dir's meta.properties with the broker's
// identity, writing the file if it is absent (or lacks cluster.id, as
// Kafka upgrades it).
func checkOrWriteMeta(path string, brokerID int32, clusterID string, now time.Time) error {
	m, err := ReadMetaProperties(path)
	if errors.Is(err, os.ErrNotExist) {
		return writeFileAtomic(path, formatMetaProperties(MetaProperties{brokerID, clusterID}, now))
	}
	if err != nil {
		return err
	}
	if m.BrokerID != brokerID {
		return fmt.Errorf("%w: %s: stored broker.id %d does not match the configured broker.id %d. "+
			"If you moved your data, make sure your configured broker.id matches. If you intend to create a new broker, "+
			"you should remove all data in your data directories (log.dirs)",
			ErrInconsistentMetaProperties, path, m.BrokerID, brokerID)
	}
	if m.ClusterID != "" && m.ClusterID != clusterID {
		return fmt.Errorf("%w: %s: stored cluster.id %s does not match the cluster id %s in ZooKeeper. "+
			"The broker is trying to join the wrong cluster. Configured zookeeper.connect may be wrong",
			ErrInconsistentMetaProperties, path, m.ClusterID, clusterID)
	}
	if m.ClusterID == "" {
		return writeFileAtomic(path, formatMetaProperties(MetaProperties{brokerID, clusterID}, now))
	}
	return nil
}
