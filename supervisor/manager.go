package supervisor

import (
	"context"
	"errors"
	"fmt"
	"marketetl/spec"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// phase is where a Manager is in its life.
type phase int

const (
	phaseIdle    phase = iota // before Run: operations change the registry and the entries only
	phaseRunning              // Run is running: enabled collectors have loops
	phaseStopped              // Run has returned or is returning: operations fail with ErrStopped
)

// Manager owns the collectors: one entry per known collector, one loop per
// enabled collector while Run runs. Its methods are safe for concurrent
// use, before and while Run runs.
type Manager struct {
	cfg     Config
	factory Factory
	reg     Registry
	hist    History
	log     *zap.Logger
	red     *redactor
	runs    *runTracker
	// loops counts the loop goroutines; Run waits for them.
	loops sync.WaitGroup

	// opMu serialises the operations that change collectors (add, remove,
	// enable, disable, reconcile) and Run's start and shutdown, so that
	// the registry and the loops change in the same order.
	opMu sync.Mutex

	mu sync.Mutex // guards the fields below
	// entries holds every known collector by name.
	entries map[string]*entry
	loaded  bool
	phase   phase
	// loopParent is Run's context, the parent of every loop's context; set
	// while the manager runs.
	loopParent context.Context
	startedAt  time.Time
	lastGlobal time.Time
	// yaml is the last list given to Reconcile, by name; nil before the
	// first call.
	yaml map[string]spec.Collector
	// own, when set (RequireOwnership), limits the loops to the
	// collectors this instance owns.
	own *ownership

	// History writing outcomes, for the metrics and the logs.
	historyWritten  atomic.Uint64
	historyFailures atomic.Uint64
	historyFailing  atomic.Bool
}

// New checks cfg and returns a Manager. It does no I/O: the registry is
// read by the first operation or by Run.
func New(cfg Config, factory Factory, reg Registry, hist History) (*Manager, error) {
	if factory == nil || reg == nil || hist == nil {
		return nil, errors.New("new supervisor: a factory, a registry and a history are required")
	}
	cfg.applyDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new supervisor: %w", err)
	}
	m := &Manager{
		cfg:     cfg,
		factory: factory,
		reg:     reg,
		hist:    hist,
		log:     cfg.Log,
		red:     newRedactor(cfg.Secrets),
		runs:    newRunTracker(),
		entries: map[string]*entry{},
	}
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(newMetrics(m)); err != nil {
			return nil, fmt.Errorf("new supervisor: register metrics: %w", err)
		}
	}
	return m, nil
}

// Run starts every enabled collector and supervises them until ctx ends:
// each collector is health-checked on its interval and restarted as
// needed, a history row per collector is written every
// HealthCheckInterval, a global check runs every GlobalHealthCheckInterval
// and old history is deleted every RetentionInterval. When ctx ends, Run
// stops every collector (each within StopTimeout), writes a last history
// round and returns within ShutdownTimeout. It returns an error if the
// registry cannot be read, or naming the collectors whose runs had not
// returned by the deadline. Run may be called once.
func (m *Manager) Run(ctx context.Context) error {
	if err := m.begin(ctx); err != nil {
		if ctx.Err() != nil {
			// Told to stop while loading the registry: a shutdown, not
			// a registry that cannot be read.
			return nil
		}
		return err
	}
	m.housekeep(ctx)
	return m.shutdown(ctx)
}

// begin loads the registry and starts a loop per enabled collector.
func (m *Manager) begin(ctx context.Context) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	m.mu.Lock()
	ph := m.phase
	m.mu.Unlock()
	if ph != phaseIdle {
		return errors.New("run supervisor: Run was already called")
	}
	if err := m.load(ctx); err != nil {
		return fmt.Errorf("run supervisor: %w", err)
	}
	m.mu.Lock()
	m.phase = phaseRunning
	m.loopParent = ctx
	m.startedAt = m.cfg.Now()
	ents := m.sortedLocked()
	m.mu.Unlock()
	n := 0
	for _, e := range ents {
		if e.enabled() {
			m.startLoop(e)
			n++
		}
	}
	m.log.Info("supervisor started", zap.Int("collectors", len(ents)), zap.Int("enabled", n))
	return nil
}

