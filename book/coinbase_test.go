package book

import (
	"fmt"
	"testing"

	"marketetl/market"
)

func TestCompareREST(t *testing.T) {
	local := func() *Book {
		var b Book
		err := b.Load(
			[]market.Level{lv("100.00", "1"), lv("99.50", "2"), lv("99.00", "3"), lv("98.00", "4")},
			[]market.Level{lv("101.00", "1"), lv("101.50", "2"), lv("102.00", "3")})
		if err != nil {
			t.Fatal(err)
		}
		return &b
	}
	tests := []struct {
		name       string
		bids, asks []market.Level
		inFlight   []market.BookChange
		want       string // "compared/excused mismatches"
	}{
		{
			name: "agree; local levels beyond the REST range are not compared",
			bids: []market.Level{lv("100", "1.000"), lv("99.5", "2")},
			asks: []market.Level{lv("101", "1"), lv("101.5", "2"), lv("102", "3")},
			want: "5/0 []",
		},
		{
			name: "a size differs",
			bids: []market.Level{lv("100", "1"), lv("99.5", "2.5")},
			asks: []market.Level{lv("101", "1")},
			want: "3/0 [bid 99.5 local 2 rest 2.5]",
		},
		{
			name: "a level missing locally and one missing on the exchange",
			bids: []market.Level{lv("100", "1"), lv("99.75", "9"), lv("99", "3")},
			asks: []market.Level{lv("101.5", "2")},
			want: "6/0 [bid 99.75 local 0 rest 9 bid 99.5 local 2 rest 0 ask 101 local 1 rest 0]",
		},
		{
			name:     "changes in flight are excused",
			bids:     []market.Level{lv("100", "1"), lv("99.75", "9"), lv("99", "3")},
			asks:     []market.Level{lv("101.5", "2")},
			inFlight: []market.BookChange{ch(market.Bid, "99.75", "0"), ch(market.Ask, "101.0", "1")},
			want:     "6/2 [bid 99.5 local 2 rest 0]",
		},
		{
			name: "an empty REST side compares nothing",
			want: "0/0 []",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f InFlight
			f.Note(tt.inFlight) // before Begin: not recorded
			f.Begin()
			f.Note(tt.inFlight)
			f.End()
			f.Note([]market.BookChange{ch(market.Bid, "99.5", "2")}) // after End: not recorded
			d := CompareREST(local(), tt.bids, tt.asks, &f)
			var ms []string
			for _, m := range d.Mismatches {
				ms = append(ms, fmt.Sprintf("%s %s local %s rest %s", m.Side, m.Price, m.Local, m.Remote))
			}
			got := fmt.Sprintf("%d/%d %v", d.Compared, d.Excused, ms)
			if len(ms) == 0 {
				got = fmt.Sprintf("%d/%d []", d.Compared, d.Excused)
			}
			if got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if d.Disagrees() != (len(d.Mismatches) > 0) {
				t.Error("Disagrees")
			}
		})
	}
}
