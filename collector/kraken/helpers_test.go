package kraken

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// received is the arrival time passed to Decode in the tests.
var received = time.Date(2024, 5, 6, 7, 8, 9, 123000000, time.UTC)

func newTestAdapter(tb testing.TB) *Adapter {
	tb.Helper()
	a, err := New(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// render writes a record on one line, every field included (the kit's
// rendering, with this package's received time).
func render(r market.Record) string { return adaptertest.Render(r, received) }
