package okx

import (
	"errors"
	"fmt"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// Decode reasons of this adapter, besides the shared collector.Reason*.
const (
	// ReasonUnknownEvent is an "event" frame of a kind OKX does not document
	// for public channels.
	ReasonUnknownEvent = "unknown_event"
	// ReasonUnknownMessage is a JSON object that is neither an event nor
	// pushed data.
	ReasonUnknownMessage = "unknown_message"
)

var (
	errMissing   = errors.New("missing")
	errDuplicate = errors.New("key given twice")
)

// pong is OKX's answer to the text frame "ping" (overview-websocket-connect).
const pong = "pong"

// Decode implements collector.Protocol. It understands the text frame
// "pong", the events subscribe, unsubscribe, error, notice,
// channel-conn-count and channel-conn-count-error, and pushed data of the
// channels tickers, trades and candle<bar> (the bars of barOf). See the
// package README for how each maps onto the Event.
//
// A frame that is not JSON yields no records. When one element of a data
// array is at fault, the records of the elements before it are kept and
// the DecodeError names the field.
func (a *Adapter) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	if string(frame) == pong {
		ev.Pong = true
		return nil
	}
	d := decoder{s: wire.NewScanner(frame), received: received, ev: ev, base: len(ev.Records), syms: &a.syms, pool: &a.decimals}
	d.stream.Exchange = market.OKX
	books := len(ev.Books)
	err := d.frame()
	a.decimals.Put(d.dec)
	if err != nil {
		var de *collector.DecodeError
		if errors.As(err, &de) && de.Reason == collector.ReasonMalformedJSON {
			ev.Books = ev.Books[:books]
		}
	}
	return err
}

// decoder holds the state of decoding one frame.
type decoder struct {
	s        wire.Scanner
	received time.Time
	ev       *collector.Event
	// base is len(ev.Records) when decoding began.
	base int

	// Top-level values; data is decoded in place when arg came first.
	event, code, msg, data wire.Span
	arg                    argument
	dataDone               bool
	// stream is what is known of the frame's stream.
	stream market.Stream
	// syms interns instrument ids (the adapter's).
	syms *symbols
	// dec reads the frame's decimals: taken from pool (the adapter's) by
	// decimals at the first record, given back when Decode returns.
	pool *wire.DecimalsPool
	dec  *wire.Decimals
}

// decimals returns the frame's table of recently read decimals.
func (d *decoder) decimals() *wire.Decimals {
	if d.dec == nil {
		d.dec = d.pool.Get()
	}
	return d.dec
}

// argument is an "arg" object: the channel and instrument of a
// subscription or of pushed data.
type argument struct {
	present         bool
	channel, instID wire.Span
}

// frame decodes the whole frame. Every error it returns is a
// *collector.DecodeError; a JSON syntax error becomes malformed_json.
func (d *decoder) frame() error {
	err := d.walk()
	if err == nil {
		return nil
	}
	var de *collector.DecodeError
	if errors.As(err, &de) {
		return err
	}
	return d.malformed(err)
}

// walk decodes the frame; it returns a *collector.DecodeError or a JSON
// syntax error.
func (d *decoder) walk() error {
	if d.s.Peek() != '{' {
		if _, err := d.s.Value(); err != nil {
			return err
		}
		if err := d.s.End(); err != nil {
			return err
		}
		return d.fail(ReasonUnknownMessage, "", errors.New("not a JSON object"))
	}
	if err := d.s.Object(d.top); err != nil {
		return err
	}
	if err := d.s.End(); err != nil {
		return err
	}
	if d.event.Present() {
		d.ev.Records = d.ev.Records[:d.base]
		return d.handleEvent()
	}
	if !d.data.Present() {
		return d.fail(ReasonUnknownMessage, "", errors.New("neither an event nor pushed data"))
	}
	if d.dataDone {
		return nil
	}
	if err := d.resolveStream(); err != nil {
		return err
	}
	s := wire.NewScanner(d.s.Bytes())
	s.Seek(int(d.data.Off))
	return d.decodeData(&s)
}

