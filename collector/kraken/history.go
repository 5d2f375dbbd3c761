package kraken

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// REST paths (REST API reference, market data).
const (
	pathOHLC   = "/0/public/OHLC"
	pathTrades = "/0/public/Trades"
)

// tradePage is Kraken's page of Trades: "default/max 1000".
const tradePage = 1000

// restPair returns the REST name of sym: Kraken's altname, BASE and QUOTE
// run together with Kraken's own codes for Bitcoin (XBT) and Dogecoin
// (XDG), as in the documented example pair=XBTUSD. The answer's result is
// keyed by the pair's REST id (XXBTZUSD), which the adapter does not need
// to know: it takes the result's one key other than "last".
func restPair(sym market.Symbol) string {
	base, quote, _ := strings.Cut(string(sym), "-")
	return restAsset(base) + restAsset(quote)
}

func restAsset(a string) string {
	switch a {
	case "BTC":
		return "XBT"
	case "DOGE":
		return "XDG"
	}
	return a
}

// Candles implements collector.History with GET /0/public/OHLC
// (pair, interval, since). Kraken returns "up to 720 of the most recent
// entries", older ones "cannot be retrieved, regardless of the value of
// since"; the last row is the candle still forming and is left out, as is
// any row that is not closed by the adapter's clock. Rows are oldest
// first; only open times in [from, to) are returned.
func (a *Adapter) Candles(ctx context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	minutes, ok := intervalOf(tf)
	if !ok {
		return nil, fmt.Errorf("kraken candles %s %s: unsupported timeframe: %w", sym, tf, collector.ErrPermanent)
	}
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("kraken candles %s: %w: %w", sym, err, collector.ErrPermanent)
	}
	q := url.Values{}
	q.Set("pair", restPair(sym))
	q.Set("interval", strconv.FormatInt(minutes, 10))
	// Whether since is inclusive is not documented: ask from a second
	// before the first wanted open time and filter.
	q.Set("since", strconv.FormatInt(from.Unix()-1, 10))
	rows, _, err := a.get(ctx, pathOHLC, q)
	if err != nil {
		return nil, fmt.Errorf("kraken candles %s %s: %w", sym, tf, err)
	}
	var raw [][]json.Number
	if err := decodeStrict(rows, &raw); err != nil {
		return nil, fmt.Errorf("kraken candles %s %s: body: %w", sym, tf, err)
	}
	d := tf.Duration()
	now := a.rest.Now()
	out := make([]market.Candle, 0, len(raw))
	for i, row := range raw {
		c, err := candleRow(row)
		if err != nil {
			return nil, fmt.Errorf("kraken candles %s %s: row %d: %w", sym, tf, i, err)
		}
		if i == len(raw)-1 || c.Time.Add(d).After(now) {
			continue // the forming candle
		}
		if c.Time.Before(from) || !c.Time.Before(to) {
			continue
		}
		c.Exchange, c.Symbol, c.Timeframe, c.Closed, c.Received = market.Kraken, sym, tf, true, now
		out = append(out, c)
	}
	return out, nil
}

// candleRow reads [int time, "open", "high", "low", "close", "vwap",
// "volume", int count].
func candleRow(row []json.Number) (market.Candle, error) {
	var c market.Candle
	if len(row) != 8 {
		return c, fmt.Errorf("want 8 values, got %d", len(row))
	}
	sec, err := wire.ParseCount([]byte(row[0]))
	if err != nil {
		return c, fmt.Errorf("time: %w", err)
	}
	c.Time = time.Unix(sec, 0).UTC()
	for i, dst := range []*decimal.Decimal{&c.Open, &c.High, &c.Low, &c.Close, nil, &c.Volume} {
		if dst == nil {
			continue
		}
		if *dst, err = wire.ParseDecimal([]byte(row[1+i])); err != nil {
			return c, fmt.Errorf("value %d: %w", 1+i, err)
		}
	}
	if c.Trades, err = wire.ParseCount([]byte(row[7])); err != nil {
		return c, fmt.Errorf("count: %w", err)
	}
	return c, nil
}

// Trades implements collector.History. Kraken's Trades cannot be asked
// for trades after an id, only after a time (since, in nanoseconds): the
// backfill uses TradesSince, and Trades refuses with ErrPermanent.
func (a *Adapter) Trades(ctx context.Context, sym market.Symbol, afterID int64, limit int) ([]market.Trade, error) {
	return nil, fmt.Errorf("kraken trades %s after id %d: kraken pages trades by time, use TradesSince: %w", sym, afterID, collector.ErrPermanent)
}

