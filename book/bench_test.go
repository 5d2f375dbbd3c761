package book

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// benchBook returns a book of n levels per side around 30000.00 and a
// stream of changes on it: sizes changed, levels removed and re-added,
// each side's price chosen uniformly among its n+10 price steps.
func benchBook(b *testing.B, n int) (*Book, []market.BookChange) {
	b.Helper()
	var bids, asks []market.Level
	for i := range n {
		bids = append(bids, market.Level{Price: decimal.New(3000000-int64(i), -2), Size: decimal.New(int64(1+i), -4)})
		asks = append(asks, market.Level{Price: decimal.New(3000001+int64(i), -2), Size: decimal.New(int64(1+i), -4)})
	}
	bk := New()
	if err := bk.Load(bids, asks); err != nil {
		b.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	changes := make([]market.BookChange, 1<<16)
	for i := range changes {
		step := int64(r.IntN(n + 10))
		size := decimal.New(int64(r.IntN(5)), -4) // one in five removes
		if r.IntN(2) == 0 {
			changes[i] = market.BookChange{Side: market.Bid, Price: decimal.New(3000000-step, -2), Size: size}
		} else {
			changes[i] = market.BookChange{Side: market.Ask, Price: decimal.New(3000001+step, -2), Size: size}
		}
	}
	return bk, changes
}

// BenchmarkApply reports level changes per second on a 400-level book.
func BenchmarkApply(b *testing.B) {
	bk, changes := benchBook(b, 400)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := &changes[i&(len(changes)-1)]
		if err := bk.Set(c.Side, c.Price, c.Size); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkApplyMessage applies messages of 20 changes with the crossed
// check after each, as a collector does.
func BenchmarkApplyMessage(b *testing.B) {
	bk, changes := benchBook(b, 400)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		at := (i * 20) % (len(changes) - 20)
		if err := bk.Apply(changes[at : at+20]); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N*20)/b.Elapsed().Seconds(), "changes/s")
}

// BenchmarkTop20 takes a top-20 snapshot of both sides of a 400-level
// book into fresh slices (what a stored or published snapshot costs).
func BenchmarkTop20(b *testing.B) {
	bk, _ := benchBook(b, 400)
	b.ReportAllocs()
	for b.Loop() {
		bids, asks := bk.Top(20, make([]market.Level, 0, 20), make([]market.Level, 0, 20))
		if len(bids) != 20 || len(asks) != 20 {
			b.Fatal("short")
		}
	}
}

// BenchmarkTop20Reused is BenchmarkTop20 into reused slices.
func BenchmarkTop20Reused(b *testing.B) {
	bk, _ := benchBook(b, 400)
	bids, asks := make([]market.Level, 0, 20), make([]market.Level, 0, 20)
	b.ReportAllocs()
	for b.Loop() {
		bids, asks = bk.Top(20, bids[:0], asks[:0])
	}
}

// BenchmarkMemory reports the heap bytes per level of 100 books of 400
// levels per side, the decimals included (each level's price and size
// held as the exchange's decimals, as a collector's parsed frames leave
// them).
func BenchmarkMemory(b *testing.B) {
	const books, n = 100, 400
	for b.Loop() {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		all := make([]*Book, books)
		for j := range all {
			var bids, asks []market.Level
			for i := range n {
				bids = append(bids, market.Level{Price: decimal.New(3000000-int64(i), -2), Size: decimal.New(int64(1+i), -4)})
				asks = append(asks, market.Level{Price: decimal.New(3000001+int64(i), -2), Size: decimal.New(int64(1+i), -4)})
			}
			all[j] = New()
			if err := all[j].Load(bids, asks); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(books*2*n), "bytes/level")
		runtime.KeepAlive(all)
	}
}

// BenchmarkSnapshot20 takes a top-20 snapshot record (what the collector
// stores and publishes), the slices allocated on the heap.
func BenchmarkSnapshot20(b *testing.B) {
	bk, _ := benchBook(b, 400)
	meta := market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}
	b.ReportAllocs()
	var s *market.BookSnapshot
	for b.Loop() {
		s = bk.Snapshot(meta, 20)
	}
	if len(s.Bids) != 20 {
		b.Fatal("short")
	}
}
