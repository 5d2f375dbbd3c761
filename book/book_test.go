package book

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func lv(p, s string) market.Level { return market.Level{Price: d(p), Size: d(s)} }

func ch(sd market.BookSide, p, s string) market.BookChange {
	return market.BookChange{Side: sd, Price: d(p), Size: d(s)}
}

// levelsText renders levels as "price x size, ..." with the exact decimals.
func levelsText(ls []market.Level) string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Price.String()+"x"+exact(l.Size))
	}
	return fmt.Sprint(out)
}

func TestBookApply(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks []market.Level
		changes    []market.BookChange
		wantBids   string
		wantAsks   string
		wantErr    error
	}{
		{
			name:     "snapshot in any order comes out best first",
			bids:     []market.Level{lv("99", "1"), lv("100.5", "2"), lv("98", "3")},
			asks:     []market.Level{lv("102", "1"), lv("101", "2")},
			wantBids: "[100.5x2 99x1 98x3]", wantAsks: "[101x2 102x1]",
		},
		{
			name:     "size zero deletes, a new size replaces, a new price inserts",
			bids:     []market.Level{lv("99", "1"), lv("100", "2")},
			asks:     []market.Level{lv("101", "1"), lv("102", "2")},
			changes:  []market.BookChange{ch(market.Bid, "100", "0"), ch(market.Ask, "102", "5.50"), ch(market.Bid, "99.5", "7"), ch(market.Ask, "100.9", "1")},
			wantBids: "[99.5x7 99x1]", wantAsks: "[100.9x1 101x1 102x5.50]",
		},
		{
			name:     "deleting an absent level is not an error",
			bids:     []market.Level{lv("99", "1")},
			changes:  []market.BookChange{ch(market.Bid, "98", "0"), ch(market.Ask, "120", "0")},
			wantBids: "[99x1]", wantAsks: "[]",
		},
		{
			name:     "prices with different decimal places are one level",
			bids:     []market.Level{lv("99.10", "1")},
			changes:  []market.BookChange{ch(market.Bid, "99.1", "3"), ch(market.Bid, "99.100000", "4")},
			wantBids: "[99.1x4]", wantAsks: "[]",
		},
		{
			name:     "a finer price rescales the book",
			bids:     []market.Level{lv("99", "1"), lv("98.5", "1")},
			changes:  []market.BookChange{ch(market.Bid, "98.75000001", "2")},
			wantBids: "[99x1 98.75000001x2 98.5x1]", wantAsks: "[]",
		},
		{
			name:    "crossed after applying",
			bids:    []market.Level{lv("99", "1")},
			asks:    []market.Level{lv("101", "1")},
			changes: []market.BookChange{ch(market.Bid, "102", "1")},
			wantErr: ErrCrossed,
		},
		{
			name:    "locked after applying",
			bids:    []market.Level{lv("99", "1")},
			asks:    []market.Level{lv("101", "1")},
			changes: []market.BookChange{ch(market.Ask, "99", "1")},
			wantErr: ErrLocked,
		},
		{
			name:    "negative size",
			bids:    []market.Level{lv("99", "1")},
			changes: []market.BookChange{ch(market.Bid, "99", "-1")},
			wantErr: ErrBadLevel,
		},
		{
			name:    "zero price",
			changes: []market.BookChange{ch(market.Ask, "0", "1")},
			wantErr: ErrBadLevel,
		},
		{
			name:    "unknown side",
			changes: []market.BookChange{{Side: "buy", Price: d("1"), Size: d("1")}},
			wantErr: ErrBadLevel,
		},
		{
			name:    "a price the keys cannot hold",
			changes: []market.BookChange{ch(market.Ask, "1234567890123.1234567", "1")},
			wantErr: ErrPriceRange,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Book
			if err := b.Load(tt.bids, tt.asks); err != nil {
				t.Fatalf("Load: %v", err)
			}
			err := b.Apply(tt.changes)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Apply error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			bids, asks := b.Top(0, nil, nil)
			if got := levelsText(bids); got != tt.wantBids {
				t.Errorf("bids %s, want %s", got, tt.wantBids)
			}
			if got := levelsText(asks); got != tt.wantAsks {
				t.Errorf("asks %s, want %s", got, tt.wantAsks)
			}
		})
	}
}

func TestBookLoadRefuses(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks []market.Level
		want       error
	}{
		{"duplicate bid", []market.Level{lv("1", "1"), lv("1.0", "2")}, nil, ErrDuplicateLevel},
		{"duplicate ask listed apart, after a rescale", nil, []market.Level{lv("3", "1"), lv("5", "1"), lv("4.5", "1"), lv("3.000", "2")}, ErrDuplicateLevel},
		{"zero size", []market.Level{lv("1", "0")}, nil, ErrBadLevel},
		{"negative price", nil, []market.Level{lv("-1", "1")}, ErrBadLevel},
		{"crossed", []market.Level{lv("2", "1")}, []market.Level{lv("1", "1")}, ErrCrossed},
		{"locked", []market.Level{lv("2", "1")}, []market.Level{lv("2", "1")}, ErrLocked},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b Book
			err := b.Load(tt.bids, tt.asks)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Load error %v, want %v", err, tt.want)
			}
			if nb, na := b.Depth(); tt.want != ErrCrossed && tt.want != ErrLocked && (nb != 0 || na != 0) {
				t.Errorf("depth after a refused load %d/%d, want 0/0", nb, na)
			}
		})
	}
}

