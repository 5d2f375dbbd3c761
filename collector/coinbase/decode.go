package coinbase

import (
	"bytes"
	"errors"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// Message types of the feed (websocket-feed/overview, websocket-feed/channels).
const (
	typeMatch         = "match"
	typeLastMatch     = "last_match"
	typeTicker        = "ticker"
	typeHeartbeat     = "heartbeat"
	typeSubscriptions = "subscriptions"
	typeError         = "error"
)

var (
	errMissing   = errors.New("missing")
	errWrongType = errors.New("wrong JSON type")
	errBadSide   = errors.New(`want "buy" or "sell"`)
	errTimeRange = errors.New("before 1970 or after 9999")
)

// Decode implements collector.Protocol. It reads one feed message:
//   - match and last_match (matches channel) → a *market.Trade. last_match,
//     the first message after subscribing, is the product's latest trade
//     before the subscription: a real trade, decoded like a match (the loop
//     drops it when it already handed that trade on). Coinbase's side is the
//     maker's, so Side is its opposite, the taker's.
//   - ticker → a *market.Ticker; fields the message lacks, other than
//     product_id, price and time, are left invalid.
//   - heartbeat → ev.Heartbeat, with the heartbeat's exchange time and the
//     product's trade stream, whose aggregated candles the loop closes by
//     that time. Its last_trade_id is read by ParseHeartbeat.
//   - subscriptions → ev.Acked: the ticker and trade streams of the ticker
//     and matches channels it lists (everything subscribed on the
//     connection, not only the last request's).
//   - error → ev.Err; see exchangeError.
//   - any other type → ev.Ignored: "Clients are expected to ignore messages
//     they do not support" (websocket-feed/overview).
//
// Anything malformed returns a *collector.DecodeError.
func (a *Adapter) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	d := decoder{b: frame, st: market.Stream{Exchange: market.Coinbase}, pool: &a.decimals}
	err := d.decode(received, ev)
	a.decimals.Put(d.dec)
	return err
}

// decode is Decode's work on d's frame.
func (d *decoder) decode(received time.Time, ev *collector.Event) error {
	frame := d.b
	var f fields
	if err := scanObject(frame, &f); err != nil {
		return d.fail(collector.ReasonMalformedJSON, "", err)
	}
	typ, err := d.text(f.typ, "type")
	if err != nil {
		return err
	}
	switch string(typ) {
	case typeMatch, typeLastMatch:
		d.st.Type = market.TypeTrade
		t, err := d.trade(&f, received)
		if err != nil {
			return err
		}
		ev.Records = append(ev.Records, t)
	case typeTicker:
		d.st.Type = market.TypeTicker
		t, err := d.ticker(&f, received)
		if err != nil {
			return err
		}
		ev.Records = append(ev.Records, t)
	case typeHeartbeat:
		hb, err := d.heartbeat(&f)
		if err != nil {
			return err
		}
		ev.Heartbeat = true
		ev.HeartbeatTime = hb.Time
		ev.HeartbeatStream = tradeStream(hb.Symbol)
	case typeSnapshot:
		d.st.Type = market.TypeOrderBook
		return d.bookSnapshot(&f, received, ev)
	case typeL2Update:
		d.st.Type = market.TypeOrderBook
		return d.l2update(&f, ev)
	case typeSubscriptions:
		return d.subscriptions(&f, ev)
	case typeError:
		return d.exchangeError(&f, ev)
	default:
		ev.Ignored = true
	}
	return nil
}

// decoder turns the scanned values of one frame into records.
type decoder struct {
	b []byte
	// st is what is known so far of the frame's stream, for errors; sym is
	// its symbol, made a string only for an error.
	st  market.Stream
	sym []byte
	// dec reads the frame's decimals: taken from pool (the adapter's) at
	// the first decimal, given back when Decode returns. Without a pool
	// (ParseHeartbeat) decimals are read without remembering.
	pool *wire.DecimalsPool
	dec  *wire.Decimals
}

