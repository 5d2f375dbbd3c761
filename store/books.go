package store

import (
	"errors"
	"time"

	"marketetl/market"
)

// TableBookUpdates is the table of order book level changes.
const TableBookUpdates = "book_updates"

// bookUpdatesTable stores one row per level change. The natural key is
// (exchange, symbol, ts, sequence, side, price, received_at): an exchange
// message never changes one level twice, and two Coinbase messages (which
// carry no sequence) with the same time are told apart by when they were
// read; storing the same changes again (a replay) stores nothing new.
var bookUpdatesTable = table[*market.BookUpdate]{
	name:  TableBookUpdates,
	stage: "etl_stage_book_updates",
	columns: []column{
		{"exchange", "text"}, {"symbol", "text"}, {"ts", "timestamptz"}, {"sequence", "bigint"},
		{"side", "text"}, {"price", "numeric"}, {"size", "numeric"}, {"received_at", "timestamptz"},
	},
	merge: `INSERT INTO book_updates (exchange, symbol, ts, sequence, side, price, size, received_at)
SELECT exchange, symbol, ts, sequence, side, price, size, received_at FROM etl_stage_book_updates
ON CONFLICT (exchange, symbol, ts, sequence, side, price, received_at) DO NOTHING`,
	encode: func(u *market.BookUpdate, e *copyEncoder) {
		e.text(string(u.Exchange))
		e.text(string(u.Symbol))
		e.timestamptz(u.Time)
		e.int64(u.Sequence)
		e.text(string(u.Side))
		e.numeric(u.Price)
		e.numeric(u.Size)
		e.timestamptz(u.Received)
	},
	received: func(u *market.BookUpdate) time.Time { return u.Received },
	refusal:  func(u *market.BookUpdate) market.Reject { return refusalOf(u) },
}

func checkBookUpdate(u *market.BookUpdate) error {
	if storableMeta(&u.Meta) && storableNumeric(u.Price) && storableNumeric(u.Size) {
		return nil
	}
	return errors.Join(checkMeta(&u.Meta), checkNumeric("price", u.Price), checkNumeric("size", u.Size))
}
