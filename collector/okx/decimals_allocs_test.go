//go:build !race

package okx

import (
	"os"
	"path/filepath"
	"testing"

	"marketetl/collector"
)

// TestDecodeFoundDecimalsAllocs: decoding a frame again, its decimals are
// found in the table the adapter's pool lends and cost no allocation. A
// trade costs its record and its id's text, a candle its record (it was 6,
// 12 for two trades, and 15 with two allocations per decimal). (The race
// detector changes allocation counts and drops what is put in a sync.Pool
// at random, hence the build constraint.)
func TestDecodeFoundDecimalsAllocs(t *testing.T) {
	a := newAdapter(t, Config{})
	for _, tt := range []struct {
		file string
		want float64
	}{
		{"trade.json", 1 + 1},
		{"trades_two.json", 2 * (1 + 1)},
		{"candle1m_closed.json", 1},
	} {
		frame, err := os.ReadFile(filepath.Join("testdata", "ws", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		var ev collector.Event
		if err := a.Decode(frame, received, &ev); err != nil {
			t.Fatal(err)
		}
		got := testing.AllocsPerRun(100, func() {
			ev.Reset()
			if err := a.Decode(frame, received, &ev); err != nil {
				t.Fatal(err)
			}
		})
		if got > tt.want {
			t.Errorf("%s: %v allocations per Decode, want %v", tt.file, got, tt.want)
		}
	}
}
