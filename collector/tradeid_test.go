package collector

import (
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

// TestLongTradeIDsKeepContinuity: trade ids of 19 to 25 digits (beyond an
// int64) are still checked for continuity, compared as decimal strings,
// across a carry (99...9 to 100...0) too.
func TestLongTradeIDsKeepContinuity(t *testing.T) {
	nines := func(n int) string { return strings.Repeat("9", n) }
	pow := func(n int) string { return "1" + strings.Repeat("0", n) }
	tests := []struct {
		name    string
		ids     []string
		wantGap []int // indexes of the trades that follow a hole
	}{
		{name: "19 digits in sequence", ids: []string{"1234567890123456788", "1234567890123456789", "1234567890123456790"}},
		{name: "carry from 19 to 20 digits", ids: []string{nines(19), pow(19), pow(19)[:19] + "1"}},
		{name: "carry from 24 to 25 digits", ids: []string{nines(24), pow(24)}},
		{name: "one id missing at 20 digits", ids: []string{"12345678901234567890", "12345678901234567892"}, wantGap: []int{1}},
		{name: "missing across a carry", ids: []string{nines(21)[:20] + "8", pow(21)}, wantGap: []int{1}},
		{name: "25 digits jump", ids: []string{"1000000000000000000000000", "1000000000000000000000001", "1000000000000000000000100"}, wantGap: []int{2}},
		// The position stays at the greatest id: 014 follows 013, not 011.
		{name: "out of order", ids: []string{"1234567890123456789012", "1234567890123456789013", "1234567890123456789011", "1234567890123456789014"}},
		{name: "from 18 digits to 19", ids: []string{nines(18), pow(18), pow(18)[:18] + "2"}, wantGap: []int{2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &router{st: newTracker("t", market.Coinbase, time.Now), run: 1, seqIDs: true}
			p := &position{}
			var gaps []int
			for i, id := range tc.ids {
				tr := &market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(t0 + int64(i))}, TradeID: id}
				g, found := c.continuity(p, tr, 1)
				if !found {
					continue
				}
				gaps = append(gaps, i)
				want := market.Gap{Stream: tr.Stream(), From: at(t0 + int64(i) - 1), To: at(t0 + int64(i)), Reason: market.GapTradeIDJump}
				if g != want {
					t.Errorf("gap before trade %d:\n got %+v\nwant %+v", i, g, want)
				}
			}
			if !equalInts(gaps, tc.wantGap) {
				t.Errorf("gaps before trades %v, want %v", gaps, tc.wantGap)
			}
		})
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A trade with a long id that follows its stream allocates nothing.
func TestLongIDContinuityAllocatesNothing(t *testing.T) {
	c := &router{st: newTracker("t", market.Coinbase, time.Now), run: 1, seqIDs: true}
	const runs = 100
	trades := make([]market.Trade, runs+2)
	for i := range trades {
		trades[i] = market.Trade{Meta: market.Meta{Exchange: market.Coinbase, Symbol: "BTC-USD", Time: at(t0 + int64(i))},
			TradeID: "12345678901234567890" + string(rune('1'+i/100)) + string(rune('0'+i/10%10)) + string(rune('0'+i%10))}
	}
	p := &position{}
	i := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if _, found := c.continuity(p, &trades[i], 1); found {
			t.Fatalf("gap before %s", trades[i].TradeID)
		}
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record, want 0", allocs)
	}
}
