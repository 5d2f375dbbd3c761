package store

import (
	"testing"
	"time"

	"marketetl/market"
)

func TestLastStored(t *testing.T) {
	_, pool := migratedDB(t)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	trade := func(ex, sym, id string, ts time.Time) {
		exec(`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
			VALUES ($1, $2, $3, $4, 1, 1, 'buy', now())`, ex, sym, id, ts)
	}
	candle := func(ex, sym, tf string, ts time.Time, closed bool) {
		exec(`INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, closed, received_at)
			VALUES ($1, $2, $3, $4, 1, 1, 1, 1, 0, $5, now())`, ex, sym, tf, ts, closed)
	}
	// Binance BTC-USDT: ids 9 and 10 share the latest time ("9" sorts
	// after "10" as text: the greatest must be taken as a number).
	trade("binance", "BTC-USDT", "8", t0)
	trade("binance", "BTC-USDT", "9", t0.Add(time.Second))
	trade("binance", "BTC-USDT", "10", t0.Add(time.Second))
	trade("binance", "ETH-USDT", "500", t0.Add(time.Hour)) // another symbol
	trade("okx", "BTC-USDT", "abc-1", t0.Add(2*time.Second))
	candle("binance", "BTC-USDT", "1m", t0, true)
	candle("binance", "BTC-USDT", "1m", t0.Add(time.Minute), true)
	candle("binance", "BTC-USDT", "1m", t0.Add(2*time.Minute), false) // forming: not the last closed
	candle("binance", "BTC-USDT", "5m", t0.Add(time.Hour), true)      // another timeframe

	bTrades := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade}
	oTrades := market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}
	bCandles := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}
	empty := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeTrade}
	emptyCandles := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1h}
	ticker := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTicker}

	got, err := LastStored(ctx, pool, []market.Stream{bTrades, oTrades, bCandles, empty, emptyCandles, ticker})
	if err != nil {
		t.Fatal(err)
	}
	want := map[market.Stream]Last{
		bTrades:  {Time: t0.Add(time.Second), TradeID: 10},
		oTrades:  {Time: t0.Add(2 * time.Second)},
		bCandles: {Time: t0.Add(time.Minute)},
	}
	if len(got) != len(want) {
		t.Errorf("got %d streams %v, want %d", len(got), got, len(want))
	}
	for s, w := range want {
		g, ok := got[s]
		if !ok || !g.Time.Equal(w.Time) || g.TradeID != w.TradeID {
			t.Errorf("%s: got %+v (found %v), want %+v", s, g, ok, w)
		}
	}

	if _, err := LastStored(ctx, pool, nil); err != nil {
		t.Errorf("no streams: %v", err)
	}
	pool.Close()
	if _, err := LastStored(ctx, pool, []market.Stream{bTrades}); err == nil {
		t.Error("no error from a closed pool")
	}
}
