package validate

import (
	"testing"
	"time"

	"marketetl/market"
)

// The benchmarks measure accepted records, the hot path: they must report
// 0 allocs/op.

func benchmarkCheck(b *testing.B, rec market.Record) {
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		b.Fatal(err)
	}
	if r := v.Check(rec); r != nil {
		b.Fatalf("rejected: %s", r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v.Check(rec) != nil {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkCheckTrade(b *testing.B)  { benchmarkCheck(b, goodTrade()) }
func BenchmarkCheckCandle(b *testing.B) { benchmarkCheck(b, goodCandle()) }
func BenchmarkCheckTicker(b *testing.B) { benchmarkCheck(b, goodTicker()) }
func BenchmarkCheckBook(b *testing.B)   { benchmarkCheck(b, goodBook()) }

// BenchmarkCheckTradeLocalClock reads the real clock, as in production.
func BenchmarkCheckTradeLocalClock(b *testing.B) {
	v, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tr := goodTrade()
	tr.Time = time.Now()
	b.ReportAllocs()
	for b.Loop() {
		if v.Check(tr) != nil {
			b.Fatal("rejected")
		}
	}
}

// BenchmarkCheckAfterTradeLocalClock is BenchmarkCheckTradeLocalClock for
// a caller that read the clock already (a collector, once per frame).
func BenchmarkCheckAfterTradeLocalClock(b *testing.B) {
	v, err := New(Config{}, nil)
	if err != nil {
		b.Fatal(err)
	}
	tr := goodTrade()
	read := time.Now()
	tr.Time = read
	b.ReportAllocs()
	for b.Loop() {
		if v.CheckAfter(tr, read) != nil {
			b.Fatal("rejected")
		}
	}
}
