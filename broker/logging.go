package broker

import (
	"bytes"
	"fmt"
	"io"
	"sort"

	"github.com/sirupsen/logrus"
)

// KafkaFormatter prints log lines the way Kafka's log4j pattern does: "[2024-01-01 12:00:00,123] INFO message (component)".
type KafkaFormatter struct{}

// Format implements logrus.Formatter.
func (KafkaFormatter) Format(e *logrus.Entry) ([]byte, error) {
	var b bytes.Buffer
	level := map[logrus.Level]string{logrus.PanicLevel: "FATAL", logrus.FatalLevel: "FATAL", logrus.ErrorLevel: "ERROR",
		logrus.WarnLevel: "WARN", logrus.InfoLevel: "INFO", logrus.DebugLevel: "DEBUG", logrus.TraceLevel: "TRACE"}[e.Level]
	fmt.Fprintf(&b, "[%s,%03d] %s %s", e.Time.Format("2006-01-02 15:04:05"), e.Time.Nanosecond()/1e6, level, e.Message)
	keys := make([]string, 0, len(e.Data))
	for k := range e.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) > 0 {
		b.WriteString(" (")
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%s=%v", k, e.Data[k])
		}
		b.WriteByte(')')
	}
	b.WriteByte('\n')
	return b.Bytes(), nil
}

// NewLogger returns a logger writing Kafka-style lines to out at the given level.
func NewLogger(out io.Writer, level logrus.Level) *logrus.Entry {
	l := logrus.New()
	l.SetOutput(out)
	l.SetFormatter(KafkaFormatter{})
	l.SetLevel(level)
	return logrus.NewEntry(l)
}
