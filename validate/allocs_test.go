//go:build !race

package validate

import (
	"testing"
	"time"

	"marketetl/market"
)

// TestAcceptedRecordsDoNotAllocate guards the hot path (the race detector
// changes allocation counts, hence the build constraint).
func TestAcceptedRecordsDoNotAllocate(t *testing.T) {
	v, err := New(Config{}, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		rec  market.Record
	}{
		{name: "trade", rec: goodTrade()},
		{name: "candle", rec: goodCandle()},
		{name: "ticker", rec: goodTicker()},
		{name: "book", rec: goodBook()},
		{name: "balance", rec: goodBalance()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			allocs := testing.AllocsPerRun(100, func() {
				if v.Check(tc.rec) != nil {
					t.Fatal("rejected")
				}
			})
			if allocs != 0 {
				t.Fatalf("%v allocations per accepted %s, want 0", allocs, tc.name)
			}
		})
	}
}
