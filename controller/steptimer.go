package controller

import (
	"fmt"
	"strings"
	"time"
)

// stepTimer records how long each step of a long event (a failover) took, so a slow step shows in the log
// without a profiler: each step is logged at debug as it ends, and the whole breakdown once at info.
type stepTimer struct {
	what  string
	now   func() time.Time
	start time.Time
	last  time.Time
	steps []string
	debug func(format string, args ...any)
}

func newStepTimer(what string, now func() time.Time, debug func(format string, args ...any)) *stepTimer {
	t := now()
	return &stepTimer{what: what, now: now, start: t, last: t, debug: debug}
}

// step closes the step that began at the previous call (or at creation).
func (s *stepTimer) step(name string) {
	t := s.now()
	ms := t.Sub(s.last).Milliseconds()
	s.last = t
	s.steps = append(s.steps, fmt.Sprintf("%s=%dms", name, ms))
	if s.debug != nil {
		s.debug("%s step %s took %d ms (%d ms so far)", s.what, name, ms, t.Sub(s.start).Milliseconds())
	}
}

// summary is the whole breakdown: "<what> took N ms: a=1ms b=2ms".
func (s *stepTimer) summary() string {
	return fmt.Sprintf("%s took %d ms: %s", s.what, s.last.Sub(s.start).Milliseconds(), strings.Join(s.steps, " "))
}
