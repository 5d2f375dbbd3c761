package binance

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"marketetl/collector"
	"marketetl/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// testStreams are the streams the decode tests plan, so that the adapter
// knows their symbols.
func testStreams() []market.Stream {
	return []market.Stream{
		{Exchange: market.Binance, Symbol: "BNB-BTC", Type: market.TypeTrade},
		{Exchange: market.Binance, Symbol: "BNB-BTC", Type: market.TypeTicker},
		{Exchange: market.Binance, Symbol: "BNB-BTC", Type: market.TypeCandle, Timeframe: market.TF1m},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade},
	}
}

// newTestAdapter returns an adapter with default endpoints that has
// planned testStreams.
func newTestAdapter(t testing.TB) *Adapter {
	t.Helper()
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Plan(testStreams()); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewDefaults(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if a.wsBase != "wss://stream.binance.com:9443" || a.rest.Base() != "https://api.binance.com" {
		t.Errorf("bases %q %q", a.wsBase, a.rest.Base())
	}
	if a.cfg.MaxStreamsPerConn != 1024 || a.cfg.MaxRequestBytes != 4096 {
		t.Errorf("limits %d %d", a.cfg.MaxStreamsPerConn, a.cfg.MaxRequestBytes)
	}
	if a.rest.Now().IsZero() {
		t.Errorf("clock not defaulted")
	}
	if a.Exchange() != market.Binance {
		t.Errorf("exchange %q", a.Exchange())
	}
}

func TestNewValidation(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		// wantErr is a part of the error message; empty means no error.
		wantErr string
		wantWS  string
	}{
		{name: "trailing slash trimmed", cfg: Config{WSURL: "ws://127.0.0.1:9000/"}, wantWS: "ws://127.0.0.1:9000"},
		{name: "path prefix kept", cfg: Config{WSURL: "wss://proxy.example/binance"}, wantWS: "wss://proxy.example/binance"},
		{name: "http scheme for WS", cfg: Config{WSURL: "https://stream.binance.com:9443"}, wantErr: "WSURL"},
		{name: "WS with stream path", cfg: Config{WSURL: "wss://stream.binance.com:9443/stream"}, wantErr: "without /stream"},
		{name: "WS with raw path", cfg: Config{WSURL: "wss://stream.binance.com:9443/ws"}, wantErr: "without /ws"},
		{name: "WS with query", cfg: Config{WSURL: "wss://stream.binance.com:9443?streams=btcusdt@trade"}, wantErr: "drop the query"},
		{name: "WS without host", cfg: Config{WSURL: "wss:///x"}, wantErr: "want a host"},
		{name: "ws scheme for REST", cfg: Config{RESTURL: "wss://api.binance.com"}, wantErr: "RESTURL"},
		{name: "REST with API path", cfg: Config{RESTURL: "https://api.binance.com/api/v3"}, wantErr: "without /api/v3"},
		{name: "REST not a URL", cfg: Config{RESTURL: "://"}, wantErr: "not a URL"},
		{name: "too many streams per connection", cfg: Config{MaxStreamsPerConn: 2000}, wantErr: "MaxStreamsPerConn 2000"},
		{name: "negative streams per connection", cfg: Config{MaxStreamsPerConn: -1}, wantErr: "MaxStreamsPerConn -1"},
		{name: "request budget too small", cfg: Config{MaxRequestBytes: 100}, wantErr: "MaxRequestBytes 100"},
		{name: "request budget too small for the base", cfg: Config{MaxRequestBytes: 512, WSURL: "wss://h/" + strings.Repeat("p", 480)}, wantErr: "too small for one stream"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.wsBase != tt.wantWS {
				t.Errorf("WS base %q, want %q", a.wsBase, tt.wantWS)
			}
		})
	}
}

func TestKeepAlive(t *testing.T) {
	a := newTestAdapter(t)
	got := a.KeepAlive()
	want := collector.KeepAlive{ReadTimeout: 75 * time.Second, MaxLifetime: 24 * time.Hour, MaxSendPerSecond: 4}
	if got != want {
		t.Errorf("keep-alive %+v, want %+v", got, want)
	}
	if got.PingText != "" {
		t.Errorf("Binance pings with control frames; no text ping expected")
	}
	// One pong per 20 s server ping plus a full token bucket must stay
	// within Binance's 5 messages per second.
	// The loop paces with burst 1; the pong is written outside the pacing.
	if got.MaxSendPerSecond+1 > 5 {
		t.Errorf("MaxSendPerSecond %v may exceed 5 messages in one second", got.MaxSendPerSecond)
	}
}
