package collector

import (
	"time"

	"marketetl/market"
)

// BookSequencing says how an exchange numbers its book messages, which
// decides how a book keeper checks that none was missed.
type BookSequencing uint8

// The sequencing rules of the exchanges' book channels.
const (
	// BookUnsequenced: no update ids (Coinbase level2): nothing is checked
	// message by message; drift is found by comparison with the
	// exchange's REST book.
	BookUnsequenced BookSequencing = iota
	// BookChained: every update names the id of the message before it
	// (OKX books: prevSeqId = the previous seqId).
	BookChained
	// BookRanged: every update covers the ids First..Seq and the stream
	// starts from a REST snapshot (Binance diff depth: U..u after
	// lastUpdateId).
	BookRanged
)

// BookMessage is one order book message decoded by an adapter: a full
// book (Snapshot) or level changes. An adapter only decodes; the book
// keeper of the stream applies, checks and resyncs.
type BookMessage struct {
	Symbol market.Symbol
	// Snapshot is true for a full book that replaces the local one
	// (Bids, Asks); false for changes (Changes).
	Snapshot bool
	Bids     []market.Level
	Asks     []market.Level
	Changes  []market.BookChange
	// Time is the exchange's time of the message.
	Time time.Time
	// Seq is the message's update id (OKX seqId, Binance u or a REST
	// snapshot's lastUpdateId); Prev the id it follows (OKX prevSeqId, -1
	// for a snapshot); First the first id it covers (Binance U). All 0
	// when the exchange sends none.
	Seq, Prev, First int64
	// Checksum is the exchange's checksum of the book after the message
	// (OKX), 0 when none is sent or it is deprecated.
	Checksum int64
}
