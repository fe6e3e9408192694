package controller

import (
	"fmt"
	"testing"
	"time"
)

func TestStepTimer(t *testing.T) {
	tests := []struct {
		name  string
		steps []time.Duration
		want  string
	}{
		{"none", nil, "failover took 0 ms: "},
		{"one", []time.Duration{5 * time.Millisecond}, "failover took 5 ms: s0=5ms"},
		{"several", []time.Duration{time.Millisecond, 0, 250 * time.Millisecond},
			"failover took 251 ms: s0=1ms s1=0ms s2=250ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			now := time.Unix(0, 0)
			var debugged []string
			st := newStepTimer("failover", func() time.Time { return now }, func(f string, a ...any) {
				debugged = append(debugged, fmt.Sprintf(f, a...))
			})
			for i, d := range tc.steps {
				now = now.Add(d)
				st.step(fmt.Sprintf("s%d", i))
			}
			if got := st.summary(); got != tc.want {
				t.Errorf("summary = %q, want %q", got, tc.want)
			}
			if len(debugged) != len(tc.steps) {
				t.Errorf("%d debug lines for %d steps: %q", len(debugged), len(tc.steps), debugged)
			}
		})
	}
}
