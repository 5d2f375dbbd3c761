package store

import (
	"syscall"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// BenchmarkCandleChecksAdd records 1000 closed-candle checks per call
// (what the reconciliation loop records after a busy moment).
func BenchmarkCandleChecksAdd(b *testing.B) { benchmarkCandleChecksAdd(b, 1000) }

// BenchmarkCandleChecksAddFew records 10 closed-candle checks per call,
// what the reconciliation loop records in a quiet moment: the cost per
// call more than per check.
func BenchmarkCandleChecksAddFew(b *testing.B) { benchmarkCandleChecksAdd(b, 10) }

// benchmarkCandleChecksAdd records n closed-candle checks per call and
// reports the time and the client's CPU per check.
func benchmarkCandleChecksAdd(b *testing.B, n int) {
	_, pool := migratedDB(b)
	s := NewCandleChecks(pool)
	st := market.Stream{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}
	d := decimal.RequireFromString
	// Parsed once: allocs/op counts Add's own allocations.
	o, h, l, c, v := d("42219.90"), d("42230.5"), d("42100.01"), d("42200.00"), d("12.34567891")
	batch := make([]market.CandleCheck, n)
	minute := 0
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		for i := range batch {
			at := t0.Add(time.Duration(minute) * time.Minute)
			minute++
			batch[i] = market.CandleCheck{Stream: st, Time: at, Reason: market.CheckClosed, Due: at.Add(time.Minute),
				Open: o, High: h, Low: l, Close: c, Volume: v}
		}
		if err := s.Add(b.Context(), batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/check")
	b.ReportMetric(float64((cpuTime(b)-cpu0).Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/check")
}

// cpuTime is the process's user and system CPU time so far (the client's
// side of a benchmark against the database).
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
