package sim

import (
	"fmt"

	"marketetl/market"
)

// RefuseSymbol makes the WebSocket API of ex refuse every subscription to
// sym from now on (on), or accept them again (off), with the frame the
// exchange refuses a symbol it does not list with: OKX's error event 60018
// "Wrong URL or channel:…,instId:… doesn't exist…", Coinbase's
// {"type":"error","message":"Failed to subscribe","reason":"… is not a
// valid product"} followed by the subscriptions of the others, Kraken's
// {"error":"Currency pair not supported …","success":false,"symbol":…}.
// Binance has no such frame — it acknowledges a SUBSCRIBE for any
// well-formed stream name and never sends data for a symbol it does not
// list (PROTOCOLS.md) — so for Binance it returns ErrUnsupported. The
// market still trades (Trades, REST); subscriptions made before are kept.
func (s *Sim) RefuseSymbol(ex market.Exchange, sym market.Symbol, on bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ex == market.Binance {
		return fmt.Errorf("refuse %s %s: %w", ex, sym, ErrUnsupported)
	}
	in := s.instrument(ex, sym)
	if in == nil {
		return fmt.Errorf("refuse %s %s: %w", ex, sym, ErrUnknownMarket)
	}
	if s.refusedSyms == nil {
		s.refusedSyms = map[market.Exchange]map[string]bool{}
	}
	if s.refusedSyms[ex] == nil {
		s.refusedSyms[ex] = map[string]bool{}
	}
	s.refusedSyms[ex][in.native] = on
	return nil
}

// listed returns the instrument a subscription to native names on ex, or
// nil when the exchange does not list it or refuses it (RefuseSymbol).
// s.mu is held.
func (s *Sim) listed(ex market.Exchange, native string) *instrument {
	if s.refusedSyms[ex][native] {
		return nil
	}
	return s.native[ex][native]
}
