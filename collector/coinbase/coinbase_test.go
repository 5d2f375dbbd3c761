package coinbase

import (
	"strings"
	"testing"
	"time"

	"marketetl/collector"
	"marketetl/market"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		cfg      Config
		restBase string
		err      []string
	}{
		{name: "defaults", cfg: Config{}, restBase: DefaultRESTURL},
		{name: "local endpoints", cfg: Config{WSURL: "ws://127.0.0.1:8080/ws", RESTURL: "http://127.0.0.1:8081/"}, restBase: "http://127.0.0.1:8081"},
		{name: "REST base with a path prefix", cfg: Config{RESTURL: "https://proxy.example/coinbase"}, restBase: "https://proxy.example/coinbase"},
		{name: "WS URL with http scheme", cfg: Config{WSURL: "https://ws-feed.exchange.coinbase.com"}, err: []string{"WSURL", "want scheme ws or wss"}},
		{name: "REST URL with ws scheme", cfg: Config{RESTURL: "wss://api.exchange.coinbase.com"}, err: []string{"RESTURL", "want scheme http or https"}},
		{name: "no host", cfg: Config{WSURL: "wss:///feed"}, err: []string{"WSURL", "want a host"}},
		{name: "REST URL with /products", cfg: Config{RESTURL: "https://api.exchange.coinbase.com/products/"}, err: []string{"RESTURL", "without /products"}},
		{name: "REST URL with a query", cfg: Config{RESTURL: "https://api.exchange.coinbase.com?x=1"}, err: []string{"RESTURL", "drop the query"}},
		{name: "credentials", cfg: Config{RESTURL: "https://user:secret@api.exchange.coinbase.com"}, err: []string{"RESTURL", "credentials"}},
		{name: "not a URL", cfg: Config{WSURL: "ws://[::1"}, err: []string{"WSURL", "not a URL"}},
		{name: "both wrong", cfg: Config{WSURL: "http://x", RESTURL: "ftp://y"}, err: []string{"WSURL", "RESTURL"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.cfg)
			if len(tc.err) > 0 {
				if err == nil {
					t.Fatal("New succeeded, want an error")
				}
				for _, want := range tc.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not mention %q", err, want)
					}
				}
				if strings.Contains(err.Error(), "secret") {
					t.Errorf("error %q shows the password", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if a.rest.Base() != tc.restBase {
				t.Errorf("REST base = %q, want %q", a.rest.Base(), tc.restBase)
			}
			if a.rest.Now().IsZero() {
				t.Errorf("defaults not applied: %+v", a.cfg)
			}
		})
	}
}

func TestAdapterBasics(t *testing.T) {
	a := newTestAdapter(t)
	if a.Exchange() != market.Coinbase {
		t.Errorf("Exchange() = %q", a.Exchange())
	}
	want := collector.KeepAlive{ReadTimeout: 30 * time.Second, SubscribeWithin: 5 * time.Second, MaxSendPerSecond: 5}
	if got := a.KeepAlive(); got != want {
		t.Errorf("KeepAlive() = %+v, want %+v", got, want)
	}
}
