package supervisor

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"marketetl/market"
	"marketetl/spec"
)

func TestReconcile(t *testing.T) {
	type step struct {
		// before runs an operation before the step's Reconcile.
		before func(t *testing.T, m *Manager)
		specs  []spec.Collector
		want   Diff
	}
	cases := []struct {
		name string
		// stored is the registry before the manager starts.
		stored []spec.Collector
		steps  []step
		// enabled is the stored enabled state of each collector at the end
		// (absent: not stored).
		enabled map[string]bool
	}{
		{
			name: "seed an empty database",
			steps: []step{{
				specs: []spec.Collector{newSpec("a"), newSpec("b", disabled)},
				want:  Diff{Added: []string{"a", "b"}},
			}},
			enabled: map[string]bool{"a": true, "b": false},
		},
		{
			name:   "a stored enabled state wins over the file at startup",
			stored: []spec.Collector{newSpec("a", disabled), newSpec("b", enabledSpec)},
			steps: []step{{
				specs: []spec.Collector{newSpec("a", enabledSpec), newSpec("b", disabled)},
				want:  Diff{Unchanged: []string{"a", "b"}},
			}},
			enabled: map[string]bool{"a": false, "b": true},
		},
		{
			name:   "collectors added at runtime are kept",
			stored: []spec.Collector{newSpec("api", enabledSpec)},
			steps: []step{
				{specs: []spec.Collector{newSpec("a")}, want: Diff{Added: []string{"a"}}},
				{specs: []spec.Collector{newSpec("a")}, want: Diff{Unchanged: []string{"a"}}},
			},
			enabled: map[string]bool{"a": true, "api": true},
		},
		{
			name:   "the file's configuration wins",
			stored: []spec.Collector{newSpec("a", disabled)},
			steps: []step{{
				specs: []spec.Collector{newSpec("a", withInterval(7*time.Second))},
				want:  Diff{Updated: []string{"a"}},
			}},
			enabled: map[string]bool{"a": false},
		},
		{
			name:   "a change of symbols only is applied without a restart",
			stored: []spec.Collector{newSpec("a", disabled)},
			steps: []step{{
				specs: []spec.Collector{newSpec("a", withSymbols("BTC-USDT", "ETH-USDT"))},
				want:  Diff{Resubscribed: []string{"a"}},
			}},
			enabled: map[string]bool{"a": false},
		},
		{
			name: "a change of enabled in the file is applied on reload",
			steps: []step{
				{specs: []spec.Collector{newSpec("a"), newSpec("b", disabled)}, want: Diff{Added: []string{"a", "b"}}},
				{specs: []spec.Collector{newSpec("a", disabled), newSpec("b", enabledSpec)},
					want: Diff{Enabled: []string{"b"}, Disabled: []string{"a"}}},
			},
			enabled: map[string]bool{"a": false, "b": true},
		},
		{
			name: "an unchanged file does not undo a runtime disable",
			steps: []step{
				{specs: []spec.Collector{newSpec("a")}, want: Diff{Added: []string{"a"}}},
				{
					before: func(t *testing.T, m *Manager) {
						if err := m.Disable(t.Context(), "a"); err != nil {
							t.Fatal(err)
						}
					},
					specs: []spec.Collector{newSpec("a")}, want: Diff{Unchanged: []string{"a"}},
				},
			},
			enabled: map[string]bool{"a": false},
		},
		{
			name: "removed from the file is removed",
			steps: []step{
				{specs: []spec.Collector{newSpec("a"), newSpec("b")}, want: Diff{Added: []string{"a", "b"}}},
				{specs: []spec.Collector{newSpec("a")}, want: Diff{Unchanged: []string{"a"}, Removed: []string{"b"}}},
			},
			enabled: map[string]bool{"a": true},
		},
		{
			name: "removed at runtime stays removed while the file does not change it",
			steps: []step{
				{specs: []spec.Collector{newSpec("a"), newSpec("b")}, want: Diff{Added: []string{"a", "b"}}},
				{
					before: func(t *testing.T, m *Manager) {
						if err := m.Remove(t.Context(), "b"); err != nil {
							t.Fatal(err)
						}
					},
					specs: []spec.Collector{newSpec("a"), newSpec("b")}, want: Diff{Unchanged: []string{"a"}, Skipped: []string{"b"}},
				},
				{specs: []spec.Collector{newSpec("a"), newSpec("b", withSymbols("ETH-USDT"))}, want: Diff{Unchanged: []string{"a"}, Added: []string{"b"}}},
			},
			enabled: map[string]bool{"a": true, "b": true},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, newRegistry(tc.stored...))
			for i, st := range tc.steps {
				if st.before != nil {
					st.before(t, h.m)
				}
				got, err := h.m.Reconcile(t.Context(), st.specs)
				if err != nil {
					t.Fatalf("step %d: Reconcile: %v", i, err)
				}
				if !sameDiff(got, st.want) {
					t.Errorf("step %d: diff = %+v, want %+v", i, got, st.want)
				}
			}
			for name, want := range tc.enabled {
				got, stored := h.reg.enabled(name)
				if !stored || got != want {
					t.Errorf("%s: stored=%v enabled=%v, want enabled=%v", name, stored, got, want)
				}
			}
			if got, want := h.m.List(), sortedNames(tc.enabled); !slices.Equal(got, want) {
				t.Errorf("List() = %v, want %v", got, want)
			}
		})
	}
}

func sameDiff(a, b Diff) bool {
	eq := func(x, y []string) bool { return len(x) == 0 && len(y) == 0 || slices.Equal(x, y) }
	return eq(a.Added, b.Added) && eq(a.Removed, b.Removed) && eq(a.Updated, b.Updated) &&
		eq(a.Enabled, b.Enabled) && eq(a.Disabled, b.Disabled) && eq(a.Unchanged, b.Unchanged) && eq(a.Skipped, b.Skipped)
}

