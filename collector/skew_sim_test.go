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

// endedCandles is a Sink that hands on the candles it is given that ended:
// closed, or provisional (built from trades that may be incomplete, closed
// later by reconciliation).
type endedCandles struct{ ch chan *market.Candle }

func (s endedCandles) Accept(ctx context.Context, rec market.Record) error {
	if c, ok := rec.(*market.Candle); ok && (c.Closed || c.Provisional) {
		select {
		case s.ch <- c:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (endedCandles) Reject(context.Context, market.Reject) error { return nil }

// TestCandlesBuiltWithHostClockBehind: Coinbase streams no candles, so the
// collector builds them from the trades. With the host's clock 10 s behind
// the exchange's, every fresh trade is stamped more than the 5 s clock-skew
// allowance after its receipt; validation allows the measured offset on
// top, and so must the candle builder, or the exchange's closed candles
// are never built, nor reconciled, nor stored. The exchange's clock is made to run
// from a minute boundary, so that the trades cross it in every run.
func TestCandlesBuiltWithHostClockBehind(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	boundary := time.Date(2025, 3, 1, 12, 1, 0, 0, time.UTC)
	t0 := time.Now()
	exchangeNow := func() time.Time { return boundary.Add(time.Since(t0)) }
	hostNow := func() time.Time { return exchangeNow().Add(-10 * time.Second) }
	// Trades every 100 ms of exchange time from 2 s before the boundary:
	// the 20th is at the boundary (exchange time never passes the
	// exchange's clock, which is already past it) and closes the candle
	// of the minute before (provisional: the stream was not seen from its
	// start).
	s, err := sim.New(sim.Config{Seed: 3, Now: exchangeNow, Start: boundary.Add(-2 * time.Second), Step: 100 * time.Millisecond}, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	proto, err := coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
	if err != nil {
		t.Fatal(err)
	}
	trades := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeTrade}
	candles := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	sink := endedCandles{ch: make(chan *market.Candle)}
	col, err := collector.New(collector.Config{Name: "skew", Streams: []market.Stream{trades, candles}, Log: log, ClockSkew: collector.NewClockSkew(),
		Now: hostNow, BackoffMin: 10 * time.Millisecond, BackoffMax: 50 * time.Millisecond}, proto, sink)
	if err != nil {
		t.Fatal(err)
	}
	defer runWithSim(t, ctx, cancel, s, col)()
	if err := s.WaitSubscribed(ctx, trades); err != nil {
		t.Fatal(err)
	}
	if err := s.Step(ctx, 25); err != nil {
		t.Fatal(err)
	}
	wait, stop := context.WithTimeout(ctx, 30*time.Second) // a bound for a hung test, not a speed assertion
	defer stop()
	select {
	case c := <-sink.ch:
		if want := boundary.Add(-time.Minute); !c.Time.Equal(want) || c.Stream() != candles {
			t.Errorf("ended candle %s at %s, want %s at %s", c.Stream(), c.Time, candles, want)
		}
	case <-wait.Done():
		t.Fatal("no candle ended, built from the trades of a host 10 s behind the exchange")
	}
}
