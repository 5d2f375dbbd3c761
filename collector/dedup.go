package collector

import (
	"sync"
	"time"

	"marketetl/market"
)

// dedupWindow is how many recent trade ids are remembered per stream.
const dedupWindow = 4096

// dedup drops records already handed on: trades seen again (an exchange
// resending after a reconnect, or two connections overlapping during a
// rollover) and closed candles not newer than the last closed one. The
// database is idempotent anyway; this keeps the live feed to one message
// per record.
type dedup struct {
	mu     sync.Mutex // guards the maps
	trades map[string]*idRing
	closed map[string]time.Time
}

func newDedup() *dedup {
	return &dedup{trades: map[string]*idRing{}, closed: map[string]time.Time{}}
}

// seen reports whether rec was already handed on, and remembers it if not.
func (d *dedup) seen(s market.Stream, rec market.Record) bool {
	switch r := rec.(type) {
	case *market.Trade:
		k := s.String()
		d.mu.Lock()
		defer d.mu.Unlock()
		ring := d.trades[k]
		if ring == nil {
			ring = &idRing{ids: make(map[string]struct{}, dedupWindow)}
			d.trades[k] = ring
		}
		return !ring.add(r.TradeID)
	case *market.Candle:
		if !r.Closed {
			return false
		}
		k := s.String()
		d.mu.Lock()
		defer d.mu.Unlock()
		if last, ok := d.closed[k]; ok && !r.Time.After(last) {
			return true
		}
		d.closed[k] = r.Time
	}
	return false
}

// idRing is a set of the last dedupWindow ids.
type idRing struct {
	ids   map[string]struct{}
	order [dedupWindow]string
	next  int
	full  bool
}

// add remembers id and reports whether it was new.
func (r *idRing) add(id string) bool {
	if _, ok := r.ids[id]; ok {
		return false
	}
	if r.full {
		delete(r.ids, r.order[r.next])
	}
	r.order[r.next] = id
	r.ids[id] = struct{}{}
	r.next++
	if r.next == dedupWindow {
		r.next = 0
		r.full = true
	}
	return true
}
