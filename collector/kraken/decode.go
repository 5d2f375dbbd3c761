package kraken

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
	// ReasonUnknownMessage is a JSON value that is neither a channel
	// message nor a method response.
	ReasonUnknownMessage = "unknown_message"
	// ReasonUnknownMethod is a method response of a method the adapter
	// never sends.
	ReasonUnknownMethod = "unknown_method"
)

var (
	errMissing   = errors.New("missing")
	errDuplicate = errors.New("key given twice")
)

// top holds the top-level members of a frame.
type top struct {
	channel, typ, method, success, errMsg, symbol, result, data wire.Span
}

// decoder holds the state of decoding one frame.
type decoder struct {
	a        *Adapter
	b        []byte
	received time.Time
	ev       *collector.Event
	base     int
	stream   market.Stream
	t        top
}

// Decode implements collector.Protocol. It understands the channels
// status, heartbeat, trade, ticker and ohlc, and the responses to the
// methods subscribe, unsubscribe and ping (README.md, "Frames"). When one
// element of a data array is at fault, the records of the elements before
// it are kept and the DecodeError names the field.
func (a *Adapter) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	d := decoder{a: a, b: frame, received: received, ev: ev, base: len(ev.Records)}
	d.stream.Exchange = market.Kraken
	err := d.walk()
	if err == nil {
		return nil
	}
	var de *collector.DecodeError
	if errors.As(err, &de) {
		return err
	}
	d.ev.Records = d.ev.Records[:d.base]
	return d.fail(collector.ReasonMalformedJSON, "", err)
}

func (d *decoder) fail(reason, field string, err error) *collector.DecodeError {
	return &collector.DecodeError{Stream: d.stream, Reason: reason, Field: field, Err: err}
}

func (d *decoder) wrongType(field string, want string, got wire.Kind) *collector.DecodeError {
	return d.fail(collector.ReasonBadField, field, fmt.Errorf("want %s, got %s", want, got))
}

// walk reads the top level, then the data it names.
func (d *decoder) walk() error {
	s := wire.NewScanner(d.b)
	if s.Peek() != '{' {
		if _, err := s.Value(); err != nil {
			return err
		}
		if err := s.End(); err != nil {
			return err
		}
		return d.fail(ReasonUnknownMessage, "", errors.New("not a JSON object"))
	}
	if err := s.Object(func(key []byte) error { return d.member(&s, key) }); err != nil {
		return err
	}
	if err := s.End(); err != nil {
		return err
	}
	switch {
	case d.t.method.Present():
		return d.response()
	case d.t.channel.Present():
		return d.channel()
	}
	return d.fail(ReasonUnknownMessage, "", errors.New("neither a channel message nor a method response"))
}

// member records one top-level member's span.
func (d *decoder) member(s *wire.Scanner, key []byte) error {
	var dst *wire.Span
	switch string(key) {
	case "channel":
		dst = &d.t.channel
	case "type":
		dst = &d.t.typ
	case "method":
		dst = &d.t.method
	case "success":
		dst = &d.t.success
	case "error":
		dst = &d.t.errMsg
	case "symbol":
		dst = &d.t.symbol
	case "result":
		dst = &d.t.result
	case "data":
		dst = &d.t.data
	default:
		_, err := s.Value()
		return err
	}
	sp, err := s.Value()
	if err != nil {
		return err
	}
	if dst.Present() {
		return d.fail(collector.ReasonBadField, string(key), errDuplicate)
	}
	*dst = sp
	return nil
}

// text returns the text of a string span, or a bad_field error.
func (d *decoder) text(sp wire.Span, field string) ([]byte, error) {
	if sp.Kind != wire.KindString {
		if !sp.Present() {
			return nil, d.fail(collector.ReasonBadField, field, errMissing)
		}
		return nil, d.wrongType(field, "string", sp.Kind)
	}
	b, err := wire.Text(d.b, sp)
	if err != nil {
		return nil, d.fail(collector.ReasonBadField, field, err)
	}
	return b, nil
}

// channel decodes a channel message.
func (d *decoder) channel() error {
	ch, err := d.text(d.t.channel, "channel")
	if err != nil {
		return err
	}
	switch string(ch) {
	case "heartbeat":
		d.ev.Heartbeat = true
		return nil
	case "status":
		// The connection's first message ({"channel":"status",...,
		// "system":"online"}): it carries no market data.
		d.ev.Ignored = true
		return nil
	case "trade":
		d.stream.Type = market.TypeTrade
	case "ticker":
		d.stream.Type = market.TypeTicker
	case "ohlc":
		d.stream.Type = market.TypeCandle
	default:
		return d.fail(collector.ReasonUnknownChannel, "channel", fmt.Errorf("channel %q", ch))
	}
	typ, err := d.text(d.t.typ, "type")
	if err != nil {
		return err
	}
	if string(typ) != "snapshot" && string(typ) != "update" {
		return d.fail(collector.ReasonBadField, "type", fmt.Errorf("type %q", typ))
	}
	if d.t.data.Kind != wire.KindArray {
		if !d.t.data.Present() {
			return d.fail(collector.ReasonBadField, "data", errMissing)
		}
		return d.wrongType("data", "array", d.t.data.Kind)
	}
	s := wire.NewScanner(d.b)
	s.Seek(int(d.t.data.Off))
	return s.Array(func() error {
		if s.Peek() != '{' {
			sp, err := s.Value()
			if err != nil {
				return err
			}
			return d.wrongType("data[]", "object", sp.Kind)
		}
		var f fields
		if err := s.Object(func(key []byte) error { return f.member(&s, key, d) }); err != nil {
			return err
		}
		switch d.stream.Type {
		case market.TypeTrade:
			return d.trade(&f)
		case market.TypeTicker:
			return d.ticker(&f)
		}
		return d.candle(&f)
	})
}

