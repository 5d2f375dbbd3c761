package coinbase

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// restReply is what the test server answers.
type restReply struct {
	status int
	header map[string]string
	body   string
}

// restServer is a local REST endpoint that records the requests it gets.
type restServer struct {
	*httptest.Server
	mu    sync.Mutex // guards reply and calls
	reply restReply
	calls []*url.URL
}

func newRESTServer(t *testing.T, reply restReply) *restServer {
	t.Helper()
	s := &restServer{reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.calls = append(s.calls, r.URL)
		rep := s.reply
		s.mu.Unlock()
		for k, v := range rep.header {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		if rep.status == 0 {
			rep.status = http.StatusOK
		}
		w.WriteHeader(rep.status)
		fmt.Fprint(w, rep.body)
	}))
	t.Cleanup(s.Close)
	return s
}

// requests returns the requests made so far as path?sorted-query.
func (s *restServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, u := range s.calls {
		out = append(out, u.Path+"?"+u.Query().Encode())
	}
	return out
}

func restFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "rest", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func newRESTAdapter(t *testing.T, srv *restServer, now time.Time) *Adapter {
	t.Helper()
	a, err := New(Config{RESTURL: srv.URL + "/", HTTPClient: srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// renderCandles renders candles received at now (checked) as the decode
// tests render frames received at received.
func renderCandles(t *testing.T, cs []market.Candle, now time.Time) []string {
	t.Helper()
	var out []string
	for _, c := range cs {
		if !c.Received.Equal(now) {
			t.Errorf("Received = %s, want %s", c.Received, now)
		}
		c.Received = received
		out = append(out, render(&c))
	}
	return out
}

func TestCandles(t *testing.T) {
	at := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	const newestFirst = `[
		[1704110700, 42010.5, 42030.00, 42020.10, 42011, 0.50],
		[1704110640, 42000, 42100.25, 42050, 42010.5, 1e-05],
		[1704110520, 41990.01, 42000, 41995, 42000, 12.3],
		[1704110400, 41980, 41999, 41985, 41990.01, 3],
		[1704110340, 41900, 41950, 41910, 41940, 7]
	]`
	tests := []struct {
		name     string
		tf       market.Timeframe
		from, to string
		now      string
		body     string
		request  string // path?query, "" for none
		want     []string
	}{
		{
			name: "documented row",
			tf:   market.TF1m, from: "2014-11-07T22:00:00Z", to: "2014-11-07T23:00:00Z", now: "2015-01-01T00:00:00Z",
			body:    restFile(t, "candles_documented.json"),
			request: "/products/BTC-USD/candles?end=2014-11-07T22%3A59%3A59Z&granularity=60&start=2014-11-07T22%3A00%3A00Z",
			want: []string{
				"candle coinbase BTC-USD t=2014-11-07T22:19:28Z 1m o=0.35 h=4.2 l=0.32 c=4.2 v=12.3 qv=- n=-1 closed=true"},
		},
		{
			name: "newest first, forming and earlier buckets left out",
			tf:   market.TF1m, from: "2024-01-01T12:00:00Z", to: "2024-01-01T13:00:00Z", now: "2024-01-01T12:05:30Z",
			body:    newestFirst,
			request: "/products/BTC-USD/candles?end=2024-01-01T12%3A04%3A59Z&granularity=60&start=2024-01-01T12%3A00%3A00Z",
			want: []string{
				"candle coinbase BTC-USD t=2024-01-01T12:00:00Z 1m o=41985 h=41999 l=41980 c=41990.01 v=3 qv=- n=-1 closed=true",
				"candle coinbase BTC-USD t=2024-01-01T12:02:00Z 1m o=41995 h=42000 l=41990.01 c=42000 v=12.3 qv=- n=-1 closed=true",
				"candle coinbase BTC-USD t=2024-01-01T12:04:00Z 1m o=42050 h=42100.25 l=42000 c=42010.5 v=0.00001 qv=- n=-1 closed=true",
			},
		},
		{
			name: "to is exclusive",
			tf:   market.TF1m, from: "2024-01-01T12:00:00Z", to: "2024-01-01T12:04:00Z", now: "2024-01-02T00:00:00Z",
			body:    newestFirst,
			request: "/products/BTC-USD/candles?end=2024-01-01T12%3A03%3A59Z&granularity=60&start=2024-01-01T12%3A00%3A00Z",
			want: []string{
				"candle coinbase BTC-USD t=2024-01-01T12:00:00Z 1m o=41985 h=41999 l=41980 c=41990.01 v=3 qv=- n=-1 closed=true",
				"candle coinbase BTC-USD t=2024-01-01T12:02:00Z 1m o=41995 h=42000 l=41990.01 c=42000 v=12.3 qv=- n=-1 closed=true",
			},
		},
		{
			name: "at most 300 buckets",
			tf:   market.TF1m, from: "2024-01-01T00:00:00Z", to: "2024-01-02T00:00:00Z", now: "2024-06-01T00:00:00Z",
			body:    `[]`,
			request: "/products/BTC-USD/candles?end=2024-01-01T04%3A59%3A59Z&granularity=60&start=2024-01-01T00%3A00%3A00Z",
		},
		{
			name: "300 daily buckets",
			tf:   market.TF1d, from: "2023-01-01T00:00:00Z", to: "2025-01-01T00:00:00Z", now: "2025-06-01T00:00:00Z",
			body:    `[]`,
			request: "/products/BTC-USD/candles?end=2023-10-27T23%3A59%3A59Z&granularity=86400&start=2023-01-01T00%3A00%3A00Z",
		},
		{
			name: "from inside a bucket starts at the next one",
			tf:   market.TF1h, from: "2024-01-01T00:00:00.5Z", to: "2024-01-01T03:00:00Z", now: "2024-06-01T00:00:00Z",
			body:    `[]`,
			request: "/products/BTC-USD/candles?end=2024-01-01T02%3A59%3A59Z&granularity=3600&start=2024-01-01T01%3A00%3A00Z",
		},
		{
			name: "6h",
			tf:   market.TF6h, from: "2024-01-01T00:00:00Z", to: "2024-01-02T00:00:00Z", now: "2024-06-01T00:00:00Z",
			body:    `[]`,
			request: "/products/BTC-USD/candles?end=2024-01-01T23%3A59%3A59Z&granularity=21600&start=2024-01-01T00%3A00%3A00Z",
		},
		{
			name: "nothing has ended yet",
			tf:   market.TF5m, from: "2024-01-01T12:00:00Z", to: "2024-01-01T13:00:00Z", now: "2024-01-01T12:04:59Z",
		},
		{
			name: "empty range",
			tf:   market.TF15m, from: "2024-01-01T12:00:00Z", to: "2024-01-01T12:00:00Z", now: "2024-06-01T00:00:00Z",
		},
		{
			name: "range inside one bucket",
			tf:   market.TF15m, from: "2024-01-01T12:01:00Z", to: "2024-01-01T12:14:00Z", now: "2024-06-01T00:00:00Z",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRESTServer(t, restReply{body: tc.body})
			a := newRESTAdapter(t, srv, at(tc.now))
			got, err := a.Candles(t.Context(), "BTC-USD", tc.tf, at(tc.from), at(tc.to))
			if err != nil {
				t.Fatal(err)
			}
			reqs := srv.requests()
			if tc.request == "" {
				if len(reqs) != 0 {
					t.Fatalf("requests %q, want none", reqs)
				}
			} else if len(reqs) != 1 || reqs[0] != tc.request {
				t.Fatalf("requests %q\nwant [%s]", reqs, tc.request)
			}
			if g, w := strings.Join(renderCandles(t, got, at(tc.now)), "\n"), strings.Join(tc.want, "\n"); g != w {
				t.Errorf("candles:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func TestCandlesUnsupportedTimeframes(t *testing.T) {
	srv := newRESTServer(t, restReply{body: `[]`})
	a := newRESTAdapter(t, srv, time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC))
	from := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tf := range []market.Timeframe{market.TF3m, market.TF30m, market.TF2h, market.TF4h, market.TF12h, market.TF1w} {
		t.Run(string(tf), func(t *testing.T) {
			_, err := a.Candles(t.Context(), "BTC-USD", tf, from, from.Add(24*time.Hour))
			if !errors.Is(err, collector.ErrPermanent) || !strings.Contains(err.Error(), `"`+string(tf)+`"`) {
				t.Errorf("err = %v, want a permanent error naming %s", err, tf)
			}
		})
	}
	if reqs := srv.requests(); len(reqs) != 0 {
		t.Errorf("requests %q, want none", reqs)
	}
}

func TestTrades(t *testing.T) {
	const page = `[
		{"time":"2020-03-20T00:37:01.2Z","trade_id":86327330,"price":"6225.10","size":"1.5","side":"buy"},
		{"time":"2020-03-20T00:37:00.000001Z","trade_id":86327329,"price":"6225.32000000","size":"0.10000000","side":"sell"},
		{"time":"2020-03-20T00:36:59.860Z","trade_id":86327328,"price":"6225.32","size":"2","side":"sell"},
		{"time":"2020-03-20T00:36:59.860Z","trade_id":86327327,"price":"6225.32","size":"3","side":"sell"}
	]`
	tests := []struct {
		name    string
		afterID int64
		limit   int
		body    string
		request string
		want    []string
	}{
		{
			name:    "documented item",
			afterID: 86327300, limit: 100,
			body:    restFile(t, "trades_documented.json"),
			request: "/products/BTC-USD/trades?before=86327300&limit=100",
			want:    []string{"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327327 p=6225.32000000 q=0.06469797 buy"},
		},
		{
			name:    "oldest first, only ids after the cursor",
			afterID: 86327327, limit: 10,
			body:    page,
			request: "/products/BTC-USD/trades?before=86327327&limit=10",
			want: []string{
				"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327328 p=6225.32 q=2 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:37:00.000001Z id=86327329 p=6225.32000000 q=0.10000000 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:37:01.2Z id=86327330 p=6225.10 q=1.5 sell",
			},
		},
		{
			name:    "at most limit, nearest the cursor",
			afterID: 86327300, limit: 2,
			body:    page,
			request: "/products/BTC-USD/trades?before=86327300&limit=2",
			want: []string{
				"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327327 p=6225.32 q=3 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327328 p=6225.32 q=2 buy",
			},
		},
		{
			name:    "no limit means a full page",
			afterID: 5, limit: 0,
			body:    `[]`,
			request: "/products/BTC-USD/trades?before=5&limit=1000",
		},
		{
			name:    "limit capped at the page size",
			afterID: 5, limit: 5000,
			body:    `[]`,
			request: "/products/BTC-USD/trades?before=5&limit=1000",
		},
		{
			name:    "no cursor: the latest page",
			afterID: 0, limit: 1000,
			body:    page,
			request: "/products/BTC-USD/trades?limit=1000",
			want: []string{
				"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327327 p=6225.32 q=3 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:36:59.86Z id=86327328 p=6225.32 q=2 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:37:00.000001Z id=86327329 p=6225.32000000 q=0.10000000 buy",
				"trade coinbase BTC-USD t=2020-03-20T00:37:01.2Z id=86327330 p=6225.10 q=1.5 sell",
			},
		},
		{
			name:    "negative cursor",
			afterID: -3, limit: 1,
			body:    `[]`,
			request: "/products/BTC-USD/trades?limit=1",
		},
	}
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRESTServer(t, restReply{body: tc.body})
			a := newRESTAdapter(t, srv, now)
			got, err := a.Trades(t.Context(), "BTC-USD", tc.afterID, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if reqs := srv.requests(); len(reqs) != 1 || reqs[0] != tc.request {
				t.Fatalf("requests %q\nwant [%s]", reqs, tc.request)
			}
			var lines []string
			for _, tr := range got {
				if !tr.Received.Equal(now) {
					t.Errorf("Received = %s, want %s", tr.Received, now)
				}
				tr.Received = received
				lines = append(lines, render(&tr))
			}
			if g, w := strings.Join(lines, "\n"), strings.Join(tc.want, "\n"); g != w {
				t.Errorf("trades:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

// errorClass names how a REST error is to be handled.
func errorClass(err error) string {
	var ra *collector.RetryAfterError
	switch {
	case err == nil:
		return "none"
	case errors.As(err, &ra):
		if errors.Is(err, collector.ErrPermanent) {
			return "retry-after and permanent"
		}
		return "retry after " + ra.After.String()
	case errors.Is(err, collector.ErrPermanent):
		return "permanent"
	}
	return "transient"
}

func TestRESTErrors(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		reply   restReply
		class   string
		message string
	}{
		{"unknown product", restReply{status: 404, body: restFile(t, "error_not_found.json")}, "permanent", "HTTP 404: NotFound"},
		{"unsupported granularity", restReply{status: 400, body: restFile(t, "error_unsupported_granularity.json")}, "permanent", "HTTP 400: Unsupported granularity"},
		{"too many buckets", restReply{status: 400, body: restFile(t, "error_too_many_buckets.json")}, "permanent", "Count of aggregations requested exceeds 300"},
		{"unauthorized", restReply{status: 401, body: `{"message":"Unauthorized."}`}, "permanent", "HTTP 401: Unauthorized."},
		{"rate limit with seconds", restReply{status: 429, header: map[string]string{"Retry-After": "3"}, body: `{"message":"Public rate limit exceeded"}`}, "retry after 3s", "Public rate limit exceeded"},
		{"rate limit without header", restReply{status: 429, body: `{"message":"Public rate limit exceeded"}`}, "retry after 1s", "HTTP 429"},
		{"rate limit with a date", restReply{status: 429, header: map[string]string{"Retry-After": now.Add(90 * time.Second).Format(http.TimeFormat)}}, "retry after 1m30s", "HTTP 429"},
		{"rate limit with a bad header", restReply{status: 429, header: map[string]string{"Retry-After": "soon"}}, "retry after 1s", "HTTP 429"},
		{"teapot", restReply{status: 418, header: map[string]string{"Retry-After": "120"}}, "retry after 2m0s", "HTTP 418"},
		{"server error", restReply{status: 500, body: `{"message":"Internal server error"}`}, "transient", "HTTP 500: Internal server error"},
		{"bad gateway with HTML", restReply{status: 502, body: "<html>bad gateway</html>"}, "transient", "HTTP 502: <html>bad gateway</html>"},
		{"unavailable", restReply{status: 503}, "transient", "HTTP 503"},
		{"firewall", restReply{status: 403, body: "blocked"}, "transient", "HTTP 403: blocked"},
		{"malformed body", restReply{status: 200, body: `[[1,2`}, "transient", "decode response"},
		{"wrong shape", restReply{status: 200, body: `{"message":"ok"}`}, "transient", "decode response"},
	}
	calls := []struct {
		name string
		call func(a *Adapter) error
	}{
		{"candles", func(a *Adapter) error {
			_, err := a.Candles(t.Context(), "BTC-USD", market.TF1m, now.Add(-time.Hour), now)
			return err
		}},
		{"trades", func(a *Adapter) error {
			_, err := a.Trades(t.Context(), "BTC-USD", 1, 10)
			return err
		}},
	}
	for _, c := range calls {
		for _, tc := range tests {
			t.Run(c.name+"/"+tc.name, func(t *testing.T) {
				srv := newRESTServer(t, tc.reply)
				err := c.call(newRESTAdapter(t, srv, now))
				if got := errorClass(err); got != tc.class {
					t.Errorf("err %v is %s, want %s", err, got, tc.class)
				}
				if err == nil || !strings.Contains(err.Error(), tc.message) {
					t.Errorf("err %v does not contain %q", err, tc.message)
				}
				var api *APIError
				if tc.reply.status != 200 && (!errors.As(err, &api) || api.Status != tc.reply.status) {
					t.Errorf("err %v: want an *APIError with status %d", err, tc.reply.status)
				}
			})
		}
	}
}

func TestRESTBadRows(t *testing.T) {
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		trades bool
		body   string
		want   string
	}{
		{name: "short candle row", body: `[[1704063600, 1, 2, 1, 2]]`, want: "row 0: 5 values"},
		{name: "candle time with a fraction", body: `[[1704063600.5, 1, 2, 1, 2, 3]]`, want: "row 0: time"},
		{name: "candle price as null", body: `[[1704063600, null, 2, 1, 2, 3]]`, want: "row 0: low"},
		{name: "candle price as text", body: `[[1704063600, 1, "x", 1, 2, 3]]`, want: "decode response"},
		{name: "trade side", trades: true, body: `[{"time":"2020-03-20T00:36:59.860Z","trade_id":7,"price":"1","size":"1","side":"up"}]`, want: "item 0: side"},
		{name: "trade id as text", trades: true, body: `[{"time":"2020-03-20T00:36:59.860Z","trade_id":"x","price":"1","size":"1","side":"buy"}]`, want: "decode response"},
		{name: "trade price as a number", trades: true, body: `[{"time":"2020-03-20T00:36:59.860Z","trade_id":7,"price":1,"size":"1","side":"buy"}]`, want: "decode response"},
		{name: "trade time", trades: true, body: `[{"time":"yesterday","trade_id":7,"price":"1","size":"1","side":"buy"}]`, want: "item 0: time"},
		{name: "trade without an id", trades: true, body: `[{"time":"2020-03-20T00:36:59.860Z","price":"1","size":"1","side":"buy"}]`, want: "item 0: trade_id"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newRESTServer(t, restReply{body: tc.body})
			a := newRESTAdapter(t, srv, now)
			var err error
			if tc.trades {
				_, err = a.Trades(t.Context(), "BTC-USD", 1, 10)
			} else {
				_, err = a.Candles(t.Context(), "BTC-USD", market.TF1m, now.Add(-time.Hour), now)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, collector.ErrPermanent) {
				t.Errorf("err = %v, want a transient error containing %q", err, tc.want)
			}
		})
	}
}

func TestRESTContextAndSymbol(t *testing.T) {
	srv := newRESTServer(t, restReply{body: `[]`})
	now := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	a := newRESTAdapter(t, srv, now)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := a.Trades(ctx, "BTC-USD", 1, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: err = %v", err)
	}
	if _, err := a.Trades(t.Context(), "btc/usd", 1, 10); !errors.Is(err, collector.ErrPermanent) {
		t.Errorf("bad symbol: err = %v, want permanent", err)
	}
	if _, err := a.Candles(t.Context(), "BTC", market.TF1m, now.Add(-time.Hour), now); !errors.Is(err, collector.ErrPermanent) {
		t.Errorf("bad symbol: err = %v, want permanent", err)
	}
	if reqs := srv.requests(); len(reqs) != 0 {
		t.Errorf("requests %q, want none", reqs)
	}
}
