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
	mu sync.Mutex // guards streams and every dedupStream's fields
	// streams holds what each stream handed on; the router keeps a
	// wanted stream's entry (see stream), so that a record finds it
	// without a look-up.
	streams map[market.Stream]*dedupStream
}

// dedupStream is what one stream handed on.
type dedupStream struct {
	// ids holds a trade stream's recent trade ids; nil until its first trade.
	ids *idRing
	// closed is the time of the last closed candle handed on, when hasClosed.
	closed    time.Time
	hasClosed bool
}

func newDedup() *dedup {
	return &dedup{streams: map[market.Stream]*dedupStream{}}
}

// stream returns the entry of s, made on first use; it stays s's for the
// dedup's life.
func (d *dedup) stream(s market.Stream) *dedupStream {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.streamLocked(s)
}

func (d *dedup) streamLocked(s market.Stream) *dedupStream {
	ds := d.streams[s]
	if ds == nil {
		ds = &dedupStream{}
		d.streams[s] = ds
	}
	return ds
}

// seen reports whether rec, of stream s, was already handed on, and
// remembers it if not.
func (d *dedup) seen(s market.Stream, rec market.Record) bool { return d.seenIn(nil, s, rec) }

// seenIn is seen with s's entry as stream returned it, or nil to look it
// up.
func (d *dedup) seenIn(ds *dedupStream, s market.Stream, rec market.Record) bool {
	switch r := rec.(type) {
	case *market.Trade:
		d.mu.Lock()
		defer d.mu.Unlock()
		if ds == nil {
			ds = d.streamLocked(s)
		}
		if ds.ids == nil {
			ds.ids = &idRing{}
		}
		return !ds.ids.add(r.TradeID)
	case *market.Candle:
		if !r.Closed {
			return false
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if ds == nil {
			ds = d.streamLocked(s)
		}
		if ds.hasClosed && !r.Time.After(ds.closed) {
			return true
		}
		ds.closed, ds.hasClosed = r.Time, true
	}
	return false
}

// idRing remembers a stream's recent trade ids. Ids written as plain
// decimal numbers (every exchange's so far, numbered one by one per
// symbol) are kept as a window of dedupWindow bits below the highest id
// seen: an id in the window is new unless its bit is set, and an id below
// the window is taken as new (handed on; the database keeps it once). For
// sequential ids this is exactly "the last dedupWindow ids", at 512 bytes
// a stream; for ids that jump it can only let a duplicate through to the
// live feed, never drop a new trade. Other ids are kept as text, in a ring
// of the last dedupWindow that grows with the ids seen.
type idRing struct {
	nums idWindow
	strs ring[string]
}

// add remembers id and reports whether it was new.
func (r *idRing) add(id string) bool {
	if n, ok := plainUint(id); ok {
		return r.nums.add(n)
	}
	return r.strs.add(id)
}

// idWindow is a bit per id of [hi-dedupWindow+1, hi]; id v is bit
// v % dedupWindow.
type idWindow struct {
	bits [dedupWindow / 64]uint64
	hi   uint64
	any  bool
}

// add marks v and reports whether it was new.
func (w *idWindow) add(v uint64) bool {
	switch {
	case !w.any:
		w.any, w.hi = true, v
	case v > w.hi:
		if v-w.hi >= dedupWindow {
			w.bits = [dedupWindow / 64]uint64{}
		} else {
			for x := w.hi + 1; x < v; x++ {
				w.clear(x)
			}
		}
		w.hi = v
		w.clear(v)
	case w.hi-v >= dedupWindow:
		return true // below the window: not remembered
	}
	i := v % dedupWindow
	if w.bits[i/64]&(1<<(i%64)) != 0 {
		return false
	}
	w.bits[i/64] |= 1 << (i % 64)
	return true
}

func (w *idWindow) clear(v uint64) {
	i := v % dedupWindow
	w.bits[i/64] &^= 1 << (i % 64)
}

// plainUint parses id when it is a plain decimal number (digits only, no
// leading zero unless it is "0", below 2^64) and so has exactly one text.
func plainUint(id string) (uint64, bool) {
	if id == "" || len(id) > 19 || (id[0] == '0' && len(id) > 1) {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// ring is a set of the last dedupWindow values added.
type ring[T comparable] struct {
	set   map[T]struct{}
	order []T // grows to dedupWindow, then wraps at next
	next  int
}

// add remembers v and reports whether it was new.
func (r *ring[T]) add(v T) bool {
	if _, ok := r.set[v]; ok {
		return false
	}
	if r.set == nil {
		r.set = make(map[T]struct{})
	}
	if len(r.order) < dedupWindow {
		r.order = append(r.order, v)
	} else {
		delete(r.set, r.order[r.next])
		r.order[r.next] = v
		r.next = (r.next + 1) % dedupWindow
	}
	r.set[v] = struct{}{}
	return true
}
