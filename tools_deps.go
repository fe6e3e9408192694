//go:build tools

package zkafka

import (
	_ "github.com/go-zookeeper/zk"
	_ "github.com/klauspost/compress/zstd"
	_ "github.com/pierrec/lz4/v4"
	_ "github.com/rcrowley/go-metrics"
	_ "github.com/sirupsen/logrus"
	_ "github.com/twmb/franz-go/pkg/kadm"
	_ "github.com/twmb/franz-go/pkg/kgo"
	_ "github.com/twmb/franz-go/pkg/kmsg"
)
