package coinbase

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// Heartbeat is a message of the heartbeat channel (websocket-feed/channels):
// {"type":"heartbeat","sequence":90,"last_trade_id":20,"product_id":"BTC-USD",
// "time":"2014-11-07T08:19:28.464459Z"}, sent once a second per product.
type Heartbeat struct {
	// Symbol is the product the heartbeat is for.
	Symbol market.Symbol
	// Sequence is the product's feed sequence number at the heartbeat.
	Sequence int64
	// LastTradeID is the trade_id of the product's latest trade. A trade
	// stream whose latest trade id is lower has missed the matches in
	// between (Coinbase: "messages can be dropped"); Trades(ctx, symbol,
	// latest, limit) fetches them. 0 means unknown: heartbeats with a
	// last_trade_id of 0 have been observed
	// (https://github.com/preichenberger/go-coinbasepro/issues/89).
	LastTradeID int64
	// Time is the exchange's time of the heartbeat, in UTC.
	Time time.Time
}

var errNotHeartbeat = errors.New(`want "type":"heartbeat"`)

// ParseHeartbeat reads a heartbeat message, for a caller that checks
// LastTradeID against the trades received to detect missed matches. A
// frame that is not a well-formed heartbeat returns a
// *collector.DecodeError.
func ParseHeartbeat(frame []byte) (Heartbeat, error) {
	d := decoder{b: frame, st: market.Stream{Exchange: market.Coinbase}}
	var f fields
	if err := scanObject(frame, &f); err != nil {
		return Heartbeat{}, d.fail(collector.ReasonMalformedJSON, "", err)
	}
	typ, err := d.text(f.typ, "type")
	if err != nil {
		return Heartbeat{}, err
	}
	if string(typ) != typeHeartbeat {
		return Heartbeat{}, d.fail(collector.ReasonBadField, "type", errNotHeartbeat)
	}
	return d.heartbeat(&f)
}

// heartbeat reads a heartbeat message.
func (d *decoder) heartbeat(f *fields) (Heartbeat, error) {
	pid, err := d.product(f)
	if err != nil {
		return Heartbeat{}, err
	}
	var hb Heartbeat
	if hb.Sequence, err = d.count(f.sequence, "sequence"); err != nil {
		return Heartbeat{}, err
	}
	if hb.LastTradeID, err = d.count(f.lastTradeID, "last_trade_id"); err != nil {
		return Heartbeat{}, err
	}
	if hb.Time, err = d.time(f.time, "time"); err != nil {
		return Heartbeat{}, err
	}
	hb.Symbol = market.Symbol(pid)
	return hb, nil
}

// subscriptions reads the answer to a subscribe or unsubscribe
// (websocket-feed/overview): {"type":"subscriptions","channels":[{"name":
// "ticker","product_ids":["ETH-USD","ETH-BTC"]},...]}. It lists everything
// the connection is now subscribed to; the ticker and matches channels
// become acknowledged ticker and trade streams. Heartbeat and other
// channels are not streams of the adapter.
func (d *decoder) subscriptions(f *fields, ev *collector.Event) error {
	if f.channels.Kind != wire.KindArray {
		if !f.channels.Present() {
			return d.fail(collector.ReasonBadField, "channels", errMissing)
		}
		return d.fail(collector.ReasonBadField, "channels", errWrongType)
	}
	var channels []json.RawMessage
	if err := json.Unmarshal(d.b[f.channels.Off:f.channels.End], &channels); err != nil {
		return d.fail(collector.ReasonBadField, "channels", err)
	}
	for _, raw := range channels {
		var c struct {
			Name       *string  `json:"name"`
			ProductIDs []string `json:"product_ids"`
		}
		// A channel is an object or, in a request, a bare name, which
		// carries no products.
		var name string
		if json.Unmarshal(raw, &name) == nil {
			continue
		}
		if err := json.Unmarshal(raw, &c); err != nil || c.Name == nil {
			return d.fail(collector.ReasonBadField, "channels", fmt.Errorf("channel %s: want {\"name\":...,\"product_ids\":[...]}", raw))
		}
		var typ market.DataType
		switch *c.Name {
		case channelTicker:
			typ = market.TypeTicker
		case channelMatches:
			typ = market.TypeTrade
		case channelLevel2Batch, channelLevel2:
			typ = market.TypeOrderBook
		default:
			continue
		}
		for _, id := range c.ProductIDs {
			if err := checkProductID([]byte(id)); err != nil {
				return d.fail(collector.ReasonUnknownSymbol, "product_ids", err)
			}
			ev.Acked = append(ev.Acked, market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(id), Type: typ})
		}
	}
	return nil
}

