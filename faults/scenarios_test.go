package faults

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/validate"
)

// Scenario 1: the exchange resets the connections, five times, while it
// keeps trading; the trades pushed meanwhile are repaired from REST.
func TestResetMidStreamRepeatedly(t *testing.T) {
	s := newScenario(t, 1)
	if !haveGapRepair {
		s.skip(whyGapRepair)
	}
	exs := market.Exchanges()
	r := startRig(t, rigOpts{exchanges: exs})
	s.watch(r)
	r.warmUp()
	stop := r.stepper(5 * time.Millisecond)
	for range 5 {
		r.step(5)
		for _, ex := range exs {
			before := r.sim.Counts(ex).Connects
			n := r.sim.DropConnections(ex)
			if n == 0 {
				t.Fatalf("%s: no connection to drop", ex)
			}
			if err := r.sim.WaitConnects(r.ctx, ex, before+int64(n)); err != nil {
				t.Fatal(err)
			}
		}
		r.waitSubscribed()
	}
	stop()
	end := time.Now()
	r.afterFault()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	for ex, c := range r.cols {
		if st := c.Status(); st.Reconnects < 5 {
			t.Errorf("%s: %d reconnects after 5 resets", ex, st.Reconnects)
		}
	}
}

// Scenario 2: the connections stay open but the exchange pushes nothing
// (pongs and heartbeats still flow) while it trades on.
func TestSilentConnection(t *testing.T) {
	s := newScenario(t, 2)
	if !haveGapRepair {
		s.skip(whyGapRepair)
	}
	exs := market.Exchanges()
	r := startRig(t, rigOpts{exchanges: exs})
	s.watch(r)
	r.warmUp()
	for _, ex := range exs {
		r.sim.Stall(ex, true)
	}
	r.step(90) // more than a minute: at least one closed candle is never pushed
	for _, ex := range exs {
		r.sim.Stall(ex, false)
	}
	end := time.Now()
	r.afterFault()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
}

// Scenario 3: trade ids jump; the skipped ids never existed, so nothing
// may be invented and no gap may stay open. Each jump is recorded as one
// trade_id_jump gap bounded by the trades on either side of it (ids and
// times), which the backfill then finds empty.
func TestTradeIDJump(t *testing.T) {
	s := newScenario(t, 3)
	r := startRig(t, rigOpts{exchanges: market.Exchanges()})
	s.watch(r)
	r.step(30)
	r.waitTruth()
	at := map[string]int{} // exchange symbol -> index of the first trade after the jump
	for _, ex := range market.Exchanges() {
		for _, sym := range r.sim.Symbols(ex) {
			at[string(ex)+" "+string(sym)] = len(r.sim.Trades(ex, sym))
			if err := r.sim.JumpTradeID(ex, sym, 1000); err != nil {
				t.Fatal(err)
			}
		}
	}
	r.step(40)
	rec := r.waitTruth()
	s.finish(r, rec, 0)
	var want []string
	for _, ex := range market.Exchanges() {
		for _, sym := range r.sim.Symbols(ex) {
			trs := r.sim.Trades(ex, sym)
			i := at[string(ex)+" "+string(sym)]
			if i == 0 || i >= len(trs) {
				t.Fatalf("%s %s: no trade on both sides of the jump", ex, sym)
			}
			before, after := trs[i-1], trs[i]
			want = append(want, fmt.Sprintf("%s %s %s %s %s %s", ex, sym, before.TradeID, after.TradeID,
				before.Time.UTC().Format(time.RFC3339Nano), after.Time.UTC().Format(time.RFC3339Nano)))
		}
	}
	got := r.strings(`SELECT concat_ws(' ', exchange, symbol, after_trade_id, before_trade_id,
			to_char(from_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), to_char(to_ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'))
		FROM gaps WHERE reason = $1 AND data_type = 'trade' ORDER BY exchange, symbol`, string(market.GapTradeIDJump))
	for i, w := range want {
		f := strings.Fields(w)
		for j := 4; j < 6; j++ {
			ts, _ := time.Parse(time.RFC3339Nano, f[j])
			f[j] = ts.Format("2006-01-02T15:04:05.000000")
		}
		want[i] = strings.Join(f, " ")
	}
	sortStrings(want)
	diff(t, "trade_id_jump gaps (exchange symbol after before from to)", want, got)
	s.res.Note = itoa(len(got)) + " trade_id_jump gaps, bounded by the trades around each jump, found empty"
}

