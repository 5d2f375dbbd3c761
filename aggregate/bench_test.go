package aggregate

import (
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// BenchmarkAdd folds a trade every 10ms into 1m, 5m and 1h candles with
// the default throttle, as for a busy Coinbase symbol.
func BenchmarkAdd(b *testing.B) {
	bld, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m, market.TF5m, market.TF1h}, Config{})
	if err != nil {
		b.Fatal(err)
	}
	trades := make([]*market.Trade, 1<<16)
	for i := range trades {
		ts := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		trades[i] = &market.Trade{
			Meta:    market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: ts, Received: ts},
			TradeID: fmt.Sprint(i), Side: market.Buy,
			Price: decimal.RequireFromString(fmt.Sprintf("42%03d.%02d", i%1000, i%100)),
			Size:  decimal.RequireFromString(fmt.Sprintf("0.%08d", 1+i%99999999)),
		}
	}
	out := make([]*market.Candle, 0, 8)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(trades) { // start over from an empty builder
			b.StopTimer()
			bld, _ = New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m, market.TF5m, market.TF1h}, Config{})
			i = 0
			b.StartTimer()
		}
		out = bld.Add(trades[i], out[:0])
		i++
	}
}
