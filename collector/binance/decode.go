package binance

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// fields holds where the values of the keys Binance uses are in one JSON
// object: the combined-stream wrapper and responses ("stream", "data",
// "result", "id", "error", "code", "msg"), and the payloads and klines
// (single letters, case-sensitive, with different meanings per event).
type fields struct {
	stream, data, result, id, error, code, msg wire.Span

	e, eTime, s, t, p, q, tTime, m, k    wire.Span
	c, b, bSize, a, aSize, o, h, l, v, i wire.Span
	n, x                                 wire.Span
	// U and u of a depthUpdate: the first and last update ids it covers.
	uFirst, uLast wire.Span
}

// set records the value of key; other keys are skipped.
func (f *fields) set(key []byte, v wire.Span) {
	if len(key) == 1 {
		switch key[0] {
		case 'e':
			f.e = v
		case 'E':
			f.eTime = v
		case 's':
			f.s = v
		case 't':
			f.t = v
		case 'p':
			f.p = v
		case 'q':
			f.q = v
		case 'T':
			f.tTime = v
		case 'm':
			f.m = v
		case 'k':
			f.k = v
		case 'c':
			f.c = v
		case 'b':
			f.b = v
		case 'B':
			f.bSize = v
		case 'a':
			f.a = v
		case 'A':
			f.aSize = v
		case 'o':
			f.o = v
		case 'h':
			f.h = v
		case 'l':
			f.l = v
		case 'v':
			f.v = v
		case 'i':
			f.i = v
		case 'n':
			f.n = v
		case 'x':
			f.x = v
		case 'U':
			f.uFirst = v
		case 'u':
			f.uLast = v
		}
		return
	}
	switch string(key) {
	case "stream":
		f.stream = v
	case "data":
		f.data = v
	case "result":
		f.result = v
	case "id":
		f.id = v
	case "error":
		f.error = v
	case "code":
		f.code = v
	case "msg":
		f.msg = v
	}
}

// Event types (web-socket-streams.md "Detailed Stream information").
const (
	eventTrade    = "trade"
	eventKline    = "kline"
	eventTicker   = "24hrTicker"
	eventShutdown = "serverShutdown"
	eventDepth    = "depthUpdate"
)

var (
	errMissing        = errors.New("missing")
	errWrongType      = errors.New("wrong JSON type")
	errUnknownMessage = errors.New("neither a stream event, a response nor an error")
	errBadMillis      = errors.New("milliseconds out of range")
)

// Decode implements collector.Protocol. It reads combined-stream events
// ({"stream":"btcusdt@trade","data":{...}}) and, equally, raw payloads;
// responses to SUBSCRIBE and UNSUBSCRIBE ({"result":null,"id":N} →
// ev.AckID); errors, both as documented ({"code":2,"msg":...,"id":N}) and
// as observed ({"error":{"code":2,"msg":...},"id":N}) → ev.Err; and
// serverShutdown, wrapped or raw → ev.Reconnect. A record's symbol comes
// from the stream name (or the payload's "s" in a raw payload), looked up
// among the symbols planned.
func (a *Adapter) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	d := decoder{a: a, b: frame, received: received, st: market.Stream{Exchange: market.Binance}}
	err := d.decode(ev)
	a.decimals.Put(d.dec)
	return err
}

// decode is Decode's work on d's frame.
func (d *decoder) decode(ev *collector.Event) error {
	var m message
	if err := m.scan(d.b); err != nil {
		return d.fail(collector.ReasonMalformedJSON, "", err)
	}
	top := &m.f[levelTop]
	switch {
	case top.data.Present():
		return d.wrapped(&m, ev)
	case top.e.Present():
		return d.payload(nil, top, &m.f[levelKline], ev)
	case top.error.Present() || top.code.Present():
		return d.exchangeError(&m, ev)
	case top.result.Present():
		return d.response(top, ev)
	}
	return d.fail(collector.ReasonUnknownChannel, "", errUnknownMessage)
}

// decoder turns the scanned values of one frame into an Event.
type decoder struct {
	a        *Adapter
	b        []byte
	received time.Time
	// st is what is known so far of the frame's stream, for errors.
	st market.Stream
	// dec reads the frame's decimals: taken from the adapter's pool at
	// the first decimal, nil before, given back when Decode returns.
	dec *wire.Decimals
}

