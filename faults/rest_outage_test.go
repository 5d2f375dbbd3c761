package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"marketetl/market"
	"marketetl/sim"
)

// missTrades stalls exs while the exchange trades n ticks (fewer than a
// minute: no candle closes, only trades are missed) and returns how many
// trades of each exchange were not pushed.
func (r *rig) missTrades(n int, exs ...market.Exchange) map[market.Exchange]int {
	r.t.Helper()
	count := func(ex market.Exchange) int {
		c := 0
		for _, sym := range r.sim.Symbols(ex) {
			c += len(r.sim.Trades(ex, sym))
		}
		return c
	}
	before := map[market.Exchange]int{}
	for _, ex := range exs {
		before[ex] = count(ex)
		r.sim.Stall(ex, true)
	}
	r.step(n)
	missed := map[market.Exchange]int{}
	for _, ex := range exs {
		missed[ex] = count(ex) - before[ex]
	}
	return missed
}

// filledRows is the sum of filled_rows over the filled gaps of ex.
func (r *rig) filledRows(ex market.Exchange) int {
	r.t.Helper()
	return r.queryInt(`SELECT coalesce(sum(filled_rows), 0)::int FROM gaps WHERE exchange = $1 AND status = 'filled'`, string(ex))
}

// failedREST counts the REST requests of ex the exchange failed (503 or a
// cut connection) since request number from.
func (r *rig) failedREST(ex market.Exchange, from int) int {
	n := 0
	for _, q := range r.sim.RESTRequests(ex)[from:] {
		if q.Failed {
			n++
		}
	}
	return n
}

// Scenario 24: the exchanges' REST APIs fail while gaps need filling —
// first HTTP 503, then connections cut without an answer. Each gap stays
// open (not unfillable, nothing filled), is retried with the filler's
// doubling backoff (no more attempts than its delays allow), and is
// filled exactly once when REST answers again: the rows filled equal the
// trades missed, nothing twice.
func TestRESTDownDuringBackfill(t *testing.T) {
	s := newScenario(t, 24)
	if !haveGapRepair {
		s.skip(whyGapRepair)
	}
	exs := []market.Exchange{market.OKX, market.Binance}
	// The rig's filler retries after 50 ms, doubling up to 1 s.
	const retryMin, retryMax = 50 * time.Millisecond, time.Second
	r := startRig(t, rigOpts{exchanges: exs})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	missed := r.missTrades(20, exs...)
	from := map[market.Exchange]int{}
	for _, ex := range exs {
		from[ex] = len(r.sim.RESTRequests(ex))
		r.sim.SetRESTDown(ex, sim.RESTUnavailable)
		r.sim.Stall(ex, false)
	}
	start := time.Now()
	r.step(3) // the first trades after the stall reveal the gaps
	outage := func(what string, atLeast int) {
		t.Helper()
		eventually(t, what, func() (bool, string) {
			ok, state := true, ""
			for _, ex := range exs {
				n := r.failedREST(ex, from[ex])
				ok = ok && n >= atLeast
				state += fmt.Sprintf("%s %d failed; ", ex, n)
			}
			return ok, state
		})
	}
	outage("eight REST requests of each exchange answered 503", 8)
	for _, ex := range exs {
		r.sim.SetRESTDown(ex, sim.RESTReset)
	}
	outage("sixteen REST requests of each exchange failed (503, then cut)", 16)
	// While REST is down, every gap stays open: none is given up as
	// unfillable, none is closed with nothing filled.
	gaps := map[market.Exchange]int{}
	for _, ex := range exs {
		got := r.strings(`SELECT concat_ws(' ', symbol, data_type, status, filled_rows) FROM gaps WHERE exchange = $1 ORDER BY symbol, data_type`, string(ex))
		var want []string
		for _, sym := range r.sim.Symbols(ex) {
			want = append(want, fmt.Sprintf("%s trade open 0", sym))
		}
		for i := range got { // an attempt may be under way
			got[i] = strings.Replace(got[i], " filling ", " open ", 1)
		}
		diff(t, string(ex)+" gaps while REST is down (symbol type status filled_rows)", want, got)
		gaps[ex] = len(got)
	}
	// Each attempt on a gap counts in its attempts column; the delay
	// before its k-th retry is at least half of min·2^k, capped at max, so
	// no more attempts fit in the time REST was down.
	failed, attempts := map[market.Exchange]int{}, map[market.Exchange]int{}
	for _, ex := range exs {
		attempts[ex] = r.queryInt(`SELECT coalesce(sum(attempts), 0)::int FROM gaps WHERE exchange = $1`, string(ex))
	}
	down := time.Since(start)
	for _, ex := range exs {
		r.sim.SetRESTDown(ex, sim.RESTUp)
		failed[ex] = r.failedREST(ex, from[ex])
	}
	for _, ex := range exs {
		if limit := int64(gaps[ex]) * maxAttempts(down, retryMin, retryMax); int64(attempts[ex]) > limit {
			t.Errorf("%s: %d attempts on %d gaps in %v: the backoff allows at most %d", ex, attempts[ex], gaps[ex], down, limit)
		}
		if n := r.queryInt(`SELECT min(attempts)::int FROM gaps WHERE exchange = $1`, string(ex)); n < 2 {
			t.Errorf("%s: a gap was tried %d times while REST was down, want it retried", ex, n)
		}
	}
	end := time.Now()
	r.step(10)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	for _, ex := range exs {
		if got := r.filledRows(ex); got != missed[ex] {
			t.Errorf("%s: the backfill filled %d rows, want the %d trades missed", ex, got, missed[ex])
		}
		if n := r.queryInt(`SELECT count(*)::int FROM gaps WHERE exchange = $1`, string(ex)); n != gaps[ex] {
			t.Errorf("%s: %d gap rows after REST returned, want the %d recorded during the outage", ex, n, gaps[ex])
		}
	}
	s.res.Note = fmt.Sprintf("OKX %d and Binance %d REST requests failed (503, then cut) over %v; %d gaps stayed open, tried %d times with backoff, each filled once (%d+%d rows)",
		failed[market.OKX], failed[market.Binance], down.Round(100*time.Millisecond), gaps[market.OKX]+gaps[market.Binance],
		attempts[market.OKX]+attempts[market.Binance], missed[market.OKX], missed[market.Binance])
}

