package collector

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// TestAggregatorsMarkCandlesMissingTrades: candles that lack trades — a
// skipped trade id (sequential ids only) or a connection that ended — end
// provisional and are given to the provisional hook before being returned;
// a bucket seen whole ends closed.
func TestAggregatorsMarkCandlesMissingTrades(t *testing.T) {
	cs := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	trade := func(id int64, sec int64) *market.Trade {
		ts := at(t0 + sec)
		return &market.Trade{Meta: market.Meta{Exchange: cs.Exchange, Symbol: cs.Symbol, Time: ts, Received: ts},
			TradeID: fmt.Sprint(id), Price: decimal.NewFromInt(10), Size: decimal.NewFromInt(1), Side: market.Buy}
	}
	type step struct {
		trade     *market.Trade
		interrupt bool
	}
	tests := []struct {
		name   string
		seqIDs bool
		steps  []step
		want   string // the non-forming candles returned, "minute:state"
	}{
		{
			name: "ids without a hole: the minute seen whole is closed", seqIDs: true,
			steps: []step{{trade: trade(1, -1)}, {trade: trade(2, 10)}, {trade: trade(3, 61)}},
			want:  "-1:provisional 0:closed",
		},
		{
			name: "a skipped id makes the current and the next minute provisional", seqIDs: true,
			steps: []step{{trade: trade(1, -1)}, {trade: trade(2, 10)}, {trade: trade(4, 70)}, {trade: trade(5, 130)}, {trade: trade(6, 190)}},
			want:  "-1:provisional 0:provisional 1:provisional 2:closed",
		},
		{
			name: "without sequential ids a skipped id says nothing", seqIDs: false,
			steps: []step{{trade: trade(1, -1)}, {trade: trade(2, 10)}, {trade: trade(4, 70)}, {trade: trade(5, 130)}},
			want:  "-1:provisional 0:closed 1:closed",
		},
		{
			name: "a connection that ended makes its minutes provisional", seqIDs: false,
			steps: []step{{trade: trade(1, -1)}, {trade: trade(2, 10)}, {interrupt: true}, {trade: trade(3, 70)}, {trade: trade(4, 130)}, {trade: trade(5, 190)}},
			want:  "-1:provisional 0:provisional 1:provisional 2:closed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var hooked []string
			a, err := newAggregators([]market.Stream{cs}, tc.seqIDs, nil, func(c *market.Candle) {
				hooked = append(hooked, fmt.Sprint(c.Time.Sub(at(t0))/time.Minute))
			})
			if err != nil {
				t.Fatal(err)
			}
			var got, wantHooked []string
			for _, s := range tc.steps {
				if s.interrupt {
					a.interrupt()
					continue
				}
				for _, r := range a.add(s.trade) {
					c := r.(*market.Candle)
					m := c.Time.Sub(at(t0)) / time.Minute
					if c.Time.Before(at(t0)) {
						m = -1
					}
					switch {
					case c.Closed:
						got = append(got, fmt.Sprintf("%d:closed", m))
					case c.Provisional:
						got = append(got, fmt.Sprintf("%d:provisional", m))
						wantHooked = append(wantHooked, fmt.Sprint(c.Time.Sub(at(t0))/time.Minute))
					}
				}
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("candles %s, want %s", g, tc.want)
			}
			if fmt.Sprint(hooked) != fmt.Sprint(wantHooked) {
				t.Errorf("hook given %v, want %v", hooked, wantHooked)
			}
		})
	}
}
