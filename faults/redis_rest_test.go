package faults

import (
	"fmt"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/pubsub"
)

// publishedAll waits until every record the pipeline accepted is either
// published or counted as dropped, and returns the publisher's status.
func (r *rig) publishedAll() (st pubsub.Status, dropped uint64) {
	r.t.Helper()
	eventually(r.t, "every accepted record published or counted as dropped", func() (bool, string) {
		st = r.pub.Status()
		acc := r.pipe.Counts().Accepted
		dropped = 0
		for _, n := range st.Dropped {
			dropped += n
		}
		return st.Published+dropped == acc && st.Pending == 0,
			fmt.Sprintf("accepted %d published %d dropped %d pending %d", acc, st.Published, dropped, st.Pending)
	})
	return st, dropped
}

// Scenario 17: Redis is unreachable when the service starts: the
// collectors and the database are unaffected, the live feed counts what
// it could not publish, and publishes once Redis answers.
func TestRedisDownAtStartup(t *testing.T) {
	s := newScenario(t, 17)
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Coinbase}, redisDown: true})
	s.watch(r)
	r.step(40)
	r.waitTruth()
	eventually(t, "the publisher to try Redis", func() (bool, string) {
		return r.redis.Refused() >= 1, "refused " + itoa(int(r.redis.Refused()))
	})
	st, droppedDown := r.publishedAll()
	if st.Published != 0 {
		t.Errorf("%d messages published through a Redis relay that is down", st.Published)
	}
	if droppedDown == 0 {
		t.Error("nothing counted as dropped while Redis was down")
	}
	r.redis.SetDown(false)
	end := time.Now()
	for ok := false; !ok; {
		r.step(5) // the publisher reconnects on its own schedule
		st, _ = r.publishedAll()
		ok = st.Published > 0
	}
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	for ex, c := range r.cols {
		if cs := c.Status(); cs.Reconnects != 0 {
			t.Errorf("%s: %d reconnects while Redis was down", ex, cs.Reconnects)
		}
	}
	s.res.Note = fmt.Sprintf("%d live messages dropped while Redis was down, %d published after, 0 rows lost", droppedDown, st.Published)
}

// Scenario 18: every packet to and from Redis is delayed: the database
// and the collectors are unaffected (no reconnect, nothing dropped by the
// exchange), every accepted record is published or counted as dropped.
func TestSlowRedis(t *testing.T) {
	s := newScenario(t, 18)
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Binance}})
	s.watch(r)
	r.step(10)
	r.publishedAll()
	r.redis.SetLatency(50 * time.Millisecond)
	stop := r.stepper(4 * time.Millisecond)
	r.step(300) // besides the stepper: a burst
	stop()
	r.waitTruth()
	r.redis.SetLatency(0)
	end := time.Now()
	st, dropped := r.publishedAll()
	s.finish(r, time.Since(end), 0)
	for ex, c := range r.cols {
		if cs := c.Status(); cs.Reconnects != 0 {
			t.Errorf("%s: %d reconnects while Redis was slow (last error %q)", ex, cs.Reconnects, cs.LastError)
		}
	}
	if n := r.sim.Counts(market.Binance).Slow + r.sim.Counts(market.OKX).Slow; n != 0 {
		t.Errorf("the exchange dropped %d slow connections", n)
	}
	s.res.Note = fmt.Sprintf("%d published, %d dropped by the live feed, 0 rows lost", st.Published, dropped)
}

// Scenario 19: the exchange answers the backfill's REST requests with 429
// (Retry-After 1 s) three times: the filler waits at least as long as
// asked before each next request, and fills the gap afterwards.
func TestRESTThrottledDuringBackfill(t *testing.T) {
	s := newScenario(t, 19)
	const ex = market.Binance
	const throttled, retryAfter = 3, time.Second
	r := startRig(t, rigOpts{exchanges: []market.Exchange{ex}})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	count := func() int {
		n := 0
		for _, sym := range r.sim.Symbols(ex) {
			n += len(r.sim.Trades(ex, sym))
		}
		return n
	}
	r.sim.Stall(ex, true)
	stalled := count()
	r.step(20) // no minute closes: only trades are missed
	missed := count() - stalled
	before := len(r.sim.RESTRequests(ex))
	r.sim.ThrottleREST(ex, throttled, retryAfter)
	r.sim.Stall(ex, false)
	end := time.Now()
	r.step(10)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	reqs := r.sim.RESTRequests(ex)[before:]
	n := 0
	for i, q := range reqs {
		if !q.Throttled {
			continue
		}
		n++
		if i+1 < len(reqs) {
			if wait := reqs[i+1].At.Sub(q.At); wait < retryAfter {
				t.Errorf("request %d (%s) came %v after a 429 asking for %v", i+1, reqs[i+1].Path, wait, retryAfter)
			}
		}
	}
	if n != throttled {
		t.Errorf("%d requests throttled, want %d", n, throttled)
	}
	if len(reqs) <= throttled {
		t.Errorf("%d REST requests: none after the throttled ones", len(reqs))
	}
	if got := r.queryInt(`SELECT coalesce(sum(filled_rows), 0)::int FROM gaps WHERE exchange = $1 AND status = 'filled'`, string(ex)); got != missed {
		t.Errorf("the backfill filled %d rows, want the %d trades missed while the exchange was silent", got, missed)
	}
	s.res.Note = fmt.Sprintf("%d of %d REST requests answered 429, each next request at least %v later; gaps filled", n, len(reqs), retryAfter)
}
