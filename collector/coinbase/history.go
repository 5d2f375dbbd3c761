package coinbase

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

// Page sizes of the REST history (get-product-candles "Max Candles",
// get-product-trades "limit").
const (
	// CandlesPerRequest is the most buckets one candles request may cover;
	// Coinbase rejects a request whose range holds more.
	CandlesPerRequest = 300
	// TradesPerRequest is the largest trades page.
	TradesPerRequest = 1000
)

// maxBody bounds a REST response: a full page of trades is about 120 KB.
const maxBody = 4 << 20

// granularities maps the market timeframes Coinbase serves to its candle
// granularities in seconds (get-product-candles: "one of the following
// 'second' values: {60, 300, 900, 3600, 21600, 86400}, or your request is
// rejected").
var granularities = map[market.Timeframe]int64{
	market.TF1m: 60, market.TF5m: 300, market.TF15m: 900,
	market.TF1h: 3600, market.TF6h: 21600, market.TF1d: 86400,
}

// granularity returns the Coinbase granularity of tf, in seconds.
func granularity(tf market.Timeframe) (int64, error) {
	g, ok := granularities[tf]
	if !ok {
		return 0, fmt.Errorf("timeframe %q has no Coinbase candles; want 1m, 5m, 15m, 1h, 6h or 1d: %w", string(tf), collector.ErrPermanent)
	}
	return g, nil
}

// Candles implements collector.History with GET
// /products/{product_id}/candles?granularity=&start=&end=: one request for
// the closed candles of sym opening in [from, to), oldest first.
//
// One request covers at most CandlesPerRequest buckets, starting with the
// first bucket that opens at or after from, so a longer range takes several
// calls: the caller continues from that first bucket plus
// CandlesPerRequest × the timeframe (not from the last candle returned:
// buckets without trades have no candle). Buckets still forming, or not yet
// begun, by Now are never asked for; when no bucket of the range has ended,
// Candles returns nothing without a request.
//
// start is the first bucket's open time and end the last bucket's open
// time plus the granularity less one second, both RFC 3339: the request
// then holds the wanted buckets whether Coinbase treats end as inclusive or
// not, and never more than CandlesPerRequest of them. Coinbase's rows,
// [time, low, high, open, close, volume] with JSON numbers, newest first,
// are read from the numbers' literal text; rows outside the buckets asked
// for ("some of those candles may precede your declared start wire.Span") are
// left out. Coinbase gives no trade count and no quote volume.
//
// Timeframes without a Coinbase granularity (3m, 30m, 2h, 4h, 12h, 1w)
// return an error wrapping collector.ErrPermanent.
func (a *Adapter) Candles(ctx context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	g, err := granularity(tf)
	if err != nil {
		return nil, fmt.Errorf("coinbase candles %s: %w", sym, err)
	}
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("coinbase candles: %w: %w", err, collector.ErrPermanent)
	}
	first, last, ok := candleRange(g, from, to, a.rest.Now())
	if !ok {
		return nil, nil
	}
	q := url.Values{}
	q.Set("granularity", strconv.FormatInt(g, 10))
	q.Set("start", time.Unix(first, 0).UTC().Format(time.RFC3339))
	q.Set("end", time.Unix(last+g-1, 0).UTC().Format(time.RFC3339))
	body, received, err := a.get(ctx, productPath(sym, "candles"), q)
	if err != nil {
		return nil, fmt.Errorf("coinbase candles %s %s: %w", sym, tf, err)
	}
	out, err := decodeCandles(body, first, last)
	if err != nil {
		return nil, fmt.Errorf("coinbase candles %s %s: %w", sym, tf, err)
	}
	for i := range out {
		c := &out[i]
		c.Exchange, c.Symbol, c.Timeframe, c.Received = market.Coinbase, sym, tf, received
	}
	return out, nil
}

