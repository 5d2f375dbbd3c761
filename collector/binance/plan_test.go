package binance

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"marketetl/collector"
	"marketetl/market"
)

func trade(sym market.Symbol) market.Stream {
	return market.Stream{Exchange: market.Binance, Symbol: sym, Type: market.TypeTrade}
}

func ticker(sym market.Symbol) market.Stream {
	return market.Stream{Exchange: market.Binance, Symbol: sym, Type: market.TypeTicker}
}

func candle(sym market.Symbol, tf market.Timeframe) market.Stream {
	return market.Stream{Exchange: market.Binance, Symbol: sym, Type: market.TypeCandle, Timeframe: tf}
}

// planSummary writes each connection as key=URL-query.
func planSummary(t *testing.T, a *Adapter, plans []collector.ConnPlan) []string {
	t.Helper()
	var out []string
	prefix := a.wsBase + streamsPath
	for _, p := range plans {
		if !strings.HasPrefix(p.URL, prefix) {
			t.Fatalf("URL %q lacks %q", p.URL, prefix)
		}
		if !p.URLCarriesStreams {
			t.Errorf("connection %s: URLCarriesStreams is false", p.Key)
		}
		names := strings.Split(strings.TrimPrefix(p.URL, prefix), "/")
		if len(names) != len(p.Streams) {
			t.Errorf("connection %s: %d names in the URL, %d streams", p.Key, len(names), len(p.Streams))
		}
		for i, s := range p.Streams {
			if n, _ := streamName(s); i < len(names) && n != names[i] {
				t.Errorf("connection %s: URL has %s where the stream is %s", p.Key, names[i], s)
			}
		}
		out = append(out, p.Key+"="+strings.TrimPrefix(p.URL, prefix))
	}
	return out
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		streams []market.Stream
		want    []string
	}{
		{
			name: "one connection, streams in name order",
			streams: []market.Stream{trade("BTC-USDT"), candle("BNB-BTC", market.TF1m), ticker("BNB-BTC"), trade("BNB-BTC"),
				candle("BTC-USDT", market.TF1w), candle("BTC-USDT", market.TF15m)},
			want: []string{"0=bnbbtc@kline_1m/bnbbtc@ticker/bnbbtc@trade/btcusdt@kline_15m/btcusdt@kline_1w/btcusdt@trade"},
		},
		{
			name:    "duplicates dropped",
			streams: []market.Stream{trade("BTC-USDT"), trade("BTC-USDT")},
			want:    []string{"0=btcusdt@trade"},
		},
		{
			name:    "digits in symbols",
			streams: []market.Stream{trade("1000SATS-USDT")},
			want:    []string{"0=1000satsusdt@trade"},
		},
		{
			name: "stream limit keeps a symbol's streams together",
			cfg:  Config{MaxStreamsPerConn: 3},
			streams: []market.Stream{trade("AAA-USDT"), ticker("AAA-USDT"), trade("BBB-USDT"), ticker("BBB-USDT"),
				trade("CCC-USDT")},
			want: []string{"0=aaausdt@ticker/aaausdt@trade", "1=bbbusdt@ticker/bbbusdt@trade/cccusdt@trade"},
		},
		{
			name:    "a symbol larger than a connection is split",
			cfg:     Config{MaxStreamsPerConn: 2},
			streams: []market.Stream{trade("AAA-USDT"), ticker("AAA-USDT"), candle("AAA-USDT", market.TF1m)},
			want:    []string{"0=aaausdt@kline_1m/aaausdt@ticker", "1=aaausdt@trade"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := New(tt.cfg)
			if err != nil {
				t.Fatal(err)
			}
			plans, err := a.Plan(tt.streams)
			if err != nil {
				t.Fatal(err)
			}
			got := planSummary(t, a, plans)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("plan\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// manySymbols returns n distinct symbols XA0-USDT, XA1-USDT, ... in name order.
func manySymbols(n int) []market.Symbol {
	out := make([]market.Symbol, n)
	for i := range out {
		out[i] = market.Symbol(fmt.Sprintf("X%04d-USDT", i))
	}
	return out
}

func TestPlanRequestLimit(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	var streams []market.Stream
	for _, s := range manySymbols(400) {
		streams = append(streams, trade(s), ticker(s), candle(s, market.TF1m))
	}
	plans, err := a.Plan(streams)
	if err != nil {
		t.Fatal(err)
	}
	planSummary(t, a, plans)
	seen := map[string]int{}
	for i, p := range plans {
		if p.Key != fmt.Sprint(i) {
			t.Errorf("connection %d has key %q", i, p.Key)
		}
		if len(p.URL) > a.cfg.MaxRequestBytes {
			t.Errorf("connection %s: URL of %d bytes exceeds %d", p.Key, len(p.URL), a.cfg.MaxRequestBytes)
		}
		if len(p.Streams) > a.cfg.MaxStreamsPerConn {
			t.Errorf("connection %s: %d streams", p.Key, len(p.Streams))
		}
		syms := map[market.Symbol]bool{}
		for _, s := range p.Streams {
			seen[s.String()]++
			syms[s.Symbol] = true
		}
		if 3*len(syms) != len(p.Streams) {
			t.Errorf("connection %s splits a symbol's streams: %d symbols, %d streams", p.Key, len(syms), len(p.Streams))
		}
	}
	if len(seen) != len(streams) {
		t.Errorf("%d streams planned, want %d", len(seen), len(streams))
	}
	for s, n := range seen {
		if n != 1 {
			t.Errorf("%s planned %d times", s, n)
		}
	}
	if len(plans) < 2 {
		t.Errorf("1200 streams fit %d connection(s) under a %d-byte URL", len(plans), a.cfg.MaxRequestBytes)
	}
}

// TestPlanStability checks the documented behaviour when symbols are added.
func TestPlanStability(t *testing.T) {
	a, err := New(Config{MaxStreamsPerConn: 10})
	if err != nil {
		t.Fatal(err)
	}
	syms := manySymbols(25)
	var base []market.Stream
	for _, s := range syms[:24] {
		base = append(base, trade(s), ticker(s))
	}
	before, err := a.Plan(base)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("added last in name order", func(t *testing.T) {
		after, err := a.Plan(append(base[:len(base):len(base)], trade(syms[24]), ticker(syms[24])))
		if err != nil {
			t.Fatal(err)
		}
		if len(after) != len(before) {
			t.Fatalf("%d connections, was %d", len(after), len(before))
		}
		for i := range len(before) - 1 {
			if after[i].URL != before[i].URL {
				t.Errorf("connection %s changed: %s → %s", before[i].Key, before[i].URL, after[i].URL)
			}
		}
	})
	t.Run("same set, same plan", func(t *testing.T) {
		again, err := a.Plan(base)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(planSummary(t, a, again), " ") != strings.Join(planSummary(t, a, before), " ") {
			t.Errorf("a second plan of the same streams differs")
		}
	})
}

func TestPlanErrors(t *testing.T) {
	tests := []struct {
		name    string
		streams []market.Stream
		wantErr string
	}{
		{"balance", []market.Stream{{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeBalance}}, "not balance"},
		{"unknown timeframe", []market.Stream{candle("BTC-USDT", "2d")}, `timeframe "2d"`},
		{"other exchange", []market.Stream{{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}}, "not a binance stream"},
		{"bad symbol", []market.Stream{trade("BTCUSDT")}, "BASE-QUOTE"},
		{"same Binance symbol twice", []market.Stream{trade("BTC-USDT"), trade("BTCU-SDT")}, "both Binance's BTCUSDT"},
	}
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Plan(tt.streams)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestSubscribeFrames(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	plan := collector.ConnPlan{Key: "0"}
	tests := []struct {
		name   string
		unsub  bool
		stream []market.Stream
		id     uint64
		want   []string
	}{
		{"subscribe", false, []market.Stream{trade("BTC-USDT"), candle("BTC-USDT", market.TF1m), ticker("ETH-BTC")}, 1,
			[]string{`{"method":"SUBSCRIBE","params":["btcusdt@trade","btcusdt@kline_1m","ethbtc@ticker"],"id":1}`}},
		{"unsubscribe", true, []market.Stream{trade("BNB-BTC"), trade("BNB-BTC")}, 312,
			[]string{`{"method":"UNSUBSCRIBE","params":["bnbbtc@trade"],"id":312}`}},
		{"nothing", false, nil, 2, nil},
		{"largest id", false, []market.Stream{trade("BTC-USDT")}, math.MaxInt64,
			[]string{`{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":9223372036854775807}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			build := a.Subscribe
			if tt.unsub {
				build = a.Unsubscribe
			}
			frames, err := build(plan, tt.stream, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range frames {
				got = append(got, string(f))
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("frames\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestSubscribeSplitsLargeRequests(t *testing.T) {
	a, err := New(Config{MaxRequestBytes: 512})
	if err != nil {
		t.Fatal(err)
	}
	var streams []market.Stream
	for _, s := range manySymbols(100) {
		streams = append(streams, candle(s, market.TF15m))
	}
	frames, err := a.Subscribe(collector.ConnPlan{Key: "0"}, streams, 42)
	if err != nil {
		t.Fatal(err)
	}
	var params []string
	for _, f := range frames {
		if len(f) > 512 {
			t.Errorf("frame of %d bytes exceeds 512", len(f))
		}
		var req struct {
			Method string   `json:"method"`
			Params []string `json:"params"`
			ID     int64    `json:"id"`
		}
		if err := json.Unmarshal(f, &req); err != nil {
			t.Fatalf("frame %s: %v", f, err)
		}
		if req.Method != "SUBSCRIBE" || req.ID != 42 || len(req.Params) == 0 {
			t.Errorf("frame %s", f)
		}
		params = append(params, req.Params...)
	}
	if len(frames) < 2 || len(params) != len(streams) {
		t.Errorf("%d frames with %d params, want several with %d", len(frames), len(params), len(streams))
	}
	for i, s := range streams {
		if n, _ := streamName(s); i < len(params) && params[i] != n {
			t.Errorf("param %d is %s, want %s", i, params[i], n)
		}
	}
}

func TestSubscribeErrors(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		streams []market.Stream
		id      uint64
		wantErr string
	}{
		{"id beyond int64", []market.Stream{trade("BTC-USDT")}, math.MaxInt64 + 1, "signed 64-bit"},
		{"balance", []market.Stream{{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeBalance}}, 1, "not balance"},
		{"same Binance symbol twice", []market.Stream{trade("BTC-USDT"), ticker("BTCU-SDT")}, 1, "keep one"},
		{"same Binance stream twice", []market.Stream{trade("BTC-USDT"), trade("BTCU-SDT")}, 1, "keep one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Subscribe(collector.ConnPlan{Key: "0"}, tt.streams, tt.id)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestSymbolTableLaterPlanWins checks that a later plan renames a Binance
// symbol, so a corrected configuration takes effect.
func TestSymbolTableLaterPlanWins(t *testing.T) {
	a, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, sym := range []market.Symbol{"BTCU-SDT", "BTC-USDT"} {
		if _, err := a.Plan([]market.Stream{trade(sym)}); err != nil {
			t.Fatal(err)
		}
		for _, spelling := range []string{"btcusdt", "BTCUSDT"} {
			if got, ok := a.symbols.lookup([]byte(spelling)); !ok || got != sym {
				t.Errorf("after planning %s: %s → %q, %t", sym, spelling, got, ok)
			}
		}
	}
}

// TestSymbolTableConcurrent runs plans and decodes at once; the race
// detector checks the table's publication.
func TestSymbolTableConcurrent(t *testing.T) {
	a := newTestAdapter(t)
	frame := []byte(`{"stream":"bnbbtc@trade","data":{"e":"trade","s":"BNBBTC","t":1,"p":"0.001","q":"1","T":1672515782136,"m":true}}`)
	var wg sync.WaitGroup
	wg.Go(func() {
		syms := manySymbols(200)
		for i := range syms {
			streams := append(testStreams(), trade(syms[i]))
			if _, err := a.Plan(streams); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Go(func() {
		var ev collector.Event
		for range 2000 {
			ev.Reset()
			if err := a.Decode(frame, received, &ev); err != nil || len(ev.Records) != 1 {
				t.Errorf("decode: %v, %d records", err, len(ev.Records))
				return
			}
		}
	})
	wg.Wait()
	if _, ok := a.symbols.lookup([]byte("x0199usdt")); !ok {
		t.Errorf("the last planned symbol is unknown")
	}
}
