package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// syncBuffer is an io.Writer safe for the program and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestVWAPAgainstTheSimulator runs the example against the simulated
// exchange and the real database, and checks the printed VWAP against the
// one computed from every trade the exchange published.
func TestVWAPAgainstTheSimulator(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	s, err := sim.New(sim.Config{Seed: 7}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{
		"DATABASE_URL": dbtest.NewDatabase(t), "REDIS_ENABLED": "false", "SPOOL_DIR": "",
		"BINANCE_WS_URL": ep.BinanceWS, "BINANCE_REST_URL": ep.BinanceREST,
	}
	out := &syncBuffer{}
	simDone, runDone := make(chan error, 1), make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()
	go func() {
		runDone <- run(ctx, []string{"-exchange", "binance", "-symbols", "BTC-USDT,ETH-USDT", "-every", "20ms"},
			func(k string) (string, bool) { v, ok := env[k]; return v, ok }, out)
	}()
	for _, sym := range []market.Symbol{"BTC-USDT", "ETH-USDT"} {
		if err := s.WaitSubscribed(ctx, market.Stream{Exchange: market.Binance, Symbol: sym, Type: market.TypeTrade}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Step(ctx, 50); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, sym := range []market.Symbol{"BTC-USDT", "ETH-USDT"} {
		var notional, volume decimal.Decimal
		trades := s.Trades(market.Binance, sym)
		for _, tr := range trades {
			notional = notional.Add(tr.Price.Mul(tr.Size))
			volume = volume.Add(tr.Size)
		}
		want[string(sym)] = "binance " + string(sym) + " vwap=" + notional.DivRound(volume, 8).StringFixed(8) + " trades=50"
	}
	deadline := time.Now().Add(30 * time.Second) // bounds a broken run; not a speed assertion
	for {
		got := out.String()
		if strings.Contains(got, want["BTC-USDT"]) && strings.Contains(got, want["ETH-USDT"]) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("output never showed\n%s\n%s\ngot:\n%s", want["BTC-USDT"], want["ETH-USDT"], got)
		}
		time.Sleep(10 * time.Millisecond) // polling the printed output
	}
	cancel()
	if err := <-runDone; err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	<-simDone
}