// Scenario 4: malformed frames and trades with invalid values among good
// ones: the invalid ones are refused and kept in rejects (reason and raw
// bytes), the good ones all stored.
func TestMalformedAndInvalidInterleaved(t *testing.T) {
	s := newScenario(t, 4)
	exs := market.Exchanges()
	r := startRig(t, rigOpts{exchanges: exs})
	s.watch(r)
	garbage := [][]byte{[]byte(`{not json`), []byte(`{"arg":{"channel":"trades","instId":"BTC-USDT"},"data":[{"px":"x"}]}`), []byte(`[1,2,3]`), {0xff, 0xfe}}
	var invalid []market.Trade
	sent := map[market.Exchange]map[string]int{} // frames sent, by exchange and raw text
	for i := range 6 {
		r.step(7)
		for _, ex := range exs {
			g := garbage[i%len(garbage)]
			if sent[ex] == nil {
				sent[ex] = map[string]int{}
			}
			sent[ex][string([]rune(string(g)))] += r.sim.SendRaw(ex, g)
			sym := r.sim.Symbols(ex)[i%2]
			tr, err := r.sim.InjectInvalidTrade(ex, sym)
			if err != nil {
				t.Fatal(err)
			}
			invalid = append(invalid, tr)
		}
	}
	r.step(70)
	rec := r.waitTruth()
	s.finish(r, rec, 0)
	if s.res.Rejected != len(invalid) {
		t.Errorf("the exchange recorded %d invalid trades, the test injected %d", s.res.Rejected, len(invalid))
	}
	// Every invalid trade is in rejects once, with the reason of its bad
	// value and its record as raw bytes.
	var want []string
	for _, tr := range invalid {
		reason := validate.NonPositiveSize
		if !tr.Price.IsPositive() {
			reason = validate.NonPositivePrice
		}
		want = append(want, fmt.Sprintf("%s %s trade %s %s", tr.Exchange, tr.Symbol, tr.TradeID, reason))
	}
	sortStrings(want)
	var got []string
	eventually(t, "every invalid trade in rejects", func() (bool, string) {
		got = r.strings(`SELECT concat_ws(' ', exchange, symbol, data_type, raw::jsonb->>'trade_id', reason) FROM rejects
			WHERE reason IN ($1, $2) AND raw_bytes = length(raw) AND raw IS NOT NULL ORDER BY 1`,
			string(validate.NonPositiveSize), string(validate.NonPositivePrice))
		return len(got) >= len(want), itoa(len(got)) + " of " + itoa(len(want))
	})
	diff(t, "validation rejects (exchange symbol type trade_id reason)", want, got)
	// Every malformed frame is in rejects once per connection it was sent
	// on, with its bytes as they came.
	var wantRaw, gotRaw []string
	for _, ex := range exs {
		for raw, n := range sent[ex] {
			wantRaw = append(wantRaw, fmt.Sprintf("%s %d %q", ex, n, raw))
		}
	}
	sortStrings(wantRaw)
	eventually(t, "every malformed frame in rejects", func() (bool, string) {
		gotRaw = r.strings(`SELECT format('%s %s "%s"', exchange, count(*), replace(raw, '"', '\"')) FROM rejects
			WHERE reason NOT IN ($1, $2) GROUP BY exchange, raw ORDER BY 1`,
			string(validate.NonPositiveSize), string(validate.NonPositivePrice))
		return len(gotRaw) >= len(wantRaw), strings.Join(gotRaw, "; ")
	})
	diff(t, "decode rejects (exchange count raw)", wantRaw, gotRaw)
	s.res.Note = itoa(len(got)) + " invalid trades and " + itoa(len(gotRaw)) + " kinds of malformed frame kept in rejects with reason and raw bytes"
}