// load reads the registry once; the caller holds opMu.
func (m *Manager) load(ctx context.Context) error {
	m.mu.Lock()
	loaded := m.loaded
	m.mu.Unlock()
	if loaded {
		return nil
	}
	specs, err := m.reg.Collectors(ctx)
	if err != nil {
		return fmt.Errorf("load collectors: %s", m.red.err(err))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range specs {
		if err := s.Validate(); err != nil {
			// A stored collector that no longer validates stays known (so
			// that it can be seen and removed) but is kept disabled.
			m.log.Error("stored collector configuration is invalid; keeping it disabled",
				zap.String("collector", s.Name), zap.String("error", m.red.err(err)))
			off := false
			s.Enabled = &off
		}
		m.entries[s.Name] = newEntry(s, m.log)
	}
	m.loaded = true
	return nil
}

// housekeep runs the manager-wide periodic work until ctx ends.
func (m *Manager) housekeep(ctx context.Context) {
	history := time.NewTicker(m.cfg.HealthCheckInterval)
	defer history.Stop()
	global := time.NewTicker(m.cfg.GlobalHealthCheckInterval)
	defer global.Stop()
	retention := time.NewTicker(m.cfg.RetentionInterval)
	defer retention.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-history.C:
			m.writeHistory(ctx)
		case <-global.C:
			m.globalCheck()
		case <-retention.C:
			m.deleteOldHistory(ctx)
		}
	}
}

// shutdown stops every loop, writes the last history round and waits for
// hung runs, all within ShutdownTimeout.
func (m *Manager) shutdown(ctx context.Context) error {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.ShutdownTimeout)
	defer cancel()
	m.opMu.Lock()
	m.mu.Lock()
	m.phase = phaseStopped
	ents := m.sortedLocked()
	m.mu.Unlock()
	// Every loop's context is a child of ctx, so they are all stopping
	// already; each takes at most StopTimeout.
	for _, e := range ents {
		m.stopLoop(e)
	}
	m.opMu.Unlock()
	m.loops.Wait()
	m.writeHistory(sctx)
	if left := m.runs.wait(sctx); len(left) > 0 {
		m.log.Error("collectors still running at the shutdown deadline", zap.Strings("collectors", left))
		return fmt.Errorf("supervisor shutdown: collectors %s did not stop within %s",
			strings.Join(left, ", "), m.cfg.ShutdownTimeout)
	}
	m.log.Info("supervisor stopped")
	return nil
}

// globalCheck looks across all collectors and logs the outcome.
func (m *Manager) globalCheck() {
	now := m.cfg.Now()
	m.mu.Lock()
	m.lastGlobal = now
	ents := m.sortedLocked()
	m.mu.Unlock()
	var enabled, healthy int
	var unhealthy []string
	for _, e := range ents {
		h := m.health(e, now)
		if !h.ShouldBeRunning {
			continue
		}
		enabled++
		if h.IsHealthy {
			healthy++
			continue
		}
		unhealthy = append(unhealthy, e.name+": "+strings.Join(h.Issues, "; "))
	}
	fields := []zap.Field{zap.Int("enabled", enabled), zap.Int("healthy", healthy)}
	switch {
	case enabled > 0 && healthy == 0:
		m.log.Error("global health check: no collector is healthy", append(fields, zap.Strings("unhealthy", unhealthy))...)
	case len(unhealthy) > 0:
		m.log.Warn("global health check: some collectors are unhealthy", append(fields, zap.Strings("unhealthy", unhealthy))...)
	default:
		m.log.Info("global health check", fields...)
	}
}

// sortedLocked returns the entries sorted by name; the caller holds mu.
func (m *Manager) sortedLocked() []*entry {
	out := make([]*entry, 0, len(m.entries))
	for _, e := range m.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// sorted returns the entries sorted by name.
func (m *Manager) sorted() []*entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.sortedLocked()
}

// enabled reports the entry's enabled state.
func (e *entry) enabled() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.spec.IsEnabled()
}
