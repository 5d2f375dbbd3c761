// Package aggregate builds OHLCV candles from trades, for exchanges that
// stream no candles (Coinbase), for any exchange and any timeframe.
//
// A Builder is fed one exchange's trades of one symbol, in arrival order,
// and builds the candles of several timeframes at once:
//
//   - A candle's bucket is the timeframe's interval that contains the
//     trade's exchange time (market.Timeframe.Truncate); Meta.Time is the
//     bucket's open time.
//   - Open is the price of the bucket's earliest trade by exchange time and
//     Close the price of its latest, whatever the order in which they
//     arrived; between trades of the same time, the one that arrived first
//     opens and the one that arrived last closes. High and Low are the
//     extreme prices. Volume is the exact sum of the sizes, QuoteVolume
//     (always valid) the exact sum of price × size, Trades the number of
//     trades folded in.
//   - A bucket without trades has no candle, as on Coinbase's REST API
//     ("no data for intervals without trades").
//   - A candle is closed (Closed true) when a trade of a later bucket
//     arrives, or when Advance is told, from an exchange heartbeat's time,
//     that its bucket has ended.
//   - A candle known to be incomplete ends provisional instead (Closed
//     false, Provisional true): one whose bucket opened before the first
//     trade or heartbeat the Builder saw (it joined the stream mid-bucket),
//     or that was being built, or opened before the next trade or
//     heartbeat, when Interrupt said the stream was interrupted (a
//     reconnect). Only buckets seen from their open time, without an
//     interruption, are closed; a provisional candle is final only once the
//     exchange's own candle (REST) replaces it.
//   - A trade whose bucket was already closed, had ended by an earlier
//     Advance, or is older than the candle being built, is late: it is
//     counted (Late) and not folded in; the REST reconciliation corrects
//     such candles.
//   - While a candle is open, forming updates (Closed false) are emitted at
//     most once per Config.FormingEvery of exchange time, and always for the
//     first trade of a bucket. Throttled trades are not lost: the next
//     update and the closed candle include them.
//   - A trade the candle cannot use is skipped and counted (Skipped): one of
//     another exchange or symbol, with a price or size that is not > 0, with
//     no exchange time or one before 2009, or stamped further ahead of its
//     receipt time than Config.ClockSkew (plus, with Config.ClockOffset,
//     how far the local clock runs behind the exchange's, as package
//     validate allows). Package validate refuses these trades for the same
//     fields, so a candle holds no trade that validation refused for its
//     time, price or size; a far-future time in particular
//     would otherwise close the current candles early and make every
//     following trade late.
//
// Received of an emitted candle is the receipt time of the trade that
// produced it (the trade folded in, or the trade of a later bucket that
// closed it); for a candle closed by Advance it is the now passed to
// Advance, which a caller that knows the local receipt time of the
// heartbeat overwrites.
package aggregate
