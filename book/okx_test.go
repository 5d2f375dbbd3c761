package book

import (
	"errors"
	"testing"

	"marketetl/market"
)

func TestOKXChecksum(t *testing.T) {
	tests := []struct {
		name       string
		bids, asks []market.Level
		want       int32
	}{
		{
			// The documented string "3366.1:7:3366.8:9:3366:6:3368:8".
			name: "documented interleaving",
			bids: []market.Level{lv("3366.1", "7"), lv("3366", "6")}, asks: []market.Level{lv("3366.8", "9"), lv("3368", "8")},
			want: crcOf("3366.1:7:3366.8:9:3366:6:3368:8"),
		},
		{
			// The documented example with fewer bids than asks.
			name: "a short side is skipped",
			bids: []market.Level{lv("3366.1", "7")}, asks: []market.Level{lv("3366.8", "9"), lv("3368", "8"), lv("3372", "8")},
			want: crcOf("3366.1:7:3366.8:9:3368:8:3372:8"),
		},
		{
			name: "decimals as sent",
			bids: []market.Level{lv("0.10", "1.500")}, asks: []market.Level{lv("0.11", "2")},
			want: crcOf("0.10:1.500:0.11:2"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := OKXChecksum(tt.bids, tt.asks); got != tt.want {
				t.Errorf("checksum %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOKXChecksumTop25(t *testing.T) {
	var b Book
	var bids, asks []market.Level
	for i := range 30 {
		bids = append(bids, market.Level{Price: d("100").Sub(decimalInt(i)), Size: d("1")})
		asks = append(asks, market.Level{Price: d("101").Add(decimalInt(i)), Size: d("2")})
	}
	if err := b.Load(bids, asks); err != nil {
		t.Fatal(err)
	}
	var text string
	for i := range 25 {
		text += exact(bids[i].Price) + ":1:" + exact(asks[i].Price) + ":2:"
	}
	want := crcOf(text[:len(text)-1])
	if got := OKXChecksum(bids, asks); got != want {
		t.Errorf("checksum of 30 levels %d, want %d (the top 25)", got, want)
	}
	if err := CheckOKX(&b, int64(want)); err != nil {
		t.Errorf("top 25: %v", err)
	}
	if err := CheckOKX(&b, 0); err != nil {
		t.Errorf("checksum 0 (deprecated, not provided): %v", err)
	}
	if err := CheckOKX(&b, int64(want)+1); !errors.Is(err, ErrChecksum) {
		t.Errorf("wrong checksum: %v, want ErrChecksum", err)
	}
}

func TestOKXSequence(t *testing.T) {
	type step struct {
		snapshot  bool
		prev, seq int64
		wantBreak bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"documented chain", []step{{snapshot: true, prev: -1, seq: 123456}, {prev: 123456, seq: 123457}}},
		{"keep-alive without changes", []step{{snapshot: true, prev: -1, seq: 10}, {prev: 10, seq: 10}, {prev: 10, seq: 11}}},
		{"seqId reset to a smaller value", []step{{snapshot: true, prev: -1, seq: 500}, {prev: 500, seq: 3}, {prev: 3, seq: 4}}},
		{"a missed message", []step{{snapshot: true, prev: -1, seq: 10}, {prev: 11, seq: 12, wantBreak: true}}},
		{"an update before the snapshot", []step{{prev: 1, seq: 2, wantBreak: true}}},
		{"after a break the next update breaks too", []step{{snapshot: true, prev: -1, seq: 1}, {prev: 5, seq: 6, wantBreak: true}, {prev: 6, seq: 7, wantBreak: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s OKXSequence
			for i, st := range tt.steps {
				if st.snapshot {
					s.Snapshot(st.seq)
					continue
				}
				err := s.Update(st.prev, st.seq)
				if got := errors.Is(err, ErrSequenceBreak); got != st.wantBreak {
					t.Fatalf("step %d: %v, want break %v", i, err, st.wantBreak)
				}
			}
		})
	}
}
