package collector_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/coinbase"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/store"
)

// storeSink hands records to a store Writer, as the pipeline does after
// validation; with seen set, it also keeps every candle handed on.
type storeSink struct {
	w    *store.Writer
	seen *candleLog
}

func (s storeSink) Accept(ctx context.Context, rec market.Record) error {
	if c, ok := rec.(*market.Candle); ok && s.seen != nil {
		s.seen.add(c)
	}
	return s.w.Write(ctx, rec)
}

func (s storeSink) Reject(ctx context.Context, r market.Reject) error { return s.w.Reject(ctx, r) }

// candleLog keeps candles handed on (what the pipeline would publish).
type candleLog struct {
	mu      sync.Mutex
	candles []market.Candle
}

func (l *candleLog) add(c *market.Candle) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.candles = append(l.candles, *c)
}

func (l *candleLog) of(open time.Time) []market.Candle {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []market.Candle
	for _, c := range l.candles {
		if c.Time.Equal(open) {
			out = append(out, c)
		}
	}
	return out
}

// storeRig is a migrated database with a running store Writer.
type storeRig struct {
	pool *pgxpool.Pool
	w    *store.Writer
}

func newStoreRig(t *testing.T, log *zap.Logger) *storeRig {
	t.Helper()
	url := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), url, log); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	w, err := store.New(store.Config{BatchSize: 100, FlushInterval: 10 * time.Millisecond}, pool, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("writer: %v", err)
		}
	})
	return &storeRig{pool: pool, w: w}
}

// eventually polls cond until it holds or 30s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// storedCandle is a row of candles, rendered for comparison.
func storedCandle(t *testing.T, pool *pgxpool.Pool, st market.Stream, open time.Time) string {
	t.Helper()
	var o, h, l, c, v decimal.Decimal
	var closed, provisional bool
	err := pool.QueryRow(t.Context(), `SELECT open, high, low, close, volume, closed, provisional FROM candles
		WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts = $4`,
		string(st.Exchange), string(st.Symbol), string(st.Timeframe), open).Scan(&o, &h, &l, &c, &v, &closed, &provisional)
	if err != nil {
		return "none: " + err.Error()
	}
	return fmt.Sprintf("o=%s h=%s l=%s c=%s v=%s closed=%t provisional=%t", o, h, l, c, v, closed, provisional)
}

func checksLeft(t *testing.T, pool *pgxpool.Pool) (n int, attempts int) {
	t.Helper()
	if err := pool.QueryRow(t.Context(), `SELECT count(*), coalesce(sum(attempts), 0) FROM candle_checks WHERE status = 'pending'`).Scan(&n, &attempts); err != nil {
		t.Fatal(err)
	}
	return n, attempts
}

// restHistory serves one candle over "REST", or fails while down is set.
type restHistory struct {
	mu     sync.Mutex
	down   bool
	candle market.Candle
	calls  int
}

func (h *restHistory) Candles(_ context.Context, _ market.Symbol, _ market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	if h.down {
		return nil, errors.New("REST down")
	}
	if h.candle.Time.Before(from) || !h.candle.Time.Before(to) {
		return nil, nil
	}
	return []market.Candle{h.candle}, nil
}

func (h *restHistory) Trades(context.Context, market.Symbol, int64, int) ([]market.Trade, error) {
	return nil, nil
}

func (h *restHistory) requests() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls
}

// runCollector runs col until the returned stop is called.
func runCollector(t *testing.T, col *collector.Collector) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- col.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector: %v", err)
		}
	}
}

