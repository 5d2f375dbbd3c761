//go:build !race

package coinbase

import (
	"os"
	"path/filepath"
	"testing"

	"marketetl/collector"
)

// TestDecodeAllocations guards the hot path's allocations (the race
// detector changes allocation counts, hence the build constraint). A trade
// costs the record, one string for its symbol and id, and two per decimal
// (the big.Int and its digits); a ticker the record, its symbol and its
// nine decimals; a heartbeat nothing beyond its symbol.
func TestDecodeAllocations(t *testing.T) {
	tests := []struct {
		file string
		max  float64
	}{
		{"match.json", 6},
		{"ticker.json", 20},
		{"heartbeat.json", 1},
	}
	a := newTestAdapter(t)
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			frame, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var ev collector.Event
			n := testing.AllocsPerRun(200, func() {
				ev.Reset()
				if err := a.Decode(frame, received, &ev); err != nil {
					t.Fatal(err)
				}
			})
			if n > tc.max {
				t.Errorf("Decode(%s) allocates %.0f times, want at most %.0f", tc.file, n, tc.max)
			}
		})
	}
}
