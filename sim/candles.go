package sim

import (
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Bucket origins: buckets of d open at origin + k·d. Weekly buckets open on
// Mondays; OKX's bars of 6 hours and more without "utc" open at UTC+8.
var (
	epoch      = time.Unix(0, 0).UTC()
	weekOrigin = time.Date(1970, 1, 5, 0, 0, 0, 0, time.UTC)
	utc8       = 8 * time.Hour
)

// frame is one candle interval as an exchange names it.
type frame struct {
	// tf is the normalised timeframe, empty for bars that have none (OKX's
	// UTC+8 bars).
	tf market.Timeframe
	// name is the exchange's name: OKX bar ("1H", "6Hutc"), Binance
	// interval ("1h"), Coinbase granularity in seconds ("3600").
	name   string
	d      time.Duration
	origin time.Time
}

// bucket returns the open time of the bucket that holds t.
func (f frame) bucket(t time.Time) time.Time {
	since := t.Sub(f.origin)
	n := since / f.d
	if since < 0 && since%f.d != 0 {
		n--
	}
	return f.origin.Add(n * f.d)
}

// utcFrame returns the frame of tf opening at UTC 0 (weeks on Mondays).
func utcFrame(tf market.Timeframe, name string) frame {
	f := frame{tf: tf, name: name, d: tf.Duration(), origin: epoch}
	if tf == market.TF1w {
		f.origin = weekOrigin
	}
	return f
}

// candle is one bucket's aggregate. Volumes keep the exact sum of the
// trades' decimals.
type candle struct {
	open           time.Time
	o, h, l, c     decimal.Decimal
	vol, quote     decimal.Decimal
	buyVol, buyQte decimal.Decimal // taker-buy base and quote volumes
	n              int64
	first, last    int64 // first and last trade ids
}

func newCandle(open time.Time, tr *trade) candle {
	q := tr.quote
	c := candle{open: open, o: tr.price, h: tr.price, l: tr.price, c: tr.price,
		vol: tr.size, quote: q, buyVol: zeroLike(tr.size), buyQte: zeroLike(q),
		n: 1, first: tr.id, last: tr.id}
	if tr.side == market.Buy {
		c.buyVol, c.buyQte = tr.size, q
	}
	return c
}

func (c *candle) add(tr *trade) {
	q := tr.quote
	if tr.price.GreaterThan(c.h) {
		c.h = tr.price
	}
	if tr.price.LessThan(c.l) {
		c.l = tr.price
	}
	c.c = tr.price
	c.vol = c.vol.Add(tr.size)
	c.quote = c.quote.Add(q)
	if tr.side == market.Buy {
		c.buyVol = c.buyVol.Add(tr.size)
		c.buyQte = c.buyQte.Add(q)
	}
	c.n++
	c.last = tr.id
}

// zeroLike returns zero with d's scale, so that sums keep their decimals.
func zeroLike(d decimal.Decimal) decimal.Decimal { return decimal.New(0, d.Exponent()) }

// series builds the candles of one frame of one instrument.
type series struct {
	frame frame
	// throttle is the least exchange time between two pushes of the
	// forming candle.
	throttle time.Duration
	closed   []candle
	cur      candle
	has      bool // cur holds a forming candle
	lastPush time.Time
}

// seriesUpdate says what one trade did to a series.
type seriesUpdate struct {
	s *series
	// closed is the candle the trade closed, if any.
	closed *candle
	// push is true when the forming candle is due to be pushed.
	push bool
}

// add folds tr into the series.
func (s *series) add(tr *trade) seriesUpdate {
	u := seriesUpdate{s: s}
	open := s.frame.bucket(tr.time)
	if s.has && !s.cur.open.Equal(open) {
		s.closed = append(s.closed, s.cur)
		u.closed = &s.closed[len(s.closed)-1]
		s.has = false
	}
	if !s.has {
		s.cur = newCandle(open, tr)
		s.has = true
		s.lastPush = time.Time{}
	} else {
		s.cur.add(tr)
	}
	if s.lastPush.IsZero() || tr.time.Sub(s.lastPush) >= s.throttle {
		s.lastPush = tr.time
		u.push = true
	}
	return u
}

// all returns the closed candles followed by the forming one, oldest first.
func (s *series) all() []candle {
	out := make([]candle, 0, len(s.closed)+1)
	out = append(out, s.closed...)
	if s.has {
		out = append(out, s.cur)
	}
	return out
}

// closeTime returns the last millisecond of the candle opening at open.
func (f frame) closeTime(open time.Time) time.Time {
	return open.Add(f.d - time.Millisecond)
}

// toMarket converts c for the recorder, with the fields ex sends.
func (c *candle) toMarket(ex market.Exchange, sym market.Symbol, tf market.Timeframe, closed bool) market.Candle {
	mc := market.Candle{
		Meta:      market.Meta{Exchange: ex, Symbol: sym, Time: c.open},
		Timeframe: tf,
		Open:      c.o, High: c.h, Low: c.l, Close: c.c,
		Volume: c.vol,
		Trades: -1,
		Closed: closed,
	}
	switch ex {
	case market.OKX:
		mc.QuoteVolume = decimal.NewNullDecimal(c.quote)
	case market.Binance:
		mc.QuoteVolume = decimal.NewNullDecimal(c.quote)
		mc.Trades = c.n
	case market.Kraken:
		mc.Trades = c.n
	}
	return mc
}