// TestProvisionalCandleCorrectedAfterRestart: a provisional candle stored
// by a previous run has its check in the database; a collector whose REST
// requests fail is stopped (as by a kill or a supervisor restart) after
// one attempt; a new collector resumes the check and the stored candle
// becomes the exchange's, closed, with the check finished.
func TestProvisionalCandleCorrectedAfterRestart(t *testing.T) {
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	rig := newStoreRig(t, log)
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	open := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	d := decimal.RequireFromString
	ours := &market.Candle{Meta: market.Meta{Exchange: cs.Exchange, Symbol: cs.Symbol, Time: open, Received: open.Add(time.Minute)},
		Timeframe: cs.Timeframe, Open: d("10"), High: d("11"), Low: d("10"), Close: d("11"), Volume: d("2"), Trades: 2, Provisional: true}
	if err := rig.w.Write(t.Context(), ours); err != nil {
		t.Fatal(err)
	}
	if err := rig.w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n, _ := checksLeft(t, rig.pool); n != 1 {
		t.Fatalf("%d pending checks after storing a provisional candle, want 1", n)
	}
	theirs := market.Candle{Meta: market.Meta{Time: open}, Open: d("9.5"), High: d("11.25"), Low: d("9"), Close: d("11"), Volume: d("3.75"), Trades: -1, Closed: true}
	hist := &restHistory{down: true, candle: theirs}
	newCollector := func() *collector.Collector {
		col, err := collector.New(collector.Config{Name: "cb", Streams: []market.Stream{cs}, Log: log, History: hist,
			Checks: store.NewCandleChecks(rig.pool), Sync: rig.w.Sync, Rand: func() float64 { return 0 },
			BackoffMin: time.Hour}, &nowhere{}, storeSink{w: rig.w})
		if err != nil {
			t.Fatal(err)
		}
		return col
	}

	stop := runCollector(t, newCollector())
	eventually(t, "a failed attempt recorded", func() bool { _, a := checksLeft(t, rig.pool); return a == 1 })
	stop()
	if got := storedCandle(t, rig.pool, cs, open); got != "o=10 h=11 l=10 c=11 v=2 closed=false provisional=true" {
		t.Fatalf("after the failed run: %s", got)
	}

	hist.mu.Lock()
	hist.down = false
	hist.mu.Unlock()
	stop = runCollector(t, newCollector())
	defer stop()
	want := "o=9.5 h=11.25 l=9 c=11 v=3.75 closed=true provisional=false"
	eventually(t, "the exchange's candle stored and the check finished", func() bool {
		n, _ := checksLeft(t, rig.pool)
		return n == 0 && storedCandle(t, rig.pool, cs, open) == want
	})
	if n := hist.requests(); n != 2 {
		t.Errorf("%d REST requests, want 2 (one failed, one answered)", n)
	}
}

// nowhere is a Protocol whose connections never succeed: the tests above
// exercise reconciliation only.
type nowhere struct{ collector.Protocol }

func (*nowhere) Exchange() market.Exchange { return market.Coinbase }

func (*nowhere) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	return []collector.ConnPlan{{Key: "none", URL: "ws://127.0.0.1:1/", Streams: streams}}, nil
}

func (*nowhere) KeepAlive() collector.KeepAlive { return collector.KeepAlive{} }

