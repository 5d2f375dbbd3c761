package coinbase

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

func stream(typ market.DataType, sym string) market.Stream {
	return market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: typ}
}

func candle(tf market.Timeframe, sym string) market.Stream {
	return market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: market.TypeCandle, Timeframe: tf}
}

func streamNames(streams []market.Stream) string {
	var out []string
	for _, s := range streams {
		out = append(out, s.String())
	}
	return strings.Join(out, " ")
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name       string
		streams    []market.Stream
		subscribed string
		aggregated string
		err        string
	}{
		{
			name:       "ticker and trades",
			streams:    []market.Stream{stream(market.TypeTrade, "BTC-USD"), stream(market.TypeTicker, "BTC-USD"), stream(market.TypeTrade, "ETH-USD")},
			subscribed: "coinbase:ticker:BTC-USD coinbase:trade:BTC-USD coinbase:trade:ETH-USD",
		},
		{
			name:       "candles subscribe their symbol's trades",
			streams:    []market.Stream{candle(market.TF1m, "BTC-USD"), candle(market.TF1h, "BTC-USD"), stream(market.TypeTicker, "ETH-USD")},
			subscribed: "coinbase:ticker:ETH-USD coinbase:trade:BTC-USD",
			aggregated: "coinbase:candle.1h:BTC-USD coinbase:candle.1m:BTC-USD",
		},
		{
			name:       "candles beside wanted trades",
			streams:    []market.Stream{candle(market.TF5m, "ETH-USD"), stream(market.TypeTrade, "ETH-USD")},
			subscribed: "coinbase:trade:ETH-USD",
			aggregated: "coinbase:candle.5m:ETH-USD",
		},
		{
			name:       "timeframes without REST candles are still aggregated",
			streams:    []market.Stream{candle(market.TF3m, "BTC-USD"), candle(market.TF1w, "BTC-USD")},
			subscribed: "coinbase:trade:BTC-USD",
			aggregated: "coinbase:candle.1w:BTC-USD coinbase:candle.3m:BTC-USD",
		},
		{
			name:       "duplicates collapse",
			streams:    []market.Stream{stream(market.TypeTrade, "BTC-USD"), stream(market.TypeTrade, "BTC-USD")},
			subscribed: "coinbase:trade:BTC-USD",
		},
		{
			name: "no streams",
		},
		{
			name:    "balances are refused",
			streams: []market.Stream{stream(market.TypeTrade, "BTC-USD"), stream(market.TypeBalance, "BTC-USD")},
			err:     "coinbase collects trade, ticker, orderbook and candle streams, not balance",
		},
		{
			name:    "balances are refused",
			streams: []market.Stream{stream(market.TypeBalance, "BTC-USD")},
			err:     "not balance",
		},
		{
			name:    "another exchange",
			streams: []market.Stream{{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}},
			err:     "not a coinbase stream",
		},
		{
			name:    "malformed symbol",
			streams: []market.Stream{stream(market.TypeTrade, "btc-usd")},
			err:     "only A-Z and 0-9",
		},
		{
			name:    "unknown timeframe",
			streams: []market.Stream{candle("2m", "BTC-USD")},
			err:     `unknown timeframe "2m"`,
		},
	}
	a := newTestAdapter(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			plans, err := a.Plan(tc.streams)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Plan error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.subscribed == "" {
				if len(plans) != 0 {
					t.Fatalf("plans = %+v, want none", plans)
				}
				return
			}
			if len(plans) != 1 {
				t.Fatalf("got %d plans, want 1", len(plans))
			}
			p := plans[0]
			if p.Key != "feed" || p.URL != DefaultWSURL || p.URLCarriesStreams {
				t.Errorf("plan key %q url %q carries %t; want feed, %s, false", p.Key, p.URL, p.URLCarriesStreams, DefaultWSURL)
			}
			if got := streamNames(p.Streams); got != tc.subscribed {
				t.Errorf("Streams = %s\nwant %s", got, tc.subscribed)
			}
			if got := streamNames(p.Aggregated); got != tc.aggregated {
				t.Errorf("Aggregated = %s\nwant %s", got, tc.aggregated)
			}
		})
	}
}

