package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"marketetl/config"
	"marketetl/market"
	"marketetl/supervisor"
)

// Scenario 15: one exchange refuses every connection, under the
// supervisor as `etl run` builds it. Each run of its collector dials once
// and redials MAX_RECONNECT_ATTEMPTS times, then hands the failure to the
// supervisor, which restarts it after RECONNECT_DELAY, doubled per
// consecutive failure and capped by RECONNECT_DELAY_MAX (±20 % jitter);
// after MAX_RECONNECT_ATTEMPTS failed restarts it is marked failed and
// tried again every FAILED_RETRY_INTERVAL. The other collectors are not
// restarted and lose nothing; once the exchange accepts again, the next
// retry subscribes and its trades are stored.
func TestCollectorFailsEveryConnect(t *testing.T) {
	s := newScenario(t, 15)
	const (
		bad      = market.Binance
		name     = "faults-binance"
		attempts = 3 // MAX_RECONNECT_ATTEMPTS
		delay    = 50 * time.Millisecond
		delayMax = 150 * time.Millisecond
		retry    = time.Second // FAILED_RETRY_INTERVAL
		// perRun is the refused connections of one run: its first dial
		// and MAX_RECONNECT_ATTEMPTS redials (one connection carries all
		// of a Binance collector's streams).
		perRun = attempts + 1
	)
	good := []market.Exchange{market.OKX, market.Coinbase}
	core, logs := observer.New(zap.InfoLevel)
	r := startRig(t, rigOpts{
		exchanges:  []market.Exchange{market.OKX, market.Binance, market.Coinbase},
		supervised: true,
		rejecting:  []market.Exchange{bad},
		logTee:     core,
		configure: func(c *config.Config) {
			c.ReconnectDelay, c.ReconnectDelayMax = delay, delayMax
			c.MaxReconnectAttempts, c.FailedRetryInterval = attempts, retry
			c.HealthCheckInterval = 100 * time.Millisecond
		},
	})
	s.watch(r)
	r.step(80)
	status := func() supervisor.CollectorReport {
		rep, err := r.manager.Status(name)
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}

	// The first run and MAX_RECONNECT_ATTEMPTS restarts, all refused:
	// failed.
	eventually(t, name+" failed", func() (bool, string) {
		rep := status()
		return rep.Status == supervisor.StateFailed, fmt.Sprintf("%s, %d restarts, %d refused", rep.Status, rep.Statistics.Restarts, r.sim.Counts(bad).Rejected)
	})
	rep := status()
	if got, want := r.sim.Counts(bad).Rejected, int64((attempts+1)*perRun); got != want {
		t.Errorf("%d connections refused when %s failed, want %d (%d runs of %d dials)", got, name, want, attempts+1, perRun)
	}
	if rep.Statistics.Restarts != attempts || rep.Statistics.RestartsByTrigger[string(supervisor.TriggerExited)] != attempts {
		t.Errorf("%s failed after %d restarts (%v), want %d after exits", name, rep.Statistics.Restarts, rep.Statistics.RestartsByTrigger, attempts)
	}
	// The delays the supervisor chose, as it logged them: doubling from
	// RECONNECT_DELAY, capped by RECONNECT_DELAY_MAX, ±20 % jitter.
	restarts := ofCollector(logs, "collector failed; restarting after backoff", name)
	if len(restarts) != attempts {
		t.Errorf("%d restarts after backoff logged for %s, want %d", len(restarts), name, attempts)
	}
	var got []string
	base := delay
	for k, e := range restarts {
		f := e.ContextMap()
		d, _ := f["delay"].(time.Duration)
		lo, hi := min(base*8/10, delayMax), min(base*12/10, delayMax)
		if f["attempt"] != int64(k+1) || d < lo || d > hi {
			t.Errorf("restart %d of %s: attempt %v after %v; want attempt %d after %v to %v", k+1, name, f["attempt"], d, k+1, lo, hi)
		}
		got = append(got, d.Round(time.Millisecond).String())
		base = min(2*base, delayMax)
	}
	failedLog := ofCollector(logs, "collector failed; retrying on the long interval", name)
	if len(failedLog) != 1 {
		t.Fatalf("%d 'failed' log entries for %s, want 1", len(failedLog), name)
	}
	if f := failedLog[0].ContextMap(); f["attempt"] != int64(attempts+1) || f["retry_in"] != retry {
		t.Errorf("failed at attempt %v retrying in %v, want attempt %d retrying in %v", f["attempt"], f["retry_in"], attempts+1, retry)
	}

	// FAILED_RETRY_INTERVAL later, one more run, refused: failed again.
	eventually(t, name+" retried once and failed again", func() (bool, string) {
		rep := status()
		n := r.sim.Counts(bad).Rejected
		return rep.Status == supervisor.StateFailed && rep.Statistics.RestartsByTrigger[string(supervisor.TriggerFailedRetry)] == 1 &&
			n == int64((attempts+2)*perRun), fmt.Sprintf("%s, %v, %d refused", rep.Status, rep.Statistics.RestartsByTrigger, n)
	})

	// The other collectors were never restarted and lost nothing.
	for _, ex := range good {
		if rep, err := r.manager.Status("faults-" + string(ex)); err != nil || rep.Statistics.Restarts != 0 || rep.Status != supervisor.StateRunning {
			t.Errorf("faults-%s: %s with %d restarts (%v)", ex, rep.Status, rep.Statistics.Restarts, err)
		}
	}
	rec := r.waitTruth(good...)
	if n := r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1`, string(bad)); n != 0 {
		t.Errorf("%d %s trades stored while it refused every connect", n, bad)
	}
	s.finish(r, rec, 0, good...)

	// The exchange accepts again: the next retry subscribes, and its
	// trades from then on are stored.
	r.sim.RejectConnections(bad, false)
	r.waitSubscribed(bad)
	from := map[market.Symbol]int{}
	for _, sym := range r.sim.Symbols(bad) {
		from[sym] = len(r.sim.Trades(bad, sym))
	}
	r.step(30)
	eventually(t, string(bad)+" trades stored once it accepts", func() (bool, string) {
		ok, state := true, ""
		for _, sym := range r.sim.Symbols(bad) {
			want := r.sim.Trades(bad, sym)[from[sym]:]
			n := r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1 AND symbol = $2 AND trade_id::numeric >= $3::numeric`,
				string(bad), string(sym), want[0].TradeID)
			ok = ok && n == len(want)
			state += string(sym) + " " + itoa(n) + "/" + itoa(len(want)) + " "
		}
		return ok, state
	})
	if rep := status(); rep.Status != supervisor.StateRunning || rep.Statistics.RestartsByTrigger[string(supervisor.TriggerFailedRetry)] != 2 {
		t.Errorf("%s after the exchange accepted: %s, restarts %v; want running after the second failed_retry", name, rep.Status, rep.Statistics.RestartsByTrigger)
	}

	// The status history in the database tells the same story: the
	// collector failed with MAX_RECONNECT_ATTEMPTS restarts, was retried
	// once, failed again, and runs after the second retry; the others
	// ran throughout without a restart.
	eventually(t, "the history of "+name+" running after its second retry", func() (bool, string) {
		n := r.queryInt(`SELECT count(*) FROM collector_status WHERE collector = $1 AND status = 'running' AND restarts = $2`, name, attempts+2)
		return n > 0, "no row yet"
	})
	hist := r.strings(`SELECT status || ' ' || restarts FROM collector_status WHERE collector = $1 ORDER BY ts`, name)
	if msg := checkFailedHistory(hist, attempts); msg != "" {
		t.Errorf("%s history: %s\n%s", name, msg, strings.Join(hist, ", "))
	}
	for _, ex := range good {
		if bad := r.queryInt(`SELECT count(*) FROM collector_status WHERE collector = $1 AND (status <> 'running' OR restarts <> 0)`, "faults-"+string(ex)); bad != 0 {
			t.Errorf("faults-%s: %d history rows not running or with restarts", ex, bad)
		}
	}
	s.res.Note = fmt.Sprintf("%d refused connects in %d runs of %d dials; failed after %d restarts (delays %s), retried after %v, stored once it accepted; the others never restarted",
		(attempts+2)*perRun, attempts+2, perRun, attempts, strings.Join(got, ", "), retry)
}

