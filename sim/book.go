package sim

import (
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Order books. Every market keeps a level-2 book that changes on every
// tick, subscribed or not, from its own random source (so the trades do
// not depend on it): a few levels set or removed near the last trade
// price, the opposite side's levels a new one would cross removed in the
// same update, each side held to bookMaxLevels. Each update takes one to
// three update ids (OKX seqId, Binance U..u). The exchanges' channels carry
// these updates in their own formats: book.go holds the model and the
// faults, book_frames.go the frames and REST books.

const (
	bookInitialLevels = 100 // per side, around the first price
	bookMaxLevels     = 200 // per side: OKX's books channel covers 400
	bookReach         = 30  // changes land within this many ticks of the last price
)

// bookChange is one level change of an update, in units of the market's
// price and size decimals; size 0 removes the level.
type bookChange struct {
	bid         bool
	price, size int64
}

// bookFaults are faults pending for the next update's frames.
type bookFaults struct {
	skip     bool // the frame is not sent: a sequence break (OKX, Binance)
	checksum bool // the OKX checksum is wrong
	crossed  bool // the frame carries a bid at the best ask price + a tick, which the book does not have
	drop     bool // the Coinbase frame omits its first change
}

// simBook is one market's order book. s.mu guards it.
type simBook struct {
	rng        *rand.Rand
	tickUnits  int64           // the market's tick in price units
	bids, asks map[int64]int64 // price units → size units
	id         int64           // the last update id
	time       time.Time       // the exchange time of the last update
	faults     bookFaults
}

func newSimBook(in *instrument, seed int64) *simBook {
	h := fnv.New64a()
	h.Write([]byte("book/" + string(in.ex) + "/" + string(in.sym)))
	b := &simBook{
		rng:       rand.New(rand.NewPCG(uint64(seed), h.Sum64())),
		tickUnits: max(1, in.cfg.Tick.Shift(in.cfg.PriceDecimals).IntPart()),
		bids:      map[int64]int64{},
		asks:      map[int64]int64{},
		id:        1000,
	}
	ref := b.ref(in.cfg.Price, in.cfg.PriceDecimals) // the configured price: the same book whenever it is made
	for k := int64(1); k <= bookInitialLevels; k++ {
		b.bids[ref-k*b.tickUnits] = b.size(in)
		b.asks[ref+k*b.tickUnits] = b.size(in)
	}
	return b
}

// ref returns price in price units, on the tick grid.
func (b *simBook) ref(price decimal.Decimal, decimals int32) int64 {
	u := price.Shift(decimals).IntPart()
	return u - u%b.tickUnits
}

func (b *simBook) size(in *instrument) int64 { return 1 + b.rng.Int64N(max(1, in.maxUnits)) }

// step makes the next update around price at t and applies it; it returns
// the update's first and last ids and its changes.
func (b *simBook) step(in *instrument, t time.Time) (first, last int64, changes []bookChange) {
	ref := b.ref(in.price, in.cfg.PriceDecimals)
	seen := map[bookChange]bool{} // one change per level and update
	set := func(bid bool, price, size int64) {
		key := bookChange{bid: bid, price: price}
		if seen[key] {
			return
		}
		seen[key] = true
		changes = append(changes, bookChange{bid: bid, price: price, size: size})
		side := b.asks
		if bid {
			side = b.bids
		}
		if size == 0 {
			delete(side, price)
		} else {
			side[price] = size
		}
	}
	for range 1 + b.rng.IntN(4) {
		bid := b.rng.IntN(2) == 0
		k := 1 + b.rng.Int64N(bookReach)
		price := ref + k*b.tickUnits
		side := b.asks
		if bid {
			price, side = ref-k*b.tickUnits, b.bids
		}
		size := b.size(in)
		if _, ok := side[price]; ok && b.rng.IntN(4) == 0 {
			size = 0
		}
		set(bid, price, size)
		if size == 0 {
			continue
		}
		// Remove what the new level would cross or lock.
		if bid {
			for _, p := range sortedPrices(b.asks, false) {
				if p > price {
					break
				}
				set(false, p, 0)
			}
		} else {
			for _, p := range sortedPrices(b.bids, true) {
				if p < price {
					break
				}
				set(true, p, 0)
			}
		}
	}
	for _, bid := range []bool{true, false} {
		side := b.asks
		if bid {
			side = b.bids
		}
		if n := len(side); n > bookMaxLevels {
			prices := sortedPrices(side, bid)
			for _, p := range prices[bookMaxLevels:] {
				set(bid, p, 0)
			}
		}
	}
	first = b.id + 1
	b.id += 1 + b.rng.Int64N(3)
	b.time = t
	return first, b.id, changes
}

// sortedPrices returns a side's prices best first: descending for bids.
func sortedPrices(side map[int64]int64, bid bool) []int64 {
	out := make([]int64, 0, len(side))
	for p := range side {
		out = append(out, p)
	}
	slices.Sort(out)
	if bid {
		slices.Reverse(out)
	}
	return out
}

// levels returns the best n levels of a side (all when n <= 0) as decimals
// with the market's decimals.
func (b *simBook) levels(in *instrument, bid bool, n int) []market.Level {
	side := b.asks
	if bid {
		side = b.bids
	}
	prices := sortedPrices(side, bid)
	if n > 0 && n < len(prices) {
		prices = prices[:n]
	}
	out := make([]market.Level, len(prices))
	for i, p := range prices {
		out[i] = market.Level{Price: decimal.New(p, -in.cfg.PriceDecimals), Size: decimal.New(side[p], -in.cfg.SizeDecimals)}
	}
	return out
}

// checksum is OKX's: the CRC32 of the top 25 bids and asks interleaved as
// bidPx:bidSz:askPx:askSz:…, as signed 32 bits.
func (b *simBook) checksum(in *instrument) int64 {
	bids, asks := b.levels(in, true, 25), b.levels(in, false, 25)
	var buf []byte
	for i := range 25 {
		for _, side := range [][]market.Level{bids, asks} {
			if i < len(side) {
				if len(buf) > 0 {
					buf = append(buf, ':')
				}
				buf = append(buf, dec(side[i].Price)+":"+dec(side[i].Size)...)
			}
		}
	}
	return int64(int32(crc32.ChecksumIEEE(buf)))
}

// bookTick advances in's book at t and pushes the update on the
// exchange's book channels when live. s.mu is held.
func (s *Sim) bookTick(in *instrument, t time.Time, live bool) {
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	b := in.book
	prevID := b.id
	first, last, changes := b.step(in, t)
	faults := b.faults
	b.faults = bookFaults{}
	if !live || faults.skip {
		return
	}
	if faults.crossed {
		if asks := sortedPrices(b.asks, false); len(asks) > 0 {
			changes = append(changes, bookChange{bid: true, price: asks[0] + b.tickUnits, size: 1})
		}
	}
	switch in.ex {
	case market.OKX:
		sum := b.checksum(in)
		if s.okxChecksumZero {
			sum = 0
		} else if faults.checksum {
			sum++
		}
		s.okxBookUpdate(in, changes, prevID, last, sum)
	case market.Binance:
		s.binanceDepthUpdate(in, changes, first, last)
	case market.Coinbase:
		if faults.drop && len(changes) > 0 {
			changes = changes[1:]
		}
		s.coinbaseL2Update(in, changes)
	}
}

// Book returns the simulated exchange's own book of ex's sym, every level,
// best first, with the id and exchange time of its last update; ok is
// false for an unknown market or before the first tick.
func (s *Sim) Book(ex market.Exchange, sym market.Symbol) (bids, asks []market.Level, lastID int64, t time.Time, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil || in.book == nil {
		return nil, nil, 0, time.Time{}, false
	}
	return in.book.levels(in, true, 0), in.book.levels(in, false, 0), in.book.id, in.book.time, true
}

// The book faults. Each applies to the next update of the market's book.

// InjectBookSequenceBreak withholds the frames of the next book update of
// ex's sym (OKX or Binance; the book still changes), so the update after
// it does not follow: prevSeqId (OKX) or U (Binance) shows the break.
func (s *Sim) InjectBookSequenceBreak(ex market.Exchange, sym market.Symbol) error {
	return s.bookFault(ex, sym, "sequence break", func(f *bookFaults) { f.skip = true }, market.OKX, market.Binance)
}

// InjectBookChecksumMismatch makes the next OKX books update of sym carry
// a wrong checksum.
func (s *Sim) InjectBookChecksumMismatch(sym market.Symbol) error {
	return s.bookFault(market.OKX, sym, "checksum mismatch", func(f *bookFaults) { f.checksum = true }, market.OKX)
}

// InjectCrossedBookUpdate makes the next book update of ex's sym carry one
// more change, a bid a tick above the best ask, that the exchange's book
// does not have: a client applying it has a crossed book.
func (s *Sim) InjectCrossedBookUpdate(ex market.Exchange, sym market.Symbol) error {
	return s.bookFault(ex, sym, "crossed update", func(f *bookFaults) { f.crossed = true }, market.OKX, market.Binance, market.Coinbase)
}

// InjectDroppedBookChange leaves the first change of the next Coinbase
// l2update of sym out of the frame (the book still changes): Coinbase
// sends no sequence numbers, so only a comparison with the REST book shows
// it.
func (s *Sim) InjectDroppedBookChange(sym market.Symbol) error {
	return s.bookFault(market.Coinbase, sym, "dropped change", func(f *bookFaults) { f.drop = true }, market.Coinbase)
}

// SetOKXChecksumDeprecated makes OKX books frames carry checksum 0, as OKX
// sends since deprecating the field (2026-06-23), when on.
func (s *Sim) SetOKXChecksumDeprecated(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.okxChecksumZero = on
}

func (s *Sim) bookFault(ex market.Exchange, sym market.Symbol, what string, set func(*bookFaults), exchanges ...market.Exchange) error {
	if !slices.Contains(exchanges, ex) {
		return fmt.Errorf("inject book %s: not on %s", what, ex)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	in := s.instrument(ex, sym)
	if in == nil {
		return fmt.Errorf("inject book %s: %s has no market %s", what, ex, sym)
	}
	if in.book == nil {
		in.book = newSimBook(in, s.cfg.Seed)
	}
	set(&in.book.faults)
	return nil
}

// decimalUnits returns units × 10^-decimals, with those decimals.
func decimalUnits(units int64, decimals int32) decimal.Decimal { return decimal.New(units, -decimals) }
