package cluster

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"
)

// evaluations evaluates at once and then every Rebalance until ctx ends;
// an evaluation that fails on the session ends the term.
func (c *Coordinator) evaluations(ctx context.Context, end context.CancelCauseFunc, sess Session) {
	p := newPlanner(c.cfg.InstanceID, c.cfg.Hysteresis)
	tick := time.NewTicker(c.cfg.Rebalance)
	defer tick.Stop()
	for {
		if err := c.evaluate(ctx, sess, p); err != nil {
			if ctx.Err() == nil {
				end(err)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// evaluate runs one evaluation: it reads the collectors table and the
// cluster, gives up what it must (stopping each collector before its lock
// is released), then takes what it may (locking each before it starts).
func (c *Coordinator) evaluate(ctx context.Context, sess Session, p *planner) error {
	enabled, err := c.target.Sync(ctx)
	if err != nil {
		// The collectors table is read through the service's pool: a
		// failure there is not the session's; keep what is owned.
		c.log.Warn("read collectors for the cluster evaluation", zap.Error(err))
		return nil
	}
	c.mu.Lock()
	mine := c.ownedLocked()
	c.mu.Unlock()
	all := append(append([]string(nil), enabled...), mine...)
	v, err := sess.View(ctx, all)
	if err != nil {
		return fmt.Errorf("%w: read the cluster: %w", ErrSessionLost, err)
	}
	d := p.next(enabled, mine, v)
	c.cfg.Metrics.setLive(len(v.Live))
	if len(d.Release) > 0 {
		if err := c.release(ctx, sess, d.Release); err != nil {
			return err
		}
	}
	var got []string
	spare := d.Spare
	for _, n := range d.Acquire {
		for {
			ok, err := sess.TryLock(ctx, n)
			if err != nil {
				return fmt.Errorf("%w: lock collector %s: %w", ErrSessionLost, n, err)
			}
			if ok {
				got = append(got, n)
				break
			}
			// Another instance took it first: try the next spare one.
			if len(spare) == 0 {
				break
			}
			n, spare = spare[0], spare[1:]
		}
	}
	c.mu.Lock()
	for _, n := range got {
		c.owned[n] = true
	}
	now := c.ownedLocked()
	c.mu.Unlock()
	if len(got) > 0 {
		c.cfg.Metrics.acquired(len(got))
		c.cfg.Metrics.setOwned(len(now))
		c.log.Info("acquired collectors", zap.Strings("collectors", got), zap.Int("target", d.Target), zap.Int("live_instances", len(v.Live)))
	}
	// Own is idempotent: applied every evaluation, it also starts an owned
	// collector that Sync has just enabled or added.
	if err := c.target.Own(ctx, now); err != nil {
		c.log.Error("start owned collectors", zap.Error(err))
	}
	ins, err := sess.Instances(ctx)
	if err != nil {
		return fmt.Errorf("%w: read instances: %w", ErrSessionLost, err)
	}
	c.mu.Lock()
	c.instances, c.live = ins, len(v.Live)
	c.mu.Unlock()
	return nil
}

// release stops names and then unlocks them.
func (c *Coordinator) release(ctx context.Context, sess Session, names []string) error {
	c.beatMu.Lock()
	c.mu.Lock()
	for _, n := range names {
		delete(c.owned, n)
	}
	keep := c.ownedLocked()
	c.mu.Unlock()
	c.beatMu.Unlock()
	if err := c.target.Own(ctx, keep); err != nil {
		// The collectors may still run: keep their locks, the session ends.
		return fmt.Errorf("%w: stop released collectors: %w", ErrSessionLost, err)
	}
	for _, n := range names {
		if err := sess.Unlock(ctx, n); err != nil {
			return fmt.Errorf("%w: unlock collector %s: %w", ErrSessionLost, n, err)
		}
	}
	c.cfg.Metrics.released(len(names), reasonRebalance)
	c.cfg.Metrics.setOwned(len(keep))
	c.log.Info("released collectors", zap.Strings("collectors", names))
	return nil
}

// Status is the cluster part of GET /api/status.
type Status struct {
	InstanceID string   `json:"instance_id"`
	Owned      []string `json:"owned"`
	// LiveInstances is the number of live instances at the last
	// evaluation.
	LiveInstances int `json:"live_instances"`
	// LastHeartbeat is when this instance's last successful heartbeat was
	// sent.
	LastHeartbeat time.Time  `json:"last_heartbeat"`
	Instances     []Instance `json:"instances"`
	LeaseSeconds  float64    `json:"lease_seconds"`
}

// Status returns the cluster as this instance last saw it; it does no I/O.
func (c *Coordinator) Status() Status {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Status{
		InstanceID: c.cfg.InstanceID, Owned: c.ownedLocked(), LiveInstances: c.live,
		LastHeartbeat: c.lastBeat, Instances: append([]Instance(nil), c.instances...),
		LeaseSeconds: c.cfg.Lease.Seconds(),
	}
}
