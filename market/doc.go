// Package market is marketetl's shared vocabulary: exchanges, symbols,
// timeframes, data types and the records (trades, tickers, candles, book
// snapshots, balances) that flow from the collectors through validation to
// the store and the live feed.
//
// It imports nothing of marketetl's own. Prices and sizes are
// decimal.Decimal from the wire to the database; no float64 is used for
// money anywhere in this package.
package market
