package collector

import (
	"strconv"
	"syscall"
	"testing"
	"time"

	"marketetl/market"
)

// BenchmarkDedupTrades: new trades of two streams, sequential ids, past
// the window (every add evicts the oldest id).
func BenchmarkDedupTrades(b *testing.B) {
	d := newDedup()
	syms := []market.Symbol{"BTC-USDT", "ETH-USDT"}
	const n = 1 << 16
	trades := make([]*market.Trade, n)
	for i := range trades {
		trades[i] = &market.Trade{Meta: market.Meta{Exchange: market.Binance, Symbol: syms[i%2], Time: time.Unix(int64(i), 0)},
			TradeID: strconv.Itoa(3_000_000_000 + i)}
	}
	b.ReportAllocs()
	cpu0 := processCPU(b)
	defer func() { cpuPerOp(b, cpu0) }()
	i := 0
	for b.Loop() {
		t := trades[i%n]
		if i%n == 0 && i > 0 {
			d = newDedup()
		}
		i++
		if d.seen(t.Stream(), t) {
			b.Fatal("a new trade seen as a duplicate")
		}
	}
}

// cpuPerOp reports the process's CPU time per operation since start (on a
// shared machine the wall time per operation includes waiting for a core).
func cpuPerOp(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((processCPU(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