// Scenario 5: a frame larger than the read limit: the connection is
// redialled, the frame is kept as an oversized_frame reject, nothing else
// is lost.
func TestOversizedFrame(t *testing.T) {
	s := newScenario(t, 5)
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Binance}, readLimit: 64 << 10})
	s.watch(r)
	r.step(40)
	r.waitTruth()
	for _, ex := range r.opts.exchanges {
		before := r.sim.Counts(ex).Connects
		n := r.sim.SendOversized(ex, 128<<10)
		if n == 0 {
			t.Fatalf("%s: no connection", ex)
		}
		if err := r.sim.WaitConnects(r.ctx, ex, before+int64(n)); err != nil {
			t.Fatal(err)
		}
	}
	r.waitSubscribed()
	end := time.Now()
	if !haveGapRepair {
		// Without gap repair, trades pushed while a connection redials
		// would be lost: the exchange trades again only once resubscribed.
		r.step(40)
	} else {
		stop := r.stepper(5 * time.Millisecond)
		r.step(40)
		stop()
	}
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	if got := r.pipe.Counts().Rejected[collector.ReasonOversizedFrame]; got < uint64(len(r.opts.exchanges)) {
		t.Errorf("%d oversized_frame rejects, want at least %d", got, len(r.opts.exchanges))
	}
}

// Scenario 6: PostgreSQL is unreachable when the service starts; the
// collectors run, the writer keeps the records and stores them once the
// database answers.
func TestPostgresDownAtStartup(t *testing.T) {
	s := newScenario(t, 6)
	r := startRig(t, rigOpts{exchanges: market.Exchanges(), pgDown: true})
	s.watch(r)
	r.step(80)
	eventually(t, "the writer to try the database", func() (bool, string) {
		return r.pg.Refused() >= 3, "refused " + itoa(int(r.pg.Refused()))
	})
	if n := r.queryInt(`SELECT count(*) FROM trades`); n != 0 {
		t.Fatalf("%d trades stored through a relay that is down", n)
	}
	r.pg.SetDown(false)
	end := time.Now()
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
}

// Scenario 7: the writer's backend is terminated (pg_terminate_backend)
// while it is in the middle of a COPY, three times.
func TestWriterKilledDuringCopy(t *testing.T) {
	s := newScenario(t, 7)
	type hit struct {
		backend int32
		release chan struct{}
	}
	hits := make(chan hit)
	var armed atomic.Bool
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Coinbase}})
	s.watch(r)
	r.pg.SetPGHook(func() dbtest.PGHook {
		return func(typ byte, _ []byte, backend int32) (bool, <-chan struct{}) {
			if typ != 'd' || !armed.CompareAndSwap(true, false) {
				return false, nil
			}
			h := hit{backend: backend, release: make(chan struct{})}
			select {
			case hits <- h:
				return false, h.release
			case <-t.Context().Done(): // the test failed before taking it
				return false, nil
			}
		}
	})
	r.pg.Cut() // the pool's connections now come through the hook
	var killed int
	var end time.Time
	for range 3 {
		armed.Store(true)
		r.step(25)
		var h hit
		select {
		case h = <-hits:
		case <-time.After(time.Minute):
			t.Fatal("no COPY reached the database")
		}
		// The backend whose COPY data the relay holds: once it has started
		// the COPY (the relay forwarded the statement a moment ago), it is
		// terminated mid-COPY.
		eventually(t, "the held backend to be in its COPY", func() (bool, string) {
			n := r.queryInt(`SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid = $2 AND query ILIKE 'copy%' AND state = 'active'`, r.dbName, h.backend)
			return n == 1, "backend " + itoa(int(h.backend)) + " not in COPY yet"
		})
		n := r.queryInt(`SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND pid = $2 AND query ILIKE 'copy%' AND state = 'active') k`, r.dbName, h.backend)
		close(h.release)
		end = time.Now()
		if n != 1 {
			t.Fatalf("terminated %d backends in COPY, want 1", n)
		}
		killed += n
	}
	r.step(30)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	s.res.Note = itoa(killed) + " backends terminated mid-COPY"
	var retries uint64
	for _, ts := range r.writer.Stats().Tables {
		retries += ts.Retries
	}
	if retries < 3 {
		t.Errorf("%d flush retries after 3 killed COPYs", retries)
	}
}

