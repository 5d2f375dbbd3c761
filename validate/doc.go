// Package validate checks market records before they are stored or
// published.
//
// It is pure: no I/O and no shared mutable state; the local clock is
// injected. Validator.Check returns nil when a record is accepted, or a
// *Rejection carrying a stable Reason, the field at fault and a
// human-readable detail. An accepted record costs no allocation.
//
// # Rules
//
// Every record: the exchange is one of the configured exchanges; the
// symbol is BASE-QUOTE (market.Symbol.Check), or for a balance an asset
// code (market.CheckAsset); the exchange time and the receipt time are
// set; the exchange time is not before 2009-01-01 UTC and not later than
// the local clock plus Config.ClockSkew (plus, when Config.ClockOffset
// measured the local clock behind the exchange's, that offset, up to
// MaxClockCorrection; while it has measured nothing yet,
// MaxClockCorrection).
//
// Trades: a trade id; price > 0; size > 0; side buy or sell.
//
// Candles: a known timeframe; the open time on a boundary of it
// (market.Timeframe.Aligned); open, high, low and close > 0; volume and
// quote volume ≥ 0; a trade count ≥ 0 or -1 (unknown); high ≥ low,
// high ≥ max(open, close), low ≤ min(open, close); a closed candle's
// interval has ended (by the local clock plus the allowance).
//
// Tickers: every price present (last, bid, ask, 24-hour open, high and
// low) > 0; bid and ask sizes ≥ 0; volumes ≥ 0; bid ≤ ask and 24-hour
// high ≥ low when both are present.
//
// Book snapshots: every level's price > 0 and size > 0; bids strictly
// descending and asks strictly ascending by price, no price twice on a
// side; best bid < best ask (not crossed, not locked). Either side may be
// empty.
//
// Book updates: side bid or ask; price > 0; new size ≥ 0 (0 removes the
// level).
//
// Balances: an account name; free and locked ≥ 0.
//
// Numbers: decimal.Decimal cannot hold NaN or infinity, and text that is
// not a number never becomes a record (the exchange adapter rejects the
// frame). A decimal that was never set reads as zero, so an absent price
// or trade or level size is caught by the "> 0" rules; an absent volume
// or balance reads as 0 and is accepted, since 0 is a legitimate value
// there (exchanges send candles with zero volume for intervals without
// trades).
//
// # Reasons
//
// The codes below are stored in rejects.reason and exported as metric label
// values; they never change meaning. Field names the record field at fault
// in snake_case (ts is the exchange time, received_at the receipt time;
// book levels are bids.price, bids.size, asks.price, asks.size with the
// level's index in the detail).
//
//	unknown_type           record is nil or of a type validate does not know
//	unknown_exchange       exchange not among the configured ones
//	bad_symbol             symbol not BASE-QUOTE (balances: not an asset code)
//	missing_timestamp      exchange time (ts) or receipt time (received_at) not set
//	timestamp_too_old      exchange time before 2009-01-01 UTC
//	timestamp_in_future    exchange time later than the local clock plus the allowance
//	non_positive_price     a price ≤ 0 or absent
//	non_positive_size      a trade or book level size ≤ 0 or absent
//	negative_size          a ticker bid/ask size, a balance free/locked or a book update size < 0
//	negative_volume        a candle or ticker volume or quote volume < 0
//	bad_side               trade side neither buy nor sell, book update side neither bid nor ask
//	empty_trade_id         trade without an id
//	unknown_timeframe      candle timeframe not one of market.Timeframes
//	misaligned_timestamp   candle open time not on its timeframe's boundary
//	high_below_low         candle high < low, or ticker 24-hour high < low
//	high_below_open_close  candle high < max(open, close)
//	low_above_open_close   candle low > min(open, close)
//	bad_trade_count        candle trade count < -1
//	closed_before_end      candle marked closed before its interval ended
//	crossed_book           ticker bid > ask, or book best bid > best ask
//	locked_book            book best bid = best ask
//	unsorted_book          book bids not descending or asks not ascending
//	duplicate_level        book price listed twice on one side
//	empty_account          balance without an account name
//
// When a record breaks several rules, only the first is reported: the
// common rules are checked first, then the record type's, in the order of
// the Rules section above; a book's levels are checked bid by bid, then
// ask by ask, before the best bid is compared with the best ask.
package validate