// response decodes the answer to a method: subscribe, unsubscribe, pong.
func (d *decoder) response() error {
	m, err := d.text(d.t.method, "method")
	if err != nil {
		return err
	}
	switch string(m) {
	case "pong":
		d.ev.Pong = true
		return nil
	case "subscribe", "unsubscribe":
	default:
		return d.fail(ReasonUnknownMethod, "method", fmt.Errorf("method %q", m))
	}
	if d.t.success.Kind != wire.KindTrue && d.t.success.Kind != wire.KindFalse {
		return d.wrongType("success", "boolean", d.t.success.Kind)
	}
	if d.t.success.Kind == wire.KindFalse {
		return d.refusal()
	}
	if string(m) == "unsubscribe" {
		d.ev.Ignored = true
		return nil
	}
	if d.t.result.Kind != wire.KindObject {
		return d.wrongType("result", "object", d.t.result.Kind)
	}
	s := wire.NewScanner(d.b)
	s.Seek(int(d.t.result.Off))
	var f fields
	if err := s.Object(func(key []byte) error { return f.member(&s, key, d) }); err != nil {
		return err
	}
	st, err := d.ackStream(&f)
	if err != nil {
		return err
	}
	d.ev.Acked = append(d.ev.Acked, st)
	return nil
}

// ackStream returns the stream a subscribe result names.
func (d *decoder) ackStream(f *fields) (market.Stream, error) {
	ch, err := d.text(f.channel, "result.channel")
	if err != nil {
		return market.Stream{}, err
	}
	st := market.Stream{Exchange: market.Kraken}
	switch string(ch) {
	case "trade":
		st.Type = market.TypeTrade
	case "ticker":
		st.Type = market.TypeTicker
	case "ohlc":
		st.Type = market.TypeCandle
		n, err := d.count(f.interval, "result.interval")
		if err != nil {
			return market.Stream{}, err
		}
		tf, ok := timeframeOf(n)
		if !ok {
			return market.Stream{}, d.fail(collector.ReasonBadField, "result.interval", fmt.Errorf("interval %d", n))
		}
		st.Timeframe = tf
	default:
		return market.Stream{}, d.fail(collector.ReasonUnknownChannel, "result.channel", fmt.Errorf("channel %q", ch))
	}
	sym, err := d.symbol(f.symbol, "result.symbol")
	if err != nil {
		return market.Stream{}, err
	}
	st.Symbol = sym
	return st, nil
}

// refusal reports {"error":"...","method":"subscribe","success":false,
// "symbol":"..."}.
func (d *decoder) refusal() error {
	msg, err := d.text(d.t.errMsg, "error")
	if err != nil {
		return err
	}
	e := &collector.ExchangeError{Exchange: market.Kraken, Message: string(msg), Permanent: permanentWS(string(msg))}
	if d.t.symbol.Kind == wire.KindString {
		if b, err := wire.Text(d.b, d.t.symbol); err == nil {
			if sym, ok := symbolOf(string(b)); ok {
				e.Stream = market.Stream{Exchange: market.Kraken, Symbol: sym}
			}
		}
	}
	d.ev.Err = e
	return nil
}

// symbol reads a pair (BTC/USD) as a symbol.
func (d *decoder) symbol(sp wire.Span, field string) (market.Symbol, error) {
	b, err := d.text(sp, field)
	if err != nil {
		return "", err
	}
	sym, ok := d.a.syms.symbol(b)
	if !ok {
		return "", d.fail(collector.ReasonUnknownSymbol, field, fmt.Errorf("pair %q", b))
	}
	return sym, nil
}

// count reads a non-negative integer number.
func (d *decoder) count(sp wire.Span, field string) (int64, error) {
	if sp.Kind != wire.KindNumber {
		if !sp.Present() {
			return 0, d.fail(collector.ReasonBadField, field, errMissing)
		}
		return 0, d.wrongType(field, "number", sp.Kind)
	}
	n, err := wire.ParseCount(d.b[sp.Off:sp.End])
	if err != nil {
		return 0, d.fail(collector.ReasonBadNumber, field, err)
	}
	return n, nil
}

// timestamp reads an RFC 3339 time in UTC ("2023-09-25T07:49:37.708706Z").
func (d *decoder) timestamp(sp wire.Span, field string) (time.Time, error) {
	b, err := d.text(sp, field)
	if err != nil {
		return time.Time{}, err
	}
	t, err := parseTime(b)
	if err != nil {
		return time.Time{}, d.fail(collector.ReasonBadTimestamp, field, err)
	}
	return t, nil
}

// parseTime reads RFC 3339 with up to nine fractional digits and a Z.
func parseTime(b []byte) (time.Time, error) {
	if len(b) < 20 || b[len(b)-1] != 'Z' {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339 in UTC", b)
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: %w", b, err)
	}
	return t.UTC(), nil
}
