package okx

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"marketetl/collector"
)

// TestDecodeSharedDecimals decodes every golden frame on one Adapter from
// four goroutines at once, as the collector's connection readers call
// Decode, three times each, so that the frames' decimals are found in the
// tables the adapter's pool lends, and checks every outcome against the
// frame's first decoding by a fresh Adapter (which the golden tests check
// digit by digit): the same records and book messages, decimals with the
// same coefficients and exponents, the same error. Run with -race it also
// checks that no two calls share a table.
func TestDecodeSharedDecimals(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("testdata", "ws", "*"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("golden frames: %v (%d)", err, len(paths))
	}
	type outcome struct {
		ev  collector.Event
		err error
	}
	frames := make([][]byte, len(paths))
	want := make([]outcome, len(paths))
	for i, p := range paths {
		if frames[i], err = os.ReadFile(p); err != nil {
			t.Fatal(err)
		}
		want[i].err = newAdapter(t, Config{}).Decode(frames[i], received, &want[i].ev)
	}
	a := newAdapter(t, Config{})
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for g := range 4 {
		wg.Go(func() {
			for r := range 3 {
				for j := range frames {
					i := (j + 7*g + r) % len(frames)
					var got outcome
					got.err = a.Decode(frames[i], received, &got.ev)
					if !reflect.DeepEqual(got, want[i]) {
						errs <- fmt.Sprintf("%s, round %d: decoded %+v, %v; first %+v, %v", paths[i], r, got.ev, got.err, want[i].ev, want[i].err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
