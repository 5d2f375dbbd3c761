package market

import (
	"time"

	"github.com/shopspring/decimal"
)

// DataType names a kind of market record.
type DataType string

// The data types. Their string values are stable: they are stored in the
// database (rejects.data_type, collector configuration) and used in Redis
// channel names (where orderbook is written "book").
const (
	TypeTicker    DataType = "ticker"
	TypeTrade     DataType = "trade"
	TypeCandle    DataType = "candle"
	TypeOrderBook DataType = "orderbook"
	TypeBalance   DataType = "balance"
)

// DataTypes lists every data type in a stable order.
func DataTypes() []DataType {
	return []DataType{TypeTicker, TypeTrade, TypeCandle, TypeOrderBook, TypeBalance}
}

// Known reports whether t is one of DataTypes.
func (t DataType) Known() bool {
	switch t {
	case TypeTicker, TypeTrade, TypeCandle, TypeOrderBook, TypeBalance:
		return true
	}
	return false
}

// Side is the taker's (aggressor's) side of a trade.
type Side string

// The two sides of a trade.
const (
	Buy  Side = "buy"
	Sell Side = "sell"
)

// Opposite returns the other side; it returns s unchanged when s is neither
// buy nor sell.
func (s Side) Opposite() Side {
	switch s {
	case Buy:
		return Sell
	case Sell:
		return Buy
	}
	return s
}

// Meta is what every record carries.
type Meta struct {
	// Exchange the record came from.
	Exchange Exchange
	// Symbol, normalised. For a balance it is the asset code (BTC).
	Symbol Symbol
	// Time is the exchange's timestamp of the event, in UTC: a trade's
	// execution time, a candle's open time, a ticker's or book's update time.
	Time time.Time
	// Received is the local time at which the frame carrying the record was
	// read from the network, in UTC.
	Received time.Time
}

// Header returns m itself; it lets every record type satisfy Record.
func (m *Meta) Header() *Meta { return m }

// Record is any market record. The concrete types are *Trade, *Ticker,
// *Candle, *BookSnapshot, *BookUpdate and *Balance.
type Record interface {
	// Header returns the record's common fields.
	Header() *Meta
	// DataType says which concrete type the record is.
	DataType() DataType
	// Stream names the stream the record belongs to.
	Stream() Stream
}

// Trade is one execution.
type Trade struct {
	Meta
	// TradeID is the exchange's trade id, as text.
	TradeID string
	Price   decimal.Decimal
	Size    decimal.Decimal
	// Side is the taker's (aggressor's) side.
	Side Side
	// Aggregates is the number of exchange trades merged into this record
	// (OKX's trades channel "count": TradeID is then the last id of the
	// merged ones); 0 means 1.
	Aggregates int
}

// NumericID returns the trade id as a number when it is a decimal integer
// above 0 (as the exchanges that number their trades one by one send it);
// ok is false otherwise. It does not allocate.
func (t *Trade) NumericID() (id int64, ok bool) {
	if t.TradeID == "" || len(t.TradeID) > 18 { // 18 digits always fit an int64
		return 0, false
	}
	for i := 0; i < len(t.TradeID); i++ {
		c := t.TradeID[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		id = id*10 + int64(c-'0')
	}
	return id, id > 0
}

// DataType implements Record.
func (*Trade) DataType() DataType { return TypeTrade }

// Stream implements Record.
func (t *Trade) Stream() Stream {
	return Stream{Exchange: t.Exchange, Symbol: t.Symbol, Type: TypeTrade}
}

// Ticker is a top-of-book and 24-hour summary. Fields an exchange does not
// send are invalid (Valid false) NullDecimals.
type Ticker struct {
	Meta
	Last    decimal.NullDecimal
	Bid     decimal.NullDecimal
	Ask     decimal.NullDecimal
	BidSize decimal.NullDecimal
	AskSize decimal.NullDecimal
	// Open24h, High24h and Low24h describe the exchange's rolling 24-hour window.
	Open24h decimal.NullDecimal
	High24h decimal.NullDecimal
	Low24h  decimal.NullDecimal
	// Volume24h is in the base asset; QuoteVolume24h in the quote asset.
	Volume24h      decimal.NullDecimal
	QuoteVolume24h decimal.NullDecimal
}

// DataType implements Record.
func (*Ticker) DataType() DataType { return TypeTicker }

// Stream implements Record.
func (t *Ticker) Stream() Stream {
	return Stream{Exchange: t.Exchange, Symbol: t.Symbol, Type: TypeTicker}
}

// Candle is an OHLCV bar. Meta.Time is the candle's open time.
type Candle struct {
	Meta
	Timeframe Timeframe
	Open      decimal.Decimal
	High      decimal.Decimal
	Low       decimal.Decimal
	Close     decimal.Decimal
	// Volume is in the base asset.
	Volume decimal.Decimal
	// QuoteVolume is in the quote asset, when the exchange sends it.
	QuoteVolume decimal.NullDecimal
	// Trades is the number of trades, or -1 when the exchange does not say.
	Trades int64
	// Closed is true for a final candle, false while it is still forming
	// or provisional.
	Closed bool
	// Provisional is true for a candle whose interval has ended but which
	// is known to be incomplete: built from trades of only part of its
	// interval (the collector joined the stream, or rejoined it after a
	// reconnect, during the interval). It is never Closed; the exchange's
	// own candle replaces it once reconciliation fetches it.
	Provisional bool
}

// DataType implements Record.
func (*Candle) DataType() DataType { return TypeCandle }

// Stream implements Record.
func (c *Candle) Stream() Stream {
	return Stream{Exchange: c.Exchange, Symbol: c.Symbol, Type: TypeCandle, Timeframe: c.Timeframe}
}

// Balance is one asset's balance in one account. Meta.Symbol holds the asset
// code (BTC).
type Balance struct {
	Meta
	// Account names the account (for example "spot"); never a secret.
	Account string
	Free    decimal.Decimal
	Locked  decimal.Decimal
}

// DataType implements Record.
func (*Balance) DataType() DataType { return TypeBalance }

// Stream implements Record.
func (b *Balance) Stream() Stream {
	return Stream{Exchange: b.Exchange, Symbol: b.Symbol, Type: TypeBalance}
}

// Reject is something that was refused, kept with its reason: a record that
// failed validation, or a frame that could not be decoded.
type Reject struct {
	// Received is when the frame carrying it was read.
	Received time.Time
	Exchange Exchange
	// Symbol and Type are set when the frame was parsed far enough to know them.
	Symbol Symbol
	Type   DataType
	// Reason is a stable, snake_case code (see package validate).
	Reason string
	// Field is the field at fault, if any.
	Field string
	// Detail is a human-readable explanation.
	Detail string
	// Raw is the offending payload; the store truncates it.
	Raw []byte
}
