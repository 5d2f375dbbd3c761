package service

import (
	"testing"
	"time"
)

// The writer's drain ends SHUTDOWN_TIMEOUT after the shutdown began, less
// the spill reserve; beginning twice keeps the first deadline.
func TestShutdownClockIsOneDeadline(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	now := start
	c := &shutdownClock{timeout: 25 * time.Second, now: func() time.Time { return now }}
	if !c.drainBy().IsZero() {
		t.Fatal("a deadline before the shutdown began")
	}
	c.begin()
	now = now.Add(15 * time.Second) // the supervisor's share used up
	c.begin()
	if got, want := c.drainBy(), start.Add(23*time.Second); !got.Equal(want) {
		t.Errorf("drain by %s, want %s (25s less the 2s spill reserve, from the first begin)", got, want)
	}
}
