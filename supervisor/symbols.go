package supervisor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.uber.org/zap"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

// StreamSetter is a Runner whose streams can change while it runs:
// *collector.Collector implements it. The Manager changes a running
// collector's symbols through it, so that the collector's other streams
// keep their connections; a Runner without it is restarted instead.
type StreamSetter interface {
	// SetStreams replaces the streams being collected. It does not block
	// on network I/O: the running collector subscribes and unsubscribes
	// the difference on its connections. An error (a stream the exchange
	// cannot serve) leaves the current streams unchanged. It may be called
	// from any goroutine, before, while or after Run runs.
	SetStreams(streams []market.Stream) error
}

var _ StreamSetter = (*collector.Collector)(nil)

// Errors of the symbol operations, matched with errors.Is.
var (
	// ErrSymbolExists: the collector already collects that symbol.
	ErrSymbolExists = errors.New("symbol already collected")
	// ErrSymbolNotFound: the collector does not collect that symbol.
	ErrSymbolNotFound = errors.New("symbol not collected")
)

// AddSymbol adds symbol to the named collector's symbols (every data type
// and timeframe of the collector, for the new symbol), stores the change
// and applies it to the running collector without restarting it: its other
// streams keep their connections. It fails with ErrNotFound,
// ErrSymbolExists, ErrInvalidSpec (a symbol the exchange cannot serve),
// ErrStopped or the registry's error; on an error nothing changed.
func (m *Manager) AddSymbol(ctx context.Context, name string, symbol market.Symbol) error {
	symbol = normalSymbol(symbol)
	return m.changeSymbols(ctx, "add symbol "+string(symbol)+" to", name, func(syms []market.Symbol) ([]market.Symbol, error) {
		if slices.Contains(syms, symbol) {
			return nil, fmt.Errorf("%w: %s", ErrSymbolExists, symbol)
		}
		return append(slices.Clone(syms), symbol), nil
	})
}

// RemoveSymbol removes symbol from the named collector's symbols, stores
// the change and applies it to the running collector without restarting
// it, as AddSymbol. A collector keeps at least one symbol: removing the
// last fails with ErrInvalidSpec (disable or remove the collector instead).
// It fails with ErrNotFound, ErrSymbolNotFound, ErrInvalidSpec, ErrStopped
// or the registry's error; on an error nothing changed.
func (m *Manager) RemoveSymbol(ctx context.Context, name string, symbol market.Symbol) error {
	symbol = normalSymbol(symbol)
	return m.changeSymbols(ctx, "remove symbol "+string(symbol)+" from", name, func(syms []market.Symbol) ([]market.Symbol, error) {
		i := slices.Index(syms, symbol)
		if i < 0 {
			return nil, fmt.Errorf("%w: %s", ErrSymbolNotFound, symbol)
		}
		if len(syms) == 1 {
			return nil, fmt.Errorf("%w: %s is the collector's only symbol: disable or remove the collector instead", ErrInvalidSpec, symbol)
		}
		return slices.Delete(slices.Clone(syms), i, i+1), nil
	})
}

// SetSymbols replaces the named collector's symbols, as AddSymbol and
// RemoveSymbol do for one symbol. Setting the same symbols does nothing.
func (m *Manager) SetSymbols(ctx context.Context, name string, symbols []market.Symbol) error {
	want := make([]market.Symbol, len(symbols))
	for i, s := range symbols {
		want[i] = normalSymbol(s)
	}
	return m.changeSymbols(ctx, "set symbols of", name, func([]market.Symbol) ([]market.Symbol, error) {
		return want, nil
	})
}

// changeSymbols applies change to the named collector's symbols.
func (m *Manager) changeSymbols(ctx context.Context, what, name string, change func([]market.Symbol) ([]market.Symbol, error)) error {
	m.opMu.Lock()
	defer m.opMu.Unlock()
	if err := m.prepare(ctx); err != nil {
		return fmt.Errorf("%s collector %s: %w", what, name, err)
	}
	e, err := m.get(name)
	if err != nil {
		return fmt.Errorf("%s collector: %w", what, err)
	}
	e.mu.Lock()
	cur := e.spec
	e.mu.Unlock()
	syms, err := change(cur.Symbols)
	if err != nil {
		return fmt.Errorf("%s collector %s: %w", what, name, err)
	}
	if err := m.setSymbolsEntry(ctx, e, syms); err != nil {
		return fmt.Errorf("%s collector %s: %w", what, name, err)
	}
	return nil
}

