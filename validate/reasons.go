package validate

// Reason is a stable, snake_case rejection code. Reasons are stored in the
// rejects table (rejects.reason) and used as metric label values, so a
// reason is never renamed or reused for another meaning; new ones may be
// added. The package documentation and README.md describe each of them.
type Reason string

// The rejection reasons, grouped by what they concern.
const (
	// UnknownType: the record is nil or of a type validate does not know.
	UnknownType Reason = "unknown_type"
	// UnknownExchange: the exchange is not one of the configured exchanges.
	UnknownExchange Reason = "unknown_exchange"
	// BadSymbol: the symbol is not BASE-QUOTE in upper case (for a balance:
	// not an asset code such as BTC).
	BadSymbol Reason = "bad_symbol"
	// MissingTimestamp: the exchange time or the receipt time is not set.
	MissingTimestamp Reason = "missing_timestamp"
	// TimestampTooOld: the exchange time is before 2009-01-01 UTC.
	TimestampTooOld Reason = "timestamp_too_old"
	// TimestampInFuture: the exchange time is later than the local clock
	// plus the clock-skew allowance.
	TimestampInFuture Reason = "timestamp_in_future"

	// NonPositivePrice: a price is zero, negative or absent (an absent
	// decimal reads as zero).
	NonPositivePrice Reason = "non_positive_price"
	// NonPositiveSize: a trade's size or a book level's size is zero,
	// negative or absent.
	NonPositiveSize Reason = "non_positive_size"
	// NegativeSize: a ticker's bid or ask size, a balance's free or locked
	// amount, or a book update's new size is negative.
	NegativeSize Reason = "negative_size"
	// NegativeVolume: a candle's or ticker's volume or quote volume is negative.
	NegativeVolume Reason = "negative_volume"

	// BadSide: a trade's side is neither buy nor sell, or a book update's
	// side is neither bid nor ask.
	BadSide Reason = "bad_side"
	// EmptyTradeID: a trade has no trade id.
	EmptyTradeID Reason = "empty_trade_id"

	// UnknownTimeframe: a candle's timeframe is not one of market.Timeframes.
	UnknownTimeframe Reason = "unknown_timeframe"
	// MisalignedTimestamp: a candle's open time is not on a boundary of its
	// timeframe (12:00:00 for 1m, 12:05:00 for 5m, Monday 00:00 for 1w).
	MisalignedTimestamp Reason = "misaligned_timestamp"
	// HighBelowLow: a candle's high (or a ticker's 24-hour high) is below its low.
	HighBelowLow Reason = "high_below_low"
	// HighBelowOpenClose: a candle's high is below its open or its close.
	HighBelowOpenClose Reason = "high_below_open_close"
	// LowAboveOpenClose: a candle's low is above its open or its close.
	LowAboveOpenClose Reason = "low_above_open_close"
	// BadTradeCount: a candle's trade count is negative other than -1
	// (which means "the exchange does not say").
	BadTradeCount Reason = "bad_trade_count"
	// ClosedBeforeEnd: a candle is marked closed although its interval has
	// not ended yet by the local clock plus the clock-skew allowance.
	ClosedBeforeEnd Reason = "closed_before_end"

	// CrossedBook: a ticker's bid is above its ask, or a book's best bid is
	// above its best ask.
	CrossedBook Reason = "crossed_book"
	// LockedBook: a book's best bid equals its best ask.
	LockedBook Reason = "locked_book"
	// UnsortedBook: a book's bids are not descending or its asks not
	// ascending by price.
	UnsortedBook Reason = "unsorted_book"
	// DuplicateLevel: a book lists the same price twice on one side.
	DuplicateLevel Reason = "duplicate_level"

	// EmptyAccount: a balance has no account name.
	EmptyAccount Reason = "empty_account"
)

// Reasons lists every reason in a stable order, for documentation and for
// initialising metric label values. It returns a new slice on each call.
func Reasons() []Reason {
	return []Reason{
		UnknownType, UnknownExchange, BadSymbol, MissingTimestamp, TimestampTooOld, TimestampInFuture,
		NonPositivePrice, NonPositiveSize, NegativeSize, NegativeVolume,
		BadSide, EmptyTradeID,
		UnknownTimeframe, MisalignedTimestamp, HighBelowLow, HighBelowOpenClose, LowAboveOpenClose,
		BadTradeCount, ClosedBeforeEnd,
		CrossedBook, LockedBook, UnsortedBook, DuplicateLevel,
		EmptyAccount,
	}
}

// String returns the reason's code.
func (r Reason) String() string { return string(r) }
