package binance

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// restServer is a local Binance REST endpoint that records the requests it
// gets and answers each with a fixed response.
type restServer struct {
	*httptest.Server
	mu       sync.Mutex // guards requests
	requests []*http.Request
}

// newRESTServer serves status, headers and body to every request.
func newRESTServer(t *testing.T, status int, header map[string]string, body string) *restServer {
	t.Helper()
	s := &restServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r)
		s.mu.Unlock()
		for k, v := range header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(func() {
		s.Client().CloseIdleConnections()
		s.Close()
	})
	return s
}

// only returns the one request the server got.
func (s *restServer) only(t *testing.T) *http.Request {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) != 1 {
		t.Fatalf("%d requests, want 1", len(s.requests))
	}
	return s.requests[0]
}

func (s *restServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func newRESTAdapter(t *testing.T, s *restServer, now time.Time) *Adapter {
	t.Helper()
	a, err := New(Config{RESTURL: s.URL, HTTPClient: s.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkRequest asserts the path and the exact query parameters.
func checkRequest(t *testing.T, r *http.Request, path string, want url.Values) {
	t.Helper()
	if r.Method != http.MethodGet || r.URL.Path != path {
		t.Errorf("request %s %s, want GET %s", r.Method, r.URL.Path, path)
	}
	got := r.URL.Query()
	if got.Encode() != want.Encode() {
		t.Errorf("query %s, want %s", got.Encode(), want.Encode())
	}
}

func TestCandles(t *testing.T) {
	// The documented row (a weekly kline opening Monday 2017-07-03), the
	// next week (still forming at now) and one before the range.
	const body = `[
[1499040000000,"0.01634790","0.80000000","0.01575800","0.01577100","148976.11427815",1499644799999,"2434.19055334",308,"1756.87402397","28.46694368","0"],
[1499644800000,"0.01577100","0.01600000","0.01500000","0.01590000","100.5",1500249599999,"1.6",12,"50","0.8","0"]
]`
	srv := newRESTServer(t, http.StatusOK, nil, body)
	now := time.Date(2017, 7, 12, 0, 0, 0, 0, time.UTC)
	a := newRESTAdapter(t, srv, now)
	from := time.Date(2017, 7, 3, 0, 0, 0, 0, time.UTC)
	to := time.Date(2017, 7, 17, 0, 0, 0, 0, time.UTC)
	got, err := a.Candles(t.Context(), "BNB-BTC", market.TF1w, from, to)
	if err != nil {
		t.Fatal(err)
	}
	checkRequest(t, srv.only(t), "/api/v3/klines", url.Values{
		"symbol": {"BNBBTC"}, "interval": {"1w"}, "startTime": {"1499040000000"},
		"endTime": {"1500249599999"}, "limit": {"1000"},
	})
	if len(got) != 1 {
		t.Fatalf("%d candles, want the closed one only", len(got))
	}
	want := "candle binance BNB-BTC t=1499040000000 rcv=1499817600000 1w o=0.01634790 h=0.80000000 l=0.01575800 c=0.01577100 v=148976.11427815 qv=2434.19055334 n=308 closed=true"
	if r := render(&got[0]); r != want {
		t.Errorf("candle\n got %s\nwant %s", r, want)
	}
}

func TestCandlesRange(t *testing.T) {
	const body = `[
[1672531140000,"1","1","1","1","1",1672531199999,"1",1,"1","1","0"],
[1672531200000,"2","2","2","2","2",1672531259999,"2",2,"2","2","0"],
[1672531260000,"3","3","3","3","3",1672531319999,"3",3,"3","3","0"]
]`
	srv := newRESTServer(t, http.StatusOK, nil, body)
	a := newRESTAdapter(t, srv, time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	from := time.UnixMilli(1672531200000).Add(-time.Microsecond) // rounds up to the second row's open
	to := time.UnixMilli(1672531260000)
	got, err := a.Candles(t.Context(), "BTC-USDT", market.TF1m, from, to)
	if err != nil {
		t.Fatal(err)
	}
	q := srv.only(t).URL.Query()
	if q.Get("startTime") != "1672531200000" || q.Get("endTime") != "1672531259999" {
		t.Errorf("range %s..%s", q.Get("startTime"), q.Get("endTime"))
	}
	if len(got) != 1 || got[0].Time.UnixMilli() != 1672531200000 {
		t.Errorf("candles %v, want only the one opening at 1672531200000", got)
	}
}

func TestCandlesWithoutRequest(t *testing.T) {
	srv := newRESTServer(t, http.StatusOK, nil, `[]`)
	a := newRESTAdapter(t, srv, time.Now())
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		sym       market.Symbol
		tf        market.Timeframe
		to        time.Time
		permanent bool
	}{
		{"empty range", "BTC-USDT", market.TF1m, from, false},
		{"reversed range", "BTC-USDT", market.TF1m, from.Add(-time.Hour), false},
		{"unsupported timeframe", "BTC-USDT", "8h", from.Add(time.Hour), true},
		{"bad symbol", "BTCUSDT", market.TF1m, from.Add(time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := a.Candles(t.Context(), tt.sym, tt.tf, from, tt.to)
			if errors.Is(err, collector.ErrPermanent) != tt.permanent || (err != nil) != tt.permanent {
				t.Errorf("error %v, permanent %t expected", err, tt.permanent)
			}
			if len(got) != 0 {
				t.Errorf("%d candles", len(got))
			}
		})
	}
	if n := srv.count(); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestTrades(t *testing.T) {
	// The documented item, a newer one by a taker buyer, and an older one
	// that must be dropped.
	const body = `[
{"id":28456,"price":"4.00000000","qty":"1.00000000","quoteQty":"4","time":1499865549000,"isBuyerMaker":false,"isBestMatch":true},
{"id":28457,"price":"4.00000100","qty":"12.00000000","quoteQty":"48.000012","time":1499865549590,"isBuyerMaker":true,"isBestMatch":true},
{"id":28458,"price":"4.00000200","qty":"0.50000000","quoteQty":"2.000001","time":1499865549600,"isBuyerMaker":false,"isBestMatch":true}
]`
	now := time.UnixMilli(1499865550000).UTC()
	tests := []struct {
		name      string
		afterID   int64
		limit     int
		wantQuery url.Values
		want      []string
	}{
		{"after an id", 28456, 500, url.Values{"symbol": {"BNBBTC"}, "fromId": {"28457"}, "limit": {"500"}}, []string{
			"trade binance BNB-BTC t=1499865549590 rcv=1499865550000 id=28457 p=4.00000100 q=12.00000000 sell",
			"trade binance BNB-BTC t=1499865549600 rcv=1499865550000 id=28458 p=4.00000200 q=0.50000000 buy",
		}},
		{"limit capped to a page", 28456, 5000, url.Values{"symbol": {"BNBBTC"}, "fromId": {"28457"}, "limit": {"1000"}}, nil},
		{"no limit means a page", 28456, 0, url.Values{"symbol": {"BNBBTC"}, "fromId": {"28457"}, "limit": {"1000"}}, nil},
		{"from the first trade", -1, 1, url.Values{"symbol": {"BNBBTC"}, "fromId": {"0"}, "limit": {"1"}}, []string{
			"trade binance BNB-BTC t=1499865549000 rcv=1499865550000 id=28456 p=4.00000000 q=1.00000000 buy",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRESTServer(t, http.StatusOK, nil, body)
			a := newRESTAdapter(t, srv, now)
			got, err := a.Trades(t.Context(), "BNB-BTC", tt.afterID, tt.limit)
			if err != nil {
				t.Fatal(err)
			}
			checkRequest(t, srv.only(t), "/api/v3/historicalTrades", tt.wantQuery)
			if tt.want == nil {
				return
			}
			var rendered []string
			for i := range got {
				rendered = append(rendered, render(&got[i]))
			}
			if strings.Join(rendered, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("trades\n got %q\nwant %q", rendered, tt.want)
			}
		})
	}
}

func TestHistoryErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		header map[string]string
		body   string
		// permanent, or a RetryAfterError of retryAfter; otherwise transient.
		permanent  bool
		retryAfter time.Duration
		code       int
	}{
		{name: "invalid symbol", status: 400, body: `{"code":-1121,"msg":"Invalid symbol."}`, permanent: true, code: -1121},
		{name: "invalid interval", status: 400, body: `{"code":-1120,"msg":"Invalid interval."}`, permanent: true, code: -1120},
		{name: "mandatory parameter", status: 400, body: `{"code":-1102,"msg":"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}`, permanent: true, code: -1102},
		{name: "illegal characters", status: 400, body: `{"code":-1100,"msg":"Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'."}`, permanent: true, code: -1100},
		{name: "not found without a code", status: 404, body: `<html>Not Found</html>`, permanent: true},
		// -1003 TOO_MANY_REQUESTS (errors.md) is a rate limit whatever the status.
		{name: "too many requests queued on a 400", status: 400, body: `{"code":-1003,"msg":"Too many requests queued."}`, retryAfter: time.Minute, code: -1003},
		// errors.md: "Way too much request weight used; IP banned until %s." (%s: Unix ms; here 10 min after the tests' clock).
		{name: "IP ban without a header", status: 418, body: `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1700000600000. Please use WebSocket Streams for live updates to avoid bans."}`, retryAfter: 10 * time.Minute, code: -1003},
		{name: "IP ban ended without a header", status: 418, body: `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1499865549590. Please use WebSocket Streams for live updates to avoid bans."}`, retryAfter: 2 * time.Minute, code: -1003},
		{name: "rate limit", status: 429, header: map[string]string{"Retry-After": "7"}, body: `{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE."}`, retryAfter: 7 * time.Second, code: -1003},
		{name: "rate limit without header", status: 429, body: `{"code":-1003,"msg":"TOO_MANY_REQUESTS"}`, retryAfter: time.Minute, code: -1003},
		{name: "rate limit of zero seconds", status: 429, header: map[string]string{"Retry-After": "0"}, body: `{}`, retryAfter: time.Second},
		{name: "IP ban", status: 418, header: map[string]string{"Retry-After": "120"}, body: `{"code":-1003,"msg":"Way too much request weight used; IP banned until 1499865549590."}`, retryAfter: 2 * time.Minute, code: -1003},
		{name: "IP ban with an unreadable header", status: 418, header: map[string]string{"Retry-After": "soon"}, body: ``, retryAfter: 2 * time.Minute},
		{name: "WAF", status: 403, body: `<html>403 Forbidden</html>`},
		{name: "internal error", status: 500, body: `{"code":-1000,"msg":"An unknown error occurred while processing the request."}`, code: -1000},
		{name: "bad gateway", status: 502, body: ``},
		{name: "unavailable", status: 503, body: `{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}`, code: -1008},
		{name: "malformed success", status: 200, body: `{"not":"an array"}`},
		{name: "bad row", status: 200, body: `[[1499040000000,"x"]]`},
		{name: "bad decimal", status: 200, body: `[[1499040000000,"0.1","0.1","0.1","abc","1",1499644799999,"1",1,"1","1","0"]]`},
	}
	for _, tt := range tests {
		for _, call := range []string{"candles", "trades"} {
			if call == "trades" && strings.HasPrefix(tt.name, "bad ") {
				continue
			}
			t.Run(tt.name+"/"+call, func(t *testing.T) {
				srv := newRESTServer(t, tt.status, tt.header, tt.body)
				a := newRESTAdapter(t, srv, time.UnixMilli(1700000000000))
				var err error
				if call == "candles" {
					from := time.UnixMilli(1499040000000)
					_, err = a.Candles(t.Context(), "BNB-BTC", market.TF1w, from, from.Add(7*24*time.Hour))
				} else {
					_, err = a.Trades(t.Context(), "BNB-BTC", 1, 10)
				}
				if err == nil {
					t.Fatal("no error")
				}
				if errors.Is(err, collector.ErrPermanent) != tt.permanent {
					t.Errorf("permanent %t, want %t: %v", !tt.permanent, tt.permanent, err)
				}
				var ra *collector.RetryAfterError
				if errors.As(err, &ra) != (tt.retryAfter > 0) || (ra != nil && ra.After != tt.retryAfter) {
					t.Errorf("retry-after %v, want %v: %v", ra, tt.retryAfter, err)
				}
				var api *APIError
				if errors.As(err, &api) && (api.Status != tt.status || api.Code != tt.code) {
					t.Errorf("API error %+v, want status %d code %d", api, tt.status, tt.code)
				}
				if tt.status != 200 && api == nil {
					t.Errorf("no *APIError in %v", err)
				}
			})
		}
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	now := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	srv := newRESTServer(t, 429, map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}, `{}`)
	a := newRESTAdapter(t, srv, now)
	_, err := a.Trades(t.Context(), "BTC-USDT", 1, 1)
	var ra *collector.RetryAfterError
	if !errors.As(err, &ra) || ra.After != 90*time.Second {
		t.Errorf("error %v, want a retry after 1m30s", err)
	}
}

func TestHistoryContextCancelled(t *testing.T) {
	srv := newRESTServer(t, http.StatusOK, nil, `[]`)
	a := newRESTAdapter(t, srv, time.Now())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := a.Trades(ctx, "BTC-USDT", 1, 1)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want context.Canceled", err)
	}
	if errors.Is(err, collector.ErrPermanent) {
		t.Errorf("a cancelled request is not permanent")
	}
}

// TestCandlesFormingByTheExchangesClock: a host clock ahead of the
// exchange's does not make a kline still forming at the exchange (its
// close time past by the host's clock, not by the response's Date) a
// closed candle.
func TestCandlesFormingByTheExchangesClock(t *testing.T) {
	const body = `[
[1704067380000,"1","1","1","1","1",1704067439999,"1",1,"1","1","0"],
[1704067440000,"2","2","2","2","2",1704067499999,"2",2,"2","2","0"]
]`
	// The exchange's clock: 00:04:30 (the second kline closes at 00:04:59.999).
	srv := newRESTServer(t, http.StatusOK, map[string]string{"Date": "Mon, 01 Jan 2024 00:04:30 GMT"}, body)
	// The host's clock, a minute ahead: both klines look closed to it.
	a := newRESTAdapter(t, srv, time.Date(2024, 1, 1, 0, 5, 30, 0, time.UTC))
	got, err := a.Candles(t.Context(), "BTC-USDT", market.TF1m, time.UnixMilli(1704067380000), time.UnixMilli(1704067500000))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Time.UnixMilli() != 1704067380000 {
		t.Errorf("candles %v, want only the one the exchange's clock has closed (opening 00:03)", got)
	}
}