// setSymbolsEntry gives e the symbols syms: it validates the new
// configuration, applies it to the running collector (through
// StreamSetter, or by a restart when the Runner cannot change streams),
// stores it and keeps it in e, whose counters and failure state carry on.
// The caller holds opMu.
func (m *Manager) setSymbolsEntry(ctx context.Context, e *entry, syms []market.Symbol) error {
	e.mu.Lock()
	old := e.spec
	e.mu.Unlock()
	if slices.Equal(old.Symbols, syms) {
		return nil
	}
	next := old
	next.Symbols = syms
	if err := next.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	// The entry and its running collector change together, under e.mu, so
	// that a run starting meanwhile (see syncStreamsLocked) sees either
	// both or neither. An exchange that cannot serve the new streams
	// leaves everything unchanged.
	e.mu.Lock()
	restart, err := e.applySymbolsLocked(syms)
	if err != nil {
		e.spec.Symbols = old.Symbols
		e.mu.Unlock()
		return fmt.Errorf("%w: %w", ErrInvalidSpec, err)
	}
	e.mu.Unlock()
	if err := m.reg.PutCollector(ctx, next); err != nil {
		e.mu.Lock()
		if _, rerr := e.applySymbolsLocked(old.Symbols); rerr != nil {
			e.log.Error("restoring the previous streams after a registry error failed", zap.String("error", m.red.err(rerr)))
		}
		e.mu.Unlock()
		return fmt.Errorf("store: %s", m.red.err(err))
	}
	e.log.Info("collector symbols changed", zap.Strings("symbols", symbolStrings(syms)), zap.Bool("restarted", restart))
	if restart {
		// A Runner that cannot change its streams takes the new symbols at
		// its next start.
		e.mu.Lock()
		ctl := e.loop
		e.mu.Unlock()
		if ctl != nil {
			select {
			case ctl.restart <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// applySymbolsLocked sets e's symbols and hands the new streams to the
// current run. It reports whether the run must be restarted instead (its
// Runner is no StreamSetter). The caller holds e.mu.
func (e *entry) applySymbolsLocked(syms []market.Symbol) (restart bool, err error) {
	e.spec.Symbols = syms
	if e.cur == nil {
		return false, nil
	}
	s, ok := e.cur.runner.(StreamSetter)
	if !ok {
		return true, nil
	}
	return false, s.SetStreams(e.spec.Streams())
}

// syncStreamsLocked gives a run that was built from an older spec the entry's
// current symbols: a symbol change that landed between the run's build
// and its registration as e.cur. The caller holds e.mu.
func (e *entry) syncStreamsLocked(built *spec.Collector, rn *run) {
	if slices.Equal(built.Symbols, e.spec.Symbols) {
		return
	}
	if s, ok := rn.runner.(StreamSetter); ok {
		if err := s.SetStreams(e.spec.Streams()); err != nil {
			e.log.Error("applying the collector's new symbols to its fresh run failed", zap.Error(err))
		}
	}
}

// onlySymbolsDiffer reports whether a and b differ in their symbols and in
// nothing else (their enabled state aside).
func onlySymbolsDiffer(a, b *spec.Collector) bool {
	if slices.Equal(a.Symbols, b.Symbols) {
		return false
	}
	ca, cb := *a, *b
	ca.Symbols, cb.Symbols = nil, nil
	return sameConfig(&ca, &cb)
}

// normalSymbol upper-cases and trims a symbol, as the YAML reader does.
func normalSymbol(s market.Symbol) market.Symbol {
	return market.Symbol(strings.ToUpper(strings.TrimSpace(string(s))))
}

func symbolStrings(syms []market.Symbol) []string {
	out := make([]string, len(syms))
	for i, s := range syms {
		out[i] = string(s)
	}
	return out
}
