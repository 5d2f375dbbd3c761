package e2e

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"marketetl/dispatch"
	"marketetl/market"
)

// TestCallbacksNeverHoldUpTheStore runs the service's embedding API against
// the simulated exchange with three trade callbacks: one that keeps up (and
// asks for backpressure, so it must see every trade), one stuck for the
// whole test (drop policy: it loses exactly what overflows its queue) and
// one that panics on every third trade. The database still holds exactly
// what the exchange published, and every counter is exact.
func TestCallbacksNeverHoldUpTheStore(t *testing.T) {
	r := startRig(t, market.Binance, []market.DataType{market.TypeTrade})
	ctx := t.Context()
	gate := make(chan struct{})
	t.Cleanup(func() { close(gate) }) // runs before the rig stops the service

	var mu sync.Mutex
	seen := map[market.Symbol][]string{}
	if _, err := r.svc.OnTrade(dispatch.Filter{}, func(tr *market.Trade) {
		mu.Lock()
		defer mu.Unlock()
		seen[tr.Symbol] = append(seen[tr.Symbol], tr.TradeID)
	}, dispatch.Options{Name: "keeps-up", Policy: dispatch.PolicyBlock}); err != nil {
		t.Fatal(err)
	}
	const slowQueue = 8
	if _, err := r.svc.OnTrade(dispatch.Filter{}, func(*market.Trade) { <-gate }, dispatch.Options{Name: "stuck", Queue: slowQueue}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.svc.OnTrade(dispatch.Filter{}, func(tr *market.Trade) {
		if n, _ := tr.NumericID(); n%3 == 0 {
			panic("callback failure " + tr.TradeID)
		}
	}, dispatch.Options{Name: "panics"}); err != nil {
		t.Fatal(err)
	}
	// Another exchange's filter matches nothing here.
	if _, err := r.svc.OnTrade(dispatch.Filter{Exchanges: []market.Exchange{market.OKX}}, func(*market.Trade) {
		t.Error("a callback filtered on okx got a binance trade")
	}, dispatch.Options{Name: "other-exchange"}); err != nil {
		t.Fatal(err)
	}

	if err := r.sim.Step(ctx, 120); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every trade stored", func() (bool, string) {
		want := 0
		for _, sym := range r.sim.Symbols(r.ex) {
			want += len(r.sim.Trades(r.ex, sym))
		}
		n := r.count(ctx, "SELECT count(*) FROM trades")
		return n == want, fmt.Sprintf("%d of %d trades stored", n, want)
	})
	total, panics := 0, 0
	for _, sym := range r.sim.Symbols(r.ex) {
		r.checkTrades(ctx, sym)
		for _, tr := range r.sim.Trades(r.ex, sym) {
			total++
			if n, _ := tr.NumericID(); n%3 == 0 {
				panics++
			}
		}
	}
	stats := func() map[string]dispatch.Stats {
		out := map[string]dispatch.Stats{}
		for _, s := range r.svc.Callbacks().Stats() {
			out[s.Name] = s
		}
		return out
	}
	eventually(t, "every callback counted", func() (bool, string) {
		st := stats()
		return st["keeps-up"].Delivered == uint64(total) && st["panics"].Delivered+st["panics"].Panics == uint64(total),
			fmt.Sprintf("%+v", st)
	})
	st := stats()
	// The stuck callback holds one trade and its full queue; the rest
	// were dropped, and counted.
	if s := st["stuck"]; s.Dropped != uint64(total-slowQueue-1) || s.Queued != slowQueue || s.Delivered != 0 {
		t.Errorf("stuck: %+v, want %d dropped and %d queued of %d", s, total-slowQueue-1, slowQueue, total)
	}
	if s := st["panics"]; s.Panics != uint64(panics) || s.Delivered != uint64(total-panics) {
		t.Errorf("panics: %+v, want %d panics and %d delivered", s, panics, total-panics)
	}
	// The callback that kept up saw every trade in the exchange's order.
	mu.Lock()
	defer mu.Unlock()
	for _, sym := range r.sim.Symbols(r.ex) {
		var want []string
		for _, tr := range r.sim.Trades(r.ex, sym) {
			want = append(want, tr.TradeID)
		}
		if got := strings.Join(seen[sym], ","); got != strings.Join(want, ",") {
			t.Errorf("%s: the callback saw %d trades, not the exchange's %d in order", sym, len(seen[sym]), len(want))
		}
	}
	// The counters are in the status and the metrics.
	if cb, ok := r.svc.Components()["callbacks"].([]dispatch.Stats); !ok || len(cb) != 4 {
		t.Errorf("status components.callbacks = %v", r.svc.Components()["callbacks"])
	}
	mfs, err := r.svc.Metrics().Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, mf := range mfs {
		found = found || mf.GetName() == "etl_callback_dropped_total"
	}
	if !found {
		t.Error("etl_callback_dropped_total is not exposed")
	}
}
