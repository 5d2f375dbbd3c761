package book

import (
	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Coinbase Exchange's level2 channels carry no sequence number and no
// checksum (websocket-channels, "Level2 channel"), so a dropped message
// would leave the local book silently wrong. The drift check compares it
// with the exchange's own REST book, GET /products/{id}/book?level=2,
// excusing the levels that changed while the request was in flight:
//
//	var f book.InFlight
//	f.Begin()                    // just before sending the request
//	f.Note(changes)              // for every l2update applied meanwhile
//	drift := book.CompareREST(b, restBids, restAsks, &f) // once the response is read
//
// Leaving some time between reading the response and comparing (a
// heartbeat or two, still noting changes) also excuses the changes the
// exchange made before answering but had not yet sent on the websocket.

// InFlight records the levels changed while a REST book request is in
// flight. The zero value records nothing until Begin.
type InFlight struct {
	open    bool
	changed map[inFlightKey]struct{}
}

type inFlightKey struct {
	side  market.BookSide
	price string // normalised: "99.10" and "99.1" are one level
}

// Begin starts recording, forgetting what was recorded before.
func (f *InFlight) Begin() {
	f.open = true
	clear(f.changed)
	if f.changed == nil {
		f.changed = map[inFlightKey]struct{}{}
	}
}

// End stops recording.
func (f *InFlight) End() { f.open = false }

// Note records the levels of changes applied to the local book, when
// recording.
func (f *InFlight) Note(changes []market.BookChange) {
	if !f.open {
		return
	}
	for _, c := range changes {
		f.changed[inFlightKey{c.Side, c.Price.String()}] = struct{}{}
	}
}

// Changed reports whether the level at price on side sd was noted.
func (f *InFlight) Changed(sd market.BookSide, price decimal.Decimal) bool {
	if f == nil || f.changed == nil {
		return false
	}
	_, ok := f.changed[inFlightKey{sd, price.String()}]
	return ok
}

// Mismatch is a level where the local book and the exchange's REST book
// disagree. A zero Local or Remote size means the level is absent there.
type Mismatch struct {
	Side          market.BookSide
	Price         decimal.Decimal
	Local, Remote decimal.Decimal
}

// Drift is the outcome of CompareREST.
type Drift struct {
	// Compared is the number of distinct levels compared.
	Compared int
	// Excused is the number of disagreeing levels that changed in flight.
	Excused int
	// Mismatches are the other disagreeing levels, bids then asks, best
	// first.
	Mismatches []Mismatch
}

// Disagrees reports whether the books disagree beyond the changes in
// flight: the local book must be resynced.
func (d *Drift) Disagrees() bool { return len(d.Mismatches) > 0 }

// CompareREST compares the local book with the exchange's REST level-2
// book (bids and asks best first, as the exchange lists them) over the
// price range the REST book covers on each side: a REST book of 50 bids
// down to 99.00 is compared with the local bids at or above 99.00. Levels
// inFlight reports as changed are excused (inFlight may be nil).
func CompareREST(b *Book, bids, asks []market.Level, inFlight *InFlight) Drift {
	var d Drift
	compareSide(&d, market.Bid, b.bids.top(0, nil), bids, inFlight, func(p, worst decimal.Decimal) bool { return p.GreaterThanOrEqual(worst) })
	compareSide(&d, market.Ask, b.asks.top(0, nil), asks, inFlight, func(p, worst decimal.Decimal) bool { return p.LessThanOrEqual(worst) })
	return d
}

// compareSide walks the local and remote levels of one side, both best
// first, like a merge; within reports whether a price is inside the REST
// book's range (at or better than its worst level).
func compareSide(d *Drift, sd market.BookSide, local, remote []market.Level, f *InFlight, within func(p, worst decimal.Decimal) bool) {
	if len(remote) == 0 {
		return
	}
	worst := remote[len(remote)-1].Price
	better := func(a, b decimal.Decimal) bool {
		if sd == market.Bid {
			return a.GreaterThan(b)
		}
		return a.LessThan(b)
	}
	i, j := 0, 0
	for i < len(local) || j < len(remote) {
		var m Mismatch
		switch {
		case j >= len(remote) || (i < len(local) && better(local[i].Price, remote[j].Price)):
			if !within(local[i].Price, worst) {
				i = len(local)
				continue
			}
			m = Mismatch{Side: sd, Price: local[i].Price, Local: local[i].Size}
			i++
		case i >= len(local) || better(remote[j].Price, local[i].Price):
			m = Mismatch{Side: sd, Price: remote[j].Price, Remote: remote[j].Size}
			j++
		default: // the same price
			m = Mismatch{Side: sd, Price: remote[j].Price, Local: local[i].Size, Remote: remote[j].Size}
			i++
			j++
		}
		d.Compared++
		if m.Local.Equal(m.Remote) {
			continue
		}
		if f.Changed(sd, m.Price) {
			d.Excused++
			continue
		}
		d.Mismatches = append(d.Mismatches, m)
	}
}
