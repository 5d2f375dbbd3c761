package exchange

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"marketetl/config"
	"marketetl/market"
	"marketetl/service"
)

// TestRegistryHasEveryExchange checks that every exchange of the shared
// vocabulary has an entry that builds its adapter (for that exchange)
// from the configured endpoints and has a REST budget.
func TestRegistryHasEveryExchange(t *testing.T) {
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg := Registry()
	if len(reg) != len(market.Exchanges()) {
		t.Errorf("registry has %d exchanges, market knows %d", len(reg), len(market.Exchanges()))
	}
	for _, ex := range market.Exchanges() {
		e, ok := reg[ex]
		if !ok || e.New == nil || e.Budget == nil {
			t.Errorf("%s: no complete entry: %+v", ex, e)
			continue
		}
		a, err := e.New(service.EndpointsFromConfig(cfg), http.DefaultClient)
		if err != nil {
			t.Errorf("%s: %v", ex, err)
			continue
		}
		if a.Exchange() != ex {
			t.Errorf("entry %s builds the adapter of %s", ex, a.Exchange())
		}
		if b := e.Budget(cfg); b.Rate <= 0 || b.Burst <= 0 {
			t.Errorf("%s: budget %+v", ex, b)
		}
	}
}

// TestBinanceWeights checks the request weights of Binance's budget.
func TestBinanceWeights(t *testing.T) {
	for path, want := range map[string]int{
		"/api/v3/klines": 2, "/api/v3/historicalTrades": 25, "/api/v3/trades": 25, "/api/v3/aggTrades": 4, "/api/v3/ping": 1,
	} {
		if got := binanceWeight(httptest.NewRequest("GET", "http://x"+path, nil)); got != want {
			t.Errorf("%s: weight %d, want %d", path, got, want)
		}
	}
}
