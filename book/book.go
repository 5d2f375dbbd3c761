package book

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// The errors Book reports. They say the book can no longer be trusted (or
// the input was refused): the caller resyncs.
var (
	// ErrBadLevel: a price is not positive, a size is negative (or zero in
	// a snapshot), or the side is neither bid nor ask.
	ErrBadLevel = errors.New("bad book level")
	// ErrDuplicateLevel: a snapshot lists the same price twice on one side.
	ErrDuplicateLevel = errors.New("duplicate book level")
	// ErrCrossed: the best bid is above the best ask.
	ErrCrossed = errors.New("crossed book")
	// ErrLocked: the best bid equals the best ask.
	ErrLocked = errors.New("locked book")
	// ErrPriceRange: a price has more than 18 significant digits at the
	// book's scale, which the integer keys cannot hold.
	ErrPriceRange = errors.New("book price out of range")
)

// maxScale bounds the decimal places of the keys.
const maxScale = 18

// Book is a local level-2 order book. The zero value is an empty book ready
// to use. A Book is not safe for concurrent use: one collector loop owns it.
type Book struct {
	bids, asks side
	// scale is the number of decimal places of the integer keys.
	scale int32
	// Sequence and Time describe the last applied update; the caller sets
	// them (see Snapshot).
	Sequence int64
	Time     time.Time
}

// New returns an empty book.
func New() *Book { return &Book{} }

// Reset empties the book, keeping its memory.
func (b *Book) Reset() {
	b.bids.reset()
	b.asks.reset()
	b.scale = 0
	b.Sequence = 0
	b.Time = time.Time{}
}

// Load replaces the book's content with an exchange snapshot. Every price
// and size must be positive and no price may appear twice on a side; the
// order of the levels does not matter. On an error the book is empty.
func (b *Book) Load(bids, asks []market.Level) error {
	b.Reset()
	if err := b.loadSide(&b.bids, market.Bid, bids); err != nil {
		b.Reset()
		return err
	}
	if err := b.loadSide(&b.asks, market.Ask, asks); err != nil {
		b.Reset()
		return err
	}
	return b.Check()
}

// loadSide fills an empty side: every level appended, then sorted once
// (inserting a 5,000-level snapshot best first one by one would move the
// whole array each time).
func (b *Book) loadSide(s *side, sd market.BookSide, ls []market.Level) error {
	for i := range ls {
		l := &ls[i]
		if l.Price.Sign() <= 0 || l.Size.Sign() <= 0 {
			return fmt.Errorf("load %s %s x %s: %w", sd, l.Price, l.Size, ErrBadLevel)
		}
		k, err := b.key(sd, l.Price) // a rescale keeps the keys' order
		if err != nil {
			return err
		}
		s.keys = append(s.keys, k)
		s.slots = append(s.slots, int32(len(s.levels)))
		s.levels = append(s.levels, *l)
	}
	s.sortKeys()
	for i := 1; i < len(s.keys); i++ {
		if s.keys[i] == s.keys[i-1] {
			return fmt.Errorf("load %s %s: %w", sd, s.levels[s.slots[i]].Price, ErrDuplicateLevel)
		}
	}
	return nil
}

// Set applies one change: size is the level's new total size, and a zero
// size removes the level (removing an absent level is not an error: the
// exchanges send such changes). It does not check for a crossed book:
// call Check after the changes of one exchange message.
func (b *Book) Set(sd market.BookSide, price, size decimal.Decimal) error {
	s := b.sideOf(sd)
	if s == nil || price.Sign() <= 0 || size.Sign() < 0 {
		return fmt.Errorf("set %s %s x %s: %w", sd, price, size, ErrBadLevel)
	}
	k, err := b.key(sd, price)
	if err != nil {
		return err
	}
	if size.Sign() == 0 {
		s.remove(k)
		return nil
	}
	s.set(k, market.Level{Price: price, Size: size})
	return nil
}

// Apply applies the changes of one exchange message in order, then checks
// that the book is neither crossed nor locked. A refused change stops it:
// the changes before it stay applied, and the caller resyncs.
func (b *Book) Apply(changes []market.BookChange) error {
	for i := range changes {
		c := &changes[i]
		if err := b.Set(c.Side, c.Price, c.Size); err != nil {
			return err
		}
	}
	return b.Check()
}

// Check returns ErrCrossed or ErrLocked when the best bid is at or above
// the best ask, nil otherwise.
func (b *Book) Check() error {
	bid, ask := b.bids.bestKey(), b.asks.bestKey()
	if len(b.bids.keys) == 0 || len(b.asks.keys) == 0 {
		return nil
	}
	switch ask = -ask; {
	case bid > ask:
		return fmt.Errorf("best bid %s above best ask %s: %w", b.bids.best().Price, b.asks.best().Price, ErrCrossed)
	case bid == ask:
		return fmt.Errorf("best bid %s equals best ask %s: %w", b.bids.best().Price, b.asks.best().Price, ErrLocked)
	}
	return nil
}

