package collector_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/kraken"
	"marketetl/market"
	"marketetl/sim"
)

// TestSimulatedDisconnectLosesTrades runs the adapters of the exchanges
// whose trade ids are sequential (Binance; Kraken, whose trade_id is "a
// sequence number, unique per book") under the loop against the simulated
// exchange: trades published while the stream is stalled and then dropped
// are lost, and the first trade after the reconnect records exactly one
// disconnect gap bounded by the exact ids; a second reconnect that loses
// nothing records none.
func TestSimulatedDisconnectLosesTrades(t *testing.T) {
	tests := []struct {
		ex    market.Exchange
		sym   market.Symbol
		proto func(ep sim.Endpoints) (collector.Protocol, error)
	}{
		{market.Binance, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
			return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
		}},
		{market.Kraken, "BTC-USD", func(ep sim.Endpoints) (collector.Protocol, error) {
			return kraken.New(kraken.Config{WSURL: ep.KrakenWS, RESTURL: ep.KrakenREST})
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.ex), func(t *testing.T) { testDisconnectLosesTrades(t, tt.ex, tt.sym, tt.proto) })
	}
}

func testDisconnectLosesTrades(t *testing.T, ex market.Exchange, sym market.Symbol, newProto func(sim.Endpoints) (collector.Protocol, error)) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	s, ep := listenSim(t, ctx, sim.Config{Seed: 3, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
	proto, err := newProto(ep)
	if err != nil {
		t.Fatal(err)
	}
	trades := market.Stream{Exchange: ex, Symbol: sym, Type: market.TypeTrade}
	got := &records{}
	col, err := collector.New(collector.Config{Name: "drop", Streams: []market.Stream{trades}, Log: log, Gaps: got,
		BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, got)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	waitTrades := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			got.mu.Lock()
			have := got.trades
			got.mu.Unlock()
			if have == n {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out: %d trades, want %d", have, n)
			}
			time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
		}
	}
	reconnect := func(connects int64) {
		t.Helper()
		if n := s.DropConnections(ex); n != 1 {
			t.Fatalf("dropped %d connections, want 1", n)
		}
		if err := s.WaitConnects(ctx, ex, connects); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitSubscribed(ctx, trades); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.WaitSubscribed(ctx, trades); err != nil {
		t.Fatal(err)
	}
	step := func(n int) {
		t.Helper()
		if err := s.Step(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	step(5)
	waitTrades(5)
	s.Stall(ex, true)
	step(3) // published, never pushed
	reconnect(2)
	s.Stall(ex, false)
	step(2)
	waitTrades(7)
	reconnect(3) // nothing lost this time
	step(2)
	waitTrades(9)

	all := s.Trades(ex, sym)
	if len(all) != 12 {
		t.Fatalf("simulator has %d trades, want 12", len(all))
	}
	id := func(i int) int64 {
		n, err := strconv.ParseInt(all[i].TradeID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	got.mu.Lock()
	gaps := append([]market.Gap(nil), got.gaps...)
	got.mu.Unlock()
	if len(gaps) != 1 {
		t.Fatalf("%d gaps %v, want 1", len(gaps), gaps)
	}
	want := market.Gap{Stream: trades, From: all[4].Time, To: all[8].Time, AfterID: id(4), BeforeID: id(8), Reason: market.GapDisconnect}
	if g := gaps[0]; g.Stream != want.Stream || !g.From.Equal(want.From) || !g.To.Equal(want.To) ||
		g.AfterID != want.AfterID || g.BeforeID != want.BeforeID || g.Reason != want.Reason {
		t.Errorf("gap %s, want %s", g, want)
	}
	if st := col.Status(); st.Gaps != 1 || st.Streams[trades.String()].Gaps != 1 {
		t.Errorf("status counts %d gaps, want 1", st.Gaps)
	}
}