func TestReconcileRefusesInvalidFiles(t *testing.T) {
	cases := []struct {
		name  string
		specs []spec.Collector
	}{
		{"invalid spec", []spec.Collector{newSpec("a"), newSpec("b", func(s *spec.Collector) { s.Exchange = "bitstamp" })}},
		{"duplicate name", []spec.Collector{newSpec("a"), newSpec("a")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{}, nil)
			_, err := h.m.Reconcile(t.Context(), tc.specs)
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("Reconcile = %v, want ErrInvalidSpec", err)
			}
			if got := h.m.List(); len(got) != 0 {
				t.Errorf("collectors %v added although the file was refused", got)
			}
		})
	}
}

func TestOperationErrors(t *testing.T) {
	h := newHarness(t, Config{}, newRegistry(newSpec("a", enabledSpec)))
	ctx := t.Context()
	cases := []struct {
		name string
		op   func() error
		want error
	}{
		{"add invalid", func() error { return h.m.Add(ctx, newSpec("Bad Name")) }, ErrInvalidSpec},
		{"add existing", func() error { return h.m.Add(ctx, newSpec("a")) }, ErrExists},
		{"remove unknown", func() error { return h.m.Remove(ctx, "zz") }, ErrNotFound},
		{"enable unknown", func() error { return h.m.Enable(ctx, "zz") }, ErrNotFound},
		{"disable unknown", func() error { return h.m.Disable(ctx, "zz") }, ErrNotFound},
		{"restart before Run", func() error { return h.m.Restart("a") }, ErrStopped},
		{"status unknown", func() error { _, err := h.m.Status("zz"); return err }, ErrNotFound},
		{"health unknown", func() error { _, err := h.m.Health("zz"); return err }, ErrNotFound},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, tc.want) {
				t.Errorf("error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRegistryFailureChangesNothing(t *testing.T) {
	h := newHarness(t, Config{}, newRegistry(newSpec("a", enabledSpec)))
	if _, err := h.m.Reconcile(t.Context(), nil); err != nil {
		t.Fatal(err)
	}
	h.reg.mu.Lock()
	h.reg.err = errors.New("connection reset")
	h.reg.mu.Unlock()
	if err := h.m.Disable(t.Context(), "a"); err == nil {
		t.Fatal("Disable succeeded although the registry failed")
	}
	if err := h.m.Add(t.Context(), newSpec("b")); err == nil {
		t.Fatal("Add succeeded although the registry failed")
	}
	if err := h.m.Remove(t.Context(), "a"); err == nil {
		t.Fatal("Remove succeeded although the registry failed")
	}
	st := h.status("a")
	if !st.Enabled || !slices.Equal(h.m.List(), []string{"a"}) {
		t.Errorf("state changed: enabled=%v list=%v", st.Enabled, h.m.List())
	}
}

func TestOperationsWhileRunning(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, Config{}, nil)
		h.start(newSpec("a"), newSpec("b", disabled))
		ctx := t.Context()
		starts := func(name string) int { return len(h.f.startTimes(name)) }

		if starts("a") != 1 || starts("b") != 0 {
			t.Fatalf("starts a=%d b=%d, want 1 and 0", starts("a"), starts("b"))
		}
		if err := h.m.Enable(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if starts("b") != 1 || h.status("b").Status != StateRunning {
			t.Errorf("b after enable: %d starts, status %s", starts("b"), h.status("b").Status)
		}
		if err := h.m.Disable(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if st := h.status("a"); st.Status != StateStopped || st.IsRunning || st.ShouldBeRunning {
			t.Errorf("a after disable: status %s running %v should %v", st.Status, st.IsRunning, st.ShouldBeRunning)
		}
		if hr, _ := h.m.Health("a"); hr.IsHealthy || !slices.Equal(hr.Issues, []string{"disabled"}) {
			t.Errorf("a's health after disable: %+v", hr)
		}
		if err := h.m.Add(ctx, newSpec("c", func(s *spec.Collector) { s.Exchange = market.Binance })); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if starts("c") != 1 {
			t.Errorf("c started %d times after Add, want 1", starts("c"))
		}
		if err := h.m.Remove(ctx, "b"); err != nil {
			t.Fatal(err)
		}
		if got := h.m.Running(); !slices.Equal(got, []string{"c"}) {
			t.Errorf("Running() = %v, want [c]", got)
		}
		if _, stored := h.reg.enabled("b"); stored {
			t.Error("b is still stored after Remove")
		}
		// Enabling twice, or disabling a disabled collector, does nothing.
		if err := h.m.Disable(ctx, "a"); err != nil {
			t.Errorf("second Disable: %v", err)
		}
		if err := h.m.Enable(ctx, "c"); err != nil {
			t.Errorf("Enable of an enabled collector: %v", err)
		}
		synctest.Wait()
		if starts("c") != 1 {
			t.Errorf("c started %d times, want 1", starts("c"))
		}
		// A configuration change through the file restarts the collector.
		if _, err := h.m.Reconcile(ctx, []spec.Collector{newSpec("a", disabled), newSpec("c", withSymbols("ETH-USDT"), func(s *spec.Collector) { s.Exchange = market.Binance })}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if starts("c") != 2 {
			t.Errorf("c started %d times after its configuration changed, want 2", starts("c"))
		}
		h.mustStop()
		if err := h.m.Enable(ctx, "a"); !errors.Is(err, ErrStopped) {
			t.Errorf("Enable after Run returned = %v, want ErrStopped", err)
		}
	})
}
