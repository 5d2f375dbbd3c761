package store

import (
	"testing"
	"time"
)

// TestWaitBehind: a record that finds its queue full waits SpoolAfter for
// room, less what the flush in progress has already taken of it; behind a
// flush stuck longer than that (a stalled database), it does not wait.
func TestWaitBehind(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	since := func(d time.Duration) int64 { return now.Add(-d).UnixNano() }
	wait := 100 * time.Millisecond
	for _, c := range []struct {
		name  string
		since int64
		wait  time.Duration
		want  time.Duration
	}{
		{"no flush in progress", 0, wait, wait},
		{"a flush that just began", since(0), wait, wait},
		{"a flush 30 ms in", since(30 * time.Millisecond), wait, 70 * time.Millisecond},
		{"a flush exactly SpoolAfter in", since(wait), wait, 0},
		{"a flush stuck for 10 s", since(10 * time.Second), wait, -10*time.Second + wait},
		{"no wait asked", since(time.Second), 0, 0},
		{"a flush stamped after now (clock stepped back)", since(-time.Second), wait, wait},
	} {
		if got := waitBehind(c.since, now, c.wait); got != c.want {
			t.Errorf("%s: waits %v, want %v", c.name, got, c.want)
		}
	}
}
