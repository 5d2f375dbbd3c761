package service

import (
	"sync"
	"time"
)

// shutdownClock is the one deadline of the whole shutdown: SHUTDOWN_TIMEOUT
// from the moment Run's context ends. The supervisor stops the collectors
// within its share (ShutdownTimeout*3/5) and the store writer drains until
// the deadline less a reserve for spilling what it could not commit to the
// spool, so that the process exits within SHUTDOWN_TIMEOUT (25 s by
// default, inside Kubernetes' default grace period of 30 s).
type shutdownClock struct {
	timeout time.Duration
	now     func() time.Time

	mu sync.Mutex // guards at
	at time.Time  // zero until the shutdown begins
}

func newShutdownClock(timeout time.Duration) *shutdownClock {
	return &shutdownClock{timeout: timeout, now: time.Now}
}

// begin starts the shutdown's deadline, once.
func (c *shutdownClock) begin() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		c.at = c.now().Add(c.timeout)
	}
}

// drainBy is when the store writer must stop trying the database and spill
// what is left: the deadline less spillReserve; zero before the shutdown
// began.
func (c *shutdownClock) drainBy() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() {
		return time.Time{}
	}
	return c.at.Add(-spillReserve(c.timeout))
}

// spillReserve is the part of the shutdown kept for spilling the rows not
// committed to the spool: a tenth of it, at most 2 s.
func spillReserve(timeout time.Duration) time.Duration { return min(timeout/10, 2*time.Second) }