// Depth returns the number of levels on each side.
func (b *Book) Depth() (bids, asks int) { return len(b.bids.keys), len(b.asks.keys) }

// BestBid returns the best bid; ok is false when there are no bids.
func (b *Book) BestBid() (l market.Level, ok bool) {
	if len(b.bids.keys) == 0 {
		return market.Level{}, false
	}
	return b.bids.best(), true
}

// BestAsk returns the best ask; ok is false when there are no asks.
func (b *Book) BestAsk() (l market.Level, ok bool) {
	if len(b.asks.keys) == 0 {
		return market.Level{}, false
	}
	return b.asks.best(), true
}

// Spread returns the best ask minus the best bid; ok is false when a side
// is empty.
func (b *Book) Spread() (spread decimal.Decimal, ok bool) {
	bid, okb := b.BestBid()
	ask, oka := b.BestAsk()
	if !okb || !oka {
		return decimal.Decimal{}, false
	}
	return ask.Price.Sub(bid.Price), true
}

// Size returns the size at price on side sd, and whether the level exists.
func (b *Book) Size(sd market.BookSide, price decimal.Decimal) (decimal.Decimal, bool) {
	s := b.sideOf(sd)
	if s == nil {
		return decimal.Decimal{}, false
	}
	k, err := b.key(sd, price)
	if err != nil {
		return decimal.Decimal{}, false
	}
	i, found := s.search(k)
	if !found {
		return decimal.Decimal{}, false
	}
	return s.levels[s.slots[i]].Size, true
}

// Top appends the best n levels of each side, best first, to bids and
// asks (which may be nil) and returns them. n <= 0 means every level.
func (b *Book) Top(n int, bids, asks []market.Level) ([]market.Level, []market.Level) {
	return b.bids.top(n, bids), b.asks.top(n, asks)
}

// Snapshot returns the best depth levels of each side as a record, with
// the book's Sequence and Time (depth <= 0 means every level). meta's
// Time is replaced by the book's.
func (b *Book) Snapshot(meta market.Meta, depth int) *market.BookSnapshot {
	meta.Time = b.Time
	bd, ad := b.Depth()
	if depth > 0 {
		bd, ad = min(bd, depth), min(ad, depth)
	}
	s := &market.BookSnapshot{Meta: meta, Sequence: b.Sequence}
	levels := make([]market.Level, 0, bd+ad) // one allocation for both sides
	s.Bids, s.Asks = b.Top(depth, levels[:0:bd], levels[bd:bd:bd+ad])
	return s
}

func (b *Book) sideOf(sd market.BookSide) *side {
	switch sd {
	case market.Bid:
		return &b.bids
	case market.Ask:
		return &b.asks
	}
	return nil
}

// key returns price as an integer key ordered worst to best on side sd:
// the price at the book's scale for bids, its negation for asks. A price
// with more decimal places than the scale rescales the book first.
func (b *Book) key(sd market.BookSide, price decimal.Decimal) (int64, error) {
	if price.NumDigits() > maxScale {
		return 0, fmt.Errorf("price %s: %w", price, ErrPriceRange)
	}
	c, e := price.CoefficientInt64(), price.Exponent()
	if -e > b.scale {
		if err := b.rescale(-e); err != nil {
			return 0, fmt.Errorf("price %s: %w", price, err)
		}
	}
	k, ok := mulPow10(c, b.scale+e)
	if !ok {
		return 0, fmt.Errorf("price %s at scale %d: %w", price, b.scale, ErrPriceRange)
	}
	if sd == market.Ask {
		k = -k
	}
	return k, nil
}

// rescale raises the keys' scale to s, multiplying every key.
func (b *Book) rescale(s int32) error {
	if s > maxScale {
		return ErrPriceRange
	}
	by := s - b.scale
	for _, sd := range []*side{&b.bids, &b.asks} {
		for _, k := range sd.keys {
			if _, ok := mulPow10(k, by); !ok {
				return ErrPriceRange
			}
		}
	}
	for _, sd := range []*side{&b.bids, &b.asks} {
		for i, k := range sd.keys {
			sd.keys[i], _ = mulPow10(k, by)
		}
	}
	b.scale = s
	return nil
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18}

// mulPow10 returns c * 10^p for p >= 0, or c / 10^-p when that is exact
// (trailing zeros beyond the scale); ok is false on overflow or an
// inexact division.
func mulPow10(c int64, p int32) (int64, bool) {
	if p < 0 {
		if -p > maxScale {
			return 0, c == 0
		}
		d := pow10[-p]
		return c / d, c%d == 0
	}
	if p > maxScale {
		return 0, c == 0
	}
	m := pow10[p]
	r := c * m
	if c != 0 && (r/m != c) {
		return 0, false
	}
	return r, true
}
