package faults

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

// TestSoak streams from the simulated exchange for -soak (all three
// exchanges, trades and 1m candles), injecting a random fault every few
// seconds, then lets the service settle and asserts database = truth.
// Skipped unless -soak is given (make soak).
func TestSoak(t *testing.T) {
	if *soakFlag <= 0 {
		t.Skip("soak run: give -soak <duration> (make soak)")
	}
	r := startRig(t, rigOpts{exchanges: market.Exchanges()})
	type fault struct {
		name string
		do   func(rng *rand.Rand)
	}
	pick := func(rng *rand.Rand, xs []market.Exchange) market.Exchange { return xs[rng.IntN(len(xs))] }
	faults := []fault{
		{"trade-id jump", func(rng *rand.Rand) {
			ex := pick(rng, market.Exchanges())
			syms := r.sim.Symbols(ex)
			if err := r.sim.JumpTradeID(ex, syms[rng.IntN(len(syms))], int64(1+rng.IntN(500))); err != nil {
				t.Error(err)
			}
		}},
		{"invalid trade", func(rng *rand.Rand) {
			ex := pick(rng, market.Exchanges())
			syms := r.sim.Symbols(ex)
			if _, err := r.sim.InjectInvalidTrade(ex, syms[rng.IntN(len(syms))]); err != nil {
				t.Error(err)
			}
		}},
		{"PostgreSQL connections cut", func(*rand.Rand) { r.pg.Cut() }},
		{"PostgreSQL down 2s", func(*rand.Rand) {
			r.pg.SetDown(true)
			time.Sleep(2 * time.Second) // the fault's duration
			r.pg.SetDown(false)
		}},
		{"Redis connections cut", func(*rand.Rand) { r.redis.Cut() }},
		{"Redis down 2s", func(*rand.Rand) {
			r.redis.SetDown(true)
			time.Sleep(2 * time.Second) // the fault's duration
			r.redis.SetDown(false)
		}},
		{"writer's backends terminated", func(*rand.Rand) {
			r.queryInt(`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
				WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = 'marketetl'`, r.dbName)
		}},
		{"slow database 2s", func(*rand.Rand) {
			r.pg.SetLatency(10 * time.Millisecond)
			time.Sleep(2 * time.Second) // the fault's duration
			r.pg.SetLatency(0)
		}},
	}
	if haveGapRepair {
		faults = append(faults,
			fault{"exchange connections dropped", func(rng *rand.Rand) { r.sim.DropConnections(pick(rng, market.Exchanges())) }},
			fault{"exchange silent 2s", func(rng *rand.Rand) {
				ex := pick(rng, market.Exchanges())
				r.sim.Stall(ex, true)
				time.Sleep(2 * time.Second) // the fault's duration
				r.sim.Stall(ex, false)
			}},
		)
	}
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 6))
	injected := map[string]int{}
	// 20 ticks a second: exchange time runs 20 times faster than the wall
	// clock, so that a soak of minutes closes hundreds of candles, yet a
	// fault of a few seconds never spans a whole minute of trades.
	stop := r.stepper(50 * time.Millisecond)
	deadline := time.Now().Add(*soakFlag)
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(1000+rng.IntN(3000)) * time.Millisecond) // every few seconds
		f := faults[rng.IntN(len(faults))]
		f.do(rng)
		injected[f.name]++
	}
	// Settling: the exchange trades on without faults for a few seconds
	// (a hole is noticed by the record after it), then closes one more
	// minute.
	time.Sleep(5 * time.Second) // trading on, fault-free
	stop()
	end := time.Now()
	r.afterFault()
	_, settled := r.settle()
	rec := time.Since(end)
	c := r.count()
	res := Result{Number: 0, Scenario: "soak", Published: c.published, Stored: c.stored, Rejected: c.rejected,
		Duplicates: c.duplicates, Recovery: rec}
	g := r.gapsOpen()
	res.GapsOpen = g
	if settled {
		r.verify()
	}
	var kinds []string
	for k, n := range injected {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	res.Note = fmt.Sprintf("%s, seed %d, faults: %s", soakFlag.String(), seed, strings.Join(kinds, ", "))
	if !settled {
		res.Note += fmt.Sprintf("; NOT settled: %s", c)
	}
	if g > 0 {
		res.Note += "; gaps not filled: " + strings.Join(r.gapRows(), "; ")
	}
	if !settled || c.stored != c.published-c.rejected || c.duplicates != 0 || g > 0 {
		t.Errorf("after the soak: %+v (%s)", res, c)
		res.Outcome = "fail"
	} else {
		res.Outcome = "pass"
	}
	if t.Failed() {
		res.Outcome = "fail"
	}
	results.add(res)
}

// renderSoak renders the soak result for the reliability document.
func renderSoak(r Result, generated time.Time, prov Provenance) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Soak run of %s on %s: **%s**.\n\n", generated.UTC().Format(time.RFC3339), prov, r.Outcome)
	b.WriteString("| published | stored | rejected | duplicates | gaps open | settled after |\n|---|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d | %d | %d | %d | %d | %s |\n\n", r.Published, r.Stored, r.Rejected, r.Duplicates, r.GapsOpen, recovery(r.Recovery))
	fmt.Fprintf(&b, "Run: %s.\n", r.Note)
	return b.String()
}
