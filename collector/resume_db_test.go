package collector_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/store"
)

// records is a Sink and a GapRecorder that keeps what it is given.
type records struct {
	mu      sync.Mutex
	trades  int
	closed  int
	gaps    []market.Gap
	changed chan struct{}
}

func (r *records) Accept(_ context.Context, rec market.Record) error {
	r.mu.Lock()
	switch v := rec.(type) {
	case *market.Trade:
		r.trades++
	case *market.Candle:
		if v.Closed {
			r.closed++
		}
	}
	r.mu.Unlock()
	return nil
}

func (r *records) Reject(context.Context, market.Reject) error { return nil }

func (r *records) RecordGap(g market.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gaps = append(r.gaps, g)
}

// TestRestartGapFromTheDatabase stores a Binance trade and a closed candle
// as a previous run would have, then starts a collector seeded from the
// database against the simulated exchange: its first trade and its first
// closed candle each open exactly one restart gap from the stored record.
func TestRestartGapFromTheDatabase(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, log); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	const firstID = 100000001 // the simulator's default first trade id
	trades := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade}
	candles := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}
	if _, err := pool.Exec(ctx, `INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
		VALUES ('binance', 'BTC-USDT', $1, $2, 1, 1, 'buy', now())`, "99999990", start.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed, received_at)
		VALUES ('binance', 'BTC-USDT', '1m', $1, 1, 1, 1, 1, 0, true, now())`, start.Add(-5*time.Minute)); err != nil {
		t.Fatal(err)
	}

	s, ep := listenSim(t, ctx, sim.Config{Seed: 7, Start: start}, log)
	proto, err := binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
	if err != nil {
		t.Fatal(err)
	}
	got := &records{}
	col, err := collector.New(collector.Config{Name: "restart", Streams: []market.Stream{candles, trades}, Log: log,
		Resume: service.ResumeFromStore(pool), Gaps: got}, proto, got)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	for _, st := range []market.Stream{trades, candles} {
		if err := s.WaitSubscribed(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Step(ctx, 61); err != nil { // trades at start+1s .. start+61s close the first candle
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got.mu.Lock()
		done := got.trades == 61 && got.closed == 1
		got.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %d trades and %d closed candles, want 61 and 1", got.trades, got.closed)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
	}

	got.mu.Lock()
	gaps := append([]market.Gap(nil), got.gaps...)
	got.mu.Unlock()
	want := map[market.Stream]market.Gap{
		trades:  {Stream: trades, From: start.Add(-time.Minute), To: start.Add(time.Second), AfterID: 99999990, BeforeID: firstID, Reason: market.GapRestart},
		candles: {Stream: candles, From: start.Add(-5 * time.Minute), To: start, Reason: market.GapRestart},
	}
	if len(gaps) != len(want) {
		t.Fatalf("%d gaps %v, want %d", len(gaps), gaps, len(want))
	}
	for _, g := range gaps {
		w := want[g.Stream]
		if !g.From.Equal(w.From) || !g.To.Equal(w.To) || g.AfterID != w.AfterID || g.BeforeID != w.BeforeID || g.Reason != w.Reason {
			t.Errorf("gap %s, want %s", g, w)
		}
	}
	if st := col.Status(); st.Gaps != 2 {
		t.Errorf("status counts %d gaps, want 2", st.Gaps)
	}
}
