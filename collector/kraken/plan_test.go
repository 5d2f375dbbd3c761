package kraken

import (
	"slices"
	"strings"
	"testing"

	"marketetl/market"
)

func st(typ market.DataType, sym market.Symbol, tf market.Timeframe) market.Stream {
	return market.Stream{Exchange: market.Kraken, Symbol: sym, Type: typ, Timeframe: tf}
}

func TestPlanAndFrames(t *testing.T) {
	a := newTestAdapter(t)
	streams := []market.Stream{
		st(market.TypeTrade, "ETH-USD", ""), st(market.TypeTrade, "BTC-USD", ""),
		st(market.TypeTicker, "BTC-USD", ""), st(market.TypeCandle, "BTC-USD", market.TF1h),
		st(market.TypeCandle, "BTC-USD", market.TF1m), st(market.TypeCandle, "ETH-USD", market.TF1m),
		st(market.TypeTrade, "BTC-USD", ""), // twice
	}
	plans, err := a.Plan(streams)
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 1 || plans[0].Key != "public" || plans[0].URL != DefaultWSURL || len(plans[0].Streams) != 6 || plans[0].URLCarriesStreams || len(plans[0].Aggregated) != 0 {
		t.Fatalf("plans = %+v", plans)
	}
	frames, err := a.Subscribe(plans[0], plans[0].Streams, 7)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range frames {
		got = append(got, string(f))
	}
	want := []string{
		`{"method":"subscribe","params":{"channel":"ohlc","symbol":["BTC/USD","ETH/USD"],"interval":1},"req_id":7}`,
		`{"method":"subscribe","params":{"channel":"ohlc","symbol":["BTC/USD"],"interval":60},"req_id":7}`,
		`{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]},"req_id":7}`,
		`{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","ETH/USD"]},"req_id":7}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("subscribe frames:\n got %q\nwant %q", got, want)
	}
	un, err := a.Unsubscribe(plans[0], []market.Stream{st(market.TypeTrade, "ETH-USD", "")}, 8)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 1 || string(un[0]) != `{"method":"unsubscribe","params":{"channel":"trade","symbol":["ETH/USD"]},"req_id":8}` {
		t.Errorf("unsubscribe = %q", un)
	}
}

func TestPlanRefuses(t *testing.T) {
	a := newTestAdapter(t)
	for _, tc := range []struct {
		name string
		s    market.Stream
		want string
	}{
		{"weekly candles", st(market.TypeCandle, "BTC-USD", market.TF1w), "1m 5m 15m 30m 1h 4h 1d"},
		{"3m candles", st(market.TypeCandle, "BTC-USD", market.TF3m), "1m 5m 15m 30m 1h 4h 1d"},
		{"order book", st(market.TypeOrderBook, "BTC-USD", ""), "not orderbook"},
		{"other exchange", market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}, "not a kraken stream"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := a.Plan([]market.Stream{tc.s})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Plan = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSymbols(t *testing.T) {
	for _, tc := range []struct {
		sym  market.Symbol
		ws   string
		rest string
	}{
		{"BTC-USD", "BTC/USD", "XBTUSD"}, {"ETH-USD", "ETH/USD", "ETHUSD"},
		{"DOGE-USDT", "DOGE/USDT", "XDGUSDT"}, {"ETH-BTC", "ETH/BTC", "ETHXBT"},
	} {
		if got := pairOf(tc.sym); got != tc.ws {
			t.Errorf("pairOf(%s) = %q, want %q", tc.sym, got, tc.ws)
		}
		if got, ok := symbolOf(tc.ws); !ok || got != tc.sym {
			t.Errorf("symbolOf(%s) = %q, %t", tc.ws, got, ok)
		}
		if got := restPair(tc.sym); got != tc.rest {
			t.Errorf("restPair(%s) = %q, want %q", tc.sym, got, tc.rest)
		}
	}
	for _, bad := range []string{"BTCUSD", "BTC/", "/USD", "btc/usd", "BTC/USD/EUR"} {
		if _, ok := symbolOf(bad); ok {
			t.Errorf("symbolOf(%q) accepted", bad)
		}
	}
}