// TradesSince implements collector.TimedHistory with GET
// /0/public/Trades (pair, since in Unix nanoseconds, count 1000). Rows are
// [price, volume, time, "b"/"s", "m"/"l", miscellaneous, trade_id],
// oldest first; result.last (nanoseconds, as a string) is the since of the
// next page. The row's time is seconds with a fraction, a JSON number,
// read exactly (to the nanosecond) without float64.
func (a *Adapter) TradesSince(ctx context.Context, sym market.Symbol, since time.Time) ([]market.Trade, time.Time, error) {
	if err := sym.Check(); err != nil {
		return nil, time.Time{}, fmt.Errorf("kraken trades %s: %w: %w", sym, err, collector.ErrPermanent)
	}
	q := url.Values{}
	q.Set("pair", restPair(sym))
	q.Set("since", strconv.FormatInt(max(since.UnixNano(), 0), 10))
	q.Set("count", strconv.Itoa(tradePage))
	rows, last, err := a.get(ctx, pathTrades, q)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("kraken trades %s: %w", sym, err)
	}
	var raw [][]json.RawMessage
	if err := decodeStrict(rows, &raw); err != nil {
		return nil, time.Time{}, fmt.Errorf("kraken trades %s: body: %w", sym, err)
	}
	now := a.rest.Now()
	out := make([]market.Trade, 0, len(raw))
	for i, row := range raw {
		t, err := tradeRow(row)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("kraken trades %s: row %d: %w", sym, i, err)
		}
		t.Exchange, t.Symbol, t.Received = market.Kraken, sym, now
		out = append(out, t)
	}
	var next time.Time
	if last != "" {
		ns, err := wire.ParseCount([]byte(last))
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("kraken trades %s: result.last %q: %w", sym, last, err)
		}
		next = time.Unix(0, ns).UTC()
	}
	return out, next, nil
}

// tradeRow reads one row of Trades.
func tradeRow(row []json.RawMessage) (market.Trade, error) {
	var t market.Trade
	if len(row) != 7 {
		return t, fmt.Errorf("want 7 values, got %d", len(row))
	}
	var px, sz, side string
	if err := json.Unmarshal(row[0], &px); err != nil {
		return t, fmt.Errorf("price: %w", err)
	}
	if err := json.Unmarshal(row[1], &sz); err != nil {
		return t, fmt.Errorf("volume: %w", err)
	}
	var err error
	if t.Price, err = wire.ParseDecimal([]byte(px)); err != nil {
		return t, fmt.Errorf("price: %w", err)
	}
	if t.Size, err = wire.ParseDecimal([]byte(sz)); err != nil {
		return t, fmt.Errorf("volume: %w", err)
	}
	if t.Time, err = unixSeconds(row[2]); err != nil {
		return t, fmt.Errorf("time: %w", err)
	}
	if err := json.Unmarshal(row[3], &side); err != nil {
		return t, fmt.Errorf("side: %w", err)
	}
	switch side {
	case "b":
		t.Side = market.Buy
	case "s":
		t.Side = market.Sell
	default:
		return t, fmt.Errorf("side %q", side)
	}
	id, err := wire.ParseCount(bytes.TrimSpace(row[6]))
	if err != nil || id == 0 {
		return t, fmt.Errorf("trade_id %s: not a positive integer", row[6])
	}
	t.TradeID = strconv.FormatInt(id, 10)
	return t, nil
}

// unixSeconds reads a JSON number of seconds with a fraction
// (1688669597.8277369) exactly, to the nanosecond.
func unixSeconds(b json.RawMessage) (time.Time, error) {
	v, err := wire.ParseNumber(bytes.TrimSpace(b))
	if err != nil {
		return time.Time{}, err
	}
	if v.Sign() < 0 {
		return time.Time{}, errors.New("negative time")
	}
	sec := v.IntPart()
	ns := v.Sub(decimal.NewFromInt(sec)).Shift(9).IntPart()
	return time.Unix(sec, ns).UTC(), nil
}

// get makes one request and returns the rows of the result's one pair
// key and result.last as text.
func (a *Adapter) get(ctx context.Context, path string, q url.Values) (json.RawMessage, string, error) {
	resp, body, err := a.rest.Get(ctx, path+"?"+q.Encode())
	if err != nil {
		return nil, "", err
	}
	if resp.StatusCode != 200 {
		return nil, "", a.statusError(resp, body)
	}
	var env struct {
		Error  []string                   `json:"error"`
		Result map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, "", fmt.Errorf("body: %w", err)
	}
	if len(env.Error) > 0 {
		return nil, "", a.apiError(resp, env.Error)
	}
	var rows json.RawMessage
	var last string
	for k, v := range env.Result {
		if k == "last" {
			// OHLC's last is a number, Trades' a string.
			s := string(bytes.Trim(bytes.TrimSpace(v), `"`))
			last = s
			continue
		}
		if rows != nil {
			return nil, "", fmt.Errorf("result holds more than one pair: %w", collector.ErrPermanent)
		}
		rows = v
	}
	if rows == nil {
		return nil, "", errors.New("result holds no pair")
	}
	return rows, last, nil
}

// decodeStrict decodes JSON keeping numbers as text.
func decodeStrict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	return dec.Decode(v)
}