// Scenario 25: Binance bans the client's IP for two seconds (HTTP 418,
// Retry-After, code -1003) as a gap is to be filled: exactly one request
// meets the ban — nothing is sent until it ends — the REST budget counts
// it as a ban, and the gap is filled afterwards.
func TestRESTBannedDuringBackfill(t *testing.T) {
	s := newScenario(t, 25)
	if !haveGapRepair {
		s.skip(whyGapRepair)
	}
	const ex = market.Binance
	const ban = 2 * time.Second
	r := startRig(t, rigOpts{exchanges: []market.Exchange{ex}})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	missed := r.missTrades(20, ex)[ex]
	before := len(r.sim.RESTRequests(ex))
	r.sim.BanREST(ex, ban)
	banned := time.Now()
	r.sim.Stall(ex, false)
	end := time.Now()
	r.step(10)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	reqs := r.sim.RESTRequests(ex)[before:]
	n := 0
	for i, q := range reqs {
		if !q.Banned {
			continue
		}
		n++
		if i+1 < len(reqs) {
			if wait := reqs[i+1].At.Sub(q.At); reqs[i+1].At.Before(banned.Add(ban)) {
				t.Errorf("request %d (%s) came %v after a 418, before the ban's end", i+1, reqs[i+1].Path, wait)
			}
		}
	}
	if n != 1 {
		t.Errorf("%d requests met the ban, want 1: none may be sent until it ends", n)
	}
	if len(reqs) <= n {
		t.Errorf("%d REST requests: none after the ban", len(reqs))
	}
	if got := r.filledRows(ex); got != missed {
		t.Errorf("the backfill filled %d rows, want the %d trades missed while the exchange was silent", got, missed)
	}
	if st := r.filler.Stats(); st.Throttled[ex] != 1 {
		t.Errorf("the filler waited out %d rate-limit answers, want the 1 ban", st.Throttled[ex])
	}
	// The exchange's REST budget, as GET /api/status shows it
	// (components.backfill.rest), paused for the ban and counted it.
	rest, _ := r.svc.Components()["backfill"].(map[string]any)["rest"].(map[string]any)
	if b, _ := rest[string(ex)].(map[string]any); b == nil || b["banned"] != uint64(1) || b["throttled"] != uint64(1) {
		t.Errorf("REST budget of %s in the status: %v, want banned 1 and throttled 1", ex, b)
	}
	s.res.Note = fmt.Sprintf("1 of %d REST requests answered 418 (ban of %v); none until it ended; gaps filled (%d rows)", len(reqs), ban, missed)
}

// maxAttempts is the most attempts that fit in d when the delay before
// retry k is at least half of min·2^k, capped at max (jittered doubling
// backoff).
func maxAttempts(d, minDelay, maxDelay time.Duration) int64 {
	var n int64 = 1
	var sum time.Duration
	delay := minDelay
	for {
		sum += delay / 2
		if sum > d {
			return n
		}
		n++
		delay = min(2*delay, maxDelay)
	}
}

func TestMaxAttempts(t *testing.T) {
	// Delays of at least 20, 40, 80, 80 … ms: 20+40 = 60 fits, +80 does not.
	if got := maxAttempts(100*time.Millisecond, 40*time.Millisecond, 160*time.Millisecond); got != 3 {
		t.Errorf("maxAttempts = %d, want 3", got)
	}
}