// decodeCandles reads a candles response and returns the candles opening
// from first to last (unix seconds, inclusive), oldest first.
func decodeCandles(body []byte, first, last int64) ([]market.Candle, error) {
	var rows [][]json.Number
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decode response: %w", err)
	}
	out := make([]market.Candle, 0, len(rows))
	for n, row := range rows {
		c, err := candleRow(row)
		if err != nil {
			return nil, fmt.Errorf("row %d: %w", n, err)
		}
		if open := c.Time.Unix(); open < first || open > last {
			continue
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// candleRange returns the open times, in unix seconds, of the first and
// last buckets of granularity g (seconds) to ask for: buckets opening in
// [from, to) that have ended by now, at most CandlesPerRequest of them
// from the first. ok is false when there is none.
func candleRange(g int64, from, to, now time.Time) (first, last int64, ok bool) {
	first = ceilDiv(max(ceilSeconds(from), 0), g) * g
	// The last bucket opening before to: starts are whole seconds, so
	// start < to exactly when start <= ceil(to) - 1.
	byTo := floorDiv(ceilSeconds(to)-1, g) * g
	// The last bucket that has ended: start + g <= now.
	ended := floorDiv(now.Unix()-g, g) * g
	last = min(byTo, ended, first+(CandlesPerRequest-1)*g)
	return first, last, last >= first
}

// candleRow reads one row, [time, low, high, open, close, volume]. A time
// off the timeframe's boundaries is kept as sent, for validation to refuse.
func candleRow(row []json.Number) (market.Candle, error) {
	var c market.Candle
	if len(row) < 6 {
		return c, fmt.Errorf("%d values, want 6: [time, low, high, open, close, volume]", len(row))
	}
	open, err := wire.ParseCount([]byte(row[0]))
	if err != nil {
		return c, fmt.Errorf("time: %w", err)
	}
	if open >= maxTime.Unix() {
		return c, fmt.Errorf("time %d: %w", open, errTimeRange)
	}
	c.Time = time.Unix(open, 0).UTC()
	for _, f := range [...]struct {
		i    int
		name string
		dst  *decimal.Decimal
	}{{1, "low", &c.Low}, {2, "high", &c.High}, {3, "open", &c.Open}, {4, "close", &c.Close}, {5, "volume", &c.Volume}} {
		if *f.dst, err = wire.ParseNumber([]byte(row[f.i])); err != nil {
			return c, fmt.Errorf("%s: %w", f.name, err)
		}
	}
	c.Trades = -1
	c.Closed = true
	return c, nil
}

// tradeItem is one trade of GET /products/{product_id}/trades:
// {"time":"2020-03-20T00:36:59.860Z","trade_id":86327327,
// "price":"6225.32000000","size":"0.06469797","side":"sell"}.
type tradeItem struct {
	Time    string      `json:"time"`
	TradeID json.Number `json:"trade_id"`
	Price   string      `json:"price"`
	Size    string      `json:"size"`
	Side    string      `json:"side"`
}

// Trades implements collector.History with GET
// /products/{product_id}/trades?before=<afterID>&limit=<limit>: one page of
// up to limit (at most TradesPerRequest; 0 or less means that) trades of
// sym with a trade id above afterID, oldest first. Coinbase's cursor
// "before" asks for the page of trades just newer than the given id
// (rest-api/pagination); the caller pages with the last id returned. An
// afterID of 0 or less sends no cursor, which asks for the latest page.
// Coinbase's side is the maker's, so Side is its opposite.
func (a *Adapter) Trades(ctx context.Context, sym market.Symbol, afterID int64, limit int) ([]market.Trade, error) {
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("coinbase trades: %w: %w", err, collector.ErrPermanent)
	}
	if afterID == math.MaxInt64 {
		return nil, nil
	}
	if limit <= 0 || limit > TradesPerRequest {
		limit = TradesPerRequest
	}
	q := url.Values{}
	if afterID > 0 {
		q.Set("before", strconv.FormatInt(afterID, 10))
	}
	q.Set("limit", strconv.Itoa(limit))
	body, received, err := a.get(ctx, productPath(sym, "trades"), q)
	if err != nil {
		return nil, fmt.Errorf("coinbase trades %s: %w", sym, err)
	}
	var items []tradeItem
	if err := json.Unmarshal(body, &items); err != nil {
		return nil, fmt.Errorf("coinbase trades %s: decode response: %w", sym, err)
	}
	out := make([]market.Trade, 0, len(items))
	ids := make([]int64, 0, len(items))
	for n, it := range items {
		t, id, err := it.trade()
		if err != nil {
			return nil, fmt.Errorf("coinbase trades %s: item %d: %w", sym, n, err)
		}
		if id <= afterID {
			continue
		}
		t.Exchange, t.Symbol, t.Received = market.Coinbase, sym, received
		out = append(out, t)
		ids = append(ids, id)
	}
	sort.Sort(byID{out, ids})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// trade reads the item and returns it with its numeric id.
func (it *tradeItem) trade() (market.Trade, int64, error) {
	var t market.Trade
	id, err := wire.ParseCount([]byte(it.TradeID))
	if err != nil {
		return t, 0, fmt.Errorf("trade_id: %w", err)
	}
	if t.Price, err = wire.ParseDecimal([]byte(it.Price)); err != nil {
		return t, 0, fmt.Errorf("price: %w", err)
	}
	if t.Size, err = wire.ParseDecimal([]byte(it.Size)); err != nil {
		return t, 0, fmt.Errorf("size: %w", err)
	}
	switch it.Side {
	case "buy":
		t.Side = market.Sell
	case "sell":
		t.Side = market.Buy
	default:
		return t, 0, fmt.Errorf("side %q: %w", it.Side, errBadSide)
	}
	if t.Time, err = parseTime([]byte(it.Time)); err != nil {
		return t, 0, fmt.Errorf("time: %w", err)
	}
	if t.Time.Before(minTime) || !t.Time.Before(maxTime) {
		return t, 0, fmt.Errorf("time %q: %w", it.Time, errTimeRange)
	}
	t.TradeID = strconv.FormatInt(id, 10)
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

// productPath returns /products/{product_id}/{what}.
func productPath(sym market.Symbol, what string) string {
	return "/products/" + url.PathEscape(string(sym)) + "/" + what
}

// get makes one GET request and returns the body of a 200 response and
// when it was read. Other responses become errors: see statusError.
func (a *Adapter) get(ctx context.Context, path string, q url.Values) ([]byte, time.Time, error) {
	resp, body, err := a.rest.Get(ctx, path+"?"+q.Encode())
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, err)
	}
	received := a.rest.Now().UTC()
	if resp.StatusCode != http.StatusOK {
		return nil, time.Time{}, fmt.Errorf("GET %s: %w", path, a.statusError(resp, body))
	}
	return body, received, nil
}

// ceilSeconds returns t in unix seconds, rounded up.
func ceilSeconds(t time.Time) int64 {
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	return s
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
