package wire

import (
	"sync"

	"github.com/shopspring/decimal"
)

// decimalsBits sets the size of a Decimals table: 2⁹ = 512 entries of 32
// bytes, 16 KiB, which stays in a core's first-level cache next to the
// frame being decoded.
const decimalsBits = 9

// Decimals is ParseDecimal with a memory: it returns the same decimals,
// but a decimal whose coefficient and scale were read recently is
// returned again instead of being made anew, which saves the two
// allocations of each new decimal.Decimal (its *big.Int and the big.Int's
// words). Prices repeat in trade and order-book streams (many trades at
// one price, book updates that touch the same levels again, sizes of
// round lots), so most of a stream's decimals are found.
//
// Sharing is safe because decimal.Decimal is immutable: the library
// documents it ("It is immutable") and none of its methods modifies the
// *big.Int a Decimal holds (arithmetic writes into a new big.Int;
// Coefficient returns a copy), so two Decimals may hold the same *big.Int,
// as any two copies of one Decimal value already do. What a Decimal holds
// is only read, also when records travel on to other goroutines.
//
// The table is direct-mapped, keyed by the int64 coefficient and the
// scale that the short path of ParseDecimal reads: "1", "1.0" and "1.00"
// are three keys and keep their three exponents. A decimal beyond the
// short path (more than 18 digits) is parsed by ParseDecimal's general
// path and not remembered. A Decimals is not safe for concurrent use: one
// decoder, running on one goroutine, uses it at a time (see DecimalsPool
// for decoders that run on several goroutines at once). The zero value is
// an empty table; a nil *Decimals parses without remembering.
type Decimals struct {
	t [1 << decimalsBits]decimalsEntry
}

// decimalsEntry is one remembered decimal: d is c × 10^-scale. used tells
// an entry from an empty one (whose zero key is the valid key of "0").
type decimalsEntry struct {
	c     int64
	scale int32
	used  bool
	d     decimal.Decimal
}

// Parse reads b as ParseDecimal does and returns what it returns: the
// same value with the same exponent, or an error that says the same. A hit
// allocates nothing.
func (m *Decimals) Parse(b []byte) (decimal.Decimal, error) {
	c, scale, ok := parseShortDecimal(b)
	if !ok {
		return parseDecimal(b)
	}
	if m == nil {
		return decimal.New(c, -scale), nil
	}
	e := &m.t[decimalsSlot(c, scale)]
	if e.used && e.c == c && e.scale == scale {
		return e.d, nil
	}
	d := decimal.New(c, -scale)
	*e = decimalsEntry{c: c, scale: scale, used: true, d: d}
	return d, nil
}

// decimalsSlot is the table index of the key (c, scale): the top bits of a
// multiplicative (Fibonacci) hash of the coefficient with the scale mixed
// into its high bits, which prices rarely use.
func decimalsSlot(c int64, scale int32) uint {
	h := (uint64(c) ^ uint64(uint32(scale))<<48) * 0x9e3779b97f4a7c15
	return uint(h >> (64 - decimalsBits))
}

// DecimalsPool hands out Decimals to a decoder whose method may run on
// several goroutines at once (an adapter's Decode is called from every
// connection's reader): each call takes one with Get, parses with it
// alone and gives it back with Put, so no Decimals is ever used by two
// goroutines at the same time. It is a sync.Pool: a Decimals stays in use
// while decoding goes on (a pool keeps what is put back until two garbage
// collections pass without a Get), and a new, empty one is made when none
// is free. What a Decimals returns does not depend on what it remembers,
// so which one a call gets changes nothing but the allocations. The zero
// value is ready to use; it must not be copied after first use.
type DecimalsPool struct {
	p sync.Pool
}

// Get returns a Decimals that no one else uses until it is put back.
func (p *DecimalsPool) Get() *Decimals {
	if m, ok := p.p.Get().(*Decimals); ok {
		return m
	}
	return new(Decimals)
}

// Put gives back m, taken with Get, for a later Get; m must not be used
// after. Put(nil) does nothing.
func (p *DecimalsPool) Put(m *Decimals) {
	if m != nil {
		p.p.Put(m)
	}
}
