// Package cluster lets several marketetl instances share the collectors
// through the PostgreSQL database they already write to: each collector is
// owned by at most one instance at a time, through a session-level
// advisory lock held on a dedicated connection; instances take collectors
// up to a fair share, rebalance with hysteresis when one joins or leaves,
// and take over a dead instance's collectors as soon as the database has
// released its locks. docs/SCALING.md describes the design and its bounds.
//
// The Coordinator decides; a Session (the dedicated connection) holds the
// locks; a Target (the supervisor) runs what the instance owns.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Session is this instance's dedicated database session. Its locks live as
// long as it does: when it ends, for whatever reason, the database
// releases them. Its methods are called from two goroutines (the heartbeat
// and the evaluation) and must be safe for that.
type Session interface {
	// Heartbeat proves the session alive and records owned as this
	// instance's collectors (in the instances table). An error means the
	// session may be gone: the caller gives up everything it owns.
	Heartbeat(ctx context.Context, owned []string) error
	// TryLock tries to take the named collector's lock without waiting and
	// reports whether it was taken.
	TryLock(ctx context.Context, name string) (bool, error)
	// Unlock releases the named collector's lock.
	Unlock(ctx context.Context, name string) error
	// View returns the live instances and the owner of every held
	// collector lock among names.
	View(ctx context.Context, names []string) (View, error)
	// Instances returns every instance row, for the status report.
	Instances(ctx context.Context) ([]Instance, error)
	// Close ends the session (releasing its locks) and, when leaving is
	// true, deletes this instance's row.
	Close(ctx context.Context, leaving bool) error
}

// Dialer opens a new Session for the instance; an error is retried.
type Dialer func(ctx context.Context) (Session, error)

// Target runs the collectors this instance owns. *supervisor.Manager
// implements it.
type Target interface {
	// Sync reads the shared collectors table again, applies changes made
	// through any instance, and returns the enabled collectors' names.
	Sync(ctx context.Context) ([]string, error)
	// Own makes names the collectors this instance may run: collectors no
	// longer in it are stopped before Own returns; enabled ones newly in
	// it are started.
	Own(ctx context.Context, names []string) error
}