// ofCollector returns the log entries with message msg of the collector
// name.
func ofCollector(logs *observer.ObservedLogs, msg, name string) []observer.LoggedEntry {
	var out []observer.LoggedEntry
	for _, e := range logs.FilterMessage(msg).All() {
		if e.ContextMap()["collector"] == name {
			out = append(out, e)
		}
	}
	return out
}

// checkFailedHistory checks the history rows ("status restarts", oldest
// first) of a collector that failed after attempts restarts, was retried
// once in vain and then ran: the restart count never goes down; it is
// below attempts while restarting; the first failed row has exactly
// attempts; the later failed rows attempts+1; the last row is running
// with attempts+2. It returns what does not hold ("" when all does).
func checkFailedHistory(rows []string, attempts int) string {
	prev, firstFailed := -1, true
	for i, row := range rows {
		var st string
		var n int
		if _, err := fmt.Sscanf(row, "%s %d", &st, &n); err != nil {
			return fmt.Sprintf("row %d %q: %v", i, row, err)
		}
		switch {
		case n < prev:
			return fmt.Sprintf("row %d: restarts went down from %d to %d", i, prev, n)
		case st == string(supervisor.StateRestarting) && n >= attempts:
			return fmt.Sprintf("row %d: restarting after %d restarts, beyond MAX_RECONNECT_ATTEMPTS %d", i, n, attempts)
		case st == string(supervisor.StateFailed) && firstFailed && n != attempts:
			return fmt.Sprintf("row %d: failed after %d restarts, want %d", i, n, attempts)
		case st == string(supervisor.StateFailed) && !firstFailed && n != attempts && n != attempts+1:
			return fmt.Sprintf("row %d: failed after %d restarts, want %d or %d", i, n, attempts, attempts+1)
		}
		if st == string(supervisor.StateFailed) {
			firstFailed = false
		}
		prev = n
	}
	if firstFailed {
		return "no failed row"
	}
	if last := rows[len(rows)-1]; last != fmt.Sprintf("%s %d", supervisor.StateRunning, attempts+2) {
		return fmt.Sprintf("last row %q, want running after %d restarts", last, attempts+2)
	}
	return ""
}
