package kraken

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

// restServer answers every request with status, header and body, and
// records the request URIs.
func restServer(t *testing.T, status int, header http.Header, body []byte) (*Adapter, *[]string) {
	t.Helper()
	var uris []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		uris = append(uris, r.URL.RequestURI())
		for k, v := range header {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	now := time.Date(2023, 7, 6, 19, 30, 0, 0, time.UTC)
	a, err := New(Config{RESTURL: srv.URL, HTTPClient: srv.Client(), Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return a, &uris
}

func TestCandlesDocumentedBody(t *testing.T) {
	a, uris := restServer(t, 200, nil, readFile(t, "rest/ohlc.json"))
	from := time.Unix(1688671200, 0).UTC()
	got, err := a.Candles(context.Background(), "BTC-USD", market.TF1m, from, from.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/0/public/OHLC?interval=1&pair=XBTUSD&since=1688671199"}; !slices.Equal(*uris, want) {
		t.Errorf("requests = %q, want %q", *uris, want)
	}
	var lines []string
	for i := range got {
		lines = append(lines, render(&got[i]))
	}
	// The third row is the last one: the candle still forming, left out.
	want := []string{
		"candle kraken BTC-USD t=2023-07-06T19:20:00Z rcv=2023-07-06T19:30:00Z 1m o=30306.1 h=30306.2 l=30305.7 c=30305.7 v=3.39243896 qv=- n=23 closed=true",
		"candle kraken BTC-USD t=2023-07-06T19:21:00Z rcv=2023-07-06T19:30:00Z 1m o=30304.5 h=30304.5 l=30300.0 c=30300.0 v=4.42996871 qv=- n=18 closed=true",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("candles:\n got %q\nwant %q", lines, want)
	}
	// [from, to) bounds.
	got, err = a.Candles(context.Background(), "BTC-USD", market.TF1m, from.Add(time.Minute), from.Add(2*time.Minute))
	if err != nil || len(got) != 1 || !got[0].Time.Equal(from.Add(time.Minute)) {
		t.Errorf("Candles in [19:21, 19:22) = %v, %v", got, err)
	}
}

func TestTradesSinceDocumentedBody(t *testing.T) {
	a, uris := restServer(t, 200, nil, readFile(t, "rest/trades.json"))
	since := time.Unix(0, 1688669597000000000).UTC()
	got, next, err := a.TradesSince(context.Background(), "BTC-USD", since)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/0/public/Trades?count=1000&pair=XBTUSD&since=1688669597000000000"}; !slices.Equal(*uris, want) {
		t.Errorf("requests = %q, want %q", *uris, want)
	}
	var lines []string
	for i := range got {
		lines = append(lines, render(&got[i]))
	}
	want := []string{
		"trade kraken BTC-USD t=2023-07-06T18:53:17.8277369Z rcv=2023-07-06T19:30:00Z id=61044952 p=30243.40000 q=0.34507674 buy",
		"trade kraken BTC-USD t=2023-07-06T18:53:18.2804112Z rcv=2023-07-06T19:30:00Z id=61044953 p=30243.30000 q=0.00376960 sell",
		"trade kraken BTC-USD t=2023-07-06T18:53:18.2804112Z rcv=2023-07-06T19:30:00Z id=61044954 p=30240.00000 q=0.00100000 sell",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("trades:\n got %q\nwant %q", lines, want)
	}
	if !next.Equal(time.Unix(0, 1688671969993150842)) {
		t.Errorf("next = %s", next)
	}
	if _, err := a.Trades(context.Background(), "BTC-USD", 61044951, 10); !errors.Is(err, collector.ErrPermanent) {
		t.Errorf("Trades by id = %v, want ErrPermanent", err)
	}
}

func TestHistoryErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		status    int
		header    http.Header
		body      []byte
		permanent bool
		after     time.Duration // > 0: a RetryAfterError of this wait
	}{
		{name: "unknown pair (HTTP 200)", status: 200, body: readFile(t, "rest/error_unknown_pair.json"), permanent: true},
		{name: "rate limit exceeded", status: 200, body: readFile(t, "rest/error_rate_limit.json"), after: 2 * time.Second},
		{name: "rate limit with Retry-After", status: 200, header: http.Header{"Retry-After": {"7"}}, body: readFile(t, "rest/error_rate_limit.json"), after: 7 * time.Second},
		{name: "throttled until a time", status: 200, body: readFile(t, "rest/error_throttled.json"), after: 100 * time.Second},
		{name: "service unavailable", status: 200, body: readFile(t, "rest/error_unavailable.json")},
		{name: "HTTP 429", status: 429, header: http.Header{"Retry-After": {"3"}}, body: []byte("slow down"), after: 3 * time.Second},
		{name: "HTTP 404", status: 404, body: []byte("not found"), permanent: true},
		{name: "HTTP 502", status: 502, body: []byte("bad gateway")},
		{name: "not JSON", status: 200, body: []byte("<html>")},
		{name: "two pairs", status: 200, body: []byte(`{"error":[],"result":{"A":[],"B":[],"last":"1"}}`), permanent: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, _ := restServer(t, tc.status, tc.header, tc.body)
			// The clock of restServer is 2023-07-06T19:30:00Z = 1688671800;
			// error_throttled.json says 1688671900.
			_, _, err := a.TradesSince(context.Background(), "BTC-USD", time.Unix(1, 0))
			if err == nil {
				t.Fatal("no error")
			}
			var ra *collector.RetryAfterError
			if got := errors.As(err, &ra); got != (tc.after > 0) {
				t.Fatalf("RetryAfterError = %t (%v), want %t", got, err, tc.after > 0)
			}
			if ra != nil && ra.After != tc.after {
				t.Errorf("After = %s, want %s", ra.After, tc.after)
			}
			if got := errors.Is(err, collector.ErrPermanent); got != tc.permanent {
				t.Errorf("permanent = %t, want %t (%v)", got, tc.permanent, err)
			}
			_, err = a.Candles(context.Background(), "BTC-USD", market.TF1m, time.Unix(60, 0), time.Unix(120, 0))
			if errors.Is(err, collector.ErrPermanent) != tc.permanent {
				t.Errorf("Candles: permanent = %t, want %t (%v)", !tc.permanent, tc.permanent, err)
			}
		})
	}
}

func TestCandlesUnsupportedTimeframe(t *testing.T) {
	a := newTestAdapter(t)
	if _, err := a.Candles(context.Background(), "BTC-USD", market.TF1w, time.Unix(0, 0), time.Unix(1e6, 0)); !errors.Is(err, collector.ErrPermanent) {
		t.Fatalf("Candles 1w = %v, want ErrPermanent", err)
	}
}
