package collector

import (
	"reflect"
	"testing"

	"marketetl/market"
)

// TestRoutesLookup checks that a stream is found exactly when it is
// wanted, each with its own route, whichever of its fields differs.
func TestRoutesLookup(t *testing.T) {
	// lookup compares the fields one by one: a new field must be added
	// to it.
	if n := reflect.TypeOf(market.Stream{}).NumField(); n != 4 {
		t.Fatalf("market.Stream has %d fields; routes.lookup compares 4", n)
	}
	wanted := []market.Stream{
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1h},
		{Exchange: market.Binance, Symbol: "ETH-USDT", Type: market.TypeTicker},
	}
	rig := newRouterRig(t, wanted, nil)
	rt := rig.r.current()
	seen := map[*streamRoute]bool{}
	for _, s := range wanted {
		sr := rt.lookup(s)
		if sr == nil {
			t.Fatalf("%s: not found", s)
		}
		if seen[sr] {
			t.Errorf("%s: shares a route", s)
		}
		seen[sr] = true
		if !rig.r.isWanted(s) || rig.r.wantedRoute(s) != sr {
			t.Errorf("%s: isWanted or wantedRoute disagree with lookup", s)
		}
	}
	for _, s := range []market.Stream{
		{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade},
		{Exchange: market.Binance, Symbol: "BTC-USD", Type: market.TypeTrade},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTicker},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF5m},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade, Timeframe: market.TF1m},
		{Exchange: market.Binance, Symbol: "ETH-USDT", Type: market.TypeTrade},
	} {
		if rt.lookup(s) != nil {
			t.Errorf("%+v: found, but not wanted", s)
		}
	}
}
