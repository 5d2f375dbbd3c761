package sim

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// newStepped returns a simulator that is stepped but not served.
func newStepped(t *testing.T, cfg Config, n int) *Sim {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	// Stepping a simulator that serves nothing waits for nothing: no
	// bound (under -race on a loaded machine, 4000 ticks of every exchange
	// can take longer than the bound of a wait).
	if err := s.Step(t.Context(), n); err != nil {
		t.Fatalf("Step: %v", err)
	}
	return s
}

func TestDeterminism(t *testing.T) {
	a := newStepped(t, Config{Seed: 42, Start: testStart}, 300)
	b := newStepped(t, Config{Seed: 42, Start: testStart}, 300)
	c := newStepped(t, Config{Seed: 43, Start: testStart}, 300)
	for _, ex := range market.Exchanges() {
		for _, sym := range a.Symbols(ex) {
			ta, tb, tc := a.Trades(ex, sym), b.Trades(ex, sym), c.Trades(ex, sym)
			if len(ta) != 300 {
				t.Fatalf("%s %s: %d trades, want 300", ex, sym, len(ta))
			}
			if !slices.EqualFunc(ta, tb, sameTrade) {
				t.Errorf("%s %s: the same seed gave different trades", ex, sym)
			}
			if slices.EqualFunc(ta, tc, sameTrade) {
				t.Errorf("%s %s: different seeds gave the same trades", ex, sym)
			}
			for i, tr := range ta {
				if want := itoa(100000001 + int64(i)); tr.TradeID != want {
					t.Fatalf("%s %s trade %d has id %s, want %s", ex, sym, i, tr.TradeID, want)
				}
				if want := testStart.Add(time.Duration(i+1) * time.Second); !tr.Time.Equal(want) {
					t.Fatalf("%s %s trade %d at %v, want %v", ex, sym, i, tr.Time, want)
				}
				if !tr.Price.IsPositive() || !tr.Size.IsPositive() || (tr.Side != market.Buy && tr.Side != market.Sell) {
					t.Fatalf("%s %s trade %d is invalid: %+v", ex, sym, i, tr)
				}
			}
		}
	}
	// The ETH markets carry sizes with 18 decimals: at least one has 18
	// significant digits or more.
	long := false
	for _, tr := range a.Trades(market.OKX, "ETH-USDT") {
		if tr.Size.Exponent() != -18 {
			t.Fatalf("size %s has exponent %d, want -18", tr.Size, tr.Size.Exponent())
		}
		if len(strings.TrimLeft(strings.ReplaceAll(dec(tr.Size), ".", ""), "0")) >= 18 {
			long = true
		}
	}
	if !long {
		t.Error("no ETH-USDT size has 18 significant digits")
	}
}

func sameTrade(a, b market.Trade) bool {
	return a.TradeID == b.TradeID && a.Time.Equal(b.Time) && a.Price.Equal(b.Price) && a.Size.Equal(b.Size) && a.Side == b.Side
}

// TestCandlesFromTrades rebuilds every candle of every series from the
// trades and compares.
func TestCandlesFromTrades(t *testing.T) {
	start := time.Date(2024, 1, 6, 12, 0, 0, 0, time.UTC) // a Saturday: the weekly bucket rolls over
	s := newStepped(t, Config{Seed: 9, Start: start, Step: time.Minute}, 4000)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ex := range market.Exchanges() {
		for _, in := range s.instruments[ex] {
			for _, sr := range in.series {
				var want []candle
				for i := range in.trades {
					tr := &in.trades[i]
					open := sr.frame.bucket(tr.time)
					if sr.frame.tf != "" && !open.Equal(sr.frame.tf.Truncate(tr.time)) {
						t.Fatalf("%s %s: bucket %v, market truncates to %v", ex, sr.frame.name, open, sr.frame.tf.Truncate(tr.time))
					}
					if local := open.Add(utc8); sr.frame.tf == "" && (local.Sub(local.Truncate(24*time.Hour))%min(sr.frame.d, 24*time.Hour) != 0 ||
						sr.frame.d == 7*24*time.Hour && local.Weekday() != time.Monday) {
						t.Fatalf("%s %s: bucket %v is not aligned at UTC+8", ex, sr.frame.name, open)
					}
					if n := len(want); n > 0 && want[n-1].open.Equal(open) {
						want[n-1].add(tr)
					} else {
						want = append(want, newCandle(open, tr))
					}
				}
				got := sr.all()
				if len(got) != len(want) {
					t.Fatalf("%s %s %s: %d candles, want %d", ex, in.sym, sr.frame.name, len(got), len(want))
				}
				for i := range got {
					if !sameCandle(got[i], want[i]) {
						t.Fatalf("%s %s %s candle %d:\n got %+v\nwant %+v", ex, in.sym, sr.frame.name, i, got[i], want[i])
					}
				}
			}
		}
	}
}

