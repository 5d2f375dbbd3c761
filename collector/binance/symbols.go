package binance

import (
	"fmt"
	"strings"
	"sync/atomic"

	"marketetl/market"
)

// Binance writes BTC-USDT as btcusdt in stream names and as BTCUSDT in
// payloads and REST parameters. The way back is ambiguous in general (is
// BTCUSDT BTC-USDT or BTCU-SDT?), and splitting by a list of known quote
// assets goes wrong whenever Binance lists a new quote asset. The adapter
// therefore learns the way back from the streams it plans: every symbol
// that Plan or Subscribe sees is entered in a table under both spellings,
// and Decode looks the stream name's (or payload's) symbol up there. A
// record is only ever decoded for a stream that was planned first, so the
// table always knows it; an unknown symbol is reported as a DecodeError
// with reason unknown_symbol rather than guessed.
//
// The table only grows: a symbol removed from one collector's plan may
// still be planned by another collector sharing the adapter, or still be
// arriving until its UNSUBSCRIBE is answered. When two normalised symbols
// spell the same Binance symbol (BTC-USDT and BTCU-SDT), Plan refuses them
// together, and across plans the later one wins.

// lowerSymbol returns sym as written in stream names: btcusdt.
func lowerSymbol(sym market.Symbol) string {
	return strings.ToLower(sym.Base() + sym.Quote())
}

// upperSymbol returns sym as written in payloads and REST parameters: BTCUSDT.
func upperSymbol(sym market.Symbol) string {
	return sym.Base() + sym.Quote()
}

// symbolTable maps btcusdt and BTCUSDT to BTC-USDT. The map behind the
// pointer is never modified once published: learn copies it, adds to the
// copy and swaps it in, so lookups need no lock.
type symbolTable struct {
	cur atomic.Pointer[map[string]market.Symbol]
}

// lookup returns the normalised symbol for a Binance spelling, in either
// case as Binance writes it.
func (t *symbolTable) lookup(b []byte) (market.Symbol, bool) {
	m := t.cur.Load()
	if m == nil {
		return "", false
	}
	sym, ok := (*m)[string(b)]
	return sym, ok
}

// learn enters syms, which must be well-formed, under both spellings.
func (t *symbolTable) learn(syms []market.Symbol) {
	for {
		old := t.cur.Load()
		if old != nil && knowsAll(*old, syms) {
			return
		}
		n := 2 * len(syms)
		if old != nil {
			n += len(*old)
		}
		next := make(map[string]market.Symbol, n)
		if old != nil {
			for k, v := range *old {
				next[k] = v
			}
		}
		for _, s := range syms {
			next[lowerSymbol(s)] = s
			next[upperSymbol(s)] = s
		}
		if t.cur.CompareAndSwap(old, &next) {
			return
		}
	}
}

func knowsAll(m map[string]market.Symbol, syms []market.Symbol) bool {
	for _, s := range syms {
		if m[upperSymbol(s)] != s {
			return false
		}
	}
	return true
}

// checkSpellings returns an error when two of syms are the same Binance
// symbol.
func checkSpellings(syms []market.Symbol) error {
	seen := make(map[string]market.Symbol, len(syms))
	for _, s := range syms {
		u := upperSymbol(s)
		if prev, ok := seen[u]; ok && prev != s {
			return fmt.Errorf("symbols %s and %s are both Binance's %s; keep one", prev, s, u)
		}
		seen[u] = s
	}
	return nil
}