// Scenario 8: the connection is cut right after the client ends a COPY
// or sends COMMIT, so the server commits while the writer cannot know it
// did. Trades go to the database by an autocommit COPY straight into
// trades: the cut comes right after its CopyDone, four times; the writer
// retries each batch, finds its rows stored (unique_violation), merges it
// with ON CONFLICT and counts every row of it as skipped, none twice.
// Candles go through the staging merge, whose COMMIT is cut twice.
func TestCutAfterCommit(t *testing.T) {
	s := newScenario(t, 8)
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Binance}})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	skippedBefore := r.writer.Stats().Tables[store.TableTrades].Skipped
	const copyCuts, commitCuts = 4, 2
	var copyBudget, commitBudget, commits atomic.Int64
	rows := make(chan int, 1)
	cutCopy := copyCutter("trades", &copyBudget, rows)
	cutCommit := commitCutter(&commitBudget, &commits)
	r.pg.SetPGHook(func() dbtest.PGHook {
		a, b := cutCopy(), cutCommit()
		return func(typ byte, body []byte, backend int32) (bool, <-chan struct{}) {
			cutA, _ := a(typ, body, backend)
			cutB, _ := b(typ, body, backend)
			return cutA || cutB, nil
		}
	})
	r.pg.Cut() // the pool's connections now come through the hook
	cutsBefore := r.pg.Cuts()
	// One cut per batch: the next is armed once the batch cut before it
	// is stored, so each cut COPY carries rows no other COPY committed.
	cutRows := 0
	retriesBefore := r.writer.Stats().Tables[store.TableTrades].Retries
	for i := range copyCuts {
		copyBudget.Store(1)
		// After a conflict the writer merges its next batches (the
		// store's mergeAfterConflict): small batches, each stored before
		// the next, until one is copied straight into trades again.
		for cut := false; !cut; {
			r.step(2)
			select {
			case n := <-rows:
				if n <= 0 {
					t.Fatalf("cut COPY carried %d rows", n)
				}
				cutRows, cut = cutRows+n, true
			case <-r.ctx.Done():
				t.Fatal(r.ctx.Err())
			default:
			}
			r.waitTruth()
		}
		// The writer retries the cut batch; only then is the next cut
		// armed (else it could cut that retry).
		eventually(t, "the cut batch retried", func() (bool, string) {
			st := r.writer.Stats().Tables[store.TableTrades]
			return st.Retries >= retriesBefore+uint64(i+1) && st.Queued == 0, fmt.Sprintf("%+v", st)
		})
	}
	// The server committed the cut COPYs (most of them: a cut can also
	// meet a COPY that the server refused): their rows were found stored
	// by the retries, none was stored twice or refused.
	st := r.writer.Stats().Tables[store.TableTrades]
	skipped := st.Skipped - skippedBefore
	if skipped == 0 || skipped > uint64(cutRows) {
		t.Errorf("the writer skipped %d trades as already stored; want some and at most the %d rows of the cut COPYs", skipped, cutRows)
	}
	if st.Rejected != 0 {
		t.Errorf("%d trades refused by the database", st.Rejected)
	}
	if got := r.writer.Stats().Tables[store.TableTrades].Retries; got < copyCuts {
		t.Errorf("%d retries of trades batches after %d cut COPYs", got, copyCuts)
	}
	commitBudget.Store(commitCuts)
	for commits.Load() < commitCuts {
		r.step(70) // candles close at the minute: a merge and its COMMIT
		eventually(t, "the batch to be committed or cut", func() (bool, string) {
			c := r.count()
			return c.stored == c.wantStored || commits.Load() >= commitCuts, c.String()
		})
	}
	end := time.Now()
	r.step(20)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	s.res.Note = fmt.Sprintf("%d connections cut after a trades COPY of %d rows ended (%d found committed by the retry), %d after COMMIT", copyCuts, cutRows, skipped, commits.Load())
	if n := r.pg.Cuts() - cutsBefore; n != copyCuts+commitCuts {
		t.Errorf("%d cuts, want %d", n, copyCuts+commitCuts)
	}
}

