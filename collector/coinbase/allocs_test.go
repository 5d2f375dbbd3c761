//go:build !race

package coinbase

import (
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
)

// TestDecodeAllocations guards the hot path's allocations (the race
// detector changes allocation counts and drops what is put in a sync.Pool
// at random, hence the build constraint). A trade costs the record and one
// string for its symbol and id; a ticker the record and its symbol; a
// heartbeat nothing beyond its symbol. Their decimals, decoded before
// from the same frame, are found in the table the adapter's pool lends
// and cost nothing (a decimal not found costs two allocations, the
// big.Int and its digits: 6 for a trade, 20 for a ticker).
func TestDecodeAllocations(t *testing.T) {
	a := newTestAdapter(t)
	decode := func(frame []byte, ev *collector.Event) error { return a.Decode(frame, received, ev) }
	for _, tc := range []struct {
		file string
		max  float64
	}{
		{"match.json", 2},
		{"ticker.json", 2},
		{"heartbeat.json", 1},
	} {
		if n := adaptertest.AllocsPerDecode(t, decode, "testdata", tc.file); n > tc.max {
			t.Errorf("Decode(%s) allocates %.0f times, want at most %.0f", tc.file, n, tc.max)
		}
	}
}
