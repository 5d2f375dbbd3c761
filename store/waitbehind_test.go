package store

import (
	"testing"
	"time"
)

// TestWaitBehind: a record that finds its queue full waits SpoolAfter for
// room, except behind a flush in progress for StalledFlush or longer (a
// stalled database): then it does not wait.
func TestWaitBehind(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	since := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	wait := 100 * time.Millisecond
	for _, c := range []struct {
		name  string
		since int64
		want  time.Duration
	}{
		{"no flush in progress", 0, wait},
		{"a flush that just began", since(0), wait},
		{"a flush 500 ms in (a busy database)", since(500 * time.Millisecond), wait},
		{"a flush just short of StalledFlush", since(StalledFlush - time.Nanosecond), wait},
		{"a flush in progress for StalledFlush", since(StalledFlush), 0},
		{"a flush stuck for 10 s", since(10 * time.Second), 0},
		{"a flush stamped after now (clock stepped back)", since(-time.Second), wait},
	} {
		if got := waitBehind(c.since, now, wait); got != c.want {
			t.Errorf("%s: waits %v, want %v", c.name, got, c.want)
		}
	}
}
