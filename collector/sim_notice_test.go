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
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
)

// tradeLog keeps every trade handed on and every gap found.
type tradeLog struct {
	mu     sync.Mutex
	trades []market.Trade
	gaps   []market.Gap
}

func (l *tradeLog) Accept(_ context.Context, rec market.Record) error {
	if tr, ok := rec.(*market.Trade); ok {
		l.mu.Lock()
		l.trades = append(l.trades, *tr)
		l.mu.Unlock()
	}
	return nil
}

func (l *tradeLog) Reject(context.Context, market.Reject) error { return nil }

func (l *tradeLog) RecordGap(g market.Gap) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.gaps = append(l.gaps, g)
}

func (l *tradeLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.trades)
}

// has reports whether the trade id was handed on.
func (l *tradeLog) has(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, tr := range l.trades {
		if tr.TradeID == id {
			return true
		}
	}
	return false
}

// TestAnnouncedDisconnectSwitchesOverWithoutLoss: after OKX's 64008
// notice or Binance's serverShutdown the collector keeps reading the
// announced connection while it dials a replacement (refused at first, as
// a busy exchange might), so the trades pushed meanwhile arrive; once the
// replacement delivers, the old connection is closed. Every trade the
// exchange made is handed on exactly once, value for value, no gap is
// recorded, and one replacement connection was opened.
func TestAnnouncedDisconnectSwitchesOverWithoutLoss(t *testing.T) {
	tests := []struct {
		ex    market.Exchange
		sym   market.Symbol
		proto func(ep sim.Endpoints) (collector.Protocol, error)
	}{
		{market.OKX, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
			return okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
		}},
		{market.Binance, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
			return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.ex), func(t *testing.T) { testAnnouncedDisconnect(t, tt.ex, tt.sym, tt.proto) })
	}
}

func testAnnouncedDisconnect(t *testing.T, ex market.Exchange, sym market.Symbol, newProto func(sim.Endpoints) (collector.Protocol, error)) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	s, ep := listenSim(t, ctx, sim.Config{Seed: 7, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
	proto, err := newProto(ep)
	if err != nil {
		t.Fatal(err)
	}
	trades := market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade}
	got := &tradeLog{}
	col, err := collector.New(collector.Config{Name: "notice", Streams: []market.Stream{trades}, Log: log, Gaps: got,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, got)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
		}
	}
	step := func(n int) {
		t.Helper()
		if err := s.Step(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitSubscribed(ctx, trades); err != nil {
		t.Fatal(err)
	}
	step(5)
	wait("5 trades", func() bool { return got.count() == 5 })

	// The replacement cannot connect yet: whatever the old connection
	// pushes after the announcement is all there is.
	s.RejectConnections(ex, true)
	if n, err := s.AnnounceShutdown(ex); err != nil || n != 1 {
		t.Fatalf("announced on %d connections (%v), want 1", n, err)
	}
	step(3)
	// Either the 3 trades arrive on the announced connection, or the
	// collector closed it (then nothing can bring them any more).
	wait("3 more trades or the announced connection closed", func() bool { return got.count() == 8 || s.Connections(ex) == 0 })
	if c := s.Connections(ex); c != 1 || got.count() != 8 {
		t.Fatalf("after the announcement: %d trades and %d connections, want 8 trades on the still open connection", got.count(), c)
	}
	s.RejectConnections(ex, false)
	if err := s.WaitConnects(ctx, ex, 2); err != nil {
		t.Fatal(err)
	}
	if ex == market.OKX {
		// The replacement's acknowledgement is its first frame: the old
		// connection is closed then.
		if err := s.WaitConnections(ctx, ex, 1); err != nil {
			t.Fatal(err)
		}
	}
	step(2)
	all := s.Trades(ex, sym)
	if len(all) != 10 {
		t.Fatalf("simulator has %d trades, want 10", len(all))
	}
	wait("the last trade", func() bool { return got.has(all[9].TradeID) })
	// The old connection goes once the replacement delivers.
	if err := s.WaitConnections(ctx, ex, 1); err != nil {
		t.Fatal(err)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	if len(got.trades) != len(all) {
		t.Fatalf("%d trades handed on, want the exchange's %d", len(got.trades), len(all))
	}
	byID := map[string]market.Trade{}
	for _, tr := range got.trades {
		if _, dup := byID[tr.TradeID]; dup {
			t.Errorf("trade %s handed on twice", tr.TradeID)
		}
		byID[tr.TradeID] = tr
	}
	for _, w := range all {
		tr, ok := byID[w.TradeID]
		if !ok {
			t.Errorf("trade %s lost", w.TradeID)
			continue
		}
		if !tr.Price.Equal(w.Price) || !tr.Size.Equal(w.Size) || tr.Side != w.Side || !tr.Time.Equal(w.Time) {
			t.Errorf("trade %s: got %s %s %s %s, want %s %s %s %s", w.TradeID, tr.Price, tr.Size, tr.Side, tr.Time,
				w.Price, w.Size, w.Side, w.Time)
		}
	}
	if len(got.gaps) != 0 {
		t.Errorf("gaps %v, want none", got.gaps)
	}
	if n := s.Counts(ex).Connects; n != 2 {
		t.Errorf("%d connections accepted, want 2 (the first and one replacement)", n)
	}
	if st := col.Status(); !st.Streams[trades.String()].Subscribed || st.Gaps != 0 {
		t.Errorf("status: subscribed %v, %d gaps; want subscribed, none", st.Streams[trades.String()].Subscribed, st.Gaps)
	}
}