// Scenario 9: PostgreSQL is down longer than the writer's memory holds:
// records spill to the spool and are replayed, in order, when it returns.
func TestPostgresDownBeyondMemory(t *testing.T) {
	s := newScenario(t, 9)
	if !haveSpool {
		s.skip(whySpool)
	}
	const queue = 100
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Coinbase},
		store: store.Config{QueueSize: queue, BatchSize: 50}, spoolBytes: 64 << 20})
	s.watch(r)
	r.step(10)
	r.waitTruth()
	r.pg.SetDown(true)
	r.step(300) // 1200 trades: twelve times what the trades queue holds
	eventually(t, "records to be spooled", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateSpooling && st.Spooled > 0, string(st.State)
	})
	if n := r.sim.Counts(market.OKX).Slow + r.sim.Counts(market.Coinbase).Slow; n != 0 {
		t.Errorf("%d slow connections dropped by the exchange while spooling", n)
	}
	r.pg.SetDown(false)
	end := time.Now()
	r.step(20)
	r.waitTruth()
	eventually(t, "the spool to be drained", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0, string(st.State) + " " + itoa(int(st.Bytes)) + " bytes"
	})
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	s.res.Note = itoa(int(st.Spooled)) + " records spooled and replayed, " + itoa(int(st.Dropped)) + " dropped"
	if st.Dropped != 0 || st.Corrupt != 0 {
		t.Errorf("spool dropped %d and skipped %d corrupt records", st.Dropped, st.Corrupt)
	}
	if st.Replayed < st.Spooled {
		t.Errorf("replayed %d of %d spooled records", st.Replayed, st.Spooled)
	}
}

// Scenario 10: the spool reaches its cap while the database is down: the
// records beyond it are dropped and recorded as gaps, which the backfill
// fills once the database returns.
func TestSpoolCapReached(t *testing.T) {
	s := newScenario(t, 10)
	if !haveSpool || !haveGapRepair {
		s.skip(whySpool + "; " + whyGapRepair)
	}
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.Binance, market.Coinbase},
		store: store.Config{QueueSize: 50, BatchSize: 25}, spoolBytes: 16 << 10})
	s.watch(r)
	r.step(10)
	r.waitTruth()
	r.pg.SetDown(true)
	r.step(400)
	eventually(t, "the spool to fill up and drop records", func() (bool, string) {
		st := r.buffer.Stats()
		return st.Dropped > 0, "dropped " + itoa(int(st.Dropped)) + " spooled " + itoa(int(st.Spooled))
	})
	r.pg.SetDown(false)
	end := time.Now()
	// A hole is reported once its stream's records are kept again, which
	// they are when the spool has room: the exchange trades on meanwhile.
	stop := r.stepper(20 * time.Millisecond)
	eventually(t, "the spool to replay and report its gaps", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Gaps > 0, fmt.Sprintf("%+v", st)
	})
	stop()
	r.step(5)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	s.res.Note = itoa(int(st.Dropped)) + " records dropped at the cap, in " + itoa(int(st.Gaps)) + " gaps, all backfilled"
	// Every hole the cap made is in a spool_full gap row, each filled. Two
	// holes of one stream whose windows overlap (a record kept between
	// them shares its time with their ends) are recorded as one row, so
	// there are at most as many rows as holes.
	if n := r.queryInt(`SELECT count(*) FROM gaps WHERE reason = $1 AND status = 'filled'`, string(market.GapSpoolFull)); n == 0 || uint64(n) > st.Gaps {
		t.Errorf("%d filled spool_full gaps, the spool reported %d holes", n, st.Gaps)
	}
	if n := r.queryInt(`SELECT count(*) FROM gaps WHERE reason = $1 AND status <> 'filled'`, string(market.GapSpoolFull)); n != 0 {
		t.Errorf("%d spool_full gaps not filled", n)
	}
}

