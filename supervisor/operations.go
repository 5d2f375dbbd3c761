package supervisor

import (
	"context"
	"errors"
	"fmt"
	"marketetl/spec"
	"reflect"
	"sort"

	"go.uber.org/zap"
)

// prepare loads the registry if needed and refuses operations once the
// manager has stopped. The caller holds opMu.
func (m *Manager) prepare(ctx context.Context) error {
	m.mu.Lock()
	ph := m.phase
	m.mu.Unlock()
	if ph == phaseStopped {
		return ErrStopped
	}
	return m.load(ctx)
}

// running reports whether loops are to be started.
func (m *Manager) running() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.phase == phaseRunning
}

func (m *Manager) get(name string) (*entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.entries[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return e, nil
}

// Add adds a collector, stores it and, when it is enabled (Enabled nil
// means enabled) and the manager runs, starts it. It fails with
// ErrInvalidSpec, ErrExists, ErrStopped or the registry's error.
func (m *Manager) Add(ctx context.Context, spec spec.Collector) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("add collector: %w: %w", ErrInvalidSpec, err)
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return fmt.Errorf("add collector %s: %w", spec.Name, err)
	}
	if _, err := m.get(spec.Name); err == nil {
		return fmt.Errorf("add collector: %w: %q", ErrExists, spec.Name)
	}
	return m.add(ctx, spec)
}

// add stores spec and starts it; the caller holds opMu.
func (m *Manager) add(ctx context.Context, spec spec.Collector) error {
	enabled := spec.IsEnabled()
	spec.Enabled = &enabled
	if err := m.reg.PutCollector(ctx, spec); err != nil {
		return fmt.Errorf("add collector %s: store: %s", spec.Name, m.red.err(err))
	}
	e := newEntry(spec, m.log)
	m.mu.Lock()
	m.entries[spec.Name] = e
	m.mu.Unlock()
	if enabled && m.running() {
		m.startLoop(e)
	}
	e.log.Info("collector added", zap.Bool("enabled", enabled))
	return nil
}

// Remove stops the named collector and forgets it, in the registry too.
func (m *Manager) Remove(ctx context.Context, name string) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return fmt.Errorf("remove collector %s: %w", name, err)
	}
	e, err := m.get(name)
	if err != nil {
		return fmt.Errorf("remove collector: %w", err)
	}
	return m.remove(ctx, e)
}

// remove deletes e from the registry, stops it and forgets it; the caller
// holds opMu.
func (m *Manager) remove(ctx context.Context, e *entry) error {
	if err := m.reg.DeleteCollector(ctx, e.name); err != nil {
		return fmt.Errorf("remove collector %s: store: %s", e.name, m.red.err(err))
	}
	m.stopLoop(e)
	m.mu.Lock()
	delete(m.entries, e.name)
	m.mu.Unlock()
	e.log.Info("collector removed")
	return nil
}

// Enable enables the named collector, stores that and, when the manager
// runs, starts it afresh (its failure count reset). Enabling an enabled
// collector does nothing.
func (m *Manager) Enable(ctx context.Context, name string) error {
	return m.setEnabled(ctx, name, true)
}

// Disable stops the named collector (within StopTimeout) and stores that it
// is disabled, so that it stays stopped across restarts of the service.
// Disabling a disabled collector does nothing.
func (m *Manager) Disable(ctx context.Context, name string) error {
	return m.setEnabled(ctx, name, false)
}

func (m *Manager) setEnabled(ctx context.Context, name string, on bool) error {
	verb := map[bool]string{true: "enable", false: "disable"}[on]
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return fmt.Errorf("%s collector %s: %w", verb, name, err)
	}
	e, err := m.get(name)
	if err != nil {
		return fmt.Errorf("%s collector: %w", verb, err)
	}
	return m.setEnabledEntry(ctx, e, on)
}

// setEnabledEntry stores e's enabled state and starts or stops it; the
// caller holds opMu.
func (m *Manager) setEnabledEntry(ctx context.Context, e *entry, on bool) error {
	e.mu.Lock()
	spec := e.spec
	e.mu.Unlock()
	if spec.IsEnabled() == on {
		return nil
	}
	spec.Enabled = &on
	if err := m.reg.PutCollector(ctx, spec); err != nil {
		return fmt.Errorf("set collector %s enabled=%t: store: %s", e.name, on, m.red.err(err))
	}
	e.mu.Lock()
	e.spec.Enabled = &on
	e.mu.Unlock()
	if on {
		if m.running() {
			m.startLoop(e)
		}
		e.log.Info("collector enabled")
		return nil
	}
	m.stopLoop(e)
	e.log.Info("collector disabled")
	return nil
}

