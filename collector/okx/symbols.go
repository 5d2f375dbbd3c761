package okx

import (
	"maps"
	"sync/atomic"

	"marketetl/market"
)

// maxSymbols bounds the instruments a symbols table keeps; beyond it,
// symbols are converted again for every frame.
const maxSymbols = 1024

// symbols interns instrument ids that passed market.Symbol.Check, so that
// decoding a push does not allocate its symbol: an adapter sees a handful
// of instruments, each in many frames. The map is replaced, never changed
// (a new instrument is rare), so that lookups take no lock.
type symbols struct {
	m atomic.Pointer[map[string]market.Symbol]
}

// lookup returns the interned symbol spelled b, if any.
func (s *symbols) lookup(b []byte) (market.Symbol, bool) {
	if s == nil {
		return "", false
	}
	m := s.m.Load()
	if m == nil {
		return "", false
	}
	sym, ok := (*m)[string(b)]
	return sym, ok
}

// add interns sym, a checked symbol.
func (s *symbols) add(sym market.Symbol) {
	if s == nil {
		return
	}
	for {
		old := s.m.Load()
		var n int
		if old != nil {
			n = len(*old)
		}
		if n >= maxSymbols {
			return
		}
		next := make(map[string]market.Symbol, n+1)
		if old != nil {
			maps.Copy(next, *old)
		}
		next[string(sym)] = sym
		if s.m.CompareAndSwap(old, &next) {
			return
		}
	}
}
