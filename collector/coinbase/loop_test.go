package coinbase

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"marketetl/collector"
	"marketetl/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// recSink records what the collector hands on and signals every change.
type recSink struct {
	mu      sync.Mutex // guards recs and rejects
	recs    []market.Record
	rejects []market.Reject
	changed chan struct{}
}

func (s *recSink) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *recSink) Accept(_ context.Context, r market.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	s.notify()
	return nil
}

func (s *recSink) Reject(_ context.Context, r market.Reject) error {
	s.mu.Lock()
	s.rejects = append(s.rejects, r)
	s.mu.Unlock()
	s.notify()
	return nil
}

// waitFor returns the records once cond holds for them; it fails the test
// if that takes unreasonably long.
func (s *recSink) waitFor(t *testing.T, what string, cond func([]market.Record) bool) []market.Record {
	t.Helper()
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	for {
		s.mu.Lock()
		recs := append([]market.Record(nil), s.recs...)
		rejects := append([]market.Reject(nil), s.rejects...)
		s.mu.Unlock()
		if len(rejects) > 0 {
			t.Fatalf("rejected: %+v", rejects)
		}
		if cond(recs) {
			return recs
		}
		select {
		case <-s.changed:
		case <-guard.C:
			t.Fatalf("no %s after 30 s", what)
		}
	}
}

// feedServer is a local WebSocket endpoint speaking the Coinbase feed's
// server side from a script: it answers the first subscribe with the
// scripted frames and passes on every frame the client sends.
type feedServer struct {
	*httptest.Server
	frames chan string
}

