package okx

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// restNow is the adapter's clock in the REST tests.
var restNow = time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)

// reply is what the test server answers.
type reply struct {
	status int
	header map[string]string
	body   string
}

// restServer serves rep to every request after checking that its path and
// query are exactly want (when wantPath is set). It returns an adapter
// whose REST base is the server and a counter of requests.
func restServer(t *testing.T, wantPath string, wantQuery url.Values, rep reply) (*Adapter, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Method != http.MethodGet {
			t.Errorf("method %s, want GET", r.Method)
		}
		if wantPath != "" && r.URL.Path != wantPath {
			t.Errorf("path %s, want %s", r.URL.Path, wantPath)
		}
		if wantQuery != nil && r.URL.Query().Encode() != wantQuery.Encode() {
			t.Errorf("query %s, want %s", r.URL.Query().Encode(), wantQuery.Encode())
		}
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		status := rep.status
		if status == 0 {
			status = http.StatusOK
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(rep.body))
	}))
	t.Cleanup(srv.Close)
	a := newAdapter(t, Config{RESTURL: srv.URL, HTTPClient: srv.Client(), Now: func() time.Time { return restNow }})
	return a, &hits
}

func query(kv ...string) url.Values {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Set(kv[i], kv[i+1])
	}
	return q
}

func msText(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// row is a candle row of the documented 9 columns.
func row(open time.Time, o, h, l, c, vol, volCcy, volCcyQuote, confirm string) string {
	return fmt.Sprintf(`["%d","%s","%s","%s","%s","%s","%s","%s","%s"]`, open.UnixMilli(), o, h, l, c, vol, volCcy, volCcyQuote, confirm)
}

func ok(rows ...string) reply {
	return reply{body: `{"code":"0","msg":"","data":[` + strings.Join(rows, ",") + `]}`}
}

func candle(sym string, tf market.Timeframe, open time.Time, o, h, l, c, vol, qvol string) market.Candle {
	return market.Candle{Meta: market.Meta{Exchange: market.OKX, Symbol: market.Symbol(sym), Time: open, Received: restNow},
		Timeframe: tf, Open: dec(o), High: dec(h), Low: dec(l), Close: dec(c), Volume: dec(vol), QuoteVolume: ndec(qvol),
		Trades: -1, Closed: true}
}

func TestCandles(t *testing.T) {
	minute := func(m int) time.Time { return restNow.Add(time.Duration(m) * time.Minute) }
	day := func(y int, mo time.Month, d int) time.Time { return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC) }
	docOpen := ms(1597026383085)
	tests := []struct {
		name      string
		tf        market.Timeframe
		from, to  time.Time
		wantPath  string
		wantQuery url.Values
		rep       reply
		want      []market.Candle
	}{
		{
			name: "recent minutes from candles, oldest first, closed only", tf: market.TF1m, from: minute(-10), to: minute(1),
			wantPath:  "/api/v5/market/candles",
			wantQuery: query("instId", "BTC-USDT", "bar", "1m", "after", msText(minute(0)), "before", strconv.FormatInt(minute(-10).UnixMilli()-1, 10), "limit", "100"),
			rep: ok(
				row(minute(0), "5", "6", "4", "5.5", "1", "5.5", "5.5", "0"),
				row(minute(-1), "4.10", "5", "4", "5", "2.00", "9.5", "9.50", "1"),
				row(minute(-2), "4", "4.2", "3.9", "4.1", "3", "12", "12.0", "1"),
				row(minute(-11), "1", "1", "1", "1", "1", "1", "1", "1"),
			),
			want: []market.Candle{
				candle("BTC-USDT", market.TF1m, minute(-2), "4", "4.2", "3.9", "4.1", "3", "12.0"),
				candle("BTC-USDT", market.TF1m, minute(-1), "4.10", "5", "4", "5", "2.00", "9.50"),
			},
		},
		{
			name: "old days from history-candles with the UTC bar", tf: market.TF1d, from: day(2020, 1, 1), to: day(2020, 1, 4),
			wantPath:  "/api/v5/market/history-candles",
			wantQuery: query("instId", "BTC-USDT", "bar", "1Dutc", "after", msText(day(2020, 1, 4)), "before", strconv.FormatInt(day(2020, 1, 1).UnixMilli()-1, 10), "limit", "100"),
			rep: ok(
				row(day(2020, 1, 3), "3", "3", "3", "3", "3", "9", "9", "1"),
				row(day(2020, 1, 2), "2", "2", "2", "2", "2", "4", "4", "1"),
				row(day(2020, 1, 1), "1", "1", "1", "1", "1", "1", "1", "1"),
			),
			want: []market.Candle{
				candle("BTC-USDT", market.TF1d, day(2020, 1, 1), "1", "1", "1", "1", "1", "1"),
				candle("BTC-USDT", market.TF1d, day(2020, 1, 2), "2", "2", "2", "2", "2", "4"),
				candle("BTC-USDT", market.TF1d, day(2020, 1, 3), "3", "3", "3", "3", "3", "9"),
			},
		},
		{
			name: "a long range asks for its first 100 bars", tf: market.TF1m, from: minute(-2000), to: minute(0),
			wantPath:  "/api/v5/market/history-candles",
			wantQuery: query("instId", "BTC-USDT", "bar", "1m", "after", msText(minute(-1900)), "before", strconv.FormatInt(minute(-2000).UnixMilli()-1, 10), "limit", "100"),
			rep:       ok(),
			want:      []market.Candle{},
		},
		{
			name: "6h and 1w use the UTC bars", tf: market.TF6h, from: day(2026, 6, 1), to: day(2026, 6, 2),
			wantPath:  "/api/v5/market/candles",
			wantQuery: query("instId", "BTC-USDT", "bar", "6Hutc", "after", msText(day(2026, 6, 2)), "before", strconv.FormatInt(day(2026, 6, 1).UnixMilli()-1, 10), "limit", "100"),
			rep:       ok(),
			want:      []market.Candle{},
		},
		{
			name: "rows without confirm are closed: their interval has ended", tf: market.TF1m, from: minute(-2), to: minute(1),
			wantPath: "/api/v5/market/candles",
			rep: ok(
				fmt.Sprintf(`["%d","5","6","4","5.5","1","5.5"]`, minute(0).UnixMilli()),
				fmt.Sprintf(`["%d","4","5","4","5","2","9"]`, minute(-1).UnixMilli()),
				fmt.Sprintf(`["%d","3","3","3","3","1"]`, minute(-2).UnixMilli()),
			),
			want: []market.Candle{
				{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: minute(-2), Received: restNow}, Timeframe: market.TF1m,
					Open: dec("3"), High: dec("3"), Low: dec("3"), Close: dec("3"), Volume: dec("1"), Trades: -1, Closed: true},
				candle("BTC-USDT", market.TF1m, minute(-1), "4", "5", "4", "5", "2", "9"),
			},
		},
		{
			name: "documented response: the uncompleted row is left out", tf: market.TF1m, from: docOpen, to: docOpen.Add(time.Minute),
			wantPath: "/api/v5/market/history-candles",
			rep:      reply{body: string(readTestdata(t, "rest/candles_doc.json"))},
			want:     []market.Candle{candle("BTC-USDT", market.TF1m, docOpen, "3.731", "3.799", "3.494", "3.72", "24912403", "37632347.24399722")},
		},
		{
			name: "documented history response", tf: market.TF1m, from: docOpen, to: docOpen.Add(time.Minute),
			wantPath: "/api/v5/market/history-candles",
			rep:      reply{body: string(readTestdata(t, "rest/history_candles_doc.json"))},
			want: []market.Candle{
				candle("BTC-USDT", market.TF1m, docOpen, "3.721", "3.743", "3.677", "3.708", "8422410", "12698348.04828491"),
				candle("BTC-USDT", market.TF1m, docOpen, "3.731", "3.799", "3.494", "3.72", "24912403", "37632347.24399722"),
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, hits := restServer(t, tc.wantPath, tc.wantQuery, tc.rep)
			got, err := a.Candles(t.Context(), "BTC-USDT", tc.tf, tc.from, tc.to)
			if err != nil {
				t.Fatalf("Candles: %v", err)
			}
			if hits.Load() != 1 {
				t.Errorf("%d requests, want 1", hits.Load())
			}
			if g, w := renderCandles(got), renderCandles(tc.want); g != w {
				t.Errorf("candles:\n got %s\nwant %s", g, w)
			}
		})
	}
}

