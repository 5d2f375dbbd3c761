package aggregate

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
	"marketetl/validate"
)

func TestSkipped(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*market.Trade)
	}{
		{name: "another symbol", modify: func(tr *market.Trade) { tr.Symbol = "ETH-USD" }},
		{name: "another exchange", modify: func(tr *market.Trade) { tr.Exchange = market.Binance }},
		{name: "zero price", modify: func(tr *market.Trade) { tr.Price = decimal.Zero }},
		{name: "negative price", modify: func(tr *market.Trade) { tr.Price = decimal.RequireFromString("-10") }},
		{name: "never-set price", modify: func(tr *market.Trade) { tr.Price = decimal.Decimal{} }},
		{name: "zero size", modify: func(tr *market.Trade) { tr.Size = decimal.RequireFromString("0.000") }},
		{name: "negative size", modify: func(tr *market.Trade) { tr.Size = decimal.RequireFromString("-1") }},
		{name: "no exchange time", modify: func(tr *market.Trade) { tr.Time = time.Time{} }},
		{name: "time before 2009", modify: func(tr *market.Trade) { tr.Time = time.UnixMilli(1630048897) }},
		{name: "no receipt time", modify: func(tr *market.Trade) { tr.Received = time.Time{} }},
		{name: "time beyond the clock skew", modify: func(tr *market.Trade) { tr.Time = tr.Received.Add(5*time.Second + time.Nanosecond) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m}, Config{FormingEvery: EveryTrade})
			if err != nil {
				t.Fatal(err)
			}
			bad := trade(30000, "10", "1")
			tc.modify(bad)
			run(t, b, []step{
				{trade: bad},
				{trade: trade(1000, "11", "1"), want: []string{"1m 10:00 11/11/11/11 v1 q11 n1 forming rcv00:01.001"}},
			})
			if b.Skipped() != 1 || b.Late() != 0 {
				t.Fatalf("skipped %d, late %d; want 1 and 0", b.Skipped(), b.Late())
			}
		})
	}
}

func TestLongTimeframes(t *testing.T) {
	// Wednesday 2026-11-25 13:45:10 UTC: the 1d candle opens at 00:00 that
	// day, the 1w candle on Monday 2026-11-23 00:00.
	wed := time.Date(2026, 11, 25, 13, 45, 10, 0, time.UTC)
	b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1w, market.TF1d, market.TF4h}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	tr := trade(0, "10", "1")
	tr.Time, tr.Received = wed, wed
	got := b.Add(tr, nil)
	want := []time.Time{
		time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC),
	}
	if len(got) != len(want) {
		t.Fatalf("got %d candles, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Time.Equal(want[i]) {
			t.Errorf("%s candle opens at %s, want %s", got[i].Timeframe, got[i].Time, want[i])
		}
	}
	closed := b.Advance(time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC), nil)
	// Provisional: the builder joined each bucket after it opened.
	if len(closed) != 3 || !closed[2].Provisional || closed[2].Closed || closed[2].Timeframe != market.TF1w {
		t.Fatalf("advance to the next Monday closed %s", show(closed))
	}
}

func TestDigitsKept(t *testing.T) {
	b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	c := b.Add(trade(1000, "42219.90", "0.10"), nil)[0]
	if c.Open.StringFixed(-c.Open.Exponent()) != "42219.90" || c.Volume.Exponent() != -2 {
		t.Fatalf("open %s (exponent %d), volume exponent %d: the exchange's digits were not kept", c.Open, c.Open.Exponent(), c.Volume.Exponent())
	}
}

func TestEmittedCandlesAreIndependent(t *testing.T) {
	b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m}, Config{FormingEvery: EveryTrade})
	if err != nil {
		t.Fatal(err)
	}
	first := b.Add(trade(1000, "10", "1"), nil)[0]
	b.Add(trade(2000, "20", "2"), nil)
	if got := show([]*market.Candle{first}); got != "1m 10:00 10/10/10/10 v1 q10 n1 forming rcv00:01.001" {
		t.Fatalf("an emitted candle changed after a later trade: %s", got)
	}
}

// TestCandlesPassValidation checks that what the builder emits is what
// package validate accepts, with the local clock at each candle's receipt.
func TestCandlesPassValidation(t *testing.T) {
	b, err := New(market.Coinbase, "BTC-USD", []market.Timeframe{market.TF1m, market.TF5m, market.TF1h}, Config{})
	if err != nil {
		t.Fatal(err)
	}
	var clock time.Time
	v, err := validate.New(validate.Config{}, func() time.Time { return clock })
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 7))
	var out []*market.Candle
	for i := range 2000 {
		tr := trade(i*7919%3_600_000, fmt.Sprintf("%d.%02d", 100+r.IntN(50), r.IntN(100)), fmt.Sprintf("0.%03d", 1+r.IntN(999)))
		out = b.Add(tr, out)
		if i%100 == 99 {
			out = b.Advance(tr.Time, out)
		}
	}
	out = b.Advance(t0.Add(2*time.Hour), out)
	if len(out) == 0 {
		t.Fatal("no candle built")
	}
	for _, c := range out {
		clock = c.Received
		if rej := v.Check(c); rej != nil {
			t.Fatalf("%s refused: %s", show([]*market.Candle{c}), rej)
		}
	}
}
