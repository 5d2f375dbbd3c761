package okx

import (
	"path/filepath"
	"testing"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
)

// TestDecodeSharedDecimals: every golden frame decoded on one Adapter from
// four goroutines at once, three times each, so that the frames' decimals
// are found in the tables the adapter's pool lends, comes out as a fresh
// Adapter's first decoding of it (adaptertest.SameWhenShared).
func TestDecodeSharedDecimals(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "ws", "*"))
	if err != nil {
		t.Fatal(err)
	}
	adaptertest.SameWhenShared(t, paths, func() func([]byte, *collector.Event) error {
		a := newAdapter(t, Config{})
		return func(frame []byte, ev *collector.Event) error { return a.Decode(frame, received, ev) }
	})
}
