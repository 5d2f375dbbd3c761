package store

import (
	"errors"
	"fmt"

	"marketetl/market"
)

// The check functions report why a record holds a value its column cannot
// represent, or nil. They do not repeat validation: a negative price is
// storable (and refused by the table's CHECK constraint, then kept in
// rejects with its SQLSTATE). Each first asks the storable predicates,
// which build no error; only a record that fails one has its errors
// worked out, field by field. They run twice per record (Admit, then
// Write), so the common case is kept to comparisons.

func storableMeta(m *market.Meta) bool { return storableTime(m.Time) && storableTime(m.Received) }

func checkMeta(m *market.Meta) error {
	return errors.Join(checkTime("time", m.Time), checkTime("received", m.Received))
}

func checkTrade(t *market.Trade) error {
	if storableMeta(&t.Meta) && storableNumeric(t.Price) && storableNumeric(t.Size) {
		return nil
	}
	return errors.Join(checkMeta(&t.Meta), checkNumeric("price", t.Price), checkNumeric("size", t.Size))
}

func checkTicker(t *market.Ticker) error {
	if storableMeta(&t.Meta) &&
		storableNullNumeric(t.Last) && storableNullNumeric(t.Bid) && storableNullNumeric(t.Ask) &&
		storableNullNumeric(t.BidSize) && storableNullNumeric(t.AskSize) &&
		storableNullNumeric(t.Open24h) && storableNullNumeric(t.High24h) &&
		storableNullNumeric(t.Low24h) && storableNullNumeric(t.Volume24h) &&
		storableNullNumeric(t.QuoteVolume24h) {
		return nil
	}
	return errors.Join(checkMeta(&t.Meta),
		checkNullNumeric("last", t.Last), checkNullNumeric("bid", t.Bid), checkNullNumeric("ask", t.Ask),
		checkNullNumeric("bid_size", t.BidSize), checkNullNumeric("ask_size", t.AskSize),
		checkNullNumeric("open_24h", t.Open24h), checkNullNumeric("high_24h", t.High24h),
		checkNullNumeric("low_24h", t.Low24h), checkNullNumeric("volume_24h", t.Volume24h),
		checkNullNumeric("quote_volume_24h", t.QuoteVolume24h))
}

func checkCandle(c *market.Candle) error {
	if storableMeta(&c.Meta) &&
		storableNumeric(c.Open) && storableNumeric(c.High) && storableNumeric(c.Low) &&
		storableNumeric(c.Close) && storableNumeric(c.Volume) && storableNullNumeric(c.QuoteVolume) {
		return nil
	}
	return errors.Join(checkMeta(&c.Meta),
		checkNumeric("open", c.Open), checkNumeric("high", c.High), checkNumeric("low", c.Low),
		checkNumeric("close", c.Close), checkNumeric("volume", c.Volume),
		checkNullNumeric("quote_volume", c.QuoteVolume))
}

// storableLevels reports whether every price and size of levels fits.
func storableLevels(levels []market.Level) bool {
	for _, l := range levels {
		if !storableNumeric(l.Price) || !storableNumeric(l.Size) {
			return false
		}
	}
	return true
}

func checkBook(b *market.BookSnapshot) error {
	if storableMeta(&b.Meta) && storableLevels(b.Bids) && storableLevels(b.Asks) {
		return nil
	}
	errs := []error{checkMeta(&b.Meta)}
	for _, side := range [][]market.Level{b.Bids, b.Asks} {
		for _, l := range side {
			errs = append(errs, checkNumeric("level price", l.Price), checkNumeric("level size", l.Size))
		}
	}
	return errors.Join(errs...)
}

func checkBalance(b *market.Balance) error {
	if storableMeta(&b.Meta) && storableNumeric(b.Free) && storableNumeric(b.Locked) {
		return nil
	}
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