// malformed reports a frame that is not JSON; it drops the records decoded
// from it so far.
func (d *decoder) malformed(err error) error {
	d.ev.Records = d.ev.Records[:d.base]
	return d.fail(collector.ReasonMalformedJSON, "", err)
}

func (d *decoder) fail(reason, field string, err error) *collector.DecodeError {
	return &collector.DecodeError{Stream: d.stream, Reason: reason, Field: field, Err: err}
}

// wrongType reports a value of the wrong JSON kind.
func (d *decoder) wrongType(field string, want string, got wire.Kind) *collector.DecodeError {
	return d.fail(collector.ReasonBadField, field, fmt.Errorf("want %s, got %s", want, got))
}

// top reads one member of the frame's top-level object.
func (d *decoder) top(key []byte) error {
	switch string(key) {
	case "event":
		return d.member(&d.event, "event", wire.KindString)
	case "code":
		// Documented as a string; accepted as a number too.
		if d.code.Present() {
			return d.fail(collector.ReasonBadField, "code", errDuplicate)
		}
		sp, err := d.s.Value()
		if err != nil {
			return err
		}
		if sp.Kind != wire.KindString && sp.Kind != wire.KindNumber {
			return d.wrongType("code", "string", sp.Kind)
		}
		d.code = sp
		return nil
	case "msg":
		return d.member(&d.msg, "msg", wire.KindString)
	case "arg":
		if d.arg.present {
			return d.fail(collector.ReasonBadField, "arg", errDuplicate)
		}
		if k := d.s.Peek(); k != '{' {
			sp, err := d.s.Value()
			if err != nil {
				return err
			}
			return d.wrongType("arg", "object", sp.Kind)
		}
		d.arg.present = true
		return d.s.Object(d.argMember)
	case "data":
		if d.data.Present() {
			return d.fail(collector.ReasonBadField, "data", errDuplicate)
		}
		if d.s.Peek() != '[' {
			sp, err := d.s.Value()
			if err != nil {
				return err
			}
			return d.wrongType("data", "array", sp.Kind)
		}
		d.data = wire.Span{Off: int32(d.s.Pos()), Kind: wire.KindArray}
		if d.arg.present && !d.event.Present() {
			// The usual order: decode the data in place.
			if err := d.resolveStream(); err != nil {
				return err
			}
			d.dataDone = true
			return d.decodeData(&d.s)
		}
		sp, err := d.s.Value()
		d.data = sp
		return err
	}
	_, err := d.s.Value()
	return err
}

// member reads a top-level value of kind want into dst.
func (d *decoder) member(dst *wire.Span, field string, want wire.Kind) error {
	if dst.Present() {
		return d.fail(collector.ReasonBadField, field, errDuplicate)
	}
	sp, err := d.s.Value()
	if err != nil {
		return err
	}
	if sp.Kind != want {
		return d.wrongType(field, want.String(), sp.Kind)
	}
	*dst = sp
	return nil
}

// argMember reads one member of "arg".
func (d *decoder) argMember(key []byte) error {
	var dst *wire.Span
	switch string(key) {
	case "channel":
		dst = &d.arg.channel
	case "instId":
		dst = &d.arg.instID
	default:
		_, err := d.s.Value()
		return err
	}
	if dst.Present() {
		return d.fail(collector.ReasonBadField, "arg."+string(key), errDuplicate)
	}
	sp, err := d.s.Value()
	if err != nil {
		return err
	}
	if sp.Kind != wire.KindString {
		return d.wrongType("arg."+string(key), "string", sp.Kind)
	}
	*dst = sp
	return nil
}

// resolveStream sets d.stream from "arg".
func (d *decoder) resolveStream() error {
	st, reason, field, err := d.arg.stream(d.s.Bytes(), d.syms)
	d.stream = st
	if err != nil {
		return d.fail(reason, field, err)
	}
	return nil
}