// Scenario 11: every packet to and from PostgreSQL is delayed, so that the
// database is slower than the feed: the writer's queues fill up, and once
// a record has waited SPOOL_AFTER for room the records go to the disk
// spool instead of piling up in memory. The collectors keep reading and
// answering the exchange's pings (none is dropped), no table's queue ever
// holds more than its capacity, and every record reaches the database
// exactly once once the database is fast again.
func TestSlowDatabase(t *testing.T) {
	s := newScenario(t, 11)
	if !haveSpool {
		s.skip(whySpool)
	}
	const queue = 200
	r := startRig(t, rigOpts{
		exchanges:  []market.Exchange{market.OKX, market.Binance},
		store:      store.Config{QueueSize: queue, BatchSize: 50},
		spoolBytes: 64 << 20,
		sim: func(c *sim.Config) {
			c.BinancePingInterval = 500 * time.Millisecond
			c.BinancePongTimeout = time.Second
		},
	})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	r.pg.SetLatency(30 * time.Millisecond)
	stop := r.stepper(2 * time.Millisecond)
	maxQueued := 0
	eventually(t, "the slow database to send records to the spool", func() (bool, string) {
		r.step(100) // a burst the slow database cannot keep up with
		ws := r.writer.Stats()
		for _, ts := range ws.Tables {
			maxQueued = max(maxQueued, ts.Queued)
		}
		st := r.buffer.Stats()
		return st.Spooled > 0 && st.Bytes > 0, fmt.Sprintf("spool %+v; writer queue %d", st, ws.QueueDepth)
	})
	stop()
	r.pg.SetLatency(0)
	end := time.Now()
	r.waitTruth()
	eventually(t, "the spool to be drained", func() (bool, string) {
		st := r.buffer.Stats()
		return st.State == spool.StateMemory && st.Bytes == 0, fmt.Sprintf("%+v", st)
	})
	s.finish(r, time.Since(end), 0)
	st := r.buffer.Stats()
	s.res.Note = fmt.Sprintf("%d records spooled and replayed; fullest table queue %d of %d", st.Spooled, maxQueued, queue)
	if maxQueued > queue {
		t.Errorf("a table's queue held %d records, capacity %d", maxQueued, queue)
	}
	if st.Dropped != 0 || st.Corrupt != 0 || st.Replayed != st.Spooled {
		t.Errorf("spool: %d spooled, %d replayed, %d dropped, %d corrupt", st.Spooled, st.Replayed, st.Dropped, st.Corrupt)
	}
	for ex, c := range r.cols {
		if st := c.Status(); st.Reconnects != 0 {
			t.Errorf("%s: %d reconnects while the database was slow (last error %q)", ex, st.Reconnects, st.LastError)
		}
	}
	if n := r.sim.Counts(market.Binance).Slow; n != 0 {
		t.Errorf("the exchange dropped %d slow connections", n)
	}
}

