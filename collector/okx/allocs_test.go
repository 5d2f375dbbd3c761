//go:build !race

package okx

import (
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
)

// TestDecodeAllocs bounds the allocations of decoding a frame again: its
// decimals are found in the table the adapter's pool lends and cost
// nothing, so a trade costs its record and its id's text, a candle its
// record (with two allocations per decimal not found, they were 6, 12 for
// two trades, and 15). (The race detector changes allocation counts and
// drops what is put in a sync.Pool at random, hence the build constraint.)
func TestDecodeAllocs(t *testing.T) {
	a := newAdapter(t, Config{})
	decode := func(frame []byte, ev *collector.Event) error { return a.Decode(frame, received, ev) }
	for _, tt := range []struct {
		file string
		want float64
	}{
		{"trade.json", 1 + 1},
		{"trades_two.json", 2 * (1 + 1)},
		{"candle1m_closed.json", 1},
	} {
		if got := adaptertest.AllocsPerDecode(t, decode, "testdata/ws", tt.file); got > tt.want {
			t.Errorf("%s: %v allocations per Decode, want %v", tt.file, got, tt.want)
		}
	}
}
