package collector_test

import (
	"context"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
)

// TestManySymbolsAreSplitOverConnections runs OKX and Coinbase with 250
// symbols of trades and tickers each (500 streams, over their 200 per
// connection) against the simulated exchange: each opens 3 connections,
// every stream is subscribed, a tick delivers every symbol's trade; after
// every connection drops at once, the same 3 are back, every stream
// subscribed again, and the next tick delivers every trade again.
func TestManySymbolsAreSplitOverConnections(t *testing.T) {
	const n = 250
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	markets := map[market.Exchange][]sim.Market{}
	for _, ex := range []market.Exchange{market.OKX, market.Coinbase} {
		quote := "-USDT"
		if ex == market.Coinbase {
			quote = "-USD"
		}
		for i := range n {
			base := string([]byte{byte('A' + i/26%26), byte('A' + i%26), 'X'})
			markets[ex] = append(markets[ex], sim.Market{Symbol: market.Symbol(base + quote), Price: decimal.NewFromInt(100), PriceDecimals: 2, SizeDecimals: 4})
		}
	}
	s, ep := listenSim(t, ctx, sim.Config{Seed: 5, Markets: markets, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
	ok, err := okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	if err != nil {
		t.Fatal(err)
	}
	cb, err := coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
	if err != nil {
		t.Fatal(err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.Run(gctx) })
	defer func() {
		cancel()
		if err := g.Wait(); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	type run struct {
		ex      market.Exchange
		streams []market.Stream
		got     *records
	}
	var runs []run
	for _, p := range []collector.Protocol{ok, cb} {
		ex := p.Exchange()
		r := run{ex: ex, got: &records{}}
		for _, m := range markets[ex] {
			r.streams = append(r.streams,
				market.Stream{Exchange: ex, Symbol: m.Symbol, Type: market.TypeTrade},
				market.Stream{Exchange: ex, Symbol: m.Symbol, Type: market.TypeTicker})
		}
		col, err := collector.New(collector.Config{Name: string(ex), Streams: r.streams, Log: log,
			BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, p, r.got)
		if err != nil {
			t.Fatal(err)
		}
		g.Go(func() error { return col.Run(gctx) })
		runs = append(runs, r)
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	subscribedOnThree := func(round int) {
		t.Helper()
		for _, r := range runs {
			for _, st := range r.streams {
				if err := s.WaitSubscribed(wctx, st); err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
			}
			if c := s.Connections(r.ex); c != 3 {
				t.Errorf("round %d: %s has %d connections, want 3 (500 streams, 200 a connection)", round, r.ex, c)
			}
		}
	}
	tradesReach := func(want int) {
		t.Helper()
		if err := s.Step(ctx, 1); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(30 * time.Second)
		for _, r := range runs {
			for {
				r.got.mu.Lock()
				got := r.got.trades
				r.got.mu.Unlock()
				if got == want {
					break
				}
				if got > want || time.Now().After(deadline) {
					t.Fatalf("%s: %d trades, want %d", r.ex, got, want)
				}
				time.Sleep(5 * time.Millisecond) // polling a count, not synchronising on time
			}
		}
	}
	subscribedOnThree(1)
	tradesReach(n)
	for _, r := range runs {
		if d := s.DropConnections(r.ex); d != 3 {
			t.Errorf("%s: dropped %d connections, want 3", r.ex, d)
		}
	}
	// Three new connections each, and the dropped ones forgotten.
	for _, r := range runs {
		if err := s.WaitConnects(wctx, r.ex, 6); err != nil {
			t.Fatal(err)
		}
		if err := s.WaitConnections(wctx, r.ex, 3); err != nil {
			t.Fatal(err)
		}
	}
	subscribedOnThree(2)
	tradesReach(2 * n)
}
