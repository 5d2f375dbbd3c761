package pubsub

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// ErrUnsupportedVersion is returned (wrapped) by Decode for a payload whose
// schema version is not SchemaVersion.
var ErrUnsupportedVersion = errors.New("unsupported payload schema version")

// wirePayload is every field of every payload type, for decoding. Decimals
// are strings so that their digits reach decimal.NewFromString untouched;
// optional values are pointers so that absent and null are told apart from
// zero.
type wirePayload struct {
	V          *int    `json:"v"`
	Type       string  `json:"type"`
	Exchange   string  `json:"exchange"`
	Symbol     string  `json:"symbol"`
	Timeframe  string  `json:"timeframe"`
	TS         *string `json:"ts"`
	ReceivedAt *string `json:"received_at"`

	// trade
	TradeID *string `json:"trade_id"`
	Price   *string `json:"price"`
	Size    *string `json:"size"`
	Side    *string `json:"side"`

	// ticker
	Last           *string `json:"last"`
	Bid            *string `json:"bid"`
	BidSize        *string `json:"bid_size"`
	Ask            *string `json:"ask"`
	AskSize        *string `json:"ask_size"`
	Open24h        *string `json:"open_24h"`
	High24h        *string `json:"high_24h"`
	Low24h         *string `json:"low_24h"`
	Volume24h      *string `json:"volume_24h"`
	QuoteVolume24h *string `json:"quote_volume_24h"`

	// candle
	Open        *string `json:"open"`
	High        *string `json:"high"`
	Low         *string `json:"low"`
	Close       *string `json:"close"`
	Volume      *string `json:"volume"`
	QuoteVolume *string `json:"quote_volume"`
	Trades      *int64  `json:"trades"`
	Closed      *bool   `json:"closed"`
	Provisional bool    `json:"provisional"`

	// book
	Bids     *[][2]string `json:"bids"`
	Asks     *[][2]string `json:"asks"`
	Sequence *int64       `json:"sequence"`
	Checksum *int64       `json:"checksum"`

	// balance
	Account *string `json:"account"`
	Free    *string `json:"free"`
	Locked  *string `json:"locked"`
}

