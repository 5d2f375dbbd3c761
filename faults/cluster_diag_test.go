package faults

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"marketetl/market"
)

// ownerChange is one change of a collector's owners in the instances
// table, as the sampler saw it.
type ownerChange struct {
	at       time.Time // wall clock
	exchange time.Time // the simulated exchange's clock at that moment
	name     string
	from, to []string
}

func (o ownerChange) String() string {
	show := func(ids []string) string {
		if len(ids) == 0 {
			return "(none)"
		}
		return strings.Join(ids, "+")
	}
	return fmt.Sprintf("%s (exchange %s) %s: %s -> %s", o.at.UTC().Format("15:04:05.000"),
		o.exchange.UTC().Format("15:04:05"), o.name, show(o.from), show(o.to))
}

// faultEvent is one step of the test (a signal sent, a wait passed), for
// the timeline printed when the truth is not reached.
type faultEvent struct {
	at, exchange time.Time
	what         string
}

// event notes a step of the test in the timeline.
func (c *clusterRig) event(what string) {
	ev := faultEvent{at: time.Now(), exchange: c.sim.Now(), what: what}
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
}

// noteOwners records the changes between the previous sample of the
// instances table and own (instance id to owned collectors).
func (c *clusterRig) noteOwners(own map[string][]string) {
	byName := map[string][]string{}
	for id, names := range own {
		for _, n := range names {
			byName[n] = append(byName[n], id)
		}
	}
	now, ex := time.Now(), c.sim.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastOwners == nil {
		c.lastOwners = map[string][]string{}
	}
	for _, n := range c.names {
		ids := byName[n]
		sort.Strings(ids)
		if prev, ok := c.lastOwners[n]; ok && slices.Equal(prev, ids) {
			continue
		}
		c.timeline = append(c.timeline, ownerChange{at: now, exchange: ex, name: n, from: c.lastOwners[n], to: ids})
		c.lastOwners[n] = ids
	}
}

// sampleOwners reads every instance's owned collectors from the
// instances table (whatever their heartbeat's age) for the timeline.
func (c *clusterRig) sampleOwners(ctx context.Context) error {
	rows, err := c.check.Query(ctx, `SELECT instance_id, owned FROM instances`)
	if err != nil {
		return err
	}
	defer rows.Close()
	own := map[string][]string{}
	for rows.Next() {
		var id string
		var owned []string
		if err := rows.Scan(&id, &owned); err != nil {
			return err
		}
		own[id] = owned
	}
	if err := rows.Err(); err != nil {
		return err
	}
	c.noteOwners(own)
	return nil
}