func (d *decoder) fail(reason, field string, err error) error {
	st := d.st
	if st.Symbol == "" && d.sym != nil {
		st.Symbol = market.Symbol(d.sym)
	}
	return &collector.DecodeError{Stream: st, Reason: reason, Field: field, Err: err}
}

// trade reads a match or last_match message:
// {"type":"match","trade_id":10,"sequence":50,"maker_order_id":"...",
// "taker_order_id":"...","time":"2014-11-07T08:19:27.028459Z",
// "product_id":"BTC-USD","size":"5.23512","price":"400.23","side":"sell"}.
func (d *decoder) trade(f *fields, received time.Time) (*market.Trade, error) {
	pid, err := d.product(f)
	if err != nil {
		return nil, err
	}
	id, err := d.tradeID(f.tradeID)
	if err != nil {
		return nil, err
	}
	price, err := d.decimal(f.price, "price")
	if err != nil {
		return nil, err
	}
	size, err := d.decimal(f.size, "size")
	if err != nil {
		return nil, err
	}
	makerSide, err := d.text(f.side, "side")
	if err != nil {
		return nil, err
	}
	var side market.Side
	switch string(makerSide) {
	case "buy":
		side = market.Sell
	case "sell":
		side = market.Buy
	default:
		return nil, d.fail(collector.ReasonBadField, "side", errBadSide)
	}
	at, err := d.time(f.time, "time")
	if err != nil {
		return nil, err
	}
	// One allocation holds both the product id and the trade id.
	ids := string(pid) + string(id)
	t := &market.Trade{
		Meta: market.Meta{
			Exchange: market.Coinbase,
			Symbol:   market.Symbol(ids[:len(pid)]),
			Time:     at,
			Received: received,
		},
		TradeID: ids[len(pid):],
		Price:   price,
		Size:    size,
		Side:    side,
	}
	return t, nil
}

// ticker reads a ticker message:
// {"type":"ticker","sequence":37475248783,"product_id":"ETH-USD",
// "price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678",
// "low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027",
// "best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27",
// "best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z",
// "trade_id":370843401,"last_size":"11.4396987"}.
// volume_24h is in the base currency; there is no quote volume. The
// ticker's trade_id, last_size and side describe its last trade, which the
// matches channel carries in full; they are not kept.
func (d *decoder) ticker(f *fields, received time.Time) (*market.Ticker, error) {
	pid, err := d.product(f)
	if err != nil {
		return nil, err
	}
	t := &market.Ticker{}
	if t.Last, err = d.nullDecimal(f.price, "price", true); err != nil {
		return nil, err
	}
	for _, o := range [...]struct {
		v     wire.Span
		field string
		dst   *decimal.NullDecimal
	}{
		{f.bestBid, "best_bid", &t.Bid},
		{f.bestBidSize, "best_bid_size", &t.BidSize},
		{f.bestAsk, "best_ask", &t.Ask},
		{f.bestAskSize, "best_ask_size", &t.AskSize},
		{f.open24h, "open_24h", &t.Open24h},
		{f.high24h, "high_24h", &t.High24h},
		{f.low24h, "low_24h", &t.Low24h},
		{f.volume24h, "volume_24h", &t.Volume24h},
	} {
		if *o.dst, err = d.nullDecimal(o.v, o.field, false); err != nil {
			return nil, err
		}
	}
	at, err := d.time(f.time, "time")
	if err != nil {
		return nil, err
	}
	t.Meta = market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(pid), Time: at, Received: received}
	return t, nil
}

// product reads product_id, a Coinbase product id such as BTC-USD, which
// is already a normalised symbol. It notes the symbol for errors.
func (d *decoder) product(f *fields) ([]byte, error) {
	pid, err := d.text(f.productID, "product_id")
	if err != nil {
		return nil, err
	}
	if err := checkProductID(pid); err != nil {
		return nil, d.fail(collector.ReasonUnknownSymbol, "product_id", err)
	}
	d.sym = pid
	return pid, nil
}

