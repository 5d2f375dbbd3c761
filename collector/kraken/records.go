package kraken

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// fields holds the spans of one object of a data array or of a subscribe
// result; one flat table covers the three channels.
type fields struct {
	channel, symbol, side, price, qty, tradeID, timestamp     wire.Span
	bid, bidQty, ask, askQty, last, volume, low, high, change wire.Span
	open, closePx, trades, intervalBegin, interval            wire.Span
}

// member records the span of one member.
func (f *fields) member(s *wire.Scanner, key []byte, d *decoder) error {
	var dst *wire.Span
	switch string(key) {
	case "channel":
		dst = &f.channel
	case "symbol":
		dst = &f.symbol
	case "side":
		dst = &f.side
	case "price":
		dst = &f.price
	case "qty":
		dst = &f.qty
	case "trade_id":
		dst = &f.tradeID
	case "timestamp":
		dst = &f.timestamp
	case "bid":
		dst = &f.bid
	case "bid_qty":
		dst = &f.bidQty
	case "ask":
		dst = &f.ask
	case "ask_qty":
		dst = &f.askQty
	case "last":
		dst = &f.last
	case "volume":
		dst = &f.volume
	case "low":
		dst = &f.low
	case "high":
		dst = &f.high
	case "change":
		dst = &f.change
	case "open":
		dst = &f.open
	case "close":
		dst = &f.closePx
	case "trades":
		dst = &f.trades
	case "interval_begin":
		dst = &f.intervalBegin
	case "interval":
		dst = &f.interval
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

// number reads a price or quantity, which Kraken v2 sends as a JSON number
// (guides/spot-ws-intro): read exactly with wire.ParseNumber, never through
// float64. A string is refused: the documents never send one.
func (d *decoder) number(sp wire.Span, field string) (decimal.Decimal, error) {
	if sp.Kind != wire.KindNumber {
		if !sp.Present() {
			return decimal.Decimal{}, d.fail(collector.ReasonBadField, field, errMissing)
		}
		return decimal.Decimal{}, d.fail(collector.ReasonBadNumber, field, fmt.Errorf("want a JSON number, got %s", sp.Kind))
	}
	v, err := wire.ParseNumber(d.b[sp.Off:sp.End])
	if err != nil {
		return decimal.Decimal{}, d.fail(collector.ReasonBadNumber, field, err)
	}
	return v, nil
}

// optNumber reads an optional number: absent or null is not valid.
func (d *decoder) optNumber(sp wire.Span, field string) (decimal.NullDecimal, error) {
	if !sp.Present() || sp.Kind == wire.KindNull {
		return decimal.NullDecimal{}, nil
	}
	v, err := d.number(sp, field)
	if err != nil {
		return decimal.NullDecimal{}, err
	}
	return decimal.NullDecimal{Decimal: v, Valid: true}, nil
}

// dataSymbol reads the element's symbol and sets the frame's stream.
func (d *decoder) dataSymbol(f *fields) error {
	sym, err := d.symbol(f.symbol, "data.symbol")
	if err != nil {
		return err
	}
	d.stream.Symbol = sym
	return nil
}

// trade decodes one element of the trade channel.
func (d *decoder) trade(f *fields) error {
	if err := d.dataSymbol(f); err != nil {
		return err
	}
	t := &market.Trade{}
	t.Exchange, t.Symbol, t.Received = market.Kraken, d.stream.Symbol, d.received
	side, err := d.text(f.side, "data.side")
	if err != nil {
		return err
	}
	switch string(side) {
	case "buy":
		t.Side = market.Buy
	case "sell":
		t.Side = market.Sell
	default:
		return d.fail(collector.ReasonBadField, "data.side", fmt.Errorf("side %q", side))
	}
	if t.Price, err = d.number(f.price, "data.price"); err != nil {
		return err
	}
	if t.Size, err = d.number(f.qty, "data.qty"); err != nil {
		return err
	}
	id, err := d.count(f.tradeID, "data.trade_id")
	if err != nil {
		return err
	}
	if id == 0 {
		return d.fail(collector.ReasonBadField, "data.trade_id", errors.New("trade id 0"))
	}
	t.TradeID = string(d.b[f.tradeID.Off:f.tradeID.End])
	if t.Time, err = d.timestamp(f.timestamp, "data.timestamp"); err != nil {
		return err
	}
	d.ev.Records = append(d.ev.Records, t)
	return nil
}

// ticker decodes one element of the ticker channel. Open24h is last minus
// change (change is the 24-hour price change); the quote volume is not
// sent.
func (d *decoder) ticker(f *fields) error {
	if err := d.dataSymbol(f); err != nil {
		return err
	}
	t := &market.Ticker{}
	t.Exchange, t.Symbol, t.Received = market.Kraken, d.stream.Symbol, d.received
	var err error
	for _, x := range [...]struct {
		dst   *decimal.NullDecimal
		sp    wire.Span
		field string
	}{
		{&t.Bid, f.bid, "data.bid"}, {&t.BidSize, f.bidQty, "data.bid_qty"},
		{&t.Ask, f.ask, "data.ask"}, {&t.AskSize, f.askQty, "data.ask_qty"},
		{&t.Last, f.last, "data.last"}, {&t.Volume24h, f.volume, "data.volume"},
		{&t.Low24h, f.low, "data.low"}, {&t.High24h, f.high, "data.high"},
	} {
		if *x.dst, err = d.optNumber(x.sp, x.field); err != nil {
			return err
		}
	}
	change, err := d.optNumber(f.change, "data.change")
	if err != nil {
		return err
	}
	if t.Last.Valid && change.Valid {
		t.Open24h = decimal.NullDecimal{Decimal: t.Last.Decimal.Sub(change.Decimal), Valid: true}
	}
	if f.timestamp.Present() {
		if t.Time, err = d.timestamp(f.timestamp, "data.timestamp"); err != nil {
			return err
		}
	} else {
		// Older revisions of the ticker page show no timestamp: the
		// frame's receipt time stands in.
		t.Time = d.received
	}
	d.ev.Records = append(d.ev.Records, t)
	return nil
}

// candle decodes one element of the ohlc channel, always as forming: the
// channel has no closed flag (see CandlesCloseOnNext). Its time is
// interval_begin; the deprecated timestamp (the interval's end) is not
// used.
func (d *decoder) candle(f *fields) error {
	if err := d.dataSymbol(f); err != nil {
		return err
	}
	n, err := d.count(f.interval, "data.interval")
	if err != nil {
		return err
	}
	tf, ok := timeframeOf(n)
	if !ok {
		return d.fail(collector.ReasonBadField, "data.interval", fmt.Errorf("interval %d", n))
	}
	d.stream.Timeframe = tf
	c := &market.Candle{Timeframe: tf, Trades: -1}
	c.Exchange, c.Symbol, c.Received = market.Kraken, d.stream.Symbol, d.received
	for _, x := range [...]struct {
		dst   *decimal.Decimal
		sp    wire.Span
		field string
	}{
		{&c.Open, f.open, "data.open"}, {&c.High, f.high, "data.high"}, {&c.Low, f.low, "data.low"},
		{&c.Close, f.closePx, "data.close"}, {&c.Volume, f.volume, "data.volume"},
	} {
		if *x.dst, err = d.number(x.sp, x.field); err != nil {
			return err
		}
	}
	if f.trades.Present() {
		if c.Trades, err = d.tradeCount(f.trades); err != nil {
			return err
		}
	}
	if c.Time, err = d.timestamp(f.intervalBegin, "data.interval_begin"); err != nil {
		return err
	}
	if !tf.Truncate(c.Time).Equal(c.Time) {
		return d.fail(collector.ReasonBadTimestamp, "data.interval_begin", fmt.Errorf("%s is not on a %s boundary", c.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), tf))
	}
	d.ev.Records = append(d.ev.Records, c)
	return nil
}

// tradeCount reads the ohlc "trades", typed float in the ohlc page's
// schema (its examples write integers): a whole, non-negative number,
// written 12, 12.0 or 1.2e1.
func (d *decoder) tradeCount(sp wire.Span) (int64, error) {
	if sp.Kind == wire.KindNumber {
		if n, err := wire.ParseCount(d.b[sp.Off:sp.End]); err == nil {
			return n, nil
		}
	}
	v, err := d.number(sp, "data.trades")
	if err != nil {
		return 0, err
	}
	if v.Sign() < 0 || !v.Equal(v.Truncate(0)) || !v.LessThanOrEqual(decimal.NewFromInt(math.MaxInt64)) {
		return 0, d.fail(collector.ReasonBadNumber, "data.trades", fmt.Errorf("%s is not a count of trades", v))
	}
	return v.IntPart(), nil
}

// intervals maps Kraken's ohlc intervals (minutes) to timeframes. 10080
// (a week) and 21600 (15 days) are left out: Kraken's weeks are aligned
// on the Unix epoch (Thursdays), marketetl's 1w opens on Mondays.
var intervals = [...]struct {
	minutes int64
	tf      market.Timeframe
}{
	{1, market.TF1m}, {5, market.TF5m}, {15, market.TF15m}, {30, market.TF30m},
	{60, market.TF1h}, {240, market.TF4h}, {1440, market.TF1d},
}

// timeframeOf returns the timeframe of an interval in minutes.
func timeframeOf(minutes int64) (market.Timeframe, bool) {
	for _, x := range intervals {
		if x.minutes == minutes {
			return x.tf, true
		}
	}
	return "", false
}

// intervalOf returns the interval in minutes of tf.
func intervalOf(tf market.Timeframe) (int64, bool) {
	for _, x := range intervals {
		if x.tf == tf {
			return x.minutes, true
		}
	}
	return 0, false
}

// permanentWS reports whether a subscribe refusal cannot be cured by
// retrying: an unsupported pair or a bad parameter. Kraken's v2 errors
// carry only a message ("Currency pair not supported XBT/EUR"), no code.
func permanentWS(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "not supported") || strings.Contains(m, "invalid") || strings.Contains(m, "not found")
}
