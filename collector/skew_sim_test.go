package collector_test

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
)

// TestServerTimeMeasuredAtConnect: a public collector reads its exchange's
// server time before it dials, so that the clock offset is known before
// the first trade: with the exchange's clock 10 s ahead of the host's, the
// offset is about −10 s while no trade has been received.
func TestServerTimeMeasuredAtConnect(t *testing.T) {
	tests := []struct {
		ex    market.Exchange
		sym   market.Symbol
		proto func(sim.Endpoints) (collector.Protocol, error)
	}{
		{market.OKX, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
			return okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
		}},
		{market.Binance, "BTC-USDT", func(ep sim.Endpoints) (collector.Protocol, error) {
			return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
		}},
		{market.Coinbase, "BTC-USD", func(ep sim.Endpoints) (collector.Protocol, error) {
			return coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
		}},
	}
	for _, tc := range tests {
		t.Run(string(tc.ex), func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
			s, err := sim.New(sim.Config{Seed: 3, Start: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}, log)
			if err != nil {
				t.Fatal(err)
			}
			s.SetServerClockOffset(tc.ex, 10*time.Second)
			ep, err := s.Listen(ctx)
			if err != nil {
				t.Fatal(err)
			}
			proto, err := tc.proto(ep)
			if err != nil {
				t.Fatal(err)
			}
			st := market.Stream{Exchange: tc.ex, Symbol: tc.sym, Type: market.TypeTrade}
			skew := collector.NewClockSkew()
			got := &records{}
			col, err := collector.New(collector.Config{Name: "skew", Streams: []market.Stream{st}, Log: log, Gaps: got, ClockSkew: skew,
				BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, got)
			if err != nil {
				t.Fatal(err)
			}
			defer runWithSim(t, ctx, cancel, s, col)()
			if err := s.WaitSubscribed(ctx, st); err != nil {
				t.Fatal(err)
			}
			d, ok := skew.Offset(tc.ex)
			if !ok || d > -9*time.Second || d < -11*time.Second {
				t.Errorf("offset %v (known %t) at connect, before any trade: want about -10s", d, ok)
			}
			if n := col.Status().Streams[st.String()].Records; n != 0 {
				t.Fatalf("%d trades received: the offset must come from the server time", n)
			}
		})
	}
}