// TestBookLoadLarge loads a Binance-sized snapshot (5,000 levels a side,
// listed best first) and checks the order of every level.
func TestBookLoadLarge(t *testing.T) {
	var bids, asks []market.Level
	for i := range 5000 {
		bids = append(bids, market.Level{Price: decimal.New(int64(1000000-i), -2), Size: decimal.New(int64(i+1), -8)})
		asks = append(asks, market.Level{Price: decimal.New(int64(1000001+i), -2), Size: decimal.New(int64(i+1), -8)})
	}
	var b Book
	if err := b.Load(bids, asks); err != nil {
		t.Fatal(err)
	}
	gotBids, gotAsks := b.Top(0, nil, nil)
	if levelsText(gotBids) != levelsText(bids) || levelsText(gotAsks) != levelsText(asks) {
		t.Fatal("levels not best first after a large load")
	}
	if err := b.Apply([]market.BookChange{ch(market.Bid, "9999.99", "0"), ch(market.Ask, "10000.015", "1")}); err != nil {
		t.Fatal(err)
	}
	if l, _ := b.BestAsk(); l.Price.String() != "10000.01" {
		t.Errorf("best ask %s", l.Price)
	}
	if nb, na := b.Depth(); nb != 4999 || na != 5001 {
		t.Errorf("depth %d/%d", nb, na)
	}
}

func TestBookQueries(t *testing.T) {
	var b Book
	if _, ok := b.Spread(); ok {
		t.Fatal("empty book has a spread")
	}
	if err := b.Load([]market.Level{lv("99.5", "1"), lv("99", "2")}, []market.Level{lv("100.25", "3")}); err != nil {
		t.Fatal(err)
	}
	bid, _ := b.BestBid()
	ask, _ := b.BestAsk()
	sp, ok := b.Spread()
	if bid.Price.String() != "99.5" || ask.Price.String() != "100.25" || !ok || sp.String() != "0.75" {
		t.Errorf("best %s/%s spread %s", bid.Price, ask.Price, sp)
	}
	if s, ok := b.Size(market.Bid, d("99.00")); !ok || s.String() != "2" {
		t.Errorf("size at 99: %s %v", s, ok)
	}
	if _, ok := b.Size(market.Ask, d("99")); ok {
		t.Error("size of an absent ask level found")
	}
	b.Sequence = 7
	s := b.Snapshot(market.Meta{Exchange: market.OKX, Symbol: "BTC-USDT"}, 1)
	if s.Sequence != 7 || len(s.Bids) != 1 || len(s.Asks) != 1 || s.Bids[0].Price.String() != "99.5" {
		t.Errorf("snapshot %+v", s)
	}
}

// TestBookMatchesReference applies random changes to a Book and to a plain
// map and compares every level after each message.
func TestBookMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b Book
	ref := map[market.BookSide]map[string]decimal.Decimal{market.Bid: {}, market.Ask: {}}
	for msg := range 2000 {
		var changes []market.BookChange
		for range 1 + r.IntN(5) {
			sd, p := market.Bid, 1+r.IntN(100)
			if r.IntN(2) == 0 {
				sd, p = market.Ask, 101+r.IntN(100)
			}
			size := decimal.New(int64(r.IntN(4)), -int32(r.IntN(3)))
			price := decimal.New(int64(p)*100+int64(r.IntN(3)), -2)
			changes = append(changes, market.BookChange{Side: sd, Price: price, Size: size})
			key := price.String()
			if size.IsZero() {
				delete(ref[sd], key)
			} else {
				ref[sd][key] = size
			}
		}
		if err := b.Apply(changes); err != nil {
			t.Fatalf("message %d: %v", msg, err)
		}
		bids, asks := b.Top(0, nil, nil)
		for sd, got := range map[market.BookSide][]market.Level{market.Bid: bids, market.Ask: asks} {
			if len(got) != len(ref[sd]) {
				t.Fatalf("message %d: %s depth %d, want %d", msg, sd, len(got), len(ref[sd]))
			}
			for i, l := range got {
				if want, ok := ref[sd][l.Price.String()]; !ok || !want.Equal(l.Size) {
					t.Fatalf("message %d: %s %s x %s, want %s", msg, sd, l.Price, l.Size, want)
				}
				if i > 0 && (sd == market.Bid) != l.Price.LessThan(got[i-1].Price) {
					t.Fatalf("message %d: %s not best first at %d", msg, sd, i)
				}
			}
		}
	}
	if !slices.IsSorted(b.bids.keys) || !slices.IsSorted(b.asks.keys) {
		t.Fatal("keys not sorted")
	}
}