// stream returns the stream that arg names, filled as far as it is known
// when it returns an error with its reason and field. Symbols are looked
// up in syms, and added to it once checked.
func (arg argument) stream(b []byte, syms *symbols) (market.Stream, string, string, error) {
	st := market.Stream{Exchange: market.OKX}
	if !arg.present {
		return st, collector.ReasonBadField, "arg", errMissing
	}
	if !arg.instID.Present() {
		return st, collector.ReasonBadField, "arg.instId", errMissing
	}
	inst, err := wire.Text(b, arg.instID)
	if err != nil {
		return st, collector.ReasonBadField, "arg.instId", err
	}
	sym, ok := syms.lookup(inst)
	if !ok {
		sym = market.Symbol(inst)
		if err := sym.Check(); err != nil {
			return st, collector.ReasonUnknownSymbol, "arg.instId", err
		}
		syms.add(sym)
	}
	st.Symbol = sym
	if !arg.channel.Present() {
		return st, collector.ReasonBadField, "arg.channel", errMissing
	}
	ch, err := wire.Text(b, arg.channel)
	if err != nil {
		return st, collector.ReasonBadField, "arg.channel", err
	}
	typ, tf, ok := kindOf(ch)
	if !ok {
		return st, collector.ReasonUnknownChannel, "arg.channel", fmt.Errorf("channel %q", ch)
	}
	st.Type, st.Timeframe = typ, tf
	return st, "", "", nil
}

// decodeData decodes the data array at s for d.stream.
func (d *decoder) decodeData(s *wire.Scanner) error {
	switch d.stream.Type {
	case market.TypeTrade:
		return s.Array(func() error { return d.trade(s) })
	case market.TypeTicker:
		return s.Array(func() error { return d.ticker(s) })
	case market.TypeCandle:
		return s.Array(func() error { return d.candle(s) })
	case market.TypeOrderBook:
		return s.Array(func() error { return d.book(s) })
	}
	return d.fail(collector.ReasonUnknownChannel, "arg.channel", fmt.Errorf("data type %q", d.stream.Type))
}

// trade decodes one element of a trades push: tradeId, px, sz, side, ts
// (order-book-trading-market-data-ws-trades-channel).
func (d *decoder) trade(s *wire.Scanner) error {
	rec := new(market.Trade)
	if err := readTrade(s, d.decimals(), d.stream.Symbol, rec); err != nil {
		return d.elementError(err)
	}
	rec.Exchange, rec.Symbol, rec.Received = market.OKX, d.stream.Symbol, d.received
	d.ev.Records = append(d.ev.Records, rec)
	return nil
}

// ticker decodes one element of a tickers push
// (order-book-trading-market-data-ws-tickers-channel). OKX sends "" for a
// value it does not have (no best bid, say): that field is left invalid.
func (d *decoder) ticker(s *wire.Scanner) error {
	rec := new(market.Ticker)
	if err := readTicker(s, d.decimals(), d.stream.Symbol, rec); err != nil {
		return d.elementError(err)
	}
	rec.Exchange, rec.Symbol, rec.Received = market.OKX, d.stream.Symbol, d.received
	d.ev.Records = append(d.ev.Records, rec)
	return nil
}

// candle decodes one row of a candle<bar> push
// (order-book-trading-market-data-ws-candlesticks-channel). A row without
// the confirm column is taken as still forming.
func (d *decoder) candle(s *wire.Scanner) error {
	rec := new(market.Candle)
	confirmed, err := readCandle(s, d.decimals(), rec)
	if err != nil {
		return d.elementError(err)
	}
	rec.Exchange, rec.Symbol, rec.Received = market.OKX, d.stream.Symbol, d.received
	rec.Timeframe = d.stream.Timeframe
	rec.Closed = confirmed == confirmYes
	d.ev.Records = append(d.ev.Records, rec)
	return nil
}

// elementError turns a fieldError into a DecodeError of the frame's stream;
// a syntax error passes through.
func (d *decoder) elementError(err error) error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return d.fail(fe.reason, fe.field, fe.err)
	}
	return err
}