func sameCandle(a, b candle) bool {
	eq := func(x, y decimal.Decimal) bool { return x.Equal(y) && x.Exponent() == y.Exponent() }
	return a.open.Equal(b.open) && eq(a.o, b.o) && eq(a.h, b.h) && eq(a.l, b.l) && eq(a.c, b.c) && eq(a.vol, b.vol) &&
		eq(a.quote, b.quote) && eq(a.buyVol, b.buyVol) && eq(a.buyQte, b.buyQte) && a.n == b.n && a.first == b.first && a.last == b.last
}

// TestTicker24h checks the rolling statistics against a brute-force
// computation over the trades.
func TestTicker24h(t *testing.T) {
	s := newStepped(t, Config{Seed: 10, Start: testStart, Step: time.Minute}, 1600)
	trades := s.Trades(market.OKX, "BTC-USDT")
	tickers := s.Tickers(market.OKX, "BTC-USDT")
	if len(tickers) != 1600 {
		t.Fatalf("%d tickers, want one per trade", len(tickers))
	}
	for _, tk := range tickers[len(tickers)-200:] {
		var in []market.Trade
		for _, tr := range trades {
			if tr.Time.After(tk.Time.Add(-24*time.Hour)) && !tr.Time.After(tk.Time) {
				in = append(in, tr)
			}
		}
		open, high, low, vol := in[0].Price, in[0].Price, in[0].Price, decimal.Zero
		for _, tr := range in {
			high, low, vol = decimal.Max(high, tr.Price), decimal.Min(low, tr.Price), vol.Add(tr.Size)
		}
		if !tk.Open24h.Decimal.Equal(open) || !tk.High24h.Decimal.Equal(high) || !tk.Low24h.Decimal.Equal(low) || !tk.Volume24h.Decimal.Equal(vol) {
			t.Fatalf("ticker at %v: open %s high %s low %s vol %s, want %s %s %s %s", tk.Time,
				tk.Open24h.Decimal, tk.High24h.Decimal, tk.Low24h.Decimal, tk.Volume24h.Decimal, open, high, low, vol)
		}
	}
}

func TestClockNeverPassesTheWallClock(t *testing.T) {
	wall := testStart.Add(2500 * time.Millisecond)
	s := newStepped(t, Config{Seed: 1, Start: testStart, Now: func() time.Time { return wall }}, 5)
	if !s.Now().Equal(wall) {
		t.Fatalf("Now = %v, want the wall clock %v", s.Now(), wall)
	}
	var prev time.Time
	for _, tr := range s.Trades(market.Binance, "BTC-USDT") {
		if tr.Time.After(wall) || tr.Time.Before(prev) {
			t.Fatalf("trade at %v: after the wall clock or before %v", tr.Time, prev)
		}
		prev = tr.Time
	}
}

func TestConfigValidation(t *testing.T) {
	d := decimal.RequireFromString
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"step longer than a timeframe", Config{Step: 2 * time.Minute}, "longer than timeframe 1m"},
		{"unknown timeframe", Config{Timeframes: []market.Timeframe{"7m"}}, `timeframe "7m"`},
		{"negative rate", Config{Rate: -1}, "rate"},
		{"bad symbol", Config{Markets: map[market.Exchange][]Market{market.OKX: {{Symbol: "btc", Price: d("1")}}}}, "BASE-QUOTE"},
		{"price finer than its decimals", Config{Markets: map[market.Exchange][]Market{market.OKX: {{Symbol: "A-B", Price: d("1.25"), PriceDecimals: 1}}}}, "more decimals"},
		{"duplicate market", Config{Markets: map[market.Exchange][]Market{market.OKX: {{Symbol: "A-B", Price: d("1")}, {Symbol: "A-B", Price: d("1")}}}}, "listed twice"},
		{"size too large", Config{Markets: map[market.Exchange][]Market{market.OKX: {{Symbol: "A-B", Price: d("1"), SizeDecimals: 18, MaxSize: d("100")}}}}, "max size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New: %v, want an error about %q", err, tt.want)
			}
		})
	}
	if _, err := New(Config{}, nil); err != nil {
		t.Fatalf("the zero Config: %v", err)
	}
}

func TestStepHonoursContext(t *testing.T) {
	s, err := New(Config{Start: testStart}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Step(c, 1); err == nil {
		t.Fatal("Step with a cancelled context succeeded")
	}
	if n := s.Counts(market.OKX).Trades; n != 0 {
		t.Fatalf("%d trades after a cancelled step", n)
	}
}
