package collector

import (
	"fmt"
	"sync"
	"time"

	"marketetl/aggregate"
	"marketetl/market"
)

// aggregators builds the candles of the streams an exchange does not
// stream, one aggregate.Builder per symbol. Safe for concurrent use.
type aggregators struct {
	mu       sync.Mutex // guards builders
	builders map[market.Symbol]*aggregate.Builder
	tfs      map[market.Symbol][]market.Timeframe
	// provisional is given each provisional candle built, before it is
	// returned to be handed on, to schedule its reconciliation.
	provisional func(*market.Candle)
	// seqIDs: the exchange numbers trades one by one, so a trade whose id
	// skips some tells that trades were missed; lastID is the greatest id
	// folded in per symbol (guarded by mu).
	seqIDs bool
	lastID map[market.Symbol]int64
}

// newAggregators returns nil when no stream is aggregated. provisional is
// given every provisional candle built, before it is returned; seqIDs says
// whether the exchange numbers trades one by one; clocks (may be nil) is
// the measured clock skew, so that the builders fold in the trades of a
// host whose clock is behind the exchange's, as validation accepts them.
func newAggregators(streams []market.Stream, seqIDs bool, clocks *ClockSkew, provisional func(*market.Candle)) (*aggregators, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	a := &aggregators{builders: map[market.Symbol]*aggregate.Builder{}, tfs: map[market.Symbol][]market.Timeframe{},
		provisional: provisional, seqIDs: seqIDs, lastID: map[market.Symbol]int64{}}
	for _, s := range streams {
		if s.Type != market.TypeCandle {
			return nil, fmt.Errorf("aggregated stream %s: only candles can be built from trades", s)
		}
		a.tfs[s.Symbol] = append(a.tfs[s.Symbol], s.Timeframe)
	}
	for sym, tfs := range a.tfs {
		var cfg aggregate.Config
		if clocks != nil {
			cfg.ClockOffset = clocks.Offset
		}
		b, err := aggregate.New(streams[0].Exchange, sym, tfs, cfg)
		if err != nil {
			return nil, fmt.Errorf("candle builder for %s: %w", sym, err)
		}
		a.builders[sym] = b
	}
	return a, nil
}

// timeframes returns the timeframes built for sym (none on a nil a).
func (a *aggregators) timeframes(sym market.Symbol) []market.Timeframe {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.tfs[sym]
}

// replace returns next, carrying over the builders of old whose symbol and
// timeframes did not change, so that a runtime change does not lose a
// forming candle.
func (old *aggregators) replace(next *aggregators) *aggregators {
	if old == nil || next == nil {
		return next
	}
	old.mu.Lock()
	defer old.mu.Unlock()
	for sym, tfs := range next.tfs {
		if b, ok := old.builders[sym]; ok && sameTimeframes(old.tfs[sym], tfs) {
			next.builders[sym] = b
			if id, ok := old.lastID[sym]; ok {
				next.lastID[sym] = id
			}
		}
	}
	return next
}

func sameTimeframes(a, b []market.Timeframe) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[market.Timeframe]bool{}
	for _, tf := range a {
		seen[tf] = true
	}
	for _, tf := range b {
		if !seen[tf] {
			return false
		}
	}
	return true
}

// add folds a trade into its symbol's builder and returns the candles it
// produced. When trade ids are sequential, a trade whose id skips some
// (trades were missed, with or without a reconnect) first interrupts the
// builder, so that the candles missing those trades end provisional.
func (a *aggregators) add(t *market.Trade) []market.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.builders[t.Symbol]
	if b == nil {
		return nil
	}
	if a.seqIDs {
		if id, ok := t.NumericID(); ok {
			last, seen := a.lastID[t.Symbol]
			if seen && id > last+1 {
				b.Interrupt()
			}
			if !seen || id > last {
				a.lastID[t.Symbol] = id
			}
		}
	}
	return a.toRecords(b.Add(t, nil))
}

// interrupt tells every builder that the stream was interrupted (a
// connection ended): the candles being built, and those of the next
// trades' buckets, end provisional. Nil-safe.
func (a *aggregators) interrupt() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.builders {
		b.Interrupt()
	}
}

// advance closes the candles of sym that ended by exchange time now,
// stamping them as received at received.
func (a *aggregators) advance(sym market.Symbol, now, received time.Time) []market.Record {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.builders[sym]
	if b == nil {
		return nil
	}
	cs := b.Advance(now, nil)
	for _, c := range cs {
		c.Received = received
	}
	return a.toRecords(cs)
}

// toRecords returns cs as records, after giving the provisional ones to
// a.provisional.
func (a *aggregators) toRecords(cs []*market.Candle) []market.Record {
	if len(cs) == 0 {
		return nil
	}
	out := make([]market.Record, len(cs))
	for i, c := range cs {
		if c.Provisional && a.provisional != nil {
			a.provisional(c)
		}
		out[i] = c
	}
	return out
}
