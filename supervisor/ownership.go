package supervisor

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"marketetl/spec"
)

// ownership restricts the manager to the collectors this instance owns,
// when several instances share the collectors (package cluster).
type ownership struct {
	mu sync.Mutex // guards names
	// names are the collectors this instance may run.
	names map[string]bool
}

// RequireOwnership makes the manager run only the collectors it is given
// with Own (none until the first call), for a cluster of instances that
// share one collectors table. Call it before Run.
func (m *Manager) RequireOwnership() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.own == nil {
		m.own = &ownership{names: map[string]bool{}}
	}
}

// mayRun reports whether the named collector may run here: always, unless
// ownership is required and the instance does not own it.
func (m *Manager) mayRun(name string) bool {
	m.mu.Lock()
	o := m.own
	m.mu.Unlock()
	if o == nil {
		return true
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.names[name]
}

// Own makes names the collectors this instance may run (RequireOwnership):
// those no longer owned are stopped, all at once, before Own returns
// (each within StopTimeout); enabled ones newly owned, or owned and not
// running, are started. Without RequireOwnership it does nothing.
func (m *Manager) Own(ctx context.Context, names []string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	o := m.own
	m.mu.Unlock()
	if o == nil {
		return nil
	}
	if err := m.prepare(ctx); err != nil && len(names) > 0 {
		return fmt.Errorf("own collectors: %w", err)
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	o.mu.Lock()
	o.names = want
	o.mu.Unlock()
	var stopping []*loopCtl
	var starting []*entry
	for _, e := range m.sorted() {
		e.mu.Lock()
		ctl, on := e.loop, e.spec.IsEnabled()
		if ctl != nil && !want[e.name] {
			e.loop = nil
			stopping = append(stopping, ctl)
		}
		e.mu.Unlock()
		if ctl == nil && on && want[e.name] && m.running() {
			starting = append(starting, e)
		}
	}
	// Cancel every loop first, then wait: the collectors stop together.
	for _, ctl := range stopping {
		ctl.cancel()
	}
	for _, ctl := range stopping {
		<-ctl.done
	}
	for _, e := range starting {
		m.startLoop(e)
	}
	if len(stopping)+len(starting) > 0 {
		m.log.Info("owned collectors changed", zap.Int("stopped", len(stopping)), zap.Int("started", len(starting)), zap.Int("owned", len(want)))
	}
	return nil
}

// Sync reads the registry again and applies the changes another instance
// made to it (through its admin API or its configuration file): collectors
// added, removed, reconfigured, enabled or disabled. It writes nothing.
// It returns the names of the enabled collectors, sorted.
func (m *Manager) Sync(ctx context.Context) ([]string, error) {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return nil, fmt.Errorf("sync collectors: %w", err)
	}
	specs, err := m.reg.Collectors(ctx)
	if err != nil {
		return nil, fmt.Errorf("sync collectors: %s", m.red.err(err))
	}
	stored := make(map[string]bool, len(specs))
	var enabled []string
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			continue // kept as it is: load reported it
		}
		stored[s.Name] = true
		if s.IsEnabled() {
			enabled = append(enabled, s.Name)
		}
		m.syncOne(s)
	}
	for _, e := range m.sorted() {
		if stored[e.name] {
			continue
		}
		m.stopLoop(e)
		m.mu.Lock()
		delete(m.entries, e.name)
		m.mu.Unlock()
		e.log.Info("collector removed by another instance")
	}
	return enabled, nil
}

// syncOne applies s, as stored, to its entry; the caller holds opMu.
func (m *Manager) syncOne(s spec.Collector) {
	e, err := m.get(s.Name)
	if err != nil {
		ne := newEntry(s, m.log)
		m.mu.Lock()
		m.entries[s.Name] = ne
		m.mu.Unlock()
		if s.IsEnabled() && m.running() {
			m.startLoop(ne)
		}
		ne.log.Info("collector added by another instance")
		return
	}
	e.mu.Lock()
	cur := e.spec
	e.mu.Unlock()
	switch {
	case !sameConfig(&cur, &s):
		m.stopLoop(e)
		ne := newEntry(s, m.log)
		m.mu.Lock()
		m.entries[s.Name] = ne
		m.mu.Unlock()
		if s.IsEnabled() && m.running() {
			m.startLoop(ne)
		}
		ne.log.Info("collector configuration updated by another instance")
	case cur.IsEnabled() != s.IsEnabled():
		on := s.IsEnabled()
		e.mu.Lock()
		e.spec.Enabled = &on
		e.mu.Unlock()
		if on && m.running() {
			m.startLoop(e)
		} else if !on {
			m.stopLoop(e)
		}
		e.log.Info("collector enabled state changed by another instance", zap.Bool("enabled", on))
	}
}

// owns reports whether e is owned here, for the reports: a collector
// another instance owns is not expected to run here.
func (m *Manager) owns(name string) bool { return m.mayRun(name) }