// TestPlanIsAPureFunctionOfTheSet checks that the order of the wanted
// streams does not change the plan.
func TestPlanIsAPureFunctionOfTheSet(t *testing.T) {
	a := newTestAdapter(t)
	streams := []market.Stream{
		stream(market.TypeTrade, "BTC-USD"), stream(market.TypeTicker, "ETH-USD"), candle(market.TF1m, "SOL-USD"),
		candle(market.TF15m, "BTC-USD"), stream(market.TypeTicker, "BTC-EUR"), candle(market.TF1d, "ETH-USD"),
	}
	first, err := a.Plan(streams)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20 {
		shuffled := slices.Clone(streams)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		again, err := a.Plan(shuffled)
		if err != nil {
			t.Fatal(err)
		}
		if streamNames(again[0].Streams) != streamNames(first[0].Streams) || streamNames(again[0].Aggregated) != streamNames(first[0].Aggregated) {
			t.Fatalf("shuffle %d: plan %+v differs from %+v", i, again[0], first[0])
		}
	}
}

func TestPlanUsesTheConfiguredURL(t *testing.T) {
	const url = "ws://127.0.0.1:9000/feed?x=1"
	a, err := New(Config{WSURL: url})
	if err != nil {
		t.Fatal(err)
	}
	plans, err := a.Plan([]market.Stream{stream(market.TypeTrade, "BTC-USD")})
	if err != nil {
		t.Fatal(err)
	}
	if plans[0].URL != url {
		t.Errorf("URL = %q, want %q", plans[0].URL, url)
	}
}

func TestSubscribeFrames(t *testing.T) {
	btcTicker, btcTrade := stream(market.TypeTicker, "BTC-USD"), stream(market.TypeTrade, "BTC-USD")
	ethTicker, ethTrade := stream(market.TypeTicker, "ETH-USD"), stream(market.TypeTrade, "ETH-USD")
	solTrade := stream(market.TypeTrade, "SOL-USD")
	planOf := func(streams ...market.Stream) collector.ConnPlan {
		return collector.ConnPlan{Key: "feed", URL: DefaultWSURL, Streams: streams}
	}
	tests := []struct {
		name    string
		unsub   bool
		plan    collector.ConnPlan
		streams []market.Stream
		want    string
		err     string
	}{
		{
			name:    "at dial, every stream with its heartbeat",
			plan:    planOf(btcTicker, btcTrade, ethTrade),
			streams: []market.Stream{btcTicker, btcTrade, ethTrade},
			want:    `{"type":"subscribe","channels":[{"name":"ticker","product_ids":["BTC-USD"]},{"name":"matches","product_ids":["BTC-USD","ETH-USD"]},{"name":"heartbeat","product_ids":["BTC-USD","ETH-USD"]}]}`,
		},
		{
			name:    "a product already on the connection keeps its heartbeat",
			plan:    planOf(btcTicker, btcTrade, ethTicker, ethTrade),
			streams: []market.Stream{ethTicker},
			want:    `{"type":"subscribe","channels":[{"name":"ticker","product_ids":["ETH-USD"]}]}`,
		},
		{
			name:    "a new product gets its heartbeat",
			plan:    planOf(btcTicker, btcTrade, solTrade),
			streams: []market.Stream{solTrade},
			want:    `{"type":"subscribe","channels":[{"name":"matches","product_ids":["SOL-USD"]},{"name":"heartbeat","product_ids":["SOL-USD"]}]}`,
		},
		{
			name:    "a candle stream stands for its matches",
			plan:    planOf(),
			streams: []market.Stream{candle(market.TF1m, "BTC-USD")},
			want:    `{"type":"subscribe","channels":[{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]}]}`,
		},
		{
			name:    "unsubscribe keeps the heartbeat of a product still used",
			unsub:   true,
			plan:    planOf(btcTrade, ethTrade),
			streams: []market.Stream{btcTicker},
			want:    `{"type":"unsubscribe","channels":[{"name":"ticker","product_ids":["BTC-USD"]}]}`,
		},
		{
			name:    "unsubscribe drops the heartbeat of a product left",
			unsub:   true,
			plan:    planOf(btcTicker),
			streams: []market.Stream{ethTicker, ethTrade, btcTrade},
			want:    `{"type":"unsubscribe","channels":[{"name":"ticker","product_ids":["ETH-USD"]},{"name":"matches","product_ids":["BTC-USD","ETH-USD"]},{"name":"heartbeat","product_ids":["ETH-USD"]}]}`,
		},
		{
			name:    "nothing to send",
			plan:    planOf(btcTrade),
			streams: nil,
		},
		{
			name:    "a balance cannot be subscribed",
			plan:    planOf(),
			streams: []market.Stream{stream(market.TypeBalance, "BTC-USD")},
			err:     "subscribe: stream coinbase:balance:BTC-USD",
		},
	}
	a := newTestAdapter(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			build := a.Subscribe
			if tc.unsub {
				build = a.Unsubscribe
			}
			frames, err := build(tc.plan, tc.streams, 7)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" {
				if len(frames) != 0 {
					t.Fatalf("frames = %q, want none", frames)
				}
				return
			}
			if len(frames) != 1 || string(frames[0]) != tc.want {
				t.Fatalf("frames = %q\nwant [%s]", frames, tc.want)
			}
			if !json.Valid(frames[0]) {
				t.Fatalf("frame is not JSON: %s", frames[0])
			}
		})
	}
}

