package collector

import (
	"testing"
	"time"

	"marketetl/market"
)

// TestClockSkewEstimate: the server time stands in until skewMinSamples
// trades were seen; then the trades' estimate holds, unmoved by latency
// spikes and by a bad timestamp in each block.
func TestClockSkewEstimate(t *testing.T) {
	const behind = -10 * time.Second // local clock 10 s behind the exchange's
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k := NewClockSkew()
	if _, ok := k.Offset(market.OKX); ok {
		t.Fatal("offset known before any measurement")
	}
	k.SetServerOffset(market.OKX, -9*time.Second)
	if d, ok := k.Offset(market.OKX); !ok || d != -9*time.Second {
		t.Fatalf("offset %v %t after the server time, want -9s", d, ok)
	}
	observe := func(i int) {
		latency := time.Duration(5+i%40) * time.Millisecond
		switch {
		case i%16 == 3:
			latency += 3 * time.Second // a latency spike
		case i%16 == 7, i%16 == 9 && (i/16)%5 == 2:
			// A bad timestamp, far in the future: one in every block,
			// two in every fifth block from the third.
			latency -= 10 * time.Minute
		}
		exch := base.Add(time.Duration(i) * 10 * time.Millisecond)
		k.Observe(market.OKX, exch, exch.Add(behind+latency))
	}
	for i := range skewMinSamples - 1 {
		observe(i)
	}
	if d, _ := k.Offset(market.OKX); d != -9*time.Second || k.fromTrades(market.OKX) {
		t.Fatalf("offset %v after %d trades: want the server's -9s until %d trades", d, skewMinSamples-1, skewMinSamples)
	}
	for i := skewMinSamples - 1; i < 1000; i++ {
		observe(i)
		if d, ok := k.Offset(market.OKX); !ok || d < behind || d > behind+50*time.Millisecond {
			t.Fatalf("offset %v %t after %d trades, want within 50ms above %v", d, ok, i+1, behind)
		}
	}
	if _, ok := k.Offset(market.Binance); ok {
		t.Error("another exchange's offset is known")
	}
	k.Observe("nowhere", base, base) // an exchange marketetl does not speak is ignored
	if _, ok := k.Offset("nowhere"); ok {
		t.Error("an unknown exchange's offset is known")
	}
}

// TestClockSkewAllocatesNothing: the per-trade work allocates nothing.
func TestClockSkewAllocatesNothing(t *testing.T) {
	k := NewClockSkew()
	exch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if n := testing.AllocsPerRun(1000, func() {
		exch = exch.Add(time.Millisecond)
		k.Observe(market.Binance, exch, exch.Add(20*time.Millisecond))
		_, _ = k.Offset(market.Binance)
	}); n != 0 {
		t.Errorf("%v allocations per trade, want 0", n)
	}
}

func BenchmarkClockSkewObserve(b *testing.B) {
	k := NewClockSkew()
	exch := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		e := exch.Add(time.Duration(i) * time.Millisecond)
		k.Observe(market.OKX, e, e.Add(time.Duration(i%50)*time.Millisecond))
	}
}

func BenchmarkClockSkewOffsetParallel(b *testing.B) {
	k := NewClockSkew()
	k.SetServerOffset(market.OKX, -time.Second)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_, _ = k.Offset(market.OKX)
		}
	})
}