// Instance is one row of the instances table.
type Instance struct {
	ID          string    `json:"instance_id"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// HeartbeatAge is the database's now() minus HeartbeatAt, in seconds.
	HeartbeatAge float64  `json:"heartbeat_age_seconds"`
	Owned        []string `json:"owned"`
	// Live: the instance's session holds its instance lock.
	Live bool `json:"live"`
}

// Config configures a Coordinator.
type Config struct {
	// InstanceID names this instance (ETL_INSTANCE_ID). Required.
	InstanceID string
	// Lease is how long a session may go without a heartbeat before the
	// database ends it and releases its locks (idle_session_timeout), and
	// bounds how long this instance keeps its collectors without a
	// successful heartbeat (ETL_CLUSTER_LEASE). Default 8 s.
	Lease time.Duration
	// Heartbeat is the heartbeat period (ETL_CLUSTER_HEARTBEAT). Default
	// 1 s; at most Lease/4.
	Heartbeat time.Duration
	// Rebalance is the period of the evaluations that take and give up
	// collectors (ETL_CLUSTER_REBALANCE_INTERVAL). Default 2 s; at least
	// Heartbeat.
	Rebalance time.Duration
	// Hysteresis is how many consecutive evaluations an instance must be
	// above its share before it gives collectors up, and a collector must
	// be seen unowned before an instance below its share takes it (one
	// more for an instance at its share). Default 2.
	Hysteresis int
	// Now is the clock (monotonic readings are compared). Default time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) that jitters the wait before a new
	// session (up to half of it more). Default math/rand/v2's Float64.
	Rand func() float64
	// Metrics, when set, is where ownership changes are counted.
	Metrics *Metrics
	// Log receives the coordinator's logs; default none.
	Log *zap.Logger
}

func (c *Config) applyDefaults() {
	if c.Lease <= 0 {
		c.Lease = 8 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = time.Second
	}
	if c.Rebalance <= 0 {
		c.Rebalance = 2 * time.Second
	}
	if c.Hysteresis <= 0 {
		c.Hysteresis = 2
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Float64
	}
	if c.Log == nil {
		c.Log = zap.NewNop()
	}
}

func (c *Config) validate() error {
	if c.InstanceID == "" {
		return errors.New("instance id is empty (ETL_INSTANCE_ID)")
	}
	if c.Heartbeat*4 > c.Lease {
		return fmt.Errorf("heartbeat %s is more than a quarter of the lease %s (ETL_CLUSTER_HEARTBEAT, ETL_CLUSTER_LEASE)", c.Heartbeat, c.Lease)
	}
	if c.Rebalance < c.Heartbeat {
		return fmt.Errorf("rebalance interval %s is shorter than the heartbeat %s (ETL_CLUSTER_REBALANCE_INTERVAL, ETL_CLUSTER_HEARTBEAT)", c.Rebalance, c.Heartbeat)
	}
	return nil
}

// ErrSessionLost is why a term ended when the session failed its
// heartbeat or went longer than the fence without one.
var ErrSessionLost = errors.New("cluster session lost")

// Coordinator takes, keeps and gives up this instance's collectors.
type Coordinator struct {
	cfg    Config
	dial   Dialer
	target Target
	log    *zap.Logger

	// beatMu is held by a heartbeat from reading the owned collectors to
	// writing them, and by a release while it forgets a collector, so that
	// no heartbeat lists a collector after its lock was released.
	beatMu sync.Mutex

	mu sync.Mutex // guards the fields below
	// owned are the collectors whose locks this instance holds.
	owned     map[string]bool
	instances []Instance
	live      int
	// lastBeat is when the last successful heartbeat was sent.
	lastBeat time.Time
}

// New checks cfg and returns a Coordinator over dial and target.
func New(cfg Config, dial Dialer, target Target) (*Coordinator, error) {
	cfg.applyDefaults()
	if dial == nil || target == nil {
		return nil, errors.New("new cluster coordinator: a dialer and a target are required")
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new cluster coordinator: %w", err)
	}
	return &Coordinator{cfg: cfg, dial: dial, target: target, log: cfg.Log, owned: map[string]bool{}}, nil
}

// fence is how long the instance keeps its collectors without a
// successful heartbeat: half the lease, so that it has stopped them
// before the database, which counts the lease from the last heartbeat it
// answered, releases their locks to another instance.
func (c *Coordinator) fence() time.Duration { return c.cfg.Lease / 2 }

// Run coordinates until ctx ends. Each term opens a session, heartbeats
// and evaluates on it; when the session is lost, every owned collector is
// stopped first, then a new term starts from nothing. When ctx ends the
// collectors are stopped, the locks released and the instance's row
// deleted; Run then returns nil.
//
// Between terms it waits a heartbeat, doubling up to the lease while
// sessions keep failing (jittered, so that instances cut off together do
// not come back together); a term that lasted a lease starts it afresh.
func (c *Coordinator) Run(ctx context.Context) error {
	delay := c.cfg.Heartbeat
	for {
		began := c.cfg.Now()
		err := c.term(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if c.cfg.Now().Sub(began) > c.cfg.Lease {
			delay = c.cfg.Heartbeat
		}
		wait := delay + time.Duration(float64(delay)*0.5*c.cfg.Rand())
		c.log.Error("cluster session ended; collectors stopped, starting again", zap.Error(err), zap.Duration("retry_in", wait))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		delay = min(delay*2, c.cfg.Lease)
	}
}

// term runs one session: it returns when ctx ends or the session is lost,
// with every collector stopped.
func (c *Coordinator) term(ctx context.Context) error {
	sess, err := c.dial(ctx)
	if err != nil {
		return fmt.Errorf("open cluster session: %w", err)
	}
	c.mu.Lock()
	c.lastBeat = c.cfg.Now()
	c.mu.Unlock()
	tctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { c.heartbeats(tctx, cancel, sess) })
	wg.Go(func() { c.evaluations(tctx, cancel, sess) })
	wg.Wait()
	cause := context.Cause(tctx)
	cancel(nil)
	// Stop every collector before anything else, then let the locks go.
	c.giveUpAll(context.WithoutCancel(ctx))
	cctx, ccancel := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.Lease)
	defer ccancel()
	if err := sess.Close(cctx, ctx.Err() != nil); err != nil {
		c.log.Warn("close cluster session", zap.Error(err))
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return cause
}

// giveUpAll stops every owned collector and forgets the locks (the session
// is closed next, or already gone).
func (c *Coordinator) giveUpAll(ctx context.Context) {
	c.mu.Lock()
	n := len(c.owned)
	c.owned = map[string]bool{}
	c.mu.Unlock()
	if err := c.target.Own(ctx, nil); err != nil {
		c.log.Error("stop owned collectors", zap.Error(err))
	}
	if n > 0 {
		c.cfg.Metrics.released(n, reasonLost)
		c.log.Warn("gave up every collector", zap.Int("collectors", n))
	}
	c.cfg.Metrics.setOwned(0)
}

// heartbeats beats every Heartbeat; a failed beat, or none successful
// within the fence (the process was paused, the network hangs), ends the
// term at once.
func (c *Coordinator) heartbeats(ctx context.Context, end context.CancelCauseFunc, sess Session) {
	tick := time.NewTicker(c.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := c.beat(ctx, sess); err != nil {
			end(err)
			return
		}
	}
}

// beat checks the fence, then sends one heartbeat.
func (c *Coordinator) beat(ctx context.Context, sess Session) error {
	c.beatMu.Lock()
	defer c.beatMu.Unlock()
	start := c.cfg.Now()
	c.mu.Lock()
	last := c.lastBeat
	owned := c.ownedLocked()
	c.mu.Unlock()
	if gap := start.Sub(last); gap > c.fence() {
		return fmt.Errorf("%w: no heartbeat for %s (fence %s)", ErrSessionLost, gap.Round(time.Millisecond), c.fence())
	}
	bctx, cancel := context.WithTimeout(ctx, c.fence()-start.Sub(last))
	defer cancel()
	if err := sess.Heartbeat(bctx, owned); err != nil {
		return fmt.Errorf("%w: heartbeat: %w", ErrSessionLost, err)
	}
	c.mu.Lock()
	c.lastBeat = start
	c.mu.Unlock()
	return nil
}

func (c *Coordinator) ownedLocked() []string {
	out := make([]string, 0, len(c.owned))
	for n := range c.owned {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Owned returns the collectors this instance owns, sorted.
func (c *Coordinator) Owned() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ownedLocked()
}