// Restart asks the named collector's loop to stop its run and start it
// again at once, resetting its failure count (also when it is failed). It
// returns without waiting. It fails with ErrNotFound, ErrDisabled or
// ErrStopped (also before Run).
func (m *Manager) Restart(name string) error {
	e, err := m.get(name)
	if err != nil {
		return fmt.Errorf("restart collector: %w", err)
	}
	e.mu.Lock()
	ctl, enabled := e.loop, e.spec.IsEnabled()
	e.mu.Unlock()
	switch {
	case !enabled:
		return fmt.Errorf("restart collector %s: %w: enable it instead", name, ErrDisabled)
	case ctl == nil:
		return fmt.Errorf("restart collector %s: %w", name, ErrStopped)
	}
	select {
	case ctl.restart <- struct{}{}:
		e.log.Info("collector restart requested")
	default: // a restart is already pending
	}
	return nil
}

// RestartAll asks every enabled collector to restart, as Restart does, and
// returns their names.
func (m *Manager) RestartAll() ([]string, error) {
	if !m.running() {
		return nil, fmt.Errorf("restart all collectors: %w", ErrStopped)
	}
	var out []string
	for _, e := range m.sorted() {
		if err := m.Restart(e.name); err == nil {
			out = append(out, e.name)
		}
	}
	return out, nil
}

// List returns the collectors' names, sorted.
func (m *Manager) List() []string {
	var out []string
	for _, e := range m.sorted() {
		out = append(out, e.name)
	}
	return out
}

// Status returns the named collector's status.
func (m *Manager) Status(name string) (CollectorReport, error) {
	e, err := m.get(name)
	if err != nil {
		return CollectorReport{}, err
	}
	s := m.snap(e, m.cfg.Now())
	return m.collectorReport(&s), nil
}

// Statuses returns every collector's status, sorted by name.
func (m *Manager) Statuses() []CollectorReport {
	now := m.cfg.Now()
	ents := m.sorted()
	out := make([]CollectorReport, 0, len(ents))
	for _, e := range ents {
		s := m.snap(e, now)
		out = append(out, m.collectorReport(&s))
	}
	return out
}

// Health returns the named collector's health, judged now.
func (m *Manager) Health(name string) (HealthReport, error) {
	e, err := m.get(name)
	if err != nil {
		return HealthReport{}, err
	}
	return m.health(e, m.cfg.Now()), nil
}

// Healths returns every collector's health, sorted by name.
func (m *Manager) Healths() []HealthReport {
	now := m.cfg.Now()
	ents := m.sorted()
	out := make([]HealthReport, 0, len(ents))
	for _, e := range ents {
		out = append(out, m.health(e, now))
	}
	return out
}

// Running returns the names of the collectors in state running.
func (m *Manager) Running() []string { return m.inState(StateRunning) }

// Failed returns the names of the collectors in state failed.
func (m *Manager) Failed() []string { return m.inState(StateFailed) }

func (m *Manager) inState(s State) []string {
	var out []string
	for _, e := range m.sorted() {
		e.mu.Lock()
		st := e.state
		e.mu.Unlock()
		if st == s {
			out = append(out, e.name)
		}
	}
	return out
}

// Diff is what Reconcile changed, by collector name (each list sorted).
type Diff struct {
	Added   []string `json:"added"`
	Removed []string `json:"removed"`
	// Updated collectors had their configuration changed (and were
	// restarted if running).
	Updated []string `json:"updated"`
	// Resubscribed collectors had only their symbols changed: a running
	// one subscribed and unsubscribed the difference without a restart,
	// its other streams keeping their connections.
	Resubscribed []string `json:"resubscribed"`
	Enabled      []string `json:"enabled"`
	Disabled     []string `json:"disabled"`
	// Unchanged collectors needed nothing.
	Unchanged []string `json:"unchanged"`
	// Skipped collectors are listed in the file but were removed at
	// runtime since the previous read of the file.
	Skipped []string `json:"skipped"`
}

// Empty reports whether nothing changed.
func (d *Diff) Empty() bool {
	return len(d.Added)+len(d.Removed)+len(d.Updated)+len(d.Resubscribed)+len(d.Enabled)+len(d.Disabled) == 0
}

