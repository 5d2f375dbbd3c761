package collector

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/market"
)

// resumeTimeout bounds one ResumeFunc call: a slow database must not hold
// a retry back for long.
const resumeTimeout = 10 * time.Second

// resumeRetry is the backoff between failed ResumeFunc calls.
var resumeRetry = backoff.Policy{Min: time.Second, Max: time.Minute, Jitter: backoff.Jitter{Below: 0.5}}

// resumeOnce asks Config.Resume where the stored data of the streams
// without a known position ends, and settles their positions. Streams
// asked for are marked awaiting first, so that a failure holds back their
// continuity (never their delivery) until a later call succeeds. It
// returns the error of the call, nil when there was nothing to ask.
func (c *Collector) resumeOnce(ctx context.Context) error {
	if c.cfg.Resume == nil {
		return nil
	}
	streams := c.positions.unresumed(c.Streams())
	if len(streams) == 0 {
		return nil
	}
	c.positions.await(streams)
	rctx, cancel := context.WithTimeout(ctx, resumeTimeout)
	defer cancel()
	last, err := c.cfg.Resume(rctx, streams)
	if err != nil {
		return fmt.Errorf("find the last stored records of %d streams: %w", len(streams), err)
	}
	for _, s := range streams {
		l, ok := last[s]
		if g, found := c.positions.settle(s, l, ok); found {
			g.Stream = s
			c.route.recordGap(g)
		}
	}
	return nil
}

// resumeLoop retries Config.Resume with backoff after err (the first
// attempt's error) until every stream's stored end is known, and asks
// again whenever resumeKick says streams were added. It returns when ctx
// ends.
func (c *Collector) resumeLoop(ctx context.Context, err error) {
	if c.cfg.Resume == nil {
		return
	}
	policy := resumeRetry
	policy.Rand = c.cfg.Rand
	attempt := 0
	for {
		if ctx.Err() != nil {
			return
		}
		var retry <-chan time.Time
		var timer *time.Timer
		if err != nil {
			delay := policy.Delay(attempt)
			attempt++
			c.st.recordError(err, c.cfg.Now())
			c.log.Warn("find the last stored records; retrying, the restart gap is recorded once they are known",
				zap.Error(err), zap.Int("attempt", attempt), zap.Duration("backoff", delay))
			timer = time.NewTimer(delay)
			retry = timer.C
		} else {
			attempt = 0
		}
		select {
		case <-ctx.Done():
		case <-retry:
		case <-c.resumeKick:
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		err = c.resumeOnce(ctx)
	}
}

// settle takes storage's answer for s (last, when found) and returns the
// restart gap between the stored end and the first record s delivered
// while awaiting it, if there is one. A stream that delivered nothing yet
// is seeded with last, as Seed does.
func (ps *Positions) settle(s market.Stream, last Last, found bool) (market.Gap, bool) {
	p := ps.get(s)
	p.mu.Lock()
	defer p.mu.Unlock()
	awaiting, hasFirst, first := p.awaiting, p.hasFirst, p.first
	p.resumed, p.awaiting, p.hasFirst, p.first = true, false, false, firstRecord{}
	if !found {
		return market.Gap{}, false
	}
	if !awaiting || !hasFirst {
		if !p.known {
			p.known, p.time, p.id, p.sid, p.run, p.session = true, last.Time, last.TradeID, "", 0, 0
			if last.TradeID > 0 {
				p.sid = fmt.Sprint(last.TradeID)
			}
		}
		return market.Gap{}, false
	}
	g := market.Gap{From: last.Time, To: first.time, Reason: market.GapRestart}
	if g.To.Before(g.From) {
		g.To = g.From
	}
	switch {
	case first.tf != "":
		// A closed candle: a hole when candles are missing in between.
		if !first.time.After(last.Time.Add(first.tf.Duration())) {
			return market.Gap{}, false
		}
	case first.lowID > 0 && last.TradeID > 0:
		if first.lowID <= last.TradeID+1 {
			return market.Gap{}, false
		}
		g.AfterID, g.BeforeID = last.TradeID, first.lowID
	}
	return g, true
}