// waitTruthExplained waits like waitTruthWithin; when the database does
// not reach the truth within bound, it fails the test with, for every
// market that differs, what is missing and what is stored, the stream's
// gaps rows, the collector's owners over time and the instances' log
// lines about it; the instances' whole logs are written to a directory
// named in the failure.
func (c *clusterRig) waitTruthExplained(bound time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(bound)
	for {
		cnt := c.count()
		if cnt.stored == cnt.wantStored && cnt.duplicates == 0 {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for the database to equal the exchange's truth; last state: %s\n%s", cnt, c.explain())
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}

// explain describes every market whose stored trades or closed 1m
// candles differ from the exchange's, for a failure message.
func (c *clusterRig) explain() string {
	var b strings.Builder
	dir := c.keepLogs()
	fmt.Fprintf(&b, "instances' logs: %s\n", dir)
	c.mu.Lock()
	events := slices.Clone(c.events)
	timeline := slices.Clone(c.timeline)
	c.mu.Unlock()
	b.WriteString("test steps:\n")
	for _, ev := range events {
		fmt.Fprintf(&b, "  %s (exchange %s) %s\n", ev.at.UTC().Format("15:04:05.000"), ev.exchange.UTC().Format("15:04:05"), ev.what)
	}
	for _, ex := range c.opts.exchanges {
		for _, sym := range c.sim.Symbols(ex) {
			name := strings.ToLower(fmt.Sprintf("%s-%s", ex, sym))
			var parts []string
			if d := c.candleDiff(ex, sym); d != "" {
				parts = append(parts, d)
			}
			if d := c.tradeDiff(ex, sym); d != "" {
				parts = append(parts, d)
			}
			if len(parts) == 0 {
				continue
			}
			fmt.Fprintf(&b, "== %s %s (collector %s)\n", ex, sym, name)
			for _, p := range parts {
				b.WriteString(p)
			}
			b.WriteString("gaps rows (every status):\n")
			for _, g := range c.strings(`SELECT concat_ws(' ', id, data_type, timeframe, to_char(from_ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US'),
				to_char(to_ts AT TIME ZONE 'UTC', 'HH24:MI:SS.US'), after_trade_id, before_trade_id, reason, status, unfillable_reason,
				'attempts=' || attempts, 'rows=' || filled_rows, last_error, 'created=' || to_char(created_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'),
				'updated=' || to_char(updated_at AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'))
				FROM gaps WHERE exchange = $1 AND symbol = $2 ORDER BY id`, string(ex), string(sym)) {
				fmt.Fprintf(&b, "  %s\n", g)
			}
			b.WriteString("owners (instances table, sampled every 100 ms):\n")
			for _, o := range timeline {
				if o.name == name {
					fmt.Fprintf(&b, "  %s\n", o)
				}
			}
			b.WriteString("log lines:\n")
			for _, id := range slices.Sorted(maps.Keys(c.procs)) {
				for _, line := range strings.Split(c.procs[id].out.String(), "\n") {
					if strings.Contains(line, `"`+name+`"`) || strings.Contains(line, string(ex)+":") && strings.Contains(line, string(sym)) {
						fmt.Fprintf(&b, "  %s: %s\n", id, line)
					}
				}
			}
		}
	}
	return b.String()
}

// candleDiff lists the closed 1m candles of a market missing from the
// database, and those stored that the exchange did not publish; "" when
// they are equal.
func (c *clusterRig) candleDiff(ex market.Exchange, sym market.Symbol) string {
	var want []time.Time
	for _, cd := range c.sim.ClosedCandles(ex, sym, market.TF1m) {
		want = append(want, cd.Time.UTC())
	}
	got := c.times(`SELECT ts FROM candles WHERE exchange = $1 AND symbol = $2 AND timeframe = '1m' AND closed ORDER BY ts`, string(ex), string(sym))
	missing, extra := timeDiff(want, got)
	if len(missing) == 0 && len(extra) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "closed 1m candles: %d stored of %d published (exchange %s..%s)\n", len(got), len(want), fmtTime(first(want)), fmtTime(last(want)))
	fmt.Fprintf(&b, "  missing open times: %s\n", fmtTimes(missing))
	if len(extra) > 0 {
		fmt.Fprintf(&b, "  stored, not published: %s\n", fmtTimes(extra))
	}
	fmt.Fprintf(&b, "  stored open times: %s\n", fmtTimes(got))
	forming := c.times(`SELECT ts FROM candles WHERE exchange = $1 AND symbol = $2 AND timeframe = '1m' AND NOT closed ORDER BY ts`, string(ex), string(sym))
	fmt.Fprintf(&b, "  stored not closed: %s\n", fmtTimes(forming))
	return b.String()
}

// tradeDiff counts the trades of a market missing from the database;
// "" when none is.
func (c *clusterRig) tradeDiff(ex market.Exchange, sym market.Symbol) string {
	want := map[string]time.Time{}
	for _, tr := range c.sim.Trades(ex, sym) {
		want[tr.TradeID] = tr.Time
	}
	got := c.strings(`SELECT trade_id FROM trades WHERE exchange = $1 AND symbol = $2`, string(ex), string(sym))
	for _, id := range got {
		delete(want, id)
	}
	if len(want) == 0 && len(got) == len(c.sim.Trades(ex, sym)) {
		return ""
	}
	var times []time.Time
	for _, ts := range want {
		times = append(times, ts.UTC())
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return fmt.Sprintf("trades: %d stored of %d published; missing %d, at %s\n", len(got), len(c.sim.Trades(ex, sym)), len(want), fmtRuns(times, time.Second))
}

// keepLogs writes every instance's log to FAULTS_LOG_DIR, or else to a new
// directory that outlives the test, and returns the directory.
func (c *clusterRig) keepLogs() string {
	dir := os.Getenv("FAULTS_LOG_DIR")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "cluster-logs-"); err != nil {
			return "not written: " + err.Error()
		}
	}
	for id, p := range c.procs {
		if err := os.WriteFile(filepath.Join(dir, id+".log"), []byte(p.out.String()), 0o644); err != nil {
			return "not written: " + err.Error()
		}
	}
	return dir
}

// timeDiff returns the times of want not in got and of got not in want;
// both are sorted.
func timeDiff(want, got []time.Time) (missing, extra []time.Time) {
	in := func(xs []time.Time, x time.Time) bool {
		_, ok := slices.BinarySearchFunc(xs, x, func(a, b time.Time) int { return a.Compare(b) })
		return ok
	}
	for _, w := range want {
		if !in(got, w) {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if !in(want, g) {
			extra = append(extra, g)
		}
	}
	return missing, extra
}

func first(ts []time.Time) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	return ts[0]
}

func last(ts []time.Time) time.Time {
	if len(ts) == 0 {
		return time.Time{}
	}
	return ts[len(ts)-1]
}

func fmtTime(t time.Time) string { return t.UTC().Format("15:04:05") }

// fmtTimes lists times as runs of consecutive minutes.
func fmtTimes(ts []time.Time) string { return fmtRuns(ts, time.Minute) }

// fmtRuns lists sorted times as runs of times step apart.
func fmtRuns(ts []time.Time, step time.Duration) string {
	if len(ts) == 0 {
		return "none"
	}
	var runs []string
	start, prev := ts[0], ts[0]
	flush := func() {
		if start.Equal(prev) {
			runs = append(runs, fmtTime(start))
		} else {
			runs = append(runs, fmtTime(start)+".."+fmtTime(prev))
		}
	}
	for _, t := range ts[1:] {
		if t.Sub(prev) == step {
			prev = t
			continue
		}
		flush()
		start, prev = t, t
	}
	flush()
	return fmt.Sprintf("%d: %s", len(ts), strings.Join(runs, ", "))
}
