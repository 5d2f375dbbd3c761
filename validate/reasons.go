package validate

// Reason is a stable, snake_case rejection code. Reasons are stored in
// rejects.reason and used as metric label values: never renamed.
type Reason string

// The rejection reasons.
const (
	UnknownExchange     Reason = "unknown_exchange"      // exchange not among the configured ones
	BadSymbol           Reason = "bad_symbol"            // symbol not BASE-QUOTE (asset code for balances)
	MissingTime         Reason = "missing_timestamp"     // exchange or receipt time not set
	TimestampTooOld     Reason = "timestamp_too_old"     // before 2009-01-01 UTC
	TimestampInFuture   Reason = "timestamp_in_future"   // later than now + the clock-skew allowance
	NonPositivePrice    Reason = "non_positive_price"    // a price ≤ 0 (or absent)
	NonPositiveSize     Reason = "non_positive_size"     // a trade or book level size ≤ 0 (or absent)
	NegativeSize        Reason = "negative_size"         // a ticker size or balance < 0
	NegativeVolume      Reason = "negative_volume"       // a volume < 0
	HighBelowLow        Reason = "high_below_low"        // candle high < low
	HighBelowOpenClose  Reason = "high_below_open_close" // candle high < max(open, close)
	LowAboveOpenClose   Reason = "low_above_open_close"  // candle low > min(open, close)
	UnknownTimeframe    Reason = "unknown_timeframe"     // candle timeframe not among market.Timeframes
	MisalignedTimestamp Reason = "misaligned_timestamp"  // candle open time not on its timeframe's boundary
	BadSide             Reason = "bad_side"              // trade side neither buy nor sell
	EmptyTradeID        Reason = "empty_trade_id"        // trade without an id
	CrossedBook         Reason = "crossed_book"          // bid above ask (ticker), best bid ≥ best ask (book)
	UnsortedBook        Reason = "unsorted_book"         // bids not descending or asks not ascending
	EmptyAccount        Reason = "empty_account"         // balance without an account
	UnknownType         Reason = "unknown_type"          // not a record type validate knows
)

// Reasons lists every reason, for documentation and metrics.
func Reasons() []Reason {
	return []Reason{
		UnknownExchange, BadSymbol, MissingTime, TimestampTooOld, TimestampInFuture,
		NonPositivePrice, NonPositiveSize, NegativeSize, NegativeVolume,
		HighBelowLow, HighBelowOpenClose, LowAboveOpenClose, UnknownTimeframe, MisalignedTimestamp,
		BadSide, EmptyTradeID, CrossedBook, UnsortedBook, EmptyAccount, UnknownType,
	}
}