func TestCandlesRefusedWithoutRequest(t *testing.T) {
	tests := []struct {
		name      string
		sym       market.Symbol
		tf        market.Timeframe
		from, to  time.Time
		permanent bool
	}{
		{name: "empty range", sym: "BTC-USDT", tf: market.TF1m, from: restNow, to: restNow},
		{name: "only the forming interval", sym: "BTC-USDT", tf: market.TF1m, from: restNow.Add(time.Second), to: restNow.Add(time.Hour)},
		{name: "only the forming week", sym: "BTC-USDT", tf: market.TF1w, from: restNow.Add(-time.Hour), to: restNow},
		{name: "reversed range", sym: "BTC-USDT", tf: market.TF1m, from: restNow, to: restNow.Add(-time.Hour)},
		{name: "unknown timeframe", sym: "BTC-USDT", tf: "2d", from: restNow.Add(-time.Hour), to: restNow, permanent: true},
		{name: "malformed symbol", sym: "BTCUSDT", tf: market.TF1m, from: restNow.Add(-time.Hour), to: restNow, permanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, hits := restServer(t, "", nil, ok())
			got, err := a.Candles(t.Context(), tc.sym, tc.tf, tc.from, tc.to)
			if tc.permanent != errors.Is(err, collector.ErrPermanent) || !tc.permanent && err != nil {
				t.Fatalf("error %v, want permanent %t", err, tc.permanent)
			}
			if len(got) != 0 || hits.Load() != 0 {
				t.Fatalf("%d candles after %d requests, want none", len(got), hits.Load())
			}
		})
	}
}

