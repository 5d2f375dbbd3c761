package collector

import (
	"context"
	"sort"
	"sync"
	"time"

	"marketetl/market"
)

// memChecks is the CandleChecks of a collector configured without one: a
// list in memory, lost when the collector stops. Safe for concurrent use.
type memChecks struct {
	mu     sync.Mutex // guards checks
	checks map[checkKey]*memCheck
}

type checkKey struct {
	stream market.Stream
	open   time.Time
}

type memCheck struct {
	market.CandleCheck
	abandoned bool
}

var _ CandleChecks = (*memChecks)(nil)

func newMemChecks() *memChecks { return &memChecks{checks: map[checkKey]*memCheck{}} }

func keyOf(c market.CandleCheck) checkKey { return checkKey{stream: c.Stream, open: c.Time.UTC()} }

// Add implements CandleChecks.
func (m *memChecks) Add(_ context.Context, checks []market.CandleCheck) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range checks {
		k := keyOf(c)
		old, ok := m.checks[k]
		switch {
		case !ok:
			m.checks[k] = &memCheck{CandleCheck: c}
		case c.Reason == market.CheckProvisional:
			old.Reason, old.abandoned = c.Reason, false
			old.Open, old.High, old.Low, old.Close, old.Volume = c.Open, c.High, c.Low, c.Close, c.Volume
		}
	}
	return nil
}

// Pending implements CandleChecks.
func (m *memChecks) Pending(_ context.Context, streams []market.Stream, limit int) ([]market.CandleCheck, error) {
	want := map[market.Stream]bool{}
	for _, s := range streams {
		want[s] = true
	}
	m.mu.Lock()
	var out []market.CandleCheck
	for k, c := range m.checks {
		if want[k.stream] && !c.abandoned {
			out = append(out, c.CandleCheck)
		}
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Due.Equal(out[j].Due) {
			return out[i].Due.Before(out[j].Due)
		}
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Stream.String() < out[j].Stream.String()
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Done implements CandleChecks.
func (m *memChecks) Done(_ context.Context, c market.CandleCheck) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.checks, keyOf(c))
	return nil
}

// Retry implements CandleChecks.
func (m *memChecks) Retry(_ context.Context, c market.CandleCheck, due time.Time, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.checks[keyOf(c)]; ok {
		old.Attempts++
		old.Due, old.LastError = due, lastError
	}
	return nil
}

// Abandon implements CandleChecks.
func (m *memChecks) Abandon(_ context.Context, c market.CandleCheck, lastError string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.checks[keyOf(c)]; ok {
		old.Attempts++
		old.abandoned, old.LastError = true, lastError
	}
	return nil
}
