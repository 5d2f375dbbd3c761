package aggregate

import (
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Builder builds the candles of several timeframes from the trades of one
// exchange and symbol. It is not safe for concurrent use: one goroutine
// owns it.
type Builder struct {
	exchange market.Exchange
	symbol   market.Symbol
	every    time.Duration // 0: every trade
	skew     time.Duration
	offset   func(market.Exchange) (time.Duration, bool) // nil: skew alone
	frames   []frame                                     // shortest timeframe first
	late     uint64
	skipped  uint64
	// seenFrom is the exchange time since which the stream has been seen
	// without interruption (the first trade or heartbeat after New or
	// Interrupt); zero until then. A bucket opening after it is complete.
	seenFrom time.Time
}

// frame is the state of one timeframe.
type frame struct {
	tf market.Timeframe
	// floor is the open time of the earliest bucket still accepted: the
	// bucket of the candle being built, or the first bucket that has not
	// ended yet. A trade of an earlier bucket is late.
	floor time.Time
	// open reports whether c is a candle being built (of bucket floor).
	open bool
	// partial reports whether c may lack trades of its bucket: the stream
	// was not seen from the bucket's open time, or was interrupted during
	// it. A partial candle closes as provisional.
	partial bool
	c       market.Candle
	// first and last are the exchange times of the trades that gave c its
	// open and close prices.
	first, last time.Time
	// emitted reports whether a forming update of c was emitted, and
	// emittedAt the time of c's latest trade then.
	emitted   bool
	emittedAt time.Time
}

// Late returns how many trades were late in at least one timeframe: their
// bucket was already closed, had ended by an earlier Advance, or is older
// than the candle being built. Such a trade is still folded into the
// timeframes for which it is not late.
func (b *Builder) Late() uint64 { return b.late }

// Skipped returns how many trades were not folded in at all because the
// candle cannot use them (see the package documentation).
func (b *Builder) Skipped() uint64 { return b.skipped }

// Add folds trade t in. For each timeframe, shortest first, it appends to
// out the candle t closed, if t opens a later bucket, then a forming
// update of t's bucket unless throttled by Config.FormingEvery; it
// returns out. Trades must belong to the builder's exchange and symbol;
// others are skipped.
func (b *Builder) Add(t *market.Trade, out []*market.Candle) []*market.Candle {
	if !b.usable(t) {
		b.skipped++
		return out
	}
	if b.seenFrom.IsZero() {
		b.seenFrom = t.Time
	}
	late := false
	for i := range b.frames {
		f := &b.frames[i]
		start := f.tf.Truncate(t.Time)
		switch {
		case start.Before(f.floor):
			late = true
			continue
		case f.open && start.After(f.floor):
			out = append(out, f.close(t.Received))
		}
		if !f.open {
			f.start(b.exchange, b.symbol, start, t)
			// Complete only if the stream was seen before the bucket
			// opened: trades at its open time may precede the first seen.
			f.partial = !b.seenFrom.Before(start)
		} else {
			f.fold(t)
		}
		if b.every == 0 || !f.emitted || f.last.Sub(f.emittedAt) >= b.every {
			f.emitted, f.emittedAt = true, f.last
			c := f.c
			c.Received = t.Received
			out = append(out, &c)
		}
	}
	if late {
		b.late++
	}
	return out
}

// Advance closes every candle whose bucket ended at or before exchange
// time now (a heartbeat's time, say), appending them to out stamped as
// received at now, and returns out. From then on, trades of buckets that
// ended by now are late. A now earlier than a previous one changes nothing.
func (b *Builder) Advance(now time.Time, out []*market.Candle) []*market.Candle {
	for i := range b.frames {
		f := &b.frames[i]
		// The buckets before the one containing now have ended by now.
		cut := f.tf.Truncate(now)
		if !cut.After(f.floor) {
			continue
		}
		if f.open {
			out = append(out, f.close(now))
		}
		f.floor = cut
	}
	if b.seenFrom.IsZero() {
		b.seenFrom = now
	}
	return out
}

// Interrupt tells the builder that the stream was interrupted (the
// connection dropped, say): trades may be missing from the candles being
// built and from the bucket of the next trade or heartbeat, so those close
// as provisional. The buckets opening after the next trade or heartbeat are
// complete again.
func (b *Builder) Interrupt() {
	b.seenFrom = time.Time{}
	for i := range b.frames {
		if b.frames[i].open {
			b.frames[i].partial = true
		}
	}
}

// earliest is the earliest trade time folded in, as in package validate.
var earliest = time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)

// usable reports whether t can be folded into a candle.
func (b *Builder) usable(t *market.Trade) bool {
	switch {
	case t.Exchange != b.exchange || t.Symbol != b.symbol:
		return false
	case t.Price.Sign() <= 0 || t.Size.Sign() <= 0:
		return false
	case t.Time.Before(earliest):
		return false
	case t.Time.After(t.Received.Add(b.allowance())): // also when Received is not set
		return false
	}
	return true
}

// allowance is how far ahead of its receipt time a trade's exchange time
// may be: Config.ClockSkew, plus how far the local clock was measured to
// run behind the exchange's (capped at MaxClockCorrection), or plus
// MaxClockCorrection while that is not measured yet; the same allowance as
// package validate's, so that a trade validation accepts is folded in.
func (b *Builder) allowance() time.Duration {
	if b.offset == nil {
		return b.skew
	}
	off, ok := b.offset(b.exchange)
	switch {
	case !ok:
		return b.skew + MaxClockCorrection
	case off >= 0:
		return b.skew
	}
	return b.skew + min(-off, MaxClockCorrection)
}

// start begins the candle of bucket start with trade t.
func (f *frame) start(exchange market.Exchange, sym market.Symbol, start time.Time, t *market.Trade) {
	f.open, f.floor, f.emitted = true, start, false
	f.first, f.last = t.Time, t.Time
	f.c = market.Candle{
		Meta:      market.Meta{Exchange: exchange, Symbol: sym, Time: start},
		Timeframe: f.tf,
		Open:      t.Price, High: t.Price, Low: t.Price, Close: t.Price,
		Volume:      t.Size,
		QuoteVolume: decimal.NullDecimal{Decimal: t.Price.Mul(t.Size), Valid: true},
		Trades:      1,
	}
}

// fold adds trade t to the open candle.
func (f *frame) fold(t *market.Trade) {
	c := &f.c
	if t.Time.Before(f.first) {
		c.Open, f.first = t.Price, t.Time
	}
	if !t.Time.Before(f.last) {
		c.Close, f.last = t.Price, t.Time
	}
	if t.Price.GreaterThan(c.High) {
		c.High = t.Price
	}
	if t.Price.LessThan(c.Low) {
		c.Low = t.Price
	}
	c.Volume = c.Volume.Add(t.Size)
	c.QuoteVolume.Decimal = c.QuoteVolume.Decimal.Add(t.Price.Mul(t.Size))
	c.Trades++
}

// close ends the open candle and returns it, stamped as received at
// received: closed, or provisional when partial. The caller moves the
// floor past its bucket.
func (f *frame) close(received time.Time) *market.Candle {
	c := f.c
	c.Closed = !f.partial
	c.Provisional = f.partial
	c.Received = received
	f.open = false
	return &c
}
