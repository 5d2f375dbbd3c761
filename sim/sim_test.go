package sim

import (
	"context"
	"testing"
	"time"

	"marketetl/market"
)

func TestRunGeneratesAtRate(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart, Rate: 200, CoinbaseHeartbeatInterval: 10 * time.Millisecond})
	c := dial(t, ep.CoinbaseWS)
	c.send(`{"type":"subscribe","product_ids":["BTC-USD"],"channels":["heartbeat"]}`)
	c.read() // subscriptions
	if err := s.WaitTrades(ctx(t), market.OKX, "ETH-USDT", 20); err != nil {
		t.Fatal(err)
	}
	trades := s.Trades(market.OKX, "ETH-USDT")
	for i, tr := range trades {
		if want := itoa(100000001 + int64(i)); tr.TradeID != want {
			t.Fatalf("trade %d has id %s, want %s", i, tr.TradeID, want)
		}
	}
	for range 3 {
		f := c.read()
		if len(f) < 20 || string(f[:20]) != `{"type":"heartbeat",` {
			t.Fatalf("frame %s", f)
		}
	}
}

func TestRunReturnsWithAStuckClient(t *testing.T) {
	s, err := New(Config{Start: testStart, CloseGrace: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Run(runCtx) }()
	dial(t, ep.OKXPublicWS) // never reads
	if err := s.WaitConnections(ctx(t), market.OKX, 1); err != nil {
		t.Fatal(err)
	}
	for range 32 { // more than the socket buffers hold: the writer blocks
		s.SendOversized(market.OKX, 1<<20)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(wait):
		t.Fatal("Run did not return")
	}
}

func TestEndpoints(t *testing.T) {
	got := EndpointsAt("127.0.0.1:9500")
	want := Endpoints{
		OKXPublicWS:   "ws://127.0.0.1:9500/okx/ws/v5/public",
		OKXBusinessWS: "ws://127.0.0.1:9500/okx/ws/v5/business",
		OKXREST:       "http://127.0.0.1:9500/okx",
		BinanceWS:     "ws://127.0.0.1:9500/binance",
		BinanceREST:   "http://127.0.0.1:9500/binance",
		CoinbaseWS:    "ws://127.0.0.1:9500/coinbase/",
		CoinbaseREST:  "http://127.0.0.1:9500/coinbase",
		KrakenWS:      "ws://127.0.0.1:9500/kraken/v2",
		KrakenREST:    "http://127.0.0.1:9500/kraken",
	}
	if got != want {
		t.Fatalf("EndpointsAt\n got %+v\nwant %+v", got, want)
	}
}

func BenchmarkStep(b *testing.B) {
	s, err := New(Config{Seed: 1, Start: time.Now().Add(-365 * 24 * time.Hour)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.Step(b.Context(), 1); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/6, "ns/trade")
}