// TestCoinbaseReconnectMidMinuteEndsAsTheExchangesCandles runs the
// Coinbase adapter against the simulated exchange with the real store: the
// connection drops in the middle of a minute while trades are published, so
// that minute's candle is built from part of its trades. It is stored as
// provisional, never as closed, and after reconciliation every stored 1m
// candle equals the simulator's, value for value, with no check left.
func TestCoinbaseReconnectMidMinuteEndsAsTheExchangesCandles(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	rig := newStoreRig(t, log)
	start := time.Date(2025, 3, 1, 11, 59, 30, 0, time.UTC)
	s, ep := listenSim(t, ctx, sim.Config{Seed: 11, Start: start}, log)
	proto, err := coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
	if err != nil {
		t.Fatal(err)
	}
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	trades := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeTrade}
	handed := &candleLog{}
	col, err := collector.New(collector.Config{Name: "cb", Streams: []market.Stream{cs}, Log: log, History: proto,
		ReconcileAfter: 50 * time.Millisecond, Checks: store.NewCandleChecks(rig.pool), Sync: rig.w.Sync,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, storeSink{w: rig.w, seen: handed})
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	step := func(n int) {
		t.Helper()
		if err := s.Step(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitSubscribed(ctx, trades); err != nil {
		t.Fatal(err)
	}
	step(40) // trades at 11:59:31 .. 12:00:10
	minute := start.Add(30 * time.Second)
	// Wait for the 12:00 candle to be forming in the database: the
	// collector has read the trades up to it.
	eventually(t, "the 12:00 candle forming", func() bool {
		return storedCandle(t, rig.pool, cs, minute) != "" && storedCandle(t, rig.pool, cs, minute)[:4] != "none"
	})
	s.Stall(market.Coinbase, true)
	step(10) // 12:00:11 .. 12:00:20: published, never pushed
	if n := s.DropConnections(market.Coinbase); n != 1 {
		t.Fatalf("dropped %d connections, want 1", n)
	}
	if err := s.WaitConnects(ctx, market.Coinbase, 2); err != nil {
		t.Fatal(err)
	}
	if err := s.WaitSubscribed(ctx, trades); err != nil {
		t.Fatal(err)
	}
	s.Stall(market.Coinbase, false)
	step(101) // 12:00:21 .. 12:02:01: closes 12:00 (provisional) and 12:01 (closed)

	// What the exchange has: the candles of all its trades.
	want := map[time.Time]string{}
	type agg struct {
		o, h, l, c, v decimal.Decimal
		n             int
	}
	buckets := map[time.Time]*agg{}
	for _, tr := range s.Trades(market.Coinbase, "BTC-USD") {
		b := tr.Time.Truncate(time.Minute)
		a := buckets[b]
		if a == nil {
			a = &agg{o: tr.Price, h: tr.Price, l: tr.Price, v: decimal.Zero}
			buckets[b] = a
		}
		a.c = tr.Price
		if tr.Price.GreaterThan(a.h) {
			a.h = tr.Price
		}
		if tr.Price.LessThan(a.l) {
			a.l = tr.Price
		}
		a.v = a.v.Add(tr.Size)
		a.n++
	}
	minutes := []time.Time{minute.Add(-time.Minute), minute, minute.Add(time.Minute)}
	for _, m := range minutes {
		a := buckets[m]
		if a == nil {
			t.Fatalf("the simulator has no trade in %s", m)
		}
		want[m] = fmt.Sprintf("o=%s h=%s l=%s c=%s v=%s closed=true provisional=false", a.o, a.h, a.l, a.c, a.v)
	}
	defer func() {
		if t.Failed() {
			for _, m := range minutes {
				t.Logf("%s stored %s, want %s; handed on %d", m.Format("15:04"), storedCandle(t, rig.pool, cs, m), want[m], len(handed.of(m)))
			}
			rows, _ := rig.pool.Query(t.Context(), `SELECT ts, reason, status, attempts, coalesce(last_error, '') FROM candle_checks`)
			for rows.Next() {
				var ts time.Time
				var a, b, e string
				var n int
				_ = rows.Scan(&ts, &a, &b, &n, &e)
				t.Logf("check %s %s %s %d %s", ts.Format("15:04"), a, b, n, e)
			}
			rows.Close()
			t.Logf("status %+v", col.Status().Reconciled)
		}
	}()
	eventually(t, "the three minutes reconciled", func() bool {
		for _, m := range minutes {
			if storedCandle(t, rig.pool, cs, m) != want[m] {
				return false
			}
		}
		var n int
		if err := rig.pool.QueryRow(t.Context(), `SELECT count(*) FROM candle_checks WHERE ts <= $1`, minutes[2]).Scan(&n); err != nil {
			t.Fatal(err)
		}
		r := col.Status().Reconciled
		return n == 0 && r["matched"]+r["confirmed"]+r["corrected"] == 3
	})
	// Never presented as final with wrong values: every closed candle
	// handed on (stored and published) is the exchange's; the minute of
	// the reconnect was handed on as provisional first.
	provisional := 0
	for _, m := range minutes {
		for _, c := range handed.of(m) {
			got := fmt.Sprintf("o=%s h=%s l=%s c=%s v=%s closed=true provisional=false", c.Open, c.High, c.Low, c.Close, c.Volume)
			if c.Closed && got != want[m] {
				t.Errorf("%s handed on as closed with %s, want %s", m.Format("15:04"), got, want[m])
			}
			if m.Equal(minute) && c.Provisional && !c.Closed {
				provisional++
			}
		}
	}
	if provisional != 1 {
		t.Errorf("the minute of the reconnect was handed on %d times as provisional, want 1", provisional)
	}
	r := col.Status().Reconciled
	// 11:59 (joined mid-minute) and 12:00 (reconnect) were provisional and
	// replaced; 12:00 differed (trades lost). 12:01 was closed and matched.
	if r["corrected"] < 1 || r["corrected"]+r["confirmed"] != 2 || r["matched"] != 1 {
		t.Errorf("reconciled %v, want 2 provisional candles replaced (12:00 corrected) and 1 matched", r)
	}
}
