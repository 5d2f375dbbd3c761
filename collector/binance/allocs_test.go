//go:build !race

package binance

import (
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
)

// TestDecodeAllocs bounds the allocations of decoding a frame again: its
// decimals are found in the table the adapter's pool lends and cost
// nothing, so a trade costs its record and its id's text, a kline or a
// ticker its record, and the scan, the symbol and the interval nothing
// (with two allocations per decimal not found, they were 6, 13 and 21).
// (The race detector changes allocation counts and drops what is put in a
// sync.Pool at random, hence the build constraint.)
func TestDecodeAllocs(t *testing.T) {
	a := newTestAdapter(t)
	decode := func(frame []byte, ev *collector.Event) error { return a.Decode(frame, received, ev) }
	for _, tt := range []struct {
		file string
		want float64
	}{
		{"trade_combined.json", 1 + 1},
		{"kline_combined_closed.json", 1},
		{"ticker_combined.json", 1},
	} {
		if got := adaptertest.AllocsPerDecode(t, decode, "testdata", tt.file); got > tt.want {
			t.Errorf("%s: %v allocations per Decode, want %v", tt.file, got, tt.want)
		}
	}
}