func TestTrades(t *testing.T) {
	doc := string(readTestdata(t, "rest/history_trades_doc.json"))
	tr := func(id string, px string, at int64) market.Trade {
		return market.Trade{Meta: market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT", Time: ms(at), Received: restNow},
			TradeID: id, Price: dec(px), Size: dec("0.00001"), Side: market.Sell}
	}
	t719 := tr("242720719", "29964.1", 1654161641568)
	t720 := tr("242720720", "29963.2", 1654161646974)
	tests := []struct {
		name      string
		afterID   int64
		limit     int
		wantQuery url.Values
		body      string
		want      []market.Trade
	}{
		{name: "documented response, ascending", afterID: 242720718, limit: 2,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "before", "242720718", "after", "242720721", "limit", "100"),
			body:      doc, want: []market.Trade{t719, t720}},
		{name: "ids up to afterID are left out", afterID: 242720719, limit: 100,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "before", "242720719", "after", "242720820", "limit", "100"),
			body:      doc, want: []market.Trade{t720}},
		{name: "limit capped to the page of 100", afterID: 242720718, limit: 500,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "before", "242720718", "after", "242720819", "limit", "100"),
			body:      doc, want: []market.Trade{t719, t720}},
		{name: "no limit means a full page", afterID: 242720718, limit: 0,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "before", "242720718", "after", "242720819", "limit", "100"),
			body:      doc, want: []market.Trade{t719, t720}},
		{name: "no afterID asks for the latest", afterID: 0, limit: 100,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "limit", "100"),
			body:      doc, want: []market.Trade{t719, t720}},
		{name: "a longer answer keeps the oldest", afterID: 242720718, limit: 1,
			wantQuery: query("instId", "BTC-USDT", "type", "1", "before", "242720718", "after", "242720720", "limit", "100"),
			body:      doc, want: []market.Trade{t719}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := restServer(t, "/api/v5/market/history-trades", tc.wantQuery, reply{body: tc.body})
			got, err := a.Trades(t.Context(), "BTC-USDT", tc.afterID, tc.limit)
			if err != nil {
				t.Fatalf("Trades: %v", err)
			}
			if g, w := renderTrades(got), renderTrades(tc.want); g != w {
				t.Errorf("trades:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestHistoryErrors maps OKX's refusals onto the History error contract.
func TestHistoryErrors(t *testing.T) {
	type outcome int
	const (
		transient outcome = iota
		permanent
		retry
	)
	tests := []struct {
		name      string
		rep       reply
		want      outcome
		wantAfter time.Duration
		wantCode  string
	}{
		{name: "unknown instrument, HTTP 200", rep: reply{body: string(readTestdata(t, "rest/error_51001.json"))}, want: permanent, wantCode: "51001"},
		{name: "parameter error, HTTP 400", rep: reply{status: 400, body: string(readTestdata(t, "rest/error_51000.json"))}, want: permanent, wantCode: "51000"},
		{name: "parameter empty, HTTP 400", rep: reply{status: 400, body: string(readTestdata(t, "rest/error_50014.json"))}, want: permanent, wantCode: "50014"},
		{name: "rate limit, HTTP 429 with Retry-After seconds", rep: reply{status: 429, header: map[string]string{"Retry-After": "3"},
			body: string(readTestdata(t, "rest/error_50011_429.json"))}, want: retry, wantAfter: 3 * time.Second, wantCode: "50011"},
		{name: "rate limit, HTTP 200 code 50011", rep: reply{body: string(readTestdata(t, "rest/error_50011.json"))}, want: retry, wantAfter: 2 * time.Second, wantCode: "50011"},
		{name: "rate limit, HTTP 429 with a date and no body", rep: reply{status: 429,
			header: map[string]string{"Retry-After": restNow.Add(5 * time.Second).Format(http.TimeFormat)}}, want: retry, wantAfter: 5 * time.Second},
		{name: "service unavailable, HTTP 503", rep: reply{status: 503, body: string(readTestdata(t, "rest/error_50001.json"))}, want: transient, wantCode: "50001"},
		{name: "gateway error page, HTTP 502", rep: reply{status: 502, body: "<html>bad gateway</html>"}, want: transient},
		{name: "wrong base URL, HTTP 404", rep: reply{status: 404, body: "not found"}, want: permanent},
		{name: "malformed JSON, HTTP 200", rep: reply{body: `{"code":"0","msg":"","data":[`}, want: transient},
		{name: "bad number in a row", rep: ok(`["1751371140000","x","1","1","1","1","1","1","1"]`), want: transient},
		{name: "data not an array", rep: reply{body: `{"code":"0","msg":"","data":{}}`}, want: transient},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := restServer(t, "", nil, tc.rep)
			calls := []struct {
				name string
				call func() error
			}{
				{"candles", func() error {
					_, err := a.Candles(t.Context(), "BTC-USDT", market.TF1m, restNow.Add(-time.Hour), restNow)
					return err
				}},
				{"trades", func() error {
					_, err := a.Trades(t.Context(), "BTC-USDT", 1, 10)
					return err
				}},
			}
			for _, c := range calls {
				err := c.call()
				if err == nil {
					t.Fatalf("%s: no error", c.name)
				}
				var ra *collector.RetryAfterError
				isRetry := errors.As(err, &ra)
				isPerm := errors.Is(err, collector.ErrPermanent)
				switch tc.want {
				case transient:
					if isRetry || isPerm {
						t.Errorf("%s: %v: want a transient error", c.name, err)
					}
				case permanent:
					if !isPerm || isRetry {
						t.Errorf("%s: %v: want a permanent error", c.name, err)
					}
				case retry:
					if !isRetry || isPerm || ra.After != tc.wantAfter {
						t.Errorf("%s: %v: want retry after %s", c.name, err, tc.wantAfter)
					}
				}
				var ee *collector.ExchangeError
				if tc.wantCode != "" && (!errors.As(err, &ee) || ee.Code != tc.wantCode || ee.Exchange != market.OKX) {
					t.Errorf("%s: %v: want an OKX ExchangeError with code %s", c.name, err, tc.wantCode)
				}
			}
		})
	}
}

func TestTradesRefusals(t *testing.T) {
	tests := []struct {
		name      string
		sym       market.Symbol
		body      string
		wantHits  int32
		permanent bool
	}{
		{name: "malformed symbol", sym: "BTC_USDT", wantHits: 0, permanent: true},
		{name: "trade id not a number", sym: "BTC-USDT", wantHits: 1,
			body: `{"code":"0","msg":"","data":[{"instId":"BTC-USDT","side":"sell","sz":"1","px":"1","tradeId":"abc","ts":"1654161646974"}]}`},
		{name: "trade of another instrument", sym: "BTC-USDT", wantHits: 1,
			body: `{"code":"0","msg":"","data":[{"instId":"ETH-USDT","side":"sell","sz":"1","px":"1","tradeId":"7","ts":"1654161646974"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, hits := restServer(t, "", nil, reply{body: tc.body})
			_, err := a.Trades(t.Context(), tc.sym, 1, 10)
			if err == nil || errors.Is(err, collector.ErrPermanent) != tc.permanent {
				t.Fatalf("error %v, want permanent %t", err, tc.permanent)
			}
			if hits.Load() != tc.wantHits {
				t.Fatalf("%d requests, want %d", hits.Load(), tc.wantHits)
			}
		})
	}
}

func TestCeilMillis(t *testing.T) {
	base := time.Date(2026, 7, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   time.Time
		want int64
	}{
		{name: "whole millisecond", in: base, want: base.UnixMilli()},
		{name: "rounds up", in: base.Add(time.Nanosecond), want: base.UnixMilli() + 1},
		{name: "before 1970 rounds toward later", in: time.Unix(0, -1), want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ceilMillis(tc.in); got != tc.want {
				t.Fatalf("ceilMillis = %d, want %d", got, tc.want)
			}
		})
	}
}

// okxTradeBook answers history-trades as OKX documents it for type=1:
// the trades with before < id < after, newest first, at most limit.
type okxTradeBook struct {
	ids      []int64 // ascending
	requests atomic.Int32
}

func (b *okxTradeBook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b.requests.Add(1)
	q := r.URL.Query()
	num := func(k string, def int64) int64 {
		if q.Get(k) == "" {
			return def
		}
		n, err := strconv.ParseInt(q.Get(k), 10, 64)
		if err != nil {
			http.Error(w, "bad "+k, http.StatusBadRequest)
		}
		return n
	}
	lo, hi, limit := num("before", 0), num("after", math.MaxInt64), int(num("limit", 100))
	var rows []string
	for i := len(b.ids) - 1; i >= 0 && len(rows) < limit; i-- {
		if id := b.ids[i]; id > lo && id < hi {
			rows = append(rows, fmt.Sprintf(`{"instId":"BTC-USDT","side":"buy","sz":"1","source":"0","px":"100","tradeId":"%d","ts":"%d"}`, id, 1654161600000+id))
		}
	}
	fmt.Fprintf(w, `{"code":"0","msg":"","data":[%s]}`, strings.Join(rows, ","))
}

// TestTradesFollowIDJumps: the trades after afterID are found whatever
// the distance to the next id, without skipping any.
func TestTradesFollowIDJumps(t *testing.T) {
	span := func(from, to int64) []int64 {
		var out []int64
		for id := from; id <= to; id++ {
			out = append(out, id)
		}
		return out
	}
	tests := []struct {
		name     string
		ids      []int64
		afterID  int64
		limit    int
		want     []int64
		requests int32
	}{
		{name: "contiguous", ids: span(1, 500), afterID: 10, limit: 100, want: span(11, 110), requests: 1},
		{name: "jump of a thousand, many trades after", ids: append(span(1, 5), span(1005, 1600)...), afterID: 5, limit: 100,
			want: span(1005, 1104), requests: 7},
		{name: "jump, few trades after", ids: append(span(1, 5), span(100000, 100003)...), afterID: 5, limit: 100,
			want: span(100000, 100003), requests: 4},
		{name: "no newer trade", ids: span(1, 5), afterID: 5, limit: 100, want: nil, requests: 16},
		// A page may hold fewer than limit trades: the caller asks again
		// after its last id.
		{name: "scattered ids", ids: []int64{3, 50, 700, 9000, 9001}, afterID: 3, limit: 2, want: []int64{50}, requests: 2},
		{name: "full page below the jump", ids: append(span(1, 5), span(10000, 10150)...), afterID: 5, limit: 30,
			want: span(10000, 10029), requests: 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			book := &okxTradeBook{ids: tc.ids}
			srv := httptest.NewServer(book)
			t.Cleanup(srv.Close)
			a := newAdapter(t, Config{RESTURL: srv.URL, HTTPClient: srv.Client(), Now: func() time.Time { return restNow }})
			got, err := a.Trades(t.Context(), "BTC-USDT", tc.afterID, tc.limit)
			if err != nil {
				t.Fatalf("Trades: %v", err)
			}
			var ids []int64
			for _, tr := range got {
				id, err := strconv.ParseInt(tr.TradeID, 10, 64)
				if err != nil {
					t.Fatal(err)
				}
				ids = append(ids, id)
			}
			if !slices.Equal(ids, tc.want) {
				t.Errorf("ids %v, want %v", ids, tc.want)
			}
			if n := book.requests.Load(); n != tc.requests {
				t.Errorf("%d requests, want %d", n, tc.requests)
			}
		})
	}
}