func newFeedServer(t *testing.T, script []string) *feedServer {
	t.Helper()
	fs := &feedServer{frames: make(chan string, 16)}
	up := websocket.Upgrader{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		for first := true; ; first = false {
			_, msg, err := conn.ReadMessage()
			if err != nil {
				return
			}
			fs.frames <- string(msg)
			if !first {
				continue
			}
			for _, f := range script {
				if err := conn.WriteMessage(websocket.TextMessage, []byte(f)); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) next(t *testing.T) string {
	t.Helper()
	select {
	case f := <-fs.frames:
		return f
	case <-time.After(30 * time.Second):
		t.Fatal("the client sent nothing for 30 s")
		return ""
	}
}

// TestCollectorLoop runs the generic collector loop with the adapter
// against a local feed: the subscription, trades (last_match included) with
// the taker's side, a ticker, a candle built from the trades (seen from
// before its minute opened) and closed by the heartbeat, and a runtime unsubscribe that keeps the heartbeat of the
// product still in use.
func TestCollectorLoop(t *testing.T) {
	script := []string{
		`{"type":"subscriptions","channels":[{"name":"ticker","product_ids":["ETH-USD"]},{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}]}`,
		// A heartbeat before the minute opens: the collector sees the
		// minute whole, so its candle closes (rather than provisional).
		`{"type":"heartbeat","sequence":49,"last_trade_id":9,"product_id":"BTC-USD","time":"2024-01-01T11:59:59Z"}`,
		`{"type":"last_match","trade_id":10,"sequence":50,"maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8","taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1","time":"2024-01-01T12:00:10.000001Z","product_id":"BTC-USD","size":"1.5","price":"100.10","side":"sell"}`,
		`{"type":"match","trade_id":11,"sequence":51,"maker_order_id":"ac928c66-ca53-498f-9c13-a110027a60e8","taker_order_id":"132fb6ae-456b-4654-b4e0-d681ac05cea1","time":"2024-01-01T12:00:20.5Z","product_id":"BTC-USD","size":"0.25","price":"99.90","side":"buy"}`,
		`{"type":"ticker","sequence":37475248783,"product_id":"ETH-USD","price":"1285.22","open_24h":"1310.79","volume_24h":"245532.79269678","low_24h":"1280.52","high_24h":"1313.8","volume_30d":"9788783.60117027","best_bid":"1285.04","best_bid_size":"0.46688654","best_ask":"1285.27","best_ask_size":"1.56637040","side":"buy","time":"2022-10-19T23:28:22.061769Z","trade_id":370843401,"last_size":"11.4396987"}`,
		`{"type":"heartbeat","sequence":52,"last_trade_id":11,"product_id":"BTC-USD","time":"2024-01-01T12:01:00.5Z"}`,
	}
	fs := newFeedServer(t, script)
	a, err := New(Config{WSURL: "ws" + strings.TrimPrefix(fs.URL, "http")})
	if err != nil {
		t.Fatal(err)
	}
	btcTrade := stream(market.TypeTrade, "BTC-USD")
	btcCandle := candle(market.TF1m, "BTC-USD")
	ethTicker := stream(market.TypeTicker, "ETH-USD")
	sink := &recSink{changed: make(chan struct{}, 1)}
	c, err := collector.New(collector.Config{Name: "coinbase-test", Streams: []market.Stream{btcTrade, btcCandle, ethTicker}}, a, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	const subscribe = `{"type":"subscribe","channels":[{"name":"ticker","product_ids":["ETH-USD"]},{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}]}`
	if got := fs.next(t); got != subscribe {
		t.Fatalf("first frame %s\nwant %s", got, subscribe)
	}
	closed := func(recs []market.Record) *market.Candle {
		for _, r := range recs {
			if cd, ok := r.(*market.Candle); ok && cd.Closed {
				return cd
			}
		}
		return nil
	}
	recs := sink.waitFor(t, "closed candle", func(recs []market.Record) bool { return closed(recs) != nil })

	var trades, tickers []string
	for _, r := range recs {
		switch r := r.(type) {
		case *market.Trade:
			trades = append(trades, render(withReceived(r)))
		case *market.Ticker:
			tickers = append(tickers, render(withReceived(r)))
		}
	}
	wantTrades := []string{
		"trade coinbase BTC-USD t=2024-01-01T12:00:10.000001Z id=10 p=100.10 q=1.5 buy",
		"trade coinbase BTC-USD t=2024-01-01T12:00:20.5Z id=11 p=99.90 q=0.25 sell",
	}
	if strings.Join(trades, "\n") != strings.Join(wantTrades, "\n") {
		t.Errorf("trades:\n%s\nwant:\n%s", strings.Join(trades, "\n"), strings.Join(wantTrades, "\n"))
	}
	if len(tickers) != 1 || !strings.HasPrefix(tickers[0], "ticker coinbase ETH-USD t=2022-10-19T23:28:22.061769Z last=1285.22 ") {
		t.Errorf("tickers: %q", tickers)
	}
	cd := closed(recs)
	if got, want := render(withReceived(cd)), "candle coinbase BTC-USD t=2024-01-01T12:00:00Z 1m o=100.10 h=100.10 l=99.90 c=99.90 v=1.75 qv=175.1250 n=2 closed=true"; got != want {
		t.Errorf("closed candle:\n%s\nwant\n%s", got, want)
	}

	st := c.Status()
	for _, s := range []market.Stream{btcTrade, ethTicker} {
		if !st.Streams[s.String()].Subscribed {
			t.Errorf("stream %s not marked subscribed: %+v", s, st.Streams[s.String()])
		}
	}

	// Dropping the ticker unsubscribes it and ETH-USD's heartbeat only.
	if err := c.SetStreams([]market.Stream{btcTrade, btcCandle}); err != nil {
		t.Fatal(err)
	}
	const unsubscribe = `{"type":"unsubscribe","channels":[{"name":"ticker","product_ids":["ETH-USD"]},{"name":"heartbeat","product_ids":["ETH-USD"]}]}`
	if got := fs.next(t); got != unsubscribe {
		t.Fatalf("frame after the change %s\nwant %s", got, unsubscribe)
	}
}

// withReceived returns a copy of r whose receipt time is the decode tests'
// received, for rendering.
func withReceived(r market.Record) market.Record {
	switch r := r.(type) {
	case *market.Trade:
		c := *r
		c.Received = received
		return &c
	case *market.Ticker:
		c := *r
		c.Received = received
		return &c
	case *market.Candle:
		c := *r
		c.Received = received
		return &c
	}
	return r
}
