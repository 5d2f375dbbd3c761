package service

import (
	"marketetl/dispatch"
	"marketetl/market"
)

// The embedding API's callbacks. A program that builds the service
// registers callbacks per data type, filtered by exchange and symbol, at
// any time before or while it runs, and removes them with the returned
// subscription's Close. The contract is package dispatch's: a callback
// sees every record that passed validation and was taken by the store (or
// the spool), after the live feed, in the exchange's order per stream, on
// its own goroutine and bounded queue; a panic is recovered and counted;
// a full queue drops and counts (dispatch.PolicyDrop, the default) or
// holds the collectors back (dispatch.PolicyBlock). The counters are in
// GET /api/status (components.callbacks) and in the metrics
// etl_callback_*. Backfilled records are not delivered (like the live
// feed, callbacks see what arrives live).

// Callbacks returns the dispatcher of the in-process subscribers, for
// Subscribe with a Filter over several data types.
func (s *Service) Callbacks() *dispatch.Dispatcher { return s.callbacks }

// OnTrade calls fn with every accepted trade that f matches (f.Types is
// ignored).
func (s *Service) OnTrade(f dispatch.Filter, fn func(*market.Trade), opt dispatch.Options) (*dispatch.Subscription, error) {
	return dispatch.OnTrade(s.callbacks, f, fn, opt)
}

// OnCandle calls fn with every accepted candle, forming or closed, that f
// matches (f.Types is ignored).
func (s *Service) OnCandle(f dispatch.Filter, fn func(*market.Candle), opt dispatch.Options) (*dispatch.Subscription, error) {
	return dispatch.OnCandle(s.callbacks, f, fn, opt)
}

// OnTicker calls fn with every accepted ticker that f matches (f.Types is
// ignored).
func (s *Service) OnTicker(f dispatch.Filter, fn func(*market.Ticker), opt dispatch.Options) (*dispatch.Subscription, error) {
	return dispatch.OnTicker(s.callbacks, f, fn, opt)
}

// OnBook calls fn with every accepted order book snapshot that f matches
// (f.Types is ignored).
func (s *Service) OnBook(f dispatch.Filter, fn func(*market.BookSnapshot), opt dispatch.Options) (*dispatch.Subscription, error) {
	return dispatch.OnBook(s.callbacks, f, fn, opt)
}

// OnBalance calls fn with every accepted balance that f matches (f.Types
// is ignored; f.Symbols names assets).
func (s *Service) OnBalance(f dispatch.Filter, fn func(*market.Balance), opt dispatch.Options) (*dispatch.Subscription, error) {
	return dispatch.OnBalance(s.callbacks, f, fn, opt)
}