// Decode parses a payload (schema version 1) back into a market.Record:
// *market.Trade, *market.Ticker, *market.Candle, *market.BookSnapshot or
// *market.Balance. Fields it does not know are ignored; an absent or null
// optional value decodes as absent (an invalid NullDecimal, Trades -1,
// Sequence or Checksum 0). Exchange and symbol are taken as written, not
// validated; a decimal's exponent must lie within ±1000. A payload of another schema version is an error wrapping
// ErrUnsupportedVersion.
func Decode(payload []byte) (market.Record, error) {
	var w wirePayload
	if err := json.Unmarshal(payload, &w); err != nil {
		return nil, fmt.Errorf("decode payload: %w", err)
	}
	if w.V == nil {
		return nil, fmt.Errorf("decode payload: no schema version (\"v\")")
	}
	if *w.V != SchemaVersion {
		return nil, fmt.Errorf("decode payload: version %d: %w", *w.V, ErrUnsupportedVersion)
	}
	var d decoder
	meta := market.Meta{
		Exchange: market.Exchange(w.Exchange),
		Symbol:   market.Symbol(w.Symbol),
		Time:     d.time("ts", w.TS),
		Received: d.time("received_at", w.ReceivedAt),
	}
	if w.Exchange == "" {
		d.fail("exchange", "missing")
	}
	if w.Symbol == "" {
		d.fail("symbol", "missing")
	}
	var rec market.Record
	switch w.Type {
	case typeTrade:
		rec = &market.Trade{
			Meta:    meta,
			TradeID: d.str("trade_id", w.TradeID),
			Price:   d.dec("price", w.Price),
			Size:    d.dec("size", w.Size),
			Side:    market.Side(d.str("side", w.Side)),
		}
	case typeTicker:
		rec = &market.Ticker{
			Meta:           meta,
			Last:           d.nullDec("last", w.Last),
			Bid:            d.nullDec("bid", w.Bid),
			BidSize:        d.nullDec("bid_size", w.BidSize),
			Ask:            d.nullDec("ask", w.Ask),
			AskSize:        d.nullDec("ask_size", w.AskSize),
			Open24h:        d.nullDec("open_24h", w.Open24h),
			High24h:        d.nullDec("high_24h", w.High24h),
			Low24h:         d.nullDec("low_24h", w.Low24h),
			Volume24h:      d.nullDec("volume_24h", w.Volume24h),
			QuoteVolume24h: d.nullDec("quote_volume_24h", w.QuoteVolume24h),
		}
	case typeCandle:
		c := &market.Candle{
			Meta:        meta,
			Timeframe:   market.Timeframe(w.Timeframe),
			Open:        d.dec("open", w.Open),
			High:        d.dec("high", w.High),
			Low:         d.dec("low", w.Low),
			Close:       d.dec("close", w.Close),
			Volume:      d.dec("volume", w.Volume),
			QuoteVolume: d.nullDec("quote_volume", w.QuoteVolume),
			Trades:      -1,
		}
		if w.Timeframe == "" {
			d.fail("timeframe", "missing")
		}
		if w.Trades != nil {
			if *w.Trades < 0 {
				d.fail("trades", "negative")
			}
			c.Trades = *w.Trades
		}
		if w.Closed == nil {
			d.fail("closed", "missing")
		} else {
			c.Closed = *w.Closed
		}
		c.Provisional = w.Provisional && !c.Closed
		rec = c
	case typeBook:
		b := &market.BookSnapshot{Meta: meta, Bids: d.levels("bids", w.Bids), Asks: d.levels("asks", w.Asks)}
		if w.Sequence != nil {
			b.Sequence = *w.Sequence
		}
		if w.Checksum != nil {
			b.Checksum = *w.Checksum
		}
		rec = b
	case typeBalance:
		rec = &market.Balance{
			Meta:    meta,
			Account: d.str("account", w.Account),
			Free:    d.dec("free", w.Free),
			Locked:  d.dec("locked", w.Locked),
		}
	case "":
		return nil, fmt.Errorf("decode payload: no \"type\"")
	default:
		return nil, fmt.Errorf("decode payload: unknown type %q", w.Type)
	}
	if d.err != nil {
		return nil, fmt.Errorf("decode %s payload: %w", w.Type, d.err)
	}
	return rec, nil
}

// decoder converts wire fields and keeps the first error.
type decoder struct {
	err error
}

func (d *decoder) fail(field, problem string) {
	if d.err == nil {
		d.err = fmt.Errorf("field %q: %s", field, problem)
	}
}

func (d *decoder) str(field string, s *string) string {
	if s == nil {
		d.fail(field, "missing")
		return ""
	}
	return *s
}

func (d *decoder) time(field string, s *string) time.Time {
	if s == nil {
		d.fail(field, "missing")
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		d.fail(field, "want an RFC 3339 time")
		return time.Time{}
	}
	return t.UTC()
}

func (d *decoder) dec(field string, s *string) decimal.Decimal {
	if s == nil {
		d.fail(field, "missing")
		return decimal.Decimal{}
	}
	return d.parseDec(field, *s)
}

func (d *decoder) nullDec(field string, s *string) decimal.NullDecimal {
	if s == nil {
		return decimal.NullDecimal{}
	}
	return decimal.NullDecimal{Decimal: d.parseDec(field, *s), Valid: true}
}

// maxDecimalExponent bounds the exponent of a decoded decimal: no price
// needs more, and printing "1e10000" takes ten kilobytes.
const maxDecimalExponent = 1000

func (d *decoder) parseDec(field, s string) decimal.Decimal {
	v, err := decimal.NewFromString(s)
	if err != nil {
		d.fail(field, fmt.Sprintf("%q is not a decimal", s))
		return decimal.Decimal{}
	}
	if e := v.Exponent(); e > maxDecimalExponent || e < -maxDecimalExponent {
		d.fail(field, fmt.Sprintf("%q: exponent out of range", s))
		return decimal.Decimal{}
	}
	return v
}

func (d *decoder) levels(field string, pairs *[][2]string) []market.Level {
	if pairs == nil {
		d.fail(field, "missing")
		return nil
	}
	out := make([]market.Level, len(*pairs))
	for i, p := range *pairs {
		out[i] = market.Level{Price: d.parseDec(field, p[0]), Size: d.parseDec(field, p[1])}
	}
	return out
}
