package kraken

import (
	"maps"
	"strings"
	"sync/atomic"

	"marketetl/market"
)

// maxSymbols bounds the pairs a symbols table keeps; beyond it, pairs are
// converted again for every frame.
const maxSymbols = 1024

// pairOf returns Kraken's WebSocket v2 spelling of sym: BTC-USD is
// BTC/USD. Kraken v2 uses the common asset codes (BTC, not XBT: a v2
// subscription to XBT/USD is refused, see README.md), so no code is
// renamed.
func pairOf(sym market.Symbol) string {
	return strings.Replace(string(sym), "-", "/", 1)
}

// symbolOf returns the symbol spelled pair (BTC/USD), checked.
func symbolOf(pair string) (market.Symbol, bool) {
	base, quote, ok := strings.Cut(pair, "/")
	if !ok {
		return "", false
	}
	sym := market.Symbol(base + "-" + quote)
	if sym.Check() != nil {
		return "", false
	}
	return sym, true
}

// symbols interns pairs that converted to a checked symbol, so that
// decoding a push does not allocate its symbol. The map is replaced, never
// changed, so that lookups take no lock.
type symbols struct {
	m atomic.Pointer[map[string]market.Symbol]
}

// symbol returns the symbol of the pair spelled b, interning it.
func (s *symbols) symbol(b []byte) (market.Symbol, bool) {
	if m := s.m.Load(); m != nil {
		if sym, ok := (*m)[string(b)]; ok {
			return sym, true
		}
	}
	sym, ok := symbolOf(string(b))
	if !ok {
		return "", false
	}
	for {
		old := s.m.Load()
		var n int
		if old != nil {
			n = len(*old)
		}
		if n >= maxSymbols {
			return sym, true
		}
		next := make(map[string]market.Symbol, n+1)
		if old != nil {
			maps.Copy(next, *old)
		}
		next[string(b)] = sym
		if s.m.CompareAndSwap(old, &next) {
			return sym, true
		}
	}
}
