package market

import (
	"github.com/shopspring/decimal"
)

// BookSide is one side of an order book.
type BookSide string

// The two sides of an order book. The values are stable: they are stored in
// book_updates.side.
const (
	Bid BookSide = "bid"
	Ask BookSide = "ask"
)

// Valid reports whether s is Bid or Ask.
func (s BookSide) Valid() bool { return s == Bid || s == Ask }

// Level is one price level of an order book. Price and Size keep the
// exchange's decimals (an exchange's "0.45054140" keeps its eight places).
type Level struct {
	Price decimal.Decimal
	Size  decimal.Decimal
}

// BookSnapshot is the top of an order book at one moment: the local book
// after the update it was taken after. Meta.Time is the exchange's time of
// the last applied update (or of the exchange's snapshot when none was
// applied yet).
type BookSnapshot struct {
	Meta
	// Bids are best (highest) first; Asks best (lowest) first.
	Bids []Level
	Asks []Level
	// Sequence is the exchange's update id of the last applied update
	// (OKX seqId, Binance u), 0 when the exchange sends none (Coinbase).
	Sequence int64
	// Checksum is the exchange's checksum, 0 if none.
	Checksum int64
}

// Depth returns the number of levels on the larger side.
func (b *BookSnapshot) Depth() int { return max(len(b.Bids), len(b.Asks)) }

// DataType implements Record.
func (*BookSnapshot) DataType() DataType { return TypeOrderBook }

// Stream implements Record.
func (b *BookSnapshot) Stream() Stream {
	return Stream{Exchange: b.Exchange, Symbol: b.Symbol, Type: TypeOrderBook}
}

// BookChange is one level change carried by an exchange's book update:
// Size is the level's new total size, and a zero Size removes the level.
type BookChange struct {
	Side  BookSide
	Price decimal.Decimal
	Size  decimal.Decimal
}

// BookUpdate is one level change as a record, for the book_updates table.
// Meta.Time is the exchange's time of the update that carried it.
type BookUpdate struct {
	Meta
	BookChange
	// Sequence is the exchange's update id of the update that carried the
	// change (OKX seqId, Binance u), 0 when the exchange sends none
	// (Coinbase).
	Sequence int64
}

// DataType implements Record. Book updates belong to the orderbook stream.
func (*BookUpdate) DataType() DataType { return TypeOrderBook }

// Stream implements Record.
func (u *BookUpdate) Stream() Stream {
	return Stream{Exchange: u.Exchange, Symbol: u.Symbol, Type: TypeOrderBook}
}
