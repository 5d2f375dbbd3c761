package dispatch

import "marketetl/market"

// on subscribes fn to the records of type typ that f matches.
func on[T market.Record](d *Dispatcher, typ market.DataType, f Filter, fn func(T), opt Options) (*Subscription, error) {
	f.Types = []market.DataType{typ}
	return d.Subscribe(f, func(rec market.Record) {
		if r, ok := rec.(T); ok {
			fn(r)
		}
	}, opt)
}

// OnTrade subscribes fn to the trades f matches (f.Types is ignored).
func OnTrade(d *Dispatcher, f Filter, fn func(*market.Trade), opt Options) (*Subscription, error) {
	return on(d, market.TypeTrade, f, fn, opt)
}

// OnCandle subscribes fn to the candles f matches, forming and closed
// (f.Types is ignored).
func OnCandle(d *Dispatcher, f Filter, fn func(*market.Candle), opt Options) (*Subscription, error) {
	return on(d, market.TypeCandle, f, fn, opt)
}

// OnTicker subscribes fn to the tickers f matches (f.Types is ignored).
func OnTicker(d *Dispatcher, f Filter, fn func(*market.Ticker), opt Options) (*Subscription, error) {
	return on(d, market.TypeTicker, f, fn, opt)
}

// OnBook subscribes fn to the order book snapshots f matches (f.Types is
// ignored).
func OnBook(d *Dispatcher, f Filter, fn func(*market.BookSnapshot), opt Options) (*Subscription, error) {
	return on(d, market.TypeOrderBook, f, fn, opt)
}

// OnBalance subscribes fn to the balances f matches (f.Types is ignored;
// f.Symbols names assets).
func OnBalance(d *Dispatcher, f Filter, fn func(*market.Balance), opt Options) (*Subscription, error) {
	return on(d, market.TypeBalance, f, fn, opt)
}
