package store

import (
	"errors"
	"fmt"

	"marketetl/market"
)

// The check functions report why a record holds a value its column cannot
// represent, or nil. They do not repeat validation: a negative price is
// storable (and refused by the table's CHECK constraint, then kept in
// rejects with its SQLSTATE).

func checkMeta(m *market.Meta) error {
	return errors.Join(checkTime("time", m.Time), checkTime("received", m.Received))
}

func checkTrade(t *market.Trade) error {
	return errors.Join(checkMeta(&t.Meta), checkNumeric("price", t.Price), checkNumeric("size", t.Size))
}

func checkTicker(t *market.Ticker) error {
	return errors.Join(checkMeta(&t.Meta),
		checkNullNumeric("last", t.Last), checkNullNumeric("bid", t.Bid), checkNullNumeric("ask", t.Ask),
		checkNullNumeric("bid_size", t.BidSize), checkNullNumeric("ask_size", t.AskSize),
		checkNullNumeric("open_24h", t.Open24h), checkNullNumeric("high_24h", t.High24h),
		checkNullNumeric("low_24h", t.Low24h), checkNullNumeric("volume_24h", t.Volume24h),
		checkNullNumeric("quote_volume_24h", t.QuoteVolume24h))
}

func checkCandle(c *market.Candle) error {
	return errors.Join(checkMeta(&c.Meta),
		checkNumeric("open", c.Open), checkNumeric("high", c.High), checkNumeric("low", c.Low),
		checkNumeric("close", c.Close), checkNumeric("volume", c.Volume),
		checkNullNumeric("quote_volume", c.QuoteVolume))
}

func checkBook(b *market.BookSnapshot) error {
	errs := []error{checkMeta(&b.Meta)}
	for _, side := range [][]market.Level{b.Bids, b.Asks} {
		for _, l := range side {
			errs = append(errs, checkNumeric("level price", l.Price), checkNumeric("level size", l.Size))
		}
	}
	return errors.Join(errs...)
}

func checkBalance(b *market.Balance) error {
	return errors.Join(checkMeta(&b.Meta), checkNumeric("free", b.Free), checkNumeric("locked", b.Locked))
}

// Admit reports, without blocking, whether Write will keep rec in its
// table: nil when rec's type is supported and its row can be stored; an
// error wrapping ErrUnsupported, or saying which value no column can
// hold, otherwise (Write then keeps such a record among the rejects).
// The pipeline publishes a record only when Admit returned nil.
func (w *Writer) Admit(rec market.Record) error {
	switch r := rec.(type) {
	case *market.Trade:
		return checkTrade(r)
	case *market.Ticker:
		return checkTicker(r)
	case *market.Candle:
		return checkCandle(r)
	case *market.BookSnapshot:
		return checkBook(r)
	case *market.BookUpdate:
		return checkBookUpdate(r)
	case *market.Balance:
		return checkBalance(r)
	}
	return fmt.Errorf("store %T: %w", rec, ErrUnsupported)
}
