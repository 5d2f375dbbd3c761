package okx

import (
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// The readers below decode one trade object, ticker object or candle row,
// as pushed on the WebSocket and as returned by REST, which share the
// format. They fill the record's market fields and leave Exchange,
// Received and (for candles) Timeframe and Closed to the caller. They read
// decimals with a *wire.Decimals: the WebSocket decoder's table, or nil
// (REST pages), which reads them without remembering.

// fieldError is a fault in one field of a record; the caller turns it into
// a DecodeError or a REST error.
type fieldError struct {
	reason string
	field  string
	err    error
}

func (e *fieldError) Error() string { return e.field + ": " + e.reason + ": " + e.err.Error() }

func (e *fieldError) Unwrap() error { return e.err }

func badField(field string, err error) error {
	return &fieldError{reason: collector.ReasonBadField, field: field, err: err}
}

func wrongKind(field, want string, got wire.Kind) error {
	return badField(field, fmt.Errorf("want %s, got %s", want, got))
}

// maxTradeIDLen bounds a trade id; OKX's are decimal numbers of about ten
// digits.
const maxTradeIDLen = 64

// readTrade reads a trade object: instId (when present it must be sym),
// tradeId, px, sz, side (the taker's) and ts.
func readTrade(s *wire.Scanner, dec *wire.Decimals, sym market.Symbol, t *market.Trade) error {
	if err := wantObject(s, "data"); err != nil {
		return err
	}
	const (
		hasID = 1 << iota
		hasPx
		hasSz
		hasSide
		hasTs
		hasInst
		hasCount
		hasAll = hasID | hasPx | hasSz | hasSide | hasTs
	)
	var seen uint8
	err := s.Object(func(key []byte) error {
		var bit uint8
		var err error
		switch string(key) {
		case "instId":
			bit, err = hasInst, readInstID(s, sym)
		case "tradeId":
			bit = hasID
			var id []byte
			if id, err = readString(s, "tradeId"); err == nil {
				if err = checkTradeID(id); err == nil {
					t.TradeID = string(id)
				}
			}
		case "px":
			bit = hasPx
			t.Price, err = readDecimal(s, dec, "px")
		case "sz":
			bit = hasSz
			t.Size, err = readDecimal(s, dec, "sz")
		case "side":
			bit = hasSide
			t.Side, err = readSide(s)
		case "ts":
			bit = hasTs
			t.Time, err = readTime(s, "ts")
		case "count":
			bit = hasCount
			t.Aggregates, err = readCount(s)
		default:
			_, err = s.Value()
			return err
		}
		if seen&bit != 0 {
			return badField(string(key), errDuplicate)
		}
		seen |= bit
		return err
	})
	if err != nil {
		return err
	}
	if seen&hasAll != hasAll {
		for _, f := range []struct {
			bit  uint8
			name string
		}{{hasID, "tradeId"}, {hasPx, "px"}, {hasSz, "sz"}, {hasSide, "side"}, {hasTs, "ts"}} {
			if seen&f.bit == 0 {
				return badField(f.name, errMissing)
			}
		}
	}
	return nil
}

// maxTradeCount bounds the trades channel's count (matches merged into one
// record).
const maxTradeCount = 1_000_000

// readCount reads the trades channel's "count", the number of matches
// merged into one record (tradeId is the last of them): a decimal string
// from 1 to maxTradeCount; "" (REST trades have none) reads as 0.
func readCount(s *wire.Scanner) (int, error) {
	b, err := readString(s, "count")
	if err != nil || len(b) == 0 {
		return 0, err
	}
	n := 0
	for _, c := range b {
		if !isDigit(c) || n > maxTradeCount {
			return 0, badField("count", fmt.Errorf("want a decimal count of 1 to %d, got %q", maxTradeCount, b))
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > maxTradeCount {
		return 0, badField("count", fmt.Errorf("want a decimal count of 1 to %d, got %q", maxTradeCount, b))
	}
	return n, nil
}

// checkTradeID accepts 1 to 64 ASCII letters, digits, dashes and underscores.
func checkTradeID(id []byte) error {
	if len(id) == 0 || len(id) > maxTradeIDLen {
		return badField("tradeId", fmt.Errorf("want 1 to %d characters, got %d", maxTradeIDLen, len(id)))
	}
	for _, c := range id {
		if !(isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_') {
			return badField("tradeId", fmt.Errorf("unexpected character in %q", id))
		}
	}
	return nil
}

// readTicker reads a ticker object. Values OKX leaves empty ("") or null
// stay invalid; ts is required.
func readTicker(s *wire.Scanner, dec *wire.Decimals, sym market.Symbol, t *market.Ticker) error {
	if err := wantObject(s, "data"); err != nil {
		return err
	}
	hasTs := false
	err := s.Object(func(key []byte) error {
		var dst *decimal.NullDecimal
		var name string
		switch string(key) {
		case "instId":
			return readInstID(s, sym)
		case "ts":
			if hasTs {
				return badField("ts", errDuplicate)
			}
			hasTs = true
			var err error
			t.Time, err = readTime(s, "ts")
			return err
		case "last":
			dst, name = &t.Last, "last"
		case "bidPx":
			dst, name = &t.Bid, "bidPx"
		case "askPx":
			dst, name = &t.Ask, "askPx"
		case "bidSz":
			dst, name = &t.BidSize, "bidSz"
		case "askSz":
			dst, name = &t.AskSize, "askSz"
		case "open24h":
			dst, name = &t.Open24h, "open24h"
		case "high24h":
			dst, name = &t.High24h, "high24h"
		case "low24h":
			dst, name = &t.Low24h, "low24h"
		case "vol24h":
			// SPOT: base currency.
			dst, name = &t.Volume24h, "vol24h"
		case "volCcy24h":
			// SPOT: quote currency.
			dst, name = &t.QuoteVolume24h, "volCcy24h"
		default:
			_, err := s.Value()
			return err
		}
		v, err := readOptionalDecimal(s, dec, name)
		*dst = v
		return err
	})
	if err != nil {
		return err
	}
	if !hasTs {
		return badField("ts", errMissing)
	}
	return nil
}

// confirm states of a candle row.
type confirmState uint8

const (
	confirmAbsent confirmState = iota
	confirmNo
	confirmYes
)

// candleColumns is the number of documented columns of a candle row.
const candleColumns = 9

// candleColumn names column n of a candle row
// [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm].
func candleColumn(n int) string {
	switch n {
	case 0:
		return "ts"
	case 1:
		return "o"
	case 2:
		return "h"
	case 3:
		return "l"
	case 4:
		return "c"
	case 5:
		return "vol"
	case 6:
		return "volCcy"
	case 7:
		return "volCcyQuote"
	case 8:
		return "confirm"
	}
	return "data"
}

// minCandleColumns: ts, o, h, l, c and vol are required; the later columns
// were added over time and are read when present.
const minCandleColumns = 6

// readCandle reads a candle row [ts, o, h, l, c, vol, volCcy, volCcyQuote,
// confirm]. Every column is a string. volCcy, volCcyQuote and confirm may
// be missing at the end of the row; columns after confirm are ignored.
// QuoteVolume is volCcyQuote, else volCcy (both in the quote currency for
// SPOT), else invalid. Trades is -1: OKX does not count them.
func readCandle(s *wire.Scanner, dec *wire.Decimals, c *market.Candle) (confirmState, error) {
	if s.Peek() != '[' {
		sp, err := s.Value()
		if err != nil {
			return confirmAbsent, err
		}
		return confirmAbsent, wrongKind("data", "array", sp.Kind)
	}
	c.Trades = -1
	var volCcy, volCcyQuote decimal.NullDecimal
	confirm := confirmAbsent
	col := 0
	err := s.Array(func() error {
		n := col
		col++
		if n >= candleColumns {
			_, err := s.Value()
			return err
		}
		name := candleColumn(n)
		var err error
		switch n {
		case 0:
			c.Time, err = readTime(s, name)
		case 1:
			c.Open, err = readDecimal(s, dec, name)
		case 2:
			c.High, err = readDecimal(s, dec, name)
		case 3:
			c.Low, err = readDecimal(s, dec, name)
		case 4:
			c.Close, err = readDecimal(s, dec, name)
		case 5:
			c.Volume, err = readDecimal(s, dec, name)
		case 6:
			volCcy, err = readOptionalDecimal(s, dec, name)
		case 7:
			volCcyQuote, err = readOptionalDecimal(s, dec, name)
		case 8:
			var v []byte
			if v, err = readString(s, name); err == nil {
				switch string(v) {
				case "0":
					confirm = confirmNo
				case "1":
					confirm = confirmYes
				default:
					err = badField(name, fmt.Errorf("want \"0\" or \"1\", got %q", v))
				}
			}
		}
		return err
	})
	if err != nil {
		return confirmAbsent, err
	}
	if col < minCandleColumns {
		return confirmAbsent, badField(candleColumn(col), fmt.Errorf("%w: the row has %d columns, want at least %d", errMissing, col, minCandleColumns))
	}
	c.QuoteVolume = volCcyQuote
	if !c.QuoteVolume.Valid {
		c.QuoteVolume = volCcy
	}
	return confirm, nil
}

// wantObject checks that the value at s is an object, reading it whole when
// it is not.
func wantObject(s *wire.Scanner, field string) error {
	if s.Peek() == '{' {
		return nil
	}
	sp, err := s.Value()
	if err != nil {
		return err
	}
	return wrongKind(field, "object", sp.Kind)
}

// readString reads a string value, unescaped.
func readString(s *wire.Scanner, field string) ([]byte, error) {
	sp, err := s.Value()
	if err != nil {
		return nil, err
	}
	if sp.Kind != wire.KindString {
		return nil, wrongKind(field, "string", sp.Kind)
	}
	v, err := wire.Text(s.Bytes(), sp)
	if err != nil {
		return nil, badField(field, err)
	}
	return v, nil
}

// readDecimal reads a required decimal written as a string, with dec.
func readDecimal(s *wire.Scanner, dec *wire.Decimals, field string) (decimal.Decimal, error) {
	v, err := readString(s, field)
	if err != nil {
		return decimal.Decimal{}, err
	}
	d, err := dec.Parse(v)
	if err != nil {
		return decimal.Decimal{}, &fieldError{reason: collector.ReasonBadNumber, field: field, err: err}
	}
	return d, nil
}

// readOptionalDecimal reads a decimal written as a string, with dec; ""
// and null give an invalid NullDecimal.
func readOptionalDecimal(s *wire.Scanner, dec *wire.Decimals, field string) (decimal.NullDecimal, error) {
	sp, err := s.Value()
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	switch {
	case sp.Kind == wire.KindNull:
		return decimal.NullDecimal{}, nil
	case sp.Kind != wire.KindString:
		return decimal.NullDecimal{}, wrongKind(field, "string", sp.Kind)
	}
	v, err := wire.Text(s.Bytes(), sp)
	if err != nil {
		return decimal.NullDecimal{}, badField(field, err)
	}
	if len(v) == 0 {
		return decimal.NullDecimal{}, nil
	}
	d, err := dec.Parse(v)
	if err != nil {
		return decimal.NullDecimal{}, &fieldError{reason: collector.ReasonBadNumber, field: field, err: err}
	}
	return decimal.NullDecimal{Decimal: d, Valid: true}, nil
}

// readTime reads Unix milliseconds written as a string.
func readTime(s *wire.Scanner, field string) (time.Time, error) {
	v, err := readString(s, field)
	if err != nil {
		return time.Time{}, err
	}
	t, err := parseMillis(v)
	if err != nil {
		return time.Time{}, &fieldError{reason: collector.ReasonBadTimestamp, field: field, err: err}
	}
	return t, nil
}

// readSide reads "buy" or "sell".
func readSide(s *wire.Scanner) (market.Side, error) {
	v, err := readString(s, "side")
	if err != nil {
		return "", err
	}
	switch string(v) {
	case "buy":
		return market.Buy, nil
	case "sell":
		return market.Sell, nil
	}
	return "", badField("side", fmt.Errorf("want \"buy\" or \"sell\", got %q", v))
}

// readInstID reads an element's instId, which must name sym.
func readInstID(s *wire.Scanner, sym market.Symbol) error {
	v, err := readString(s, "instId")
	if err != nil {
		return err
	}
	if string(v) != string(sym) {
		return badField("instId", fmt.Errorf("instId %q in data for %s", v, sym))
	}
	return nil
}