// TestSubscriptionsFollowRuntimeChanges plays the loop's part: it plans two
// sets of streams, sends the difference as the loop does, and checks that
// the channels the exchange would then hold are exactly the second plan's,
// heartbeats included.
func TestSubscriptionsFollowRuntimeChanges(t *testing.T) {
	a := newTestAdapter(t)
	tests := []struct {
		name        string
		before, now []market.Stream
	}{
		{
			name:   "add a product and drop another",
			before: []market.Stream{stream(market.TypeTicker, "BTC-USD"), candle(market.TF1m, "ETH-USD")},
			now:    []market.Stream{stream(market.TypeTicker, "BTC-USD"), stream(market.TypeTrade, "SOL-USD")},
		},
		{
			name:   "switch a product from trades to its ticker",
			before: []market.Stream{stream(market.TypeTrade, "BTC-USD")},
			now:    []market.Stream{stream(market.TypeTicker, "BTC-USD")},
		},
		{
			name:   "candles become trades: nothing to send",
			before: []market.Stream{candle(market.TF1m, "BTC-USD")},
			now:    []market.Stream{stream(market.TypeTrade, "BTC-USD"), candle(market.TF5m, "BTC-USD")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before, err := a.Plan(tc.before)
			if err != nil {
				t.Fatal(err)
			}
			now, err := a.Plan(tc.now)
			if err != nil {
				t.Fatal(err)
			}
			held := map[string]bool{} // "channel product" → subscribed
			send := func(frames [][]byte, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				apply(t, held, frames)
			}
			send(a.Subscribe(before[0], before[0].Streams, 1))
			if drop := diff(now[0].Streams, before[0].Streams); len(drop) > 0 {
				send(a.Unsubscribe(now[0], drop, 2))
			}
			if add := diff(before[0].Streams, now[0].Streams); len(add) > 0 {
				send(a.Subscribe(now[0], add, 3))
			}
			fresh := map[string]bool{}
			frames, err := a.Subscribe(now[0], now[0].Streams, 1)
			if err != nil {
				t.Fatal(err)
			}
			apply(t, fresh, frames)
			if got, want := on(held), on(fresh); !slices.Equal(got, want) {
				t.Errorf("after the change the connection holds %q\nwant what a fresh dial holds: %q", got, want)
			}
		})
	}
}

// apply records in held what frames subscribe (true) and unsubscribe (false).
func apply(t *testing.T, held map[string]bool, frames [][]byte) {
	t.Helper()
	for _, f := range frames {
		var req request
		if err := json.Unmarshal(f, &req); err != nil {
			t.Fatal(err)
		}
		for _, c := range req.Channels {
			for _, id := range c.ProductIDs {
				held[c.Name+" "+id] = req.Type == "subscribe"
			}
		}
	}
}

// on returns the keys of held that are true, sorted.
func on(held map[string]bool) []string {
	var out []string
	for k, v := range held {
		if v {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// diff returns the streams of b that are not in a, as the loop computes them.
func diff(a, b []market.Stream) []market.Stream {
	in := map[string]bool{}
	for _, s := range a {
		in[s.String()] = true
	}
	var out []market.Stream
	for _, s := range b {
		if !in[s.String()] {
			out = append(out, s)
		}
	}
	return out
}
