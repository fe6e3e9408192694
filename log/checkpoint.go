package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Names of the per-directory files Kafka keeps beside the partition dirs.
const (
	RecoveryPointCheckpointFile     = "recovery-point-offset-checkpoint"
	LogStartOffsetCheckpointFile    = "log-start-offset-checkpoint"
	ReplicationOffsetCheckpointFile = "replication-offset-checkpoint"
	CleanShutdownFile               = ".kafka_cleanshutdown"
	LockFile                        = ".lock"
	MetaPropertiesFile              = "meta.properties"
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

func (tp TopicPartition) String() string { return fmt.Sprintf("%s-%d", tp.Topic, tp.Partition) }

// ParseTopicPartitionDir parses a partition directory name "<topic>-<n>"
// by its last '-', as Kafka does. Deleted ("-delete"), future ("-future")
// and stray ("-stray") directories are not partition dirs.
func ParseTopicPartitionDir(name string) (topic string, partition int32, ok bool) {
	if strings.HasSuffix(name, "-delete") || strings.HasSuffix(name, "-future") || strings.HasSuffix(name, "-stray") {
		return "", 0, false
	}
	i := strings.LastIndexByte(name, '-')
	if i <= 0 || i == len(name)-1 {
		return "", 0, false
	}
	p, err := strconv.ParseInt(name[i+1:], 10, 32)
	if err != nil || p < 0 || name[i+1] == '+' {
		return "", 0, false
	}
	return name[:i], int32(p), true
}

// ReadOffsetCheckpoint reads one of Kafka's offset checkpoint files
// (version 0, entry count, "topic partition offset" lines). A missing file
// is an empty map.
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[TopicPartition]int64{}, nil
	}
	if err != nil {
		return nil, err
	}
	bad := func(why string) error { return fmt.Errorf("log: malformed checkpoint file %s: %s", path, why) }
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	line := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		return sc.Text(), true
	}
	v, ok := line()
	if !ok || strings.TrimSpace(v) != "0" {
		return nil, bad(fmt.Sprintf("unrecognized version %q", v))
	}
	c, ok := line()
	count, err := strconv.Atoi(strings.TrimSpace(c))
	if !ok || err != nil || count < 0 {
		return nil, bad(fmt.Sprintf("bad entry count %q", c))
	}
	out := make(map[TopicPartition]int64, count)
	for n := 0; ; n++ {
		l, ok := line()
		if !ok {
			if n != count {
				return nil, bad(fmt.Sprintf("expected %d entries but found %d", count, n))
			}
			break
		}
		f := strings.Fields(l)
		if len(f) != 3 {
			return nil, bad(fmt.Sprintf("bad line %q", l))
		}
		p, err1 := strconv.ParseInt(f[1], 10, 32)
		off, err2 := strconv.ParseInt(f[2], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, bad(fmt.Sprintf("bad line %q", l))
		}
		out[TopicPartition{f[0], int32(p)}] = off
	}
	return out, sc.Err()
}

// WriteOffsetCheckpoint writes an offset checkpoint file atomically: to
// <path>.tmp, fsync, rename, fsync the directory. Lines are sorted by topic
// and partition so the file is deterministic.
func WriteOffsetCheckpoint(path string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].Topic != tps[j].Topic {
			return tps[i].Topic < tps[j].Topic
		}
		return tps[i].Partition < tps[j].Partition
	})
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(tps))
	for _, tp := range tps {
		fmt.Fprintf(&b, "%s %d %d\n", tp.Topic, tp.Partition, offsets[tp])
	}
	return writeFileAtomic(path, b.Bytes())
}

func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