// exchangeError reads an error message (websocket-errors):
// {"type":"error","message":"Failed to subscribe","reason":"ETH-USD is not a
// valid product"}. Message is the message and the reason joined by ": ";
// Coinbase sends no code. Coinbase's errors name a product, not a channel,
// so Stream holds the exchange and, when the reason names a product, its
// symbol, with no data type. Permanent is true for an unknown product and
// for channels that need authentication ("level2, level3, and full channels
// now require authentication", observed since 2023-08-01). A refused
// authentication ("Sorry, you could not be authenticated: Bad Request",
// reason "invalid signature", observed) concerns the signed level2
// subscribe, the only one the adapter signs: its Stream is the order book
// type with no symbol (every order book stream), Code the reason, and it
// is permanent unless the reason is an expired timestamp. Coinbase's
// errors carry no code, so these are recognised by their documented and
// observed wording.
func (d *decoder) exchangeError(f *fields, ev *collector.Event) error {
	msg, err := d.optionalText(f.message, "message")
	if err != nil {
		return err
	}
	reason, err := d.optionalText(f.reason, "reason")
	if err != nil {
		return err
	}
	if msg == "" && reason == "" {
		return d.fail(collector.ReasonBadField, "message", errMissing)
	}
	e := &collector.ExchangeError{Exchange: market.Coinbase, Message: msg, Stream: d.st}
	if reason != "" {
		if msg != "" {
			e.Message += ": "
		}
		e.Message += reason
	}
	if sym, ok := invalidProduct(reason); ok {
		e.Stream.Symbol = sym
	}
	lower := strings.ToLower(e.Message)
	e.Permanent = strings.Contains(lower, "not a valid product") || strings.Contains(lower, "authentication")
	if strings.Contains(lower, "could not be authenticated") {
		// Only the level2 subscribe is signed on this feed, so a refused
		// signature, key or passphrase refuses the order book streams.
		// The same keys cannot succeed, except with a timestamp that was
		// too far off, which the next connection's subscribe retries.
		e.Stream.Type = market.TypeOrderBook
		e.Code = reason
		e.Permanent = !strings.Contains(lower, "timestamp")
	}
	e.UnknownCode = !knownError(reason)
	ev.Err = e
	return nil
}

// knownReasons are the error reasons Coinbase is documented or observed
// to send (websocket-errors; see invalidProduct and the authentication
// texts of private.go), in lower case. Coinbase's errors carry no code:
// an error whose reason is none of these is reported as an unknown code,
// since the exchange may have changed its API.
var knownReasons = []string{
	"could not be authenticated",
	"is not a valid product",
	"no channels provided",
	"channels now require authentication",
	"invalid signature",
	"request timestamp expired",
	"invalid api key",
	"invalid passphrase",
}

// knownError reports whether reason is one of knownReasons.
func knownError(reason string) bool {
	lower := strings.ToLower(reason)
	for _, k := range knownReasons {
		if strings.Contains(lower, k) {
			return true
		}
	}
	return false
}

// optionalText reads a string that may be absent or null, as text.
func (d *decoder) optionalText(v wire.Span, field string) (string, error) {
	if v.Kind == wire.KindNone || v.Kind == wire.KindNull {
		return "", nil
	}
	if v.Kind != wire.KindString {
		return "", d.fail(collector.ReasonBadField, field, errWrongType)
	}
	// Unescaping also turns invalid UTF-8 into U+FFFD: the text is logged.
	t, err := wire.Text(d.b, v)
	if err != nil {
		return "", d.fail(collector.ReasonBadField, field, err)
	}
	return string(t), nil
}

// invalidProduct returns the product named by a reason such as "ETH-USD is
// not a valid product" (observed:
// https://github.com/thrasher-corp/gocryptotrader/pull/1421).
func invalidProduct(reason string) (market.Symbol, bool) {
	before, _, ok := strings.Cut(reason, " is not a valid product")
	if !ok {
		return "", false
	}
	if i := strings.LastIndexByte(before, ' '); i >= 0 {
		before = before[i+1:]
	}
	sym := market.Symbol(before)
	if sym.Check() != nil {
		return "", false
	}
	return sym, true
}
