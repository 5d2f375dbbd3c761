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
	trades map[market.Stream]*idRing
	closed map[market.Stream]time.Time
}

func newDedup() *dedup {
	return &dedup{trades: map[market.Stream]*idRing{}, closed: map[market.Stream]time.Time{}}
}

// seen reports whether rec, of stream s, was already handed on, and
// remembers it if not.
func (d *dedup) seen(s market.Stream, rec market.Record) bool {
	switch r := rec.(type) {
	case *market.Trade:
		d.mu.Lock()
		defer d.mu.Unlock()
		ring := d.trades[s]
		if ring == nil {
			ring = &idRing{}
			d.trades[s] = ring
		}
		return !ring.add(r.TradeID)
	case *market.Candle:
		if !r.Closed {
			return false
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if last, ok := d.closed[s]; ok && !r.Time.After(last) {
			return true
		}
		d.closed[s] = r.Time
	}
	return false
}

// idRing is a set of the last dedupWindow ids. An id written as a decimal
// integer of at most 18 digits without a leading zero (every exchange's
// trade ids but Kraken's) is kept as its number, which hashes and compares
// faster than its text and takes less memory; any other id as its text.
// The two forms never stand for the same id. Its storage grows with the
// ids it holds, up to dedupWindow.
type idRing struct {
	nums  map[int64]struct{}
	texts map[string]struct{}
	order []ringID // oldest at next once full
	next  int
	// top is the greatest number added (valid when nums is not nil): a
	// greater one, the usual next trade, is new without a lookup.
	top int64
}

// ringID is one remembered id: text, or num when text is empty.
type ringID struct {
	num  int64
	text string
}

// canonicalNum returns id's number when id is a decimal integer of 1 to 18
// digits without a leading zero ("0" itself excepted).
func canonicalNum(id string) (int64, bool) {
	if id == "" || len(id) > 18 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	var n int64
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// add remembers id and reports whether it was new.
func (r *idRing) add(id string) bool {
	e := ringID{text: id}
	if n, ok := canonicalNum(id); ok {
		e = ringID{num: n}
		switch {
		case r.nums == nil:
			r.nums, r.top = make(map[int64]struct{}), n
		case n > r.top:
			r.top = n
		default:
			if _, dup := r.nums[n]; dup {
				return false
			}
		}
	} else {
		if _, dup := r.texts[id]; dup {
			return false
		}
		if r.texts == nil {
			r.texts = make(map[string]struct{})
		}
	}
	if len(r.order) < dedupWindow {
		r.order = append(r.order, e)
	} else {
		r.forget(r.order[r.next])
		r.order[r.next] = e
		r.next = (r.next + 1) % dedupWindow
	}
	if e.text == "" {
		r.nums[e.num] = struct{}{}
	} else {
		r.texts[e.text] = struct{}{}
	}
	return true
}

func (r *idRing) forget(e ringID) {
	if e.text == "" {
		delete(r.nums, e.num)
	} else {
		delete(r.texts, e.text)
	}
}
