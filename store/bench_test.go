package store

import (
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

const benchBatch = 100_000

// BenchmarkCopyBatch measures one flush (COPY into staging, then merge) of
// a 100,000-row batch of new rows and reports rows per second.
func BenchmarkCopyBatch(b *testing.B) {
	_, pool := migratedDB(b)
	w, err := New(Config{BatchSize: benchBatch}, pool, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	b.Run("trades", func(b *testing.B) {
		benchLane(b, w.trades, func(i, j int) *market.Trade {
			t := trade(j, "64123.45", "0.00123")
			t.TradeID = fmt.Sprintf("%d-%d", i, j)
			return t
		})
	})
	b.Run("candles", func(b *testing.B) {
		benchLane(b, w.candles, func(i, j int) *market.Candle {
			c := candle(i*benchBatch+j, "15.25", true, 1)
			c.QuoteVolume = nullDec("45.75")
			c.Trades = 17
			return c
		})
	})
}

func benchLane[T any](b *testing.B, l *lane[T], row func(iteration, j int) T) {
	rows := make([]T, benchBatch)
	var elapsed time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		for j := range rows {
			rows[j] = row(i, j)
		}
		b.StartTimer()
		start := time.Now()
		ins, _, err := l.attempt(b.Context(), rows)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if ins != benchBatch {
			b.Fatalf("inserted %d of %d", ins, benchBatch)
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/elapsed.Seconds(), "rows/s")
}

// BenchmarkWriter measures the whole path with the default configuration:
// Write from one producer, batching, flushing, and the final drain.
func BenchmarkWriter(b *testing.B) {
	_, pool := migratedDB(b)
	rows := 0
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		r := startWriter(b, Config{}, pool)
		for j := range benchBatch {
			t := trade(j, "64123.45", "0.00123")
			t.TradeID = fmt.Sprintf("w%d-%d", i, j)
			if err := r.Write(b.Context(), t); err != nil {
				b.Fatal(err)
			}
		}
		if err := r.stop(); err != nil {
			b.Fatal(err)
		}
		rows += benchBatch
	}
	b.ReportMetric(float64(rows)/time.Since(start).Seconds(), "rows/s")
}
