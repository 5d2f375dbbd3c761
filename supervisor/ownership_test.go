package supervisor

import (
	"slices"
	"testing"
	"testing/synctest"

	"marketetl/market"
)

// With ownership required, only owned enabled collectors run; Own starts
// and stops them; the reports and the history leave the others to their
// owner.
func TestOwnRunsOnlyOwnedCollectors(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.m.RequireOwnership()
		h.start(newSpec("a"), newSpec("b"), newSpec("c", disabled))
		defer h.mustStop()
		if got := h.m.Running(); len(got) != 0 {
			t.Fatalf("running before Own: %v", got)
		}
		if err := h.m.Own(t.Context(), []string{"a", "c"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.m.Running(); !slices.Equal(got, []string{"a"}) {
			t.Fatalf("running after Own(a, c): %v, want [a] (c is disabled)", got)
		}
		if r := h.status("b"); r.ShouldBeRunning || r.Health.Issues[0] != "not owned by this instance" {
			t.Errorf("b's report: should_be_running %t, issues %v", r.ShouldBeRunning, r.Health.Issues)
		}
		rows := h.m.historyRows(h.m.cfg.Now())
		var names []string
		for _, r := range rows {
			names = append(names, r.Collector)
		}
		if !slices.Equal(names, []string{"a", "c"}) {
			t.Errorf("history rows for %v, want only the owned a and c", names)
		}
		if err := h.m.Own(t.Context(), []string{"b"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.m.Running(); !slices.Equal(got, []string{"b"}) {
			t.Fatalf("running after Own(b): %v", got)
		}
		if err := h.m.Own(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.m.Running(); len(got) != 0 {
			t.Fatalf("running after Own(nil): %v", got)
		}
	})
}

// Without RequireOwnership, Own changes nothing: a single instance runs
// every enabled collector.
func TestOwnWithoutOwnershipDoesNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.start(newSpec("a"), newSpec("b"))
		defer h.mustStop()
		if err := h.m.Own(t.Context(), nil); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.m.Running(); !slices.Equal(got, []string{"a", "b"}) {
			t.Fatalf("running: %v", got)
		}
	})
}

// Sync applies what another instance changed in the shared registry:
// added, removed, reconfigured, enabled and disabled collectors, without
// writing anything.
func TestSyncAppliesOtherInstancesChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := newRegistry()
		h := newHarness(t, Config{}, reg)
		h.m.RequireOwnership()
		h.start(newSpec("a"), newSpec("b"), newSpec("c", disabled))
		defer h.mustStop()
		if err := h.m.Own(t.Context(), []string{"a", "b", "c", "d"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		starts := len(h.f.startTimes("a"))
		// Another instance: removes b, enables c, adds d, changes a's symbols.
		reg.mu.Lock()
		delete(reg.specs, "b")
		c := reg.specs["c"]
		on := true
		c.Enabled = &on
		reg.specs["c"] = c
		d := newSpec("d")
		d.Enabled = &on
		reg.specs["d"] = d
		a := reg.specs["a"]
		a.Symbols = []market.Symbol{"ETH-USDT"}
		reg.specs["a"] = a
		reg.mu.Unlock()

		enabled, err := h.m.Sync(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if !slices.Equal(enabled, []string{"a", "c", "d"}) {
			t.Errorf("Sync = %v, want [a c d]", enabled)
		}
		if got := h.m.List(); !slices.Equal(got, []string{"a", "c", "d"}) {
			t.Errorf("known after Sync: %v", got)
		}
		if got := h.m.Running(); !slices.Equal(got, []string{"a", "c", "d"}) {
			t.Errorf("running after Sync: %v", got)
		}
		if got := len(h.f.startTimes("a")); got != starts+1 {
			t.Errorf("a started %d times, want %d (restarted with its new symbols)", got, starts+1)
		}
		if r := h.status("a"); !slices.Equal(r.Symbols, []string{"ETH-USDT"}) {
			t.Errorf("a's symbols %v", r.Symbols)
		}
		// Disabled elsewhere: stopped here.
		reg.mu.Lock()
		off := false
		c.Enabled = &off
		reg.specs["c"] = c
		reg.mu.Unlock()
		if _, err := h.m.Sync(t.Context()); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if got := h.m.Running(); !slices.Equal(got, []string{"a", "d"}) {
			t.Errorf("running after c was disabled elsewhere: %v", got)
		}
	})
}
