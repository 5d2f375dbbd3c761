package aggregate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// t0 is 10:00:00 UTC, a boundary of every timeframe up to 1h.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

// seenBefore is a heartbeat's time just before t0: a builder advanced to
// it has seen the stream since before every bucket opening at t0 or later.
var seenBefore = t0.Add(-time.Millisecond)

// at returns t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// trade returns a Coinbase BTC-USD trade executed at t0+ms and received 1ms later.
func trade(ms int, px, sz string) *market.Trade {
	return &market.Trade{
		Meta:    market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(ms), Received: at(ms + 1)},
		TradeID: fmt.Sprint(ms), Price: decimal.RequireFromString(px), Size: decimal.RequireFromString(sz), Side: market.Buy,
	}
}

// show renders candles compactly, one per line:
// "tf hh:mm o/h/l/c v<volume> q<quote volume> n<trades> closed|provisional|forming rcv<mm:ss.mmm>".
func show(cs []*market.Candle) string {
	var lines []string
	for _, c := range cs {
		state := "forming"
		switch {
		case c.Closed && c.Provisional:
			state = "closed+provisional"
		case c.Closed:
			state = "closed"
		case c.Provisional:
			state = "provisional"
		}
		q := "-"
		if c.QuoteVolume.Valid {
			q = c.QuoteVolume.Decimal.String()
		}
		lines = append(lines, fmt.Sprintf("%s %s %s/%s/%s/%s v%s q%s n%d %s rcv%s",
			c.Timeframe, c.Time.Format("15:04"), c.Open, c.High, c.Low, c.Close, c.Volume, q, c.Trades, state,
			c.Received.Format("04:05.000")))
	}
	return strings.Join(lines, "\n")
}

// step is one call: Add(trade) when trade is set, else Advance(advance).
type step struct {
	trade   *market.Trade
	advance time.Time
	want    []string
}

