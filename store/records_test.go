package store

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"marketetl/market"
)

// t0 is a fixed minute boundary for records in tests.
var t0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func nullDec(s string) decimal.NullDecimal { return decimal.NewNullDecimal(dec(s)) }

func meta(sym string, ts time.Time) market.Meta {
	return market.Meta{Exchange: market.OKX, Symbol: market.Symbol(sym), Time: ts, Received: ts.Add(time.Second)}
}

func trade(id int, price, size string) *market.Trade {
	return &market.Trade{
		Meta: meta("BTC-USDT", t0.Add(time.Duration(id)*time.Millisecond)), TradeID: fmt.Sprint(id),
		Price: dec(price), Size: dec(size), Side: market.Buy,
	}
}

func trades(from, n int) []market.Record {
	recs := make([]market.Record, n)
	for i := range recs {
		recs[i] = trade(from+i, "100.5", "0.01")
	}
	return recs
}

// candle returns a 1m candle at t0 + minute minutes, received at
// t0 + received seconds.
func candle(minute int, closeP string, closed bool, received int) *market.Candle {
	return &market.Candle{
		Meta: market.Meta{
			Exchange: market.Binance, Symbol: "ETH-USDT", Time: t0.Add(time.Duration(minute) * time.Minute),
			Received: t0.Add(time.Duration(received) * time.Second),
		},
		Timeframe: market.TF1m, Open: dec("10"), High: dec("20"), Low: dec("5"), Close: dec(closeP),
		Volume: dec("3"), Trades: -1, Closed: closed,
	}
}

// writeBatch stores recs as one batch per table: a Writer that flushes only
// when it stops. It returns the Writer's stats.
func writeBatch(t *testing.T, pool *pgxpool.Pool, recs ...market.Record) Stats {
	t.Helper()
	r := startWriter(t, Config{BatchSize: 1_000_000, FlushInterval: time.Hour}, pool)
	for _, rec := range recs {
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatalf("write %v: %v", rec.Stream(), err)
		}
	}
	if err := r.stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	return r.Stats()
}

// flushes records every FlushResult of a Writer.
type flushes struct {
	ch chan FlushResult
}

func newFlushes() *flushes { return &flushes{ch: make(chan FlushResult, 1000)} }

func (f *flushes) hook(r FlushResult) { f.ch <- r }

// next returns the next flush result, failing the test if none comes.
func (f *flushes) next(t *testing.T) FlushResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	select {
	case r := <-f.ch:
		return r
	case <-ctx.Done():
		t.Fatalf("no flush")
		return FlushResult{}
	}
}