func (d *decoder) fail(reason, field string, err error) error {
	return &collector.DecodeError{Stream: d.st, Reason: reason, Field: field, Err: err}
}

// wrapped decodes a combined-stream event.
func (d *decoder) wrapped(m *message, ev *collector.Event) error {
	top := &m.f[levelTop]
	if top.data.Kind != wire.KindObject {
		return d.fail(collector.ReasonBadField, "data", errWrongType)
	}
	name, err := d.text(top.stream, "stream")
	if err != nil {
		return err
	}
	return d.payload(name, &m.f[levelData], &m.f[levelKline], ev)
}

// payload decodes one event's payload p (with kline k). name is the
// combined stream's name, nil for a raw payload.
func (d *decoder) payload(name []byte, p, k *fields, ev *collector.Event) error {
	var symName, channel []byte
	if name != nil {
		if at := bytes.IndexByte(name, '@'); at >= 0 {
			symName, channel = name[:at], name[at+1:]
		} else {
			channel = name // "!serverShutdown"
		}
	}
	if !p.e.Present() {
		if knownChannel(channel) {
			return d.fail(collector.ReasonBadField, "e", errMissing)
		}
		return d.fail(collector.ReasonUnknownChannel, "stream", fmt.Errorf("stream %q", name))
	}
	et, err := d.text(p.e, "e")
	if err != nil {
		return err
	}
	switch string(et) {
	case eventShutdown:
		ev.Reconnect = true
		return nil
	case eventTrade:
		d.st.Type = market.TypeTrade
	case eventKline:
		d.st.Type = market.TypeCandle
	case eventTicker:
		d.st.Type = market.TypeTicker
	case eventDepth:
		d.st.Type = market.TypeOrderBook
	default:
		return d.fail(collector.ReasonUnknownChannel, "e", fmt.Errorf("event %q", et))
	}
	if name != nil && !channelMatches(channel, d.st.Type) {
		return d.fail(collector.ReasonBadField, "e", fmt.Errorf("event %q on stream %q", et, name))
	}
	if err := d.symbol(name, symName, p); err != nil {
		return err
	}
	switch d.st.Type {
	case market.TypeTrade:
		return d.trade(p, ev)
	case market.TypeCandle:
		return d.kline(p, k, channel, ev)
	case market.TypeOrderBook:
		return d.depth(p, ev)
	}
	return d.ticker(p, ev)
}

// knownChannel reports whether a stream name's channel is one the adapter
// subscribes.
func knownChannel(ch []byte) bool {
	return string(ch) == "trade" || string(ch) == "ticker" || string(ch) == depthChannel || bytes.HasPrefix(ch, []byte("kline_"))
}

func channelMatches(ch []byte, t market.DataType) bool {
	switch t {
	case market.TypeTrade:
		return string(ch) == "trade"
	case market.TypeTicker:
		return string(ch) == "ticker"
	case market.TypeCandle:
		return bytes.HasPrefix(ch, []byte("kline_"))
	case market.TypeOrderBook:
		return string(ch) == depthChannel
	}
	return false
}

// symbol sets d.st.Symbol from the stream name's symbol, or from the
// payload's "s" when there is no stream name, and checks that the two
// agree.
func (d *decoder) symbol(name, symName []byte, p *fields) error {
	var s []byte
	if p.s.Present() {
		var err error
		if s, err = d.text(p.s, "s"); err != nil {
			return err
		}
	}
	key, field := symName, "stream"
	if name == nil {
		if s == nil {
			return d.fail(collector.ReasonBadField, "s", errMissing)
		}
		key, field = s, "s"
	}
	sym, ok := d.a.symbols.lookup(key)
	if !ok {
		return d.fail(collector.ReasonUnknownSymbol, field, fmt.Errorf("symbol %q was not planned", key))
	}
	d.st.Symbol = sym
	if s != nil && name != nil && !bytes.EqualFold(s, symName) {
		return d.fail(collector.ReasonBadField, "s", fmt.Errorf("symbol %q on stream %q", s, name))
	}
	return nil
}

