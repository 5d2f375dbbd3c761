package okx

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

// TestSymbolsInterned: the second frame of an instrument reuses the
// first's symbol, and a trade push then costs one allocation less.
func TestSymbolsInterned(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	frame := readTestdata(t, filepath.Join("ws", "trade.json"))
	var ev collector.Event
	if err := a.Decode(frame, received, &ev); err != nil {
		t.Fatal(err)
	}
	sym := ev.Records[0].Header().Symbol
	if got, ok := a.syms.lookup([]byte(sym)); !ok || got != sym {
		t.Fatalf("symbol %q not interned (got %q, %v)", sym, got, ok)
	}
	allocs := testing.AllocsPerRun(100, func() {
		ev.Reset()
		if err := a.Decode(frame, received, &ev); err != nil {
			t.Fatal(err)
		}
	})
	// The trade, its id, and a big.Int and its words for each of price
	// and size (shopspring/decimal).
	if allocs > 6 {
		t.Fatalf("%v allocations per trade push, want at most 6", allocs)
	}
}

// TestSymbolsBounded: the table keeps at most maxSymbols instruments and
// stays consistent when filled from several goroutines.
func TestSymbolsBounded(t *testing.T) {
	var s symbols
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range maxSymbols {
				sym := market.Symbol(fmt.Sprintf("C%d-USDT", (i*4+g)%(maxSymbols+100)))
				s.add(sym)
				if got, ok := s.lookup([]byte(sym)); ok && got != sym {
					t.Errorf("lookup %q: %q", sym, got)
				}
			}
		})
	}
	wg.Wait()
	if n := len(*s.m.Load()); n != maxSymbols {
		t.Fatalf("%d symbols kept, want %d", n, maxSymbols)
	}
	var empty *symbols
	if _, ok := empty.lookup([]byte("BTC-USDT")); ok {
		t.Fatal("nil table found a symbol")
	}
}
