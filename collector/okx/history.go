package okx

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"time"

	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/market"
)

// Page sizes of the REST history.
const (
	// CandlesPerRequest is how many bar intervals one Candles call covers:
	// the largest limit both candle endpoints accept (candles takes 300,
	// history-candles 100).
	CandlesPerRequest = 100
	// TradesPerRequest is the most trades one Trades call returns: the
	// largest limit of history-trades.
	TradesPerRequest = 100
)

// REST endpoints (order-book-trading-market-data-get-
// candlesticks, -get-candlesticks-history, -get-trades-history).
const (
	// candlesPath serves "the latest 1,440 data entries", the forming
	// candle included.
	candlesPath = "/api/v5/market/candles"
	// historyCandlesPath serves older candles ("from recent years").
	historyCandlesPath = "/api/v5/market/history-candles"
	tradesPath         = "/api/v5/market/history-trades"
	// recentCandles is how many of the latest candles are taken from
	// candlesPath: the 1,440 it keeps, less a margin for the time between
	// choosing the endpoint and OKX answering.
	recentCandles = 1400
)

// Candles implements collector.History: one request for the completed
// candles of sym opening in [from, to), oldest first.
//
// One request covers the first CandlesPerRequest bar intervals of the range
// that have ended by Now, so a longer range takes several calls: the
// caller continues from from + CandlesPerRequest × the timeframe, not from
// the last candle returned. An empty result means there is no candle in
// those intervals (before an instrument's listing, say), not that the rest
// of the range is empty. When no interval of the range has ended, Candles
// returns nothing without a request.
//
// The request bounds the intervals on both sides, "after" (records earlier
// than) at their end and "before" (records newer than) one millisecond
// before their start, so the answer is the same whichever end OKX fills
// its page from. Intervals among the latest 1,400 are read from
// /api/v5/market/candles, which keeps the latest 1,440; older ones from
// /api/v5/market/history-candles. OKX answers newest first; rows outside
// the intervals asked for are left out, as are uncompleted ones (confirm
// "0"; a row without confirm is completed, its interval having ended).
func (a *Adapter) Candles(ctx context.Context, sym market.Symbol, tf market.Timeframe, from, to time.Time) ([]market.Candle, error) {
	bar, err := barOf(tf)
	if err != nil {
		return nil, fmt.Errorf("okx candles %s: %w: %w", sym, err, collector.ErrPermanent)
	}
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("okx candles: %w: %w", err, collector.ErrPermanent)
	}
	now := a.rest.Now()
	step := tf.Duration().Milliseconds()
	forming := tf.Truncate(now).UnixMilli()
	start, end := ceilMillis(from), ceilMillis(to)
	end = min(end, forming, start+CandlesPerRequest*step)
	if end <= start {
		return nil, nil
	}
	path := historyCandlesPath
	if start >= forming-recentCandles*step {
		path = candlesPath
	}
	q := url.Values{}
	q.Set("instId", string(sym))
	q.Set("bar", bar)
	q.Set("after", strconv.FormatInt(end, 10))
	if start > 0 {
		q.Set("before", strconv.FormatInt(start-1, 10))
	}
	q.Set("limit", strconv.Itoa(CandlesPerRequest))
	body, received, err := a.get(ctx, path, q)
	if err != nil {
		return nil, fmt.Errorf("okx candles %s %s: %w", sym, tf, err)
	}
	out := make([]market.Candle, 0, CandlesPerRequest)
	err = readData(body, func(s *wire.Scanner) error {
		var c market.Candle
		confirm, err := readCandle(s, nil, &c)
		if err != nil {
			return err
		}
		// Every interval asked for has ended: a row without confirm is
		// completed.
		if open := c.Time.UnixMilli(); confirm == confirmNo || open < start || open >= end {
			return nil
		}
		c.Exchange, c.Symbol, c.Timeframe, c.Received, c.Closed = market.OKX, sym, tf, received, true
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("okx candles %s %s: %w", sym, tf, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, nil
}

// Trades implements collector.History with GET /api/v5/market/history-trades
// paginated by trade id (type=1): at most limit (capped to
// TradesPerRequest) trades of sym with ids greater than afterID, ascending
// by trade id.
//
// OKX pages backwards: "after" asks for records earlier than an id and
// "before" for records newer than one, and a page holds the newest
// records of that range ("before" alone returns the latest data). So the
// request bounds the range on both sides, (afterID, upper), and a page
// with fewer than TradesPerRequest trades holds every trade of the range:
// its lowest ids are the ones that follow afterID. OKX numbers each
// instrument's trades one by one (the trades channel's "count" aggregates
// ids 123, 122, 121), so the first range, the next limit ids, usually
// answers at once. When it is empty (ids skipped) the range grows sixteen
// times per request; when a page is full, the range shrinks below that
// page's lowest id until a page is not. An empty range reaching past the
// newest trade means there is no newer trade. OKX keeps three months of
// trades. With afterID <= 0 the latest trades are returned.
func (a *Adapter) Trades(ctx context.Context, sym market.Symbol, afterID int64, limit int) ([]market.Trade, error) {
	if err := sym.Check(); err != nil {
		return nil, fmt.Errorf("okx trades: %w: %w", err, collector.ErrPermanent)
	}
	if limit <= 0 || limit > TradesPerRequest {
		limit = TradesPerRequest
	}
	if afterID <= 0 {
		page, err := a.tradesPage(ctx, sym, 0, 0, limit)
		if err != nil {
			return nil, err
		}
		return ascending(page, limit), nil
	}
	span := int64(limit) + 1
	upper := saturatingAdd(afterID, span)
	// above holds the trades of the last full page: every trade from its
	// lowest id up to the range's previous bound.
	var above []numberedTrade
	for {
		page, err := a.tradesPage(ctx, sym, afterID, upper, TradesPerRequest)
		if err != nil {
			return nil, err
		}
		switch {
		case len(page) >= TradesPerRequest && upper-afterID-1 > int64(len(page)):
			// Full, and the range holds more ids: lower ones may sit
			// below this page.
			upper, above = page[len(page)-1].id, page
		case len(page) > 0 || len(above) > 0:
			return ascending(append(above, page...), limit), nil
		case upper == math.MaxInt64:
			return nil, nil // no newer trade
		default:
			// No trade in the range: the ids jumped past it.
			span = saturatingMul(span, 16)
			upper = saturatingAdd(afterID, span)
			if upper == math.MaxInt64 {
				// The last range, reaching past any id: a "before"-only
				// request, which returns the latest trades.
				page, err := a.tradesPage(ctx, sym, afterID, 0, TradesPerRequest)
				if err != nil {
					return nil, err
				}
				if len(page) < TradesPerRequest {
					return ascending(page, limit), nil
				}
				upper, above = page[len(page)-1].id, page
			}
		}
	}
}

// numberedTrade is a trade with its id as a number.
type numberedTrade struct {
	id int64
	t  market.Trade
}

// tradesPage asks history-trades for the trades of sym with afterID < id <
// upper (a bound <= 0 is left out), newest first as OKX sends them, at
// most limit.
func (a *Adapter) tradesPage(ctx context.Context, sym market.Symbol, afterID, upper int64, limit int) ([]numberedTrade, error) {
	q := url.Values{}
	q.Set("instId", string(sym))
	q.Set("type", "1")
	if afterID > 0 {
		q.Set("before", strconv.FormatInt(afterID, 10))
	}
	if upper > 0 && upper < math.MaxInt64 {
		q.Set("after", strconv.FormatInt(upper, 10))
	}
	q.Set("limit", strconv.Itoa(limit))
	body, received, err := a.get(ctx, tradesPath, q)
	if err != nil {
		return nil, fmt.Errorf("okx trades %s: %w", sym, err)
	}
	var got []numberedTrade
	err = readData(body, func(s *wire.Scanner) error {
		var t market.Trade
		if err := readTrade(s, nil, sym, &t); err != nil {
			return err
		}
		id, err := strconv.ParseInt(t.TradeID, 10, 64)
		if err != nil {
			return badField("tradeId", fmt.Errorf("want a decimal trade id, got %q", t.TradeID))
		}
		if id <= afterID || (upper > 0 && id >= upper) {
			return nil
		}
		t.Exchange, t.Symbol, t.Received = market.OKX, sym, received
		got = append(got, numberedTrade{id: id, t: t})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("okx trades %s: %w", sym, err)
	}
	sort.SliceStable(got, func(i, j int) bool { return got[i].id > got[j].id })
	return got, nil
}

// ascending returns the limit lowest-numbered trades of page (sorted
// newest first), oldest first.
func ascending(page []numberedTrade, limit int) []market.Trade {
	n := min(len(page), limit)
	out := make([]market.Trade, n)
	for i := range n {
		out[i] = page[len(page)-1-i].t
	}
	return out
}

func saturatingAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

func saturatingMul(a, b int64) int64 {
	if a > math.MaxInt64/b {
		return math.MaxInt64
	}
	return a * b
}

// ceilMillis returns t in Unix milliseconds, rounded up.
func ceilMillis(t time.Time) int64 {
	ms := t.UnixMilli()
	if time.UnixMilli(ms).Before(t) {
		ms++
	}
	return ms
}