// trade decodes a trade event: the taker sold when the buyer was the
// maker ("m": true).
func (d *decoder) trade(p *fields, ev *collector.Event) error {
	if _, err := d.count(p.t, "t"); err != nil {
		return err
	}
	price, err := d.decimal(p.p, "p")
	if err != nil {
		return err
	}
	size, err := d.decimal(p.q, "q")
	if err != nil {
		return err
	}
	ts, err := d.time(p.tTime, "T")
	if err != nil {
		return err
	}
	buyerMaker, err := d.bool(p.m, "m")
	if err != nil {
		return err
	}
	side := market.Buy
	if buyerMaker {
		side = market.Sell
	}
	ev.Records = append(ev.Records, &market.Trade{
		Meta:    d.meta(ts),
		TradeID: string(d.b[p.t.Off:p.t.End]),
		Price:   price,
		Size:    size,
		Side:    side,
	})
	return nil
}

// kline decodes a kline event; channel is the stream's "kline_<interval>",
// empty for a raw payload.
func (d *decoder) kline(p, k *fields, channel []byte, ev *collector.Event) error {
	if p.k.Kind != wire.KindObject {
		return d.fail(collector.ReasonBadField, "k", errWrongType)
	}
	iv, err := d.text(k.i, "k.i")
	if err != nil {
		return err
	}
	tf, ok := timeframeOf(iv)
	if !ok {
		return d.fail(collector.ReasonUnknownChannel, "k.i", fmt.Errorf("interval %q has no market timeframe", iv))
	}
	d.st.Timeframe = tf
	if len(channel) > 0 && string(channel[len("kline_"):]) != string(iv) {
		return d.fail(collector.ReasonBadField, "k.i", fmt.Errorf("interval %q on stream kline_%s", iv, channel[len("kline_"):]))
	}
	open, err := d.time(k.t, "k.t")
	if err != nil {
		return err
	}
	c := &market.Candle{Meta: d.meta(open), Timeframe: tf}
	for _, f := range [...]struct {
		dst   *decimal.Decimal
		s     wire.Span
		field string
	}{{&c.Open, k.o, "k.o"}, {&c.High, k.h, "k.h"}, {&c.Low, k.l, "k.l"}, {&c.Close, k.c, "k.c"}, {&c.Volume, k.v, "k.v"}} {
		if *f.dst, err = d.decimal(f.s, f.field); err != nil {
			return err
		}
	}
	if c.QuoteVolume, err = d.nullDecimal(k.q, "k.q"); err != nil {
		return err
	}
	if c.Trades, err = d.count(k.n, "k.n"); err != nil {
		return err
	}
	if c.Closed, err = d.bool(k.x, "k.x"); err != nil {
		return err
	}
	ev.Records = append(ev.Records, c)
	return nil
}

// ticker decodes a 24hrTicker event. Its time is the event time "E": the
// payload has no other time of the update ("O" and "C" bound the 24-hour
// window, whose close is the moment of computation, not of a trade or
// quote change).
func (d *decoder) ticker(p *fields, ev *collector.Event) error {
	ts, err := d.time(p.eTime, "E")
	if err != nil {
		return err
	}
	t := &market.Ticker{Meta: d.meta(ts)}
	for _, f := range [...]struct {
		dst   *decimal.NullDecimal
		s     wire.Span
		field string
	}{
		{&t.Last, p.c, "c"}, {&t.Bid, p.b, "b"}, {&t.BidSize, p.bSize, "B"}, {&t.Ask, p.a, "a"}, {&t.AskSize, p.aSize, "A"},
		{&t.Open24h, p.o, "o"}, {&t.High24h, p.h, "h"}, {&t.Low24h, p.l, "l"},
		{&t.Volume24h, p.v, "v"}, {&t.QuoteVolume24h, p.q, "q"},
	} {
		if *f.dst, err = d.nullDecimal(f.s, f.field); err != nil {
			return err
		}
	}
	ev.Records = append(ev.Records, t)
	return nil
}

func (d *decoder) meta(ts time.Time) market.Meta {
	return market.Meta{Exchange: market.Binance, Symbol: d.st.Symbol, Time: ts, Received: d.received}
}
