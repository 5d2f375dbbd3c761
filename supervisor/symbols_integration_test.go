package supervisor

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/collector"
	"marketetl/collector/okx"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/spec"
)

// symbolSink counts the records the collector hands on, by symbol.
type symbolSink struct {
	mu sync.Mutex // guards n
	n  map[market.Symbol]int
}

func (s *symbolSink) Accept(_ context.Context, rec market.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n[rec.Header().Symbol]++
	return nil
}

func (s *symbolSink) Reject(context.Context, market.Reject) error { return nil }

func (s *symbolSink) count(sym market.Symbol) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n[sym]
}

// TestSymbolsChangeWithoutReconnect adds and removes a symbol on a running
// collector against the simulated OKX, through the admin API, the
// Manager's methods and a reconcile of the collectors file: the collector's
// two connections (public for trades, business for candles) stay the same
// ones throughout: the simulator accepts no new connection, the collector
// neither redials nor is restarted, and the first symbol's data keeps
// flowing while the new symbol's starts.
func TestSymbolsChangeWithoutReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	log := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	s, err := sim.New(sim.Config{Seed: 11, Rate: 100}, log)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-simDone; err != nil {
			t.Errorf("sim: %v", err)
		}
	}()
	adapter, err := okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	if err != nil {
		t.Fatal(err)
	}
	sink := &symbolSink{n: map[market.Symbol]int{}}
	var builds atomic.Int32
	factory := func(sp spec.Collector) (Runner, error) {
		builds.Add(1)
		return collector.New(collector.Config{Name: sp.Name, Streams: sp.Streams(), Log: log}, adapter, sink)
	}
	m, err := New(Config{HealthCheckInterval: time.Hour, ShutdownTimeout: 20 * time.Second, Log: log},
		factory, newRegistry(), &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	reads, _ := newReads(t)
	api, err := NewAPI(APIConfig{Token: testToken, Reads: reads, Gatherer: prometheus.NewRegistry()}, m)
	if err != nil {
		t.Fatal(err)
	}
	base := spec.Collector{Name: "okx", Exchange: market.OKX, Symbols: []market.Symbol{"BTC-USDT"},
		DataTypes: []market.DataType{market.TypeTrade, market.TypeCandle}, Timeframes: []market.Timeframe{market.TF1m}}
	if _, err := m.Reconcile(ctx, []spec.Collector{base}); err != nil {
		t.Fatal(err)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- m.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runDone; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	trade := func(sym market.Symbol) market.Stream {
		return market.Stream{Exchange: market.OKX, Type: market.TypeTrade, Symbol: sym}
	}
	candle := func(sym market.Symbol) market.Stream {
		return market.Stream{Exchange: market.OKX, Type: market.TypeCandle, Symbol: sym, Timeframe: market.TF1m}
	}
	wait := func(what string, f func(context.Context) error) {
		t.Helper()
		wctx, wcancel := context.WithTimeout(ctx, 30*time.Second) // a guard against hanging
		defer wcancel()
		if err := f(wctx); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	wait("BTC-USDT trades subscribed", func(c context.Context) error { return s.WaitSubscribed(c, trade("BTC-USDT")) })
	wait("BTC-USDT candles subscribed", func(c context.Context) error { return s.WaitSubscribed(c, candle("BTC-USDT")) })
	wait("two connections", func(c context.Context) error { return s.WaitConnections(c, market.OKX, 2) })
	eventually(t, "BTC-USDT records", func() bool { return sink.count("BTC-USDT") > 0 })
	connects := s.Counts(market.OKX).Connects
	if connects != 2 {
		t.Fatalf("simulator accepted %d connections at start, want 2", connects)
	}
	connected := func() time.Time {
		r, err := m.Status("okx")
		if err != nil {
			t.Fatal(err)
		}
		at := connectedSince(t, m, "okx")
		if at.IsZero() || r.Statistics.ConnectedSince == nil || !r.Statistics.ConnectedSince.Equal(at) {
			t.Errorf("connected_since %v, want the collector's %v", r.Statistics.ConnectedSince, at)
		}
		return at
	}
	eventually(t, "the collector connected", func() bool { return !connectedSince(t, m, "okx").IsZero() })
	since := connected()

	// Add through the admin API.
	code, body := callAPI(t, api, "POST", "/api/collectors/okx/symbols", testToken, `{"symbol": "eth-usdt"}`)
	if code != http.StatusOK || !strings.Contains(body, `"ETH-USDT"`) {
		t.Fatalf("POST symbols: %d %s", code, body)
	}
	wait("ETH-USDT trades subscribed", func(c context.Context) error { return s.WaitSubscribed(c, trade("ETH-USDT")) })
	wait("ETH-USDT candles subscribed", func(c context.Context) error { return s.WaitSubscribed(c, candle("ETH-USDT")) })
	btc := sink.count("BTC-USDT")
	eventually(t, "ETH-USDT records, BTC-USDT records still", func() bool {
		return sink.count("ETH-USDT") > 0 && sink.count("BTC-USDT") > btc
	})
	if code, _ := callAPI(t, api, "POST", "/api/collectors/okx/symbols", testToken, `{"symbol": "ETH-USDT"}`); code != http.StatusConflict {
		t.Errorf("adding ETH-USDT again: %d, want 409", code)
	}

	// Remove through the Manager's Go API.
	if err := m.RemoveSymbol(ctx, "okx", "ETH-USDT"); err != nil {
		t.Fatal(err)
	}
	wait("ETH-USDT trades unsubscribed", func(c context.Context) error { return s.WaitUnsubscribed(c, trade("ETH-USDT")) })
	wait("ETH-USDT candles unsubscribed", func(c context.Context) error { return s.WaitUnsubscribed(c, candle("ETH-USDT")) })

	// Add again by a changed collectors file (as on SIGHUP), then remove
	// through the admin API.
	changed := base
	changed.Symbols = []market.Symbol{"BTC-USDT", "ETH-USDT"}
	d, err := m.Reconcile(ctx, []spec.Collector{changed})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Resubscribed) != 1 || len(d.Updated) != 0 {
		t.Errorf("reconcile diff %+v, want okx resubscribed and nothing updated", d)
	}
	wait("ETH-USDT trades subscribed again", func(c context.Context) error { return s.WaitSubscribed(c, trade("ETH-USDT")) })
	if code, body := callAPI(t, api, "DELETE", "/api/collectors/okx/symbols/ETH-USDT", testToken, ""); code != http.StatusOK {
		t.Fatalf("DELETE symbol: %d %s", code, body)
	}
	wait("ETH-USDT trades unsubscribed again", func(c context.Context) error { return s.WaitUnsubscribed(c, trade("ETH-USDT")) })
	btc = sink.count("BTC-USDT")
	eventually(t, "BTC-USDT records after the changes", func() bool { return sink.count("BTC-USDT") > btc })

	if got := s.Counts(market.OKX).Connects; got != connects {
		t.Errorf("simulator accepted %d connections in all, want still %d: a connection was redialled", got, connects)
	}
	if got := s.Connections(market.OKX); got != 2 {
		t.Errorf("%d open connections, want 2", got)
	}
	r, err := m.Status("okx")
	if err != nil {
		t.Fatal(err)
	}
	if r.Statistics.Reconnects != 0 || r.Statistics.Restarts != 0 {
		t.Errorf("reconnects %d, restarts %d, want 0 and 0", r.Statistics.Reconnects, r.Statistics.Restarts)
	}
	if got := connected(); !got.Equal(since) {
		t.Errorf("connected since %v, want still %v", got, since)
	}
	if got := strings.Join(r.Symbols, ","); got != "BTC-USDT" {
		t.Errorf("symbols %s, want BTC-USDT", got)
	}
	cancel()
	if n := builds.Load(); n != 1 {
		t.Errorf("the factory built %d runs, want 1", n)
	}
}

// connectedSince returns when the named collector's current run last became
// connected.
func connectedSince(t *testing.T, m *Manager, name string) time.Time {
	t.Helper()
	e, err := m.get(name)
	if err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.statusLocked().ConnectedSince
}

// callAPI serves one request on api's handler, as a client of the default
// loopback address, and returns the status code and body.
func callAPI(t *testing.T, api *API, method, path, token, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, r)
	req.Host = "127.0.0.1:8080"
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	api.Handler().ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}