// Scenario 12: Redis goes down mid-stream: the database is unaffected,
// the live feed counts what it dropped.
func TestRedisDown(t *testing.T) {
	s := newScenario(t, 12)
	r := startRig(t, rigOpts{exchanges: []market.Exchange{market.OKX, market.Coinbase}})
	s.watch(r)
	r.step(20)
	eventually(t, "the live feed to publish", func() (bool, string) {
		return r.pub.Status().Published > 0, "nothing published yet"
	})
	r.redis.SetDown(true)
	r.step(60)
	r.waitTruth()
	r.redis.SetDown(false)
	end := time.Now()
	r.step(20)
	r.waitTruth()
	s.finish(r, time.Since(end), 0)
	eventually(t, "every accepted record published or counted as dropped", func() (bool, string) {
		st := r.pub.Status()
		acc := r.pipe.Counts().Accepted
		var dropped uint64
		for _, n := range st.Dropped {
			dropped += n
		}
		return st.Published+dropped == acc && st.Pending == 0, "accepted " + itoa(int(acc)) + " published " + itoa(int(st.Published)) + " dropped " + itoa(int(dropped))
	})
	st := r.pub.Status()
	var dropped uint64
	for _, n := range st.Dropped {
		dropped += n
	}
	if dropped == 0 {
		t.Error("nothing dropped while Redis was down")
	}
	s.res.Note = itoa(int(dropped)) + " live messages dropped, 0 rows"
}

// Scenario 16: the exchange stops pushing for a while and no longer
// serves the older part of what it traded meanwhile: the rest is
// backfilled, and the part it cannot serve stays recorded as an
// unfillable gap with its reason.
func TestHistoryUnavailableForPartOfGap(t *testing.T) {
	s := newScenario(t, 16)
	if !haveHistoryHorizon || !haveGapRepair {
		s.skip(whyHorizon)
	}
	const ex = market.Binance
	r := startRig(t, rigOpts{exchanges: []market.Exchange{ex}})
	s.watch(r)
	r.step(5)
	r.waitTruth()
	before := r.sim.Now()
	r.sim.Stall(ex, true)
	r.step(20)
	horizon := r.sim.Now()
	r.step(20) // no minute closes in the stall: candles are not involved
	r.sim.SetHistoryHorizon(ex, horizon)
	r.sim.Stall(ex, false)
	end := time.Now()
	r.step(10)
	syms := r.sim.Symbols(ex)
	lost := 0
	for _, sym := range syms {
		for _, tr := range r.sim.Trades(ex, sym) {
			if tr.Time.After(before) && tr.Time.Before(horizon) {
				lost++
			}
		}
	}
	if lost == 0 {
		t.Fatal("no trade is older than the horizon")
	}
	var c counts
	eventually(t, "the database to hold what the exchange still serves", func() (bool, string) {
		c = r.count()
		settled := r.queryInt(`SELECT count(*) FROM gaps WHERE status IN ('open', 'filling')`) == 0
		return settled && c.stored == c.wantStored-lost, c.String() + "; gaps: " + strings.Join(r.gapRows(), "; ")
	})
	rec := time.Since(end)
	s.res.Published, s.res.Rejected, s.res.Stored, s.res.Duplicates = c.published, c.rejected, c.stored, c.duplicates
	s.res.Recovery, s.res.GapsExpected, s.res.GapsOpen = rec, len(syms), r.gapsOpen()
	s.res.Note = itoa(lost) + " trades older than the history horizon: recorded unfillable (history_unavailable)"
	if c.duplicates != 0 {
		t.Errorf("%d duplicated keys", c.duplicates)
	}
	unfillable := r.strings(`SELECT symbol || ' ' || data_type || ' ' || coalesce(unfillable_reason, '') FROM gaps WHERE status <> 'filled' ORDER BY symbol`)
	var want []string
	for _, sym := range syms {
		want = append(want, string(sym)+" trade history_unavailable")
	}
	diff(t, "gaps not filled", want, unfillable)
}

func itoa(n int) string { return strconv.Itoa(n) }

func sortStrings(xs []string) { sort.Strings(xs) }
