package aggregate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func trade(sec int, px, sz string) *market.Trade {
	return &market.Trade{
		Meta:  market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: t0.Add(time.Duration(sec) * time.Second), Received: t0.Add(time.Duration(sec)*time.Second + time.Millisecond)},
		Price: decimal.RequireFromString(px), Size: decimal.RequireFromString(sz), Side: market.Buy, TradeID: fmt.Sprint(sec),
	}
}

// show renders candles compactly: tf@mm:ss o/h/l/c v q n closed|forming.
func show(cs []*market.Candle) string {
	var out []string
	for _, c := range cs {
		state := "forming"
		if c.Closed {
			state = "closed"
		}
		out = append(out, fmt.Sprintf("%s@%s %s/%s/%s/%s v%s q%s n%d %s", c.Timeframe, c.Time.Format("15:04"),
			c.Open, c.High, c.Low, c.Close, c.Volume, c.QuoteVolume.Decimal, c.Trades, state))
	}
	return strings.Join(out, "; ")
}

func TestBuilder(t *testing.T) {
	type step struct {
		trade   *market.Trade
		advance time.Time
		want    string
	}
	tests := []struct {
		name  string
		tfs   []market.Timeframe
		every time.Duration
		steps []step
		late  uint64
	}{
		{
			name: "first trade opens a forming candle", tfs: []market.Timeframe{market.TF1m},
			steps: []step{{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"}},
		},
		{
			name: "forming updates are throttled by exchange time", tfs: []market.Timeframe{market.TF1m}, every: 10 * time.Second,
			steps: []step{
				{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{trade: trade(5, "12", "1"), want: ""},
				{trade: trade(11, "9", "0.5"), want: "1m@10:00 10/12/9/9 v2.5 q26.5 n3 forming"},
			},
		},
		{
			name: "a trade of the next bucket closes the candle", tfs: []market.Timeframe{market.TF1m}, every: -1,
			steps: []step{
				{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{trade: trade(30, "11.5", "0.25"), want: "1m@10:00 10/11.5/10/11.5 v1.25 q12.875 n2 forming"},
				{trade: trade(61, "11", "2"), want: "1m@10:00 10/11.5/10/11.5 v1.25 q12.875 n2 closed; 1m@10:01 11/11/11/11 v2 q22 n1 forming"},
			},
		},
		{
			name: "advance closes by heartbeat time, not before the end", tfs: []market.Timeframe{market.TF1m}, every: -1,
			steps: []step{
				{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{advance: t0.Add(59 * time.Second), want: ""},
				{advance: t0.Add(60 * time.Second), want: "1m@10:00 10/10/10/10 v1 q10 n1 closed"},
				{advance: t0.Add(120 * time.Second), want: ""},
			},
		},
		{
			name: "late trade for a closed bucket is counted and ignored", tfs: []market.Timeframe{market.TF1m}, every: -1, late: 1,
			steps: []step{
				{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{advance: t0.Add(60 * time.Second), want: "1m@10:00 10/10/10/10 v1 q10 n1 closed"},
				{trade: trade(59, "99", "1"), want: ""},
			},
		},
		{
			name: "out-of-order trade inside the bucket sets open by trade time", tfs: []market.Timeframe{market.TF1m}, every: -1,
			steps: []step{
				{trade: trade(20, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{trade: trade(10, "8", "1"), want: "1m@10:00 8/10/8/10 v2 q18 n2 forming"},
			},
		},
		{
			name: "several timeframes at once, empty buckets skipped", tfs: []market.Timeframe{market.TF1m, market.TF5m}, every: -1,
			steps: []step{
				{trade: trade(1, "10", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 forming; 5m@10:00 10/10/10/10 v1 q10 n1 forming"},
				{trade: trade(190, "12", "1"), want: "1m@10:00 10/10/10/10 v1 q10 n1 closed; 1m@10:03 12/12/12/12 v1 q12 n1 forming; 5m@10:00 10/12/10/12 v2 q22 n2 forming"},
				{advance: t0.Add(5 * time.Minute), want: "1m@10:03 12/12/12/12 v1 q12 n1 closed; 5m@10:00 10/12/10/12 v2 q22 n2 closed"},
			},
		},
		{
			name: "exact decimals with 18 significant digits", tfs: []market.Timeframe{market.TF1m}, every: -1,
			steps: []step{
				{trade: trade(1, "12345678.9012345678", "0.000000012345678901"), want: "1m@10:00 12345678.9012345678/12345678.9012345678/12345678.9012345678/12345678.9012345678 v0.000000012345678901 q0.1524157875294924665403139878 n1 forming"},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(market.Coinbase, "BTC-USD", tc.tfs, Config{FormingEvery: tc.every})
			if err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				var got []*market.Candle
				if s.trade != nil {
					got = b.Add(s.trade, nil)
				} else {
					got = b.Advance(s.advance, nil)
				}
				if show(got) != s.want {
					t.Errorf("step %d:\n got  %s\n want %s", i, show(got), s.want)
				}
			}
			if b.Late() != tc.late {
				t.Errorf("late %d, want %d", b.Late(), tc.late)
			}
		})
	}
}

func TestBuilderIgnoresOtherSymbols(t *testing.T) {
	b, err := New(market.Coinbase, "ETH-USD", []market.Timeframe{market.TF1m}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Add(trade(1, "1", "1"), nil); len(got) != 0 {
		t.Errorf("built %s from another symbol's trade", show(got))
	}
}

func TestNewRefusesBadTimeframes(t *testing.T) {
	if _, err := New(market.Coinbase, "BTC-USD", nil, Config{}); err == nil {
		t.Error("no timeframe accepted")
	}
	if _, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{"7m"}, Config{}); err == nil {
		t.Error("unknown timeframe accepted")
	}
}