// tradeID reads a trade id: a JSON number holding a non-negative integer,
// kept as its decimal text.
func (d *decoder) tradeID(v wire.Span) ([]byte, error) {
	switch v.Kind {
	case wire.KindNumber:
		id := d.b[v.Off:v.End]
		if _, err := wire.ParseCount(id); err != nil {
			return nil, d.fail(collector.ReasonBadNumber, "trade_id", err)
		}
		return id, nil
	case wire.KindNone:
		return nil, d.fail(collector.ReasonBadField, "trade_id", errMissing)
	}
	return nil, d.fail(collector.ReasonBadField, "trade_id", errWrongType)
}

// text returns a string wire.Span's text.
func (d *decoder) text(v wire.Span, field string) ([]byte, error) {
	switch v.Kind {
	case wire.KindString:
		if !v.Esc {
			return d.b[v.Off:v.End], nil
		}
		t, err := wire.Text(d.b, v)
		if err != nil {
			return nil, d.fail(collector.ReasonBadField, field, err)
		}
		return t, nil
	case wire.KindNone:
		return nil, d.fail(collector.ReasonBadField, field, errMissing)
	}
	return nil, d.fail(collector.ReasonBadField, field, errWrongType)
}

// decimal reads a decimal written as a JSON string, as Coinbase writes
// prices and sizes.
func (d *decoder) decimal(v wire.Span, field string) (decimal.Decimal, error) {
	t, err := d.text(v, field)
	if err != nil {
		return decimal.Decimal{}, err
	}
	if d.dec == nil && d.pool != nil {
		d.dec = d.pool.Get()
	}
	n, err := d.dec.Parse(t)
	if err != nil {
		return decimal.Decimal{}, d.fail(collector.ReasonBadNumber, field, err)
	}
	return n, nil
}

// nullDecimal reads a decimal string; an absent or null wire.Span is invalid
// unless required.
func (d *decoder) nullDecimal(v wire.Span, field string, required bool) (decimal.NullDecimal, error) {
	if !required && (v.Kind == wire.KindNone || v.Kind == wire.KindNull) {
		return decimal.NullDecimal{}, nil
	}
	n, err := d.decimal(v, field)
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	return decimal.NullDecimal{Decimal: n, Valid: true}, nil
}

// count reads a JSON number holding a non-negative integer.
func (d *decoder) count(v wire.Span, field string) (int64, error) {
	switch v.Kind {
	case wire.KindNumber:
		n, err := wire.ParseCount(d.b[v.Off:v.End])
		if err != nil {
			return 0, d.fail(collector.ReasonBadNumber, field, err)
		}
		return n, nil
	case wire.KindNone:
		return 0, d.fail(collector.ReasonBadField, field, errMissing)
	}
	return 0, d.fail(collector.ReasonBadField, field, errWrongType)
}

// Times outside these bounds are refused.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// time reads an RFC 3339 time string, in UTC.
func (d *decoder) time(v wire.Span, field string) (time.Time, error) {
	t, err := d.text(v, field)
	if err != nil {
		return time.Time{}, err
	}
	at, err := parseTime(t)
	if err != nil {
		return time.Time{}, d.fail(collector.ReasonBadTimestamp, field, err)
	}
	if at.Before(minTime) || !at.Before(maxTime) {
		return time.Time{}, d.fail(collector.ReasonBadTimestamp, field, errTimeRange)
	}
	return at, nil
}

// checkProductID checks that a product id is a normalised symbol,
// BASE-QUOTE in upper case, without allocating.
func checkProductID(b []byte) error {
	base, quote, ok := bytes.Cut(b, []byte{'-'})
	if !ok || !isAsset(base) || !isAsset(quote) {
		return market.Symbol(b).Check()
	}
	return nil
}

// isAsset reports whether b is an asset code market.Symbol accepts.
func isAsset(b []byte) bool {
	if len(b) == 0 || len(b) > 20 {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
