package supervisor

import (
	"context"
	"marketetl/spec"
	"sync"
	"testing"
	"testing/synctest"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// harness runs a Manager over fakes. Inside a synctest bubble its clock is
// the bubble's.
type harness struct {
	t      *testing.T
	m      *Manager
	f      *fakeFactory
	reg    *fakeRegistry
	hist   *fakeHistory
	logs   *observer.ObservedLogs
	cancel context.CancelFunc
	errc   chan error
}

// newHarness builds a Manager with cfg over a fresh factory, registry and
// history; a nil cfg.Rand is replaced by a constant 0.5 (no jitter).
func newHarness(t *testing.T, cfg Config, reg *fakeRegistry) *harness {
	t.Helper()
	if reg == nil {
		reg = newRegistry()
	}
	if cfg.Rand == nil {
		cfg.Rand = func() float64 { return 0.5 }
	}
	core, logs := observer.New(zap.DebugLevel)
	cfg.Log = zap.New(core)
	h := &harness{t: t, f: newFactory(), reg: reg, hist: &fakeHistory{}, logs: logs}
	m, err := New(cfg, h.f.build, h.reg, h.hist)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.m = m
	return h
}

// start seeds specs with Reconcile and runs the manager until stop.
func (h *harness) start(specs ...spec.Collector) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(h.t.Context())
	if _, err := h.m.Reconcile(ctx, specs); err != nil {
		cancel()
		h.t.Fatalf("Reconcile: %v", err)
	}
	h.cancel = cancel
	h.errc = make(chan error, 1)
	go func() { h.errc <- h.m.Run(ctx) }()
	synctest.Wait()
}

// stop ends Run and returns its error.
func (h *harness) stop() error {
	h.cancel()
	return <-h.errc
}

// mustStop ends Run and fails the test on an error.
func (h *harness) mustStop() {
	h.t.Helper()
	if err := h.stop(); err != nil {
		h.t.Fatalf("Run: %v", err)
	}
}

// status returns name's report or fails the test.
func (h *harness) status(name string) CollectorReport {
	h.t.Helper()
	r, err := h.m.Status(name)
	if err != nil {
		h.t.Fatalf("Status(%s): %v", name, err)
	}
	return r
}

// logged returns the log entries with message msg.
func (h *harness) logged(msg string) []observer.LoggedEntry {
	return h.logs.FilterMessage(msg).All()
}

// sequence returns a Rand that yields vals in turn, then repeats the last.
func sequence(vals ...float64) func() float64 {
	var mu sync.Mutex
	i := 0
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		v := vals[min(i, len(vals)-1)]
		i++
		return v
	}
}