func TestBuilder(t *testing.T) {
	oneMin := []market.Timeframe{market.TF1m}
	tests := []struct {
		name    string
		tfs     []market.Timeframe
		every   time.Duration
		steps   []step
		late    uint64
		skipped uint64
	}{
		{
			name: "first trade opens a forming candle", tfs: oneMin,
			steps: []step{{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}}},
		},
		{
			name: "a trade of a later bucket closes the candle", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{trade: trade(30000, "11.5", "0.25"), want: []string{"1m 10:00 10/11.5/10/11.5 v1.25 q12.875 n2 forming rcv00:30.001"}},
				{trade: trade(61000, "11", "2"), want: []string{
					"1m 10:00 10/11.5/10/11.5 v1.25 q12.875 n2 closed rcv01:01.001",
					"1m 10:01 11/11/11/11 v2 q22 n1 forming rcv01:01.001",
				}},
			},
		},
		{
			name: "a trade exactly on the boundary opens the next bucket", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(59999, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv01:00.000"}},
				{trade: trade(60000, "12", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:00.001",
					"1m 10:01 12/12/12/12 v1 q12 n1 forming rcv01:00.001",
				}},
			},
		},
		{
			name: "advance closes at the bucket's end, not before, and once", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{advance: at(59999)},
				{advance: at(60000), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:00.000"}},
				{advance: at(120000)},
			},
		},
		{
			name: "advance with nothing open emits nothing", tfs: oneMin,
			steps: []step{{advance: at(600000)}},
		},
		{
			name: "late trade for a bucket closed by advance", tfs: oneMin, every: EveryTrade, late: 1,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{advance: at(60000), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:00.000"}},
				{trade: trade(59000, "99", "1")},
				{trade: trade(60500, "12", "1"), want: []string{"1m 10:01 12/12/12/12 v1 q12 n1 forming rcv01:00.501"}},
			},
		},
		{
			name: "late trade for a bucket closed by a later trade", tfs: oneMin, every: EveryTrade, late: 1,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{trade: trade(61000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:01.001",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:01.001",
				}},
				{trade: trade(59000, "99", "1")},
			},
		},
		{
			name: "trade of an empty bucket older than the open one is late", tfs: oneMin, every: EveryTrade, late: 1,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{trade: trade(301000, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv05:01.001",
					"1m 10:05 11/11/11/11 v1 q11 n1 forming rcv05:01.001",
				}},
				{trade: trade(180000, "99", "1")},
			},
		},
		{
			name: "trade of a bucket that advance declared ended, though it had no candle, is late", tfs: oneMin, late: 1,
			steps: []step{
				{advance: at(300000)},
				{trade: trade(240000, "99", "1")},
				{trade: trade(300000, "10", "1"), want: []string{"1m 10:05 10/10/10/10 v1 q10 n1 forming rcv05:00.001"}},
			},
		},
		{
			name: "advance going back in time changes nothing", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(61000, "10", "1"), want: []string{"1m 10:01 10/10/10/10 v1 q10 n1 forming rcv01:01.001"}},
				{advance: at(30000)},
				{trade: trade(62000, "11", "1"), want: []string{"1m 10:01 10/11/10/11 v2 q21 n2 forming rcv01:02.001"}},
			},
		},
		{
			name: "out-of-order trades in the open bucket: open and close by trade time", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(20000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:20.001"}},
				{trade: trade(10000, "8", "1"), want: []string{"1m 10:00 8/10/8/10 v2 q18 n2 forming rcv00:10.001"}},
				{trade: trade(15000, "12", "1"), want: []string{"1m 10:00 8/12/8/10 v3 q30 n3 forming rcv00:15.001"}},
				{trade: trade(25000, "9", "1"), want: []string{"1m 10:00 8/12/8/9 v4 q39 n4 forming rcv00:25.001"}},
			},
		},
		{
			name: "trades of the same time: first arrival opens, last arrival closes", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(5000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:05.001"}},
				{trade: trade(5000, "11", "1"), want: []string{"1m 10:00 10/11/10/11 v2 q21 n2 forming rcv00:05.001"}},
				{trade: trade(5000, "9", "1"), want: []string{"1m 10:00 10/11/9/9 v3 q30 n3 forming rcv00:05.001"}},
			},
		},
		{
			name: "1m and 5m at once, empty buckets skipped", tfs: []market.Timeframe{market.TF1m, market.TF5m}, every: EveryTrade,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001",
					"5m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001",
				}},
				{trade: trade(190000, "12", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv03:10.001",
					"1m 10:03 12/12/12/12 v1 q12 n1 forming rcv03:10.001",
					"5m 10:00 10/12/10/12 v2 q22 n2 forming rcv03:10.001",
				}},
				{trade: trade(200000, "9", "0.5"), want: []string{
					"1m 10:03 12/12/9/9 v1.5 q16.5 n2 forming rcv03:20.001",
					"5m 10:00 10/12/9/9 v2.5 q26.5 n3 forming rcv03:20.001",
				}},
				{advance: at(240000), want: []string{"1m 10:03 12/12/9/9 v1.5 q16.5 n2 closed rcv04:00.000"}},
				{trade: trade(250000, "11", "1"), want: []string{
					"1m 10:04 11/11/11/11 v1 q11 n1 forming rcv04:10.001",
					"5m 10:00 10/12/9/11 v3.5 q37.5 n4 forming rcv04:10.001",
				}},
				{advance: at(300000), want: []string{
					"1m 10:04 11/11/11/11 v1 q11 n1 closed rcv05:00.000",
					"5m 10:00 10/12/9/11 v3.5 q37.5 n4 closed rcv05:00.000",
				}},
			},
		},
		{
			name: "late for 1m but still folded into the open 5m candle", tfs: []market.Timeframe{market.TF5m, market.TF1m}, every: EveryTrade, late: 1,
			steps: []step{
				{trade: trade(61000, "10", "1"), want: []string{
					"1m 10:01 10/10/10/10 v1 q10 n1 forming rcv01:01.001",
					"5m 10:00 10/10/10/10 v1 q10 n1 forming rcv01:01.001",
				}},
				{trade: trade(59000, "8", "2"), want: []string{"5m 10:00 8/10/8/10 v3 q26 n2 forming rcv00:59.001"}},
			},
		},
		{
			name: "exact decimal sums", tfs: oneMin, every: EveryTrade,
			steps: []step{
				{trade: trade(1000, "12345678.9012345678", "0.000000012345678901"), want: []string{
					"1m 10:00 12345678.9012345678/12345678.9012345678/12345678.9012345678/12345678.9012345678 v0.000000012345678901 q0.1524157875294924665403139878 n1 forming rcv00:01.001",
				}},
				{trade: trade(2000, "0.1", "0.2"), want: []string{
					"1m 10:00 12345678.9012345678/12345678.9012345678/0.1/0.1 v0.200000012345678901 q0.1724157875294924665403139878 n2 forming rcv00:02.001",
				}},
				{trade: trade(3000, "0.10", "0.10"), want: []string{
					"1m 10:00 12345678.9012345678/12345678.9012345678/0.1/0.1 v0.300000012345678901 q0.1824157875294924665403139878 n3 forming rcv00:03.001",
				}},
			},
		},
		{
			name: "forming updates are throttled by exchange time", tfs: oneMin, every: 10 * time.Second,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{trade: trade(5000, "12", "1")},
				{trade: trade(10999, "11", "1")},
				{trade: trade(11000, "9", "0.5"), want: []string{"1m 10:00 10/12/9/9 v3.5 q37.5 n4 forming rcv00:11.001"}},
				{trade: trade(12000, "9", "0.5")},
				{trade: trade(61000, "13", "1"), want: []string{
					"1m 10:00 10/12/9/9 v4 q42 n5 closed rcv01:01.001",
					"1m 10:01 13/13/13/13 v1 q13 n1 forming rcv01:01.001",
				}},
			},
		},
		{
			name: "the first trade of a bucket is never throttled", tfs: oneMin, every: 10 * time.Second,
			steps: []step{
				{trade: trade(55000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:55.001"}},
				{trade: trade(60500, "11", "1"), want: []string{
					"1m 10:00 10/10/10/10 v1 q10 n1 closed rcv01:00.501",
					"1m 10:01 11/11/11/11 v1 q11 n1 forming rcv01:00.501",
				}},
				{advance: at(120000), want: []string{"1m 10:01 11/11/11/11 v1 q11 n1 closed rcv02:00.000"}},
				{trade: trade(121000, "12", "1"), want: []string{"1m 10:02 12/12/12/12 v1 q12 n1 forming rcv02:01.001"}},
			},
		},
		{
			name: "the default throttle is one second", tfs: oneMin,
			steps: []step{
				{trade: trade(1000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001"}},
				{trade: trade(1999, "11", "1")},
				{trade: trade(2000, "12", "1"), want: []string{"1m 10:00 10/12/10/12 v3 q33 n3 forming rcv00:02.001"}},
			},
		},
		{
			name: "an out-of-order trade does not advance the throttle", tfs: oneMin, every: 10 * time.Second,
			steps: []step{
				{trade: trade(20000, "10", "1"), want: []string{"1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:20.001"}},
				{trade: trade(1000, "12", "1")},
				{trade: trade(29999, "11", "1")},
				{trade: trade(30000, "11", "1"), want: []string{"1m 10:00 12/12/10/11 v4 q44 n4 forming rcv00:30.001"}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(market.Coinbase, "BTC-USD", tc.tfs, Config{FormingEvery: tc.every})
			if err != nil {
				t.Fatal(err)
			}
			// The stream has been seen since before t0 (a heartbeat),
			// so that the buckets from t0 on are complete.
			if got := b.Advance(seenBefore, nil); len(got) != 0 {
				t.Fatalf("the priming heartbeat emitted %s", show(got))
			}
			run(t, b, tc.steps)
			if b.Late() != tc.late {
				t.Errorf("late %d, want %d", b.Late(), tc.late)
			}
			if b.Skipped() != tc.skipped {
				t.Errorf("skipped %d, want %d", b.Skipped(), tc.skipped)
			}
		})
	}
}

// run plays steps on b and compares each call's output.
func run(t *testing.T, b *Builder, steps []step) {
	t.Helper()
	for i, s := range steps {
		prefix := []*market.Candle{{Timeframe: "sentinel"}}
		var got []*market.Candle
		if s.trade != nil {
			got = b.Add(s.trade, prefix)
		} else {
			got = b.Advance(s.advance, prefix)
		}
		if len(got) == 0 || got[0] != prefix[0] {
			t.Fatalf("step %d: out was not appended to", i)
		}
		if g, w := show(got[1:]), strings.Join(s.want, "\n"); g != w {
			t.Errorf("step %d:\n got\n%s\n want\n%s", i, g, w)
		}
	}
}
