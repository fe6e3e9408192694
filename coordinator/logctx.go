package coordinator

import (
	"fmt"
	"io"

	"github.com/sirupsen/logrus"
)

// logContext is Kafka's LogContext: every line starts with a fixed prefix naming the component and the
// broker, so that both coordinators' lines read as Kafka's do.
type logContext struct {
	entry  *logrus.Entry
	prefix string
}

// newLogContext prefixes lines with prefixFormat, whose only verb is the broker id.
func newLogContext(entry *logrus.Entry, prefixFormat string, brokerID int32) logContext {
	return logContext{entry: entry, prefix: fmt.Sprintf(prefixFormat, brokerID)}
}

func (l logContext) infof(format string, args ...any)  { l.entry.Infof(l.prefix+format, args...) }
func (l logContext) warnf(format string, args ...any)  { l.entry.Warnf(l.prefix+format, args...) }
func (l logContext) errorf(format string, args ...any) { l.entry.Errorf(l.prefix+format, args...) }
func (l logContext) debugf(format string, args ...any) { l.entry.Debugf(l.prefix+format, args...) }

// baseLogger is the configured logger, or one that discards everything when none is configured.
func baseLogger(configured *logrus.Entry) *logrus.Entry {
	if configured != nil {
		return configured
	}
	l := logrus.New()
	l.SetOutput(io.Discard)
	return logrus.NewEntry(l)
}