// Reconcile applies the collectors of the YAML file (at startup, to seed,
// and on SIGHUP) to the manager, changing only what differs:
//
//   - A listed collector unknown to the manager is added and stored, enabled
//     as the file says; unless it was removed at runtime since the
//     previous call, with the file's entry for it unchanged (skipped).
//   - A listed, known collector takes its configuration (everything but
//     enabled) from the file; if that changed, it is updated and
//     restarted, except when only its symbols changed (and not its
//     enabled state): then the running collector subscribes and
//     unsubscribes the difference without a restart (Resubscribed). Its enabled state is kept as stored (a runtime enable or
//     disable wins), unless the file's enabled changed since the previous
//     call, which is then applied.
//   - A known collector not listed is kept (it was added at runtime), unless
//     it was listed at the previous call: it was deleted from the file and
//     is removed.
//
// At the first call (at startup) there is no previous call, so nothing is
// removed and every stored enabled state is kept. specs are validated
// first, all of them: any error (ErrInvalidSpec) changes nothing. Changes
// are then applied one collector at a time; on a registry error Reconcile
// stops and returns what it applied with the error.
func (m *Manager) Reconcile(ctx context.Context, specs []spec.Collector) (Diff, error) {
	var d Diff
	want := make(map[string]spec.Collector, len(specs))
	var errs []error
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("collector %q: %w", s.Name, err))
		}
		if _, dup := want[s.Name]; dup {
			errs = append(errs, fmt.Errorf("collector %q: listed twice", s.Name))
		}
		want[s.Name] = s
	}
	if len(errs) > 0 {
		return d, fmt.Errorf("reconcile collectors: %w: %w", ErrInvalidSpec, errors.Join(errs...))
	}
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return d, fmt.Errorf("reconcile collectors: %w", err)
	}
	m.mu.Lock()
	prev := m.yaml
	m.mu.Unlock()

	for _, name := range sortedNames(want) {
		s := want[name]
		p, inPrev := prev[name]
		e, err := m.get(name)
		if err != nil {
			if inPrev && sameConfig(&p, &s) && p.IsEnabled() == s.IsEnabled() {
				d.Skipped = append(d.Skipped, name)
				continue
			}
			if err := m.add(ctx, s); err != nil {
				return d, fmt.Errorf("reconcile collectors: %w", err)
			}
			d.Added = append(d.Added, name)
			continue
		}
		e.mu.Lock()
		cur := e.spec
		e.mu.Unlock()
		on := cur.IsEnabled()
		if inPrev && p.IsEnabled() != s.IsEnabled() {
			on = s.IsEnabled()
		}
		switch {
		case on == cur.IsEnabled() && onlySymbolsDiffer(&cur, &s):
			if err := m.setSymbolsEntry(ctx, e, s.Symbols); err != nil {
				return d, fmt.Errorf("reconcile collectors: collector %s: %w", name, err)
			}
			d.Resubscribed = append(d.Resubscribed, name)
			continue
		case !sameConfig(&cur, &s):
			s.Enabled = &on
			if err := m.replace(ctx, e, s); err != nil {
				return d, fmt.Errorf("reconcile collectors: %w", err)
			}
			d.Updated = append(d.Updated, name)
		case on != cur.IsEnabled():
			if err := m.setEnabledEntry(ctx, e, on); err != nil {
				return d, fmt.Errorf("reconcile collectors: %w", err)
			}
		default:
			d.Unchanged = append(d.Unchanged, name)
			continue
		}
		if on != cur.IsEnabled() {
			if on {
				d.Enabled = append(d.Enabled, name)
			} else {
				d.Disabled = append(d.Disabled, name)
			}
		}
	}
	for _, name := range sortedNames(prev) {
		if _, listed := want[name]; listed {
			continue
		}
		e, err := m.get(name)
		if err != nil {
			continue // already removed at runtime
		}
		if err := m.remove(ctx, e); err != nil {
			return d, fmt.Errorf("reconcile collectors: %w", err)
		}
		d.Removed = append(d.Removed, name)
	}
	m.mu.Lock()
	m.yaml = want
	m.mu.Unlock()
	sort.Strings(d.Enabled)
	sort.Strings(d.Disabled)
	if !d.Empty() {
		m.log.Info("collectors reconciled", zap.Strings("added", d.Added), zap.Strings("removed", d.Removed),
			zap.Strings("updated", d.Updated), zap.Strings("resubscribed", d.Resubscribed), zap.Strings("enabled", d.Enabled), zap.Strings("disabled", d.Disabled))
	}
	return d, nil
}

// replace stores spec as e's new configuration and swaps in a fresh entry
// (counters and failure state start afresh), restarting it if it runs.
// The caller holds opMu.
func (m *Manager) replace(ctx context.Context, e *entry, spec spec.Collector) error {
	if err := m.reg.PutCollector(ctx, spec); err != nil {
		return fmt.Errorf("update collector %s: store: %s", spec.Name, m.red.err(err))
	}
	m.stopLoop(e)
	ne := newEntry(spec, m.log)
	m.mu.Lock()
	m.entries[spec.Name] = ne
	m.mu.Unlock()
	if spec.IsEnabled() && m.running() {
		m.startLoop(ne)
	}
	ne.log.Info("collector configuration updated")
	return nil
}

// sameConfig reports whether a and b configure the same collector, their
// enabled state aside.
func sameConfig(a, b *spec.Collector) bool {
	ca, cb := canonical(*a), canonical(*b)
	return reflect.DeepEqual(ca, cb)
}

// canonical clears what does not change a collector's configuration:
// enabled, the default of auto_restart, and empty versus absent lists.
func canonical(s spec.Collector) spec.Collector {
	s.Enabled = nil
	auto := s.RestartsAutomatically()
	s.AutoRestart = &auto
	if len(s.Symbols) == 0 {
		s.Symbols = nil
	}
	if len(s.DataTypes) == 0 {
		s.DataTypes = nil
	}
	if len(s.Timeframes) == 0 {
		s.Timeframes = nil
	}
	if len(s.MaxSilenceByType) == 0 {
		s.MaxSilenceByType = nil
	}
	return s
}
