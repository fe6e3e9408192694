// Package zkutils is the only place that knows ZooKeeper znode paths and their JSON: typed reads, writes and
// watches over go-zookeeper/zk, conditional updates with zkVersion, fenced multi-ops for the controller and
// session-expiry handling. Callers never see a path or raw bytes.
package zkutils

// This file is the contract other packages code against.

import (
	"errors"
	"strconv"
	"time"

	"github.com/sirupsen/logrus"
)

var (
	ErrNodeExists       = errors.New("zkutils: node already exists")
	ErrNoNode           = errors.New("zkutils: node does not exist")
	ErrBadVersion       = errors.New("zkutils: version conflict")
	ErrControllerMoved  = errors.New("zkutils: controller epoch zkVersion check failed (another controller was elected)")
	ErrTopicExists      = errors.New("zkutils: topic already exists")
	ErrControllerExists = errors.New("zkutils: another broker is controller")
	ErrBrokerIDInUse    = errors.New("zkutils: broker id is registered by another live session")
	ErrSessionExpired   = errors.New("zkutils: session expired")
)

// Config configures a connection. Connect is Kafka's zookeeper.connect: "h1:2181,h2:2181/chroot".
type Config struct {
	Connect           string
	SessionTimeout    time.Duration // zookeeper.session.timeout.ms (18000)
	ConnectionTimeout time.Duration // zookeeper.connection.timeout.ms (defaults to SessionTimeout)
	Logger            *logrus.Entry
}

// SessionEvent tells the owner about the session's life.
type SessionEvent int

const (
	SessionExpired       SessionEvent = iota // the session is gone: ephemerals and watches are lost
	SessionReestablished                     // a new session is up after an expiry (re-register, re-elect)
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// String is Kafka's topic-partition notation, "topic-3".
func (tp TopicPartition) String() string { return tp.Topic + "-" + strconv.Itoa(int(tp.Partition)) }

// Endpoint is one advertised listener.
type Endpoint struct {
	Listener         string // listener name, e.g. PLAINTEXT
	SecurityProtocol string // e.g. PLAINTEXT
	Host             string
	Port             int32
}

// BrokerInfo is /brokers/ids/<id> (version 5 JSON). Epoch is the znode's czxid (set on reads and by RegisterBroker).
type BrokerInfo struct {
	ID        int32
	Endpoints []Endpoint
	Rack      *string
	JMXPort   int32
	Timestamp int64               // ms since epoch; written as a JSON string
	Features  map[string][2]int16 // name → {min_version, max_version}; metadata.version {1,19} by default
	Epoch     int64
}

// TopicAssignment is /brokers/topics/<t> (version 3 JSON). ZkVersion is the znode's stat version.
type TopicAssignment struct {
	Topic      string
	TopicID    [16]byte
	Partitions map[int32][]int32
	Adding     map[int32][]int32
	Removing   map[int32][]int32
	ZkVersion  int32
}

// LeaderIsr is /brokers/topics/<t>/partitions/<p>/state. ZkVersion is the znode's stat version (partition epoch).
type LeaderIsr struct {
	Leader              int32
	LeaderEpoch         int32
	ISR                 []int32
	ControllerEpoch     int32
	LeaderRecoveryState int8
	ZkVersion           int32
}

// Watch fires (is closed) at most once, when the watched node or its children change, or the session ends.
type Watch <-chan struct{}

// Client is a ZooKeeper session rooted at the chroot of Config.Connect.
type Client struct {
	impl *client
}
