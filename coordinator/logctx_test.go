package coordinator

import (
	"bytes"
	"strings"
	"testing"

	"github.com/sirupsen/logrus"
)

func TestLogContextPrefixesLines(t *testing.T) {
	tests := []struct {
		name   string
		prefix string
		log    func(l logContext)
		want   string
	}{
		{"group coordinator", "[GroupCoordinator %d]: ", func(l logContext) { l.infof("Elected for partition %d", 3) },
			"level=info msg=\"[GroupCoordinator 7]: Elected for partition 3\""},
		{"group metadata manager", "[GroupMetadataManager brokerId=%d] ", func(l logContext) { l.warnf("no args") },
			"level=warning msg=\"[GroupMetadataManager brokerId=7] no args\""},
		{"transaction state manager", "[Transaction State Manager %d]: ", func(l logContext) { l.errorf("%s failed", "append") },
			"level=error msg=\"[Transaction State Manager 7]: append failed\""},
		{"debug", "[TransactionCoordinator id=%d] ", func(l logContext) { l.debugf("x=%d", 1) },
			"level=debug msg=\"[TransactionCoordinator id=7] x=1\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := logrus.New()
			l.SetOutput(&buf)
			l.SetLevel(logrus.DebugLevel)
			l.SetFormatter(&logrus.TextFormatter{DisableTimestamp: true, DisableColors: true})
			tc.log(newLogContext(logrus.NewEntry(l), tc.prefix, 7))
			if got := strings.TrimSpace(buf.String()); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestBaseLoggerDiscardsWhenUnset(t *testing.T) {
	if baseLogger(nil) == nil {
		t.Fatal("baseLogger(nil) is nil")
	}
	e := logrus.NewEntry(logrus.New())
	if baseLogger(e) != e {
		t.Fatal("baseLogger did not keep the configured entry")
	}
}
