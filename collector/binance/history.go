package binance

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// REST endpoints and page size (rest-api.md "Market Data endpoints").
const (
	klinesPath = "/api/v3/klines"
	tradesPath = "/api/v3/historicalTrades"
	// pageSize is the largest limit both endpoints take.
	pageSize = 1000
	// maxBody bounds a response: a full page of klines is about 150 KB.
	maxBody = 8 << 20
)

// Candles implements collector.History with GET /api/v3/klines: one
// request for up to 1000 klines opening in [from, to), oldest first. The
// kline still forming is left out: one whose close time is not yet past
// by Now, nor by the exchange's own clock (the response's Date), so that a
// host clock ahead of the exchange's does not take a forming kline for a
// closed one.
func (a *Adapter) Candles(ctx context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	iv, err := interval(tf)
	if err != nil {
		return nil, fmt.Errorf("binance candles %s: %w: %w", sym, err, collector.ErrPermanent)
	}
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("binance candles: %w: %w", err, collector.ErrPermanent)
	}
	start, end := ceilMillis(from), ceilMillis(to)
	if end <= start {
		return nil, nil
	}
	q := url.Values{}
	q.Set("symbol", upperSymbol(sym))
	q.Set("interval", iv)
	q.Set("startTime", strconv.FormatInt(start, 10))
	// endTime is inclusive; the range is open at to.
	q.Set("endTime", strconv.FormatInt(end-1, 10))
	q.Set("limit", strconv.Itoa(pageSize))
	resp, body, received, err := a.getResponse(ctx, klinesPath, q)
	if err != nil {
		return nil, fmt.Errorf("binance candles %s %s: %w", sym, tf, err)
	}
	var rows [][]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("binance candles %s %s: decode response: %w", sym, tf, err)
	}
	now := closedBefore(a.rest.Now(), resp.Header.Get("Date"))
	out := make([]market.Candle, 0, len(rows))
	for n, row := range rows {
		c, closeMs, err := klineRow(row)
		if err != nil {
			return nil, fmt.Errorf("binance candles %s %s: row %d: %w", sym, tf, n, err)
		}
		open := c.Time.UnixMilli()
		if open < start || open >= end || closeMs >= now {
			continue
		}
		c.Exchange, c.Symbol, c.Timeframe, c.Received = market.Binance, sym, tf, received
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// klineRow reads one kline row: [open time, open, high, low, close, volume,
// close time, quote volume, trades, taker buy base, taker buy quote,
// ignore]. It returns the candle (closed) and its close time.
func klineRow(row []json.RawMessage) (market.Candle, int64, error) {
	var c market.Candle
	if len(row) < 9 {
		return c, 0, fmt.Errorf("%d fields, want 12", len(row))
	}
	open, err := rawCount(row[0], "open time")
	if err != nil {
		return c, 0, err
	}
	if open <= 0 || open > maxMillis {
		return c, 0, fmt.Errorf("open time %d out of range", open)
	}
	c.Time = time.UnixMilli(open).UTC()
	for _, f := range [...]struct {
		i    int
		name string
		dst  *decimal.Decimal
	}{{1, "open", &c.Open}, {2, "high", &c.High}, {3, "low", &c.Low}, {4, "close", &c.Close}, {5, "volume", &c.Volume}, {7, "quote volume", &c.QuoteVolume.Decimal}} {
		if *f.dst, err = rawDecimal(row[f.i], f.name); err != nil {
			return c, 0, err
		}
	}
	c.QuoteVolume.Valid = true
	closeMs, err := rawCount(row[6], "close time")
	if err != nil {
		return c, 0, err
	}
	if c.Trades, err = rawCount(row[8], "trades"); err != nil {
		return c, 0, err
	}
	c.Closed = true
	return c, closeMs, nil
}

// Trades implements collector.History with GET /api/v3/historicalTrades
// from trade id afterID+1: up to limit (at most 1000; 0 or less means
// 1000) trades, oldest first. The taker sold when the buyer was the maker.
func (a *Adapter) Trades(ctx context.Context, sym market.Symbol, afterID int64, limit int) ([]market.Trade, error) {
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("binance trades: %w: %w", err, collector.ErrPermanent)
	}
	if afterID == math.MaxInt64 {
		return nil, nil
	}
	if limit <= 0 || limit > pageSize {
		limit = pageSize
	}
	fromID := max(afterID+1, 0)
	q := url.Values{}
	q.Set("symbol", upperSymbol(sym))
	q.Set("fromId", strconv.FormatInt(fromID, 10))
	q.Set("limit", strconv.Itoa(limit))
	body, received, err := a.get(ctx, tradesPath, q)
	if err != nil {
		return nil, fmt.Errorf("binance trades %s: %w", sym, err)
	}
	var items []struct {
		ID           json.Number `json:"id"`
		Price        string      `json:"price"`
		Qty          string      `json:"qty"`
		Time         json.Number `json:"time"`
		IsBuyerMaker *bool       `json:"isBuyerMaker"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, fmt.Errorf("binance trades %s: decode response: %w", sym, err)
	}
	out := make([]market.Trade, 0, len(items))
	ids := make([]int64, 0, len(items))
	for n, it := range items {
		t, id, err := tradeItem(it.ID, it.Price, it.Qty, it.Time, it.IsBuyerMaker)
		if err != nil {
			return nil, fmt.Errorf("binance trades %s: item %d: %w", sym, n, err)
		}
		if id <= afterID {
			continue
		}
		t.Exchange, t.Symbol, t.Received = market.Binance, sym, received
		out = append(out, t)
		ids = append(ids, id)
	}
	if !sort.SliceIsSorted(ids, func(i, j int) bool { return ids[i] < ids[j] }) {
		sort.Sort(byID{out, ids})
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func tradeItem(idNum json.Number, price, qty string, ts json.Number, buyerMaker *bool) (market.Trade, int64, error) {
	var t market.Trade
	id, err := wire.ParseCount([]byte(idNum))
	if err != nil {
		return t, 0, fmt.Errorf("id: %w", err)
	}
	if t.Price, err = wire.ParseDecimal([]byte(price)); err != nil {
		return t, 0, fmt.Errorf("price: %w", err)
	}
	if t.Size, err = wire.ParseDecimal([]byte(qty)); err != nil {
		return t, 0, fmt.Errorf("qty: %w", err)
	}
	ms, err := wire.ParseCount([]byte(ts))
	if err != nil || ms <= 0 || ms > maxMillis {
		return t, 0, fmt.Errorf("time %q out of range", ts)
	}
	if buyerMaker == nil {
		return t, 0, fmt.Errorf("isBuyerMaker: %w", errMissing)
	}
	t.TradeID = strconv.FormatInt(id, 10)
	t.Time = time.UnixMilli(ms).UTC()
	t.Side = market.Buy
	if *buyerMaker {
		t.Side = market.Sell
	}
	return t, id, nil
}

// byID sorts trades and their numeric ids together.
type byID struct {
	t   []market.Trade
	ids []int64
}

func (s byID) Len() int           { return len(s.t) }
func (s byID) Less(i, j int) bool { return s.ids[i] < s.ids[j] }
func (s byID) Swap(i, j int) {
	s.t[i], s.t[j] = s.t[j], s.t[i]
	s.ids[i], s.ids[j] = s.ids[j], s.ids[i]
}

// get makes one GET request and returns the body of a 200 response and
// when it was read. Other responses become errors: see statusError.
func (a *Adapter) get(ctx context.Context, path string, q url.Values) ([]byte, time.Time, error) {
	_, body, received, err := a.getResponse(ctx, path, q)
	return body, received, err
}

// getResponse is get, with the response (its headers).
func (a *Adapter) getResponse(ctx context.Context, path string, q url.Values) (*http.Response, []byte, time.Time, error) {
	resp, body, err := a.rest.Get(ctx, path+"?"+q.Encode())
	if err != nil {
		return nil, nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	received := a.rest.Now().UTC()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, time.Time{}, fmt.Errorf("GET %s: %w", path, a.statusError(resp, body))
	}
	return resp, body, received, nil
}

// closedBefore returns, in milliseconds, the time before which a kline's
// close is surely past: now (the host's clock), or the exchange's clock
// as the response's Date header gives it (whole seconds, truncated, so
// the exchange's time is at least that) when that is earlier.
func closedBefore(now time.Time, date string) int64 {
	ms := now.UnixMilli()
	if d, err := http.ParseTime(date); err == nil && d.UnixMilli() < ms {
		ms = d.UnixMilli()
	}
	return ms
}

// ceilMillis returns t in milliseconds since the epoch, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
