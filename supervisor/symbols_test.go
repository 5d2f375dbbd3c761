package supervisor

import (
	"errors"
	"strings"
	"testing"
	"testing/synctest"

	"marketetl/market"
	"marketetl/spec"
)

// errRegistryDown is the registry's failure in TestSymbolOperations.
var errRegistryDown = errors.New("registry down")

// TestSymbolOperations: the Go API's symbol methods, their errors and
// what they store, on a running manager whose Runner cannot change its
// streams (it is restarted once to take them).
func TestSymbolOperations(t *testing.T) {
	cases := []struct {
		name    string
		op      func(h *harness) error
		want    error
		symbols string
		starts  int
	}{
		{"add", func(h *harness) error { return h.m.AddSymbol(h.t.Context(), "a", " eth-usdt ") }, nil, "BTC-USDT,ETH-USDT", 2},
		{"add a known symbol", func(h *harness) error { return h.m.AddSymbol(h.t.Context(), "a", "btc-usdt") }, ErrSymbolExists, "BTC-USDT", 1},
		{"add a malformed symbol", func(h *harness) error { return h.m.AddSymbol(h.t.Context(), "a", "BTCUSDT") }, ErrInvalidSpec, "BTC-USDT", 1},
		{"add to an unknown collector", func(h *harness) error { return h.m.AddSymbol(h.t.Context(), "zz", "ETH-USDT") }, ErrNotFound, "BTC-USDT", 1},
		{"remove the last symbol", func(h *harness) error { return h.m.RemoveSymbol(h.t.Context(), "a", "BTC-USDT") }, ErrInvalidSpec, "BTC-USDT", 1},
		{"remove an unknown symbol", func(h *harness) error { return h.m.RemoveSymbol(h.t.Context(), "a", "ETH-USDT") }, ErrSymbolNotFound, "BTC-USDT", 1},
		{"set", func(h *harness) error {
			return h.m.SetSymbols(h.t.Context(), "a", []market.Symbol{"ETH-USDT", "SOL-USDT"})
		}, nil, "ETH-USDT,SOL-USDT", 2},
		{"the registry fails", func(h *harness) error {
			h.reg.mu.Lock()
			h.reg.err = errRegistryDown
			h.reg.mu.Unlock()
			err := h.m.AddSymbol(h.t.Context(), "a", "ETH-USDT")
			h.reg.mu.Lock()
			h.reg.err = nil
			h.reg.mu.Unlock()
			return err
		}, errRegistryDown, "BTC-USDT", 1},
		{"set the same", func(h *harness) error {
			return h.m.SetSymbols(h.t.Context(), "a", []market.Symbol{"btc-usdt"})
		}, nil, "BTC-USDT", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := newHarness(t, Config{}, nil)
				h.start(newSpec("a"))
				err := tc.op(h)
				if tc.want == errRegistryDown {
					if err == nil || !strings.Contains(err.Error(), errRegistryDown.Error()) {
						t.Fatalf("error %v, want the registry's", err)
					}
				} else if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("error %v, want %v", err, tc.want)
				}
				synctest.Wait()
				if got := strings.Join(h.status("a").Symbols, ","); got != tc.symbols {
					t.Errorf("symbols %s, want %s", got, tc.symbols)
				}
				h.reg.mu.Lock()
				stored := h.reg.specs["a"].Symbols
				h.reg.mu.Unlock()
				if got := strings.Join(symbolStrings(stored), ","); got != tc.symbols {
					t.Errorf("stored symbols %s, want %s", got, tc.symbols)
				}
				if n := len(h.f.startTimes("a")); n != tc.starts {
					t.Errorf("%d starts, want %d", n, tc.starts)
				}
				h.mustStop()
			})
		})
	}
}

// setterRunner runs until stopped and reports every SetStreams call.
type setterRunner struct {
	*fakeRunner
	sets chan []market.Stream
}

func (r *setterRunner) SetStreams(s []market.Stream) error { r.sets <- s; return nil }

// TestSymbolChangeDuringBuild: symbols changed while a run is being built
// (after the loop read the configuration, before the run is registered)
// reach that run through SetStreams.
func TestSymbolChangeDuringBuild(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		sets := make(chan []market.Stream, 1)
		added := make(chan error, 1)
		m := h.m
		m.factory = func(sp spec.Collector) (Runner, error) {
			added <- m.AddSymbol(t.Context(), sp.Name, "ETH-USDT")
			r, err := h.f.build(sp)
			if err != nil {
				return nil, err
			}
			return &setterRunner{fakeRunner: r.(*fakeRunner), sets: sets}, nil
		}
		h.start(newSpec("a"))
		if err := <-added; err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-sets:
			if len(got) != 2 {
				t.Errorf("SetStreams(%v), want the two symbols' trades", got)
			}
		default:
			t.Error("the run built from the old symbols was not given the new ones")
		}
		h.mustStop()
	})
}
