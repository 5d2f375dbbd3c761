// Package aggregate builds OHLCV candles from trades, for exchanges that do
// not stream candles (Coinbase) and for any timeframe.
//
// A Builder is fed one symbol's trades in arrival order. A candle's open is
// the price of its earliest trade by trade time and its close the price of
// its latest (ties keep arrival order), high and low the extremes, volume
// the exact sum of sizes, quote volume the exact sum of price × size. A
// bucket without trades has no candle, as on Coinbase's REST API. A bucket
// is closed when a trade of a later bucket arrives or when Advance is told
// (from an exchange heartbeat's time) that its end has passed; a trade that
// arrives for a bucket already closed is counted as late and ignored: the
// REST reconciliation corrects such candles.
package aggregate

import (
	"errors"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Config tunes a Builder.
type Config struct {
	// FormingEvery is the least exchange time between two forming updates
	// of the same candle. Default 1s; a negative value emits one per trade.
	FormingEvery time.Duration
}

// Builder builds the candles of several timeframes for one exchange and
// symbol. It is not safe for concurrent use.
type Builder struct {
	exchange market.Exchange
	symbol   market.Symbol
	every    time.Duration
	frames   []*frame
	late     uint64
}

// frame is one timeframe's open candle.
type frame struct {
	tf       market.Timeframe
	open     bool // a candle is being built
	c        market.Candle
	firstTS  time.Time // trade time of the open price
	lastTS   time.Time // trade time of the close price
	lastEmit time.Time // exchange time of the last forming update
	emitted  bool      // a forming update was emitted for this candle
	closedTo time.Time // end of the last closed bucket
}

// New returns a Builder for the timeframes tfs of exchange and sym.
func New(exchange market.Exchange, sym market.Symbol, tfs []market.Timeframe, cfg Config) (*Builder, error) {
	if len(tfs) == 0 {
		return nil, errors.New("new candle builder: no timeframe")
	}
	if cfg.FormingEvery == 0 {
		cfg.FormingEvery = time.Second
	}
	if cfg.FormingEvery < 0 {
		cfg.FormingEvery = 0
	}
	b := &Builder{exchange: exchange, symbol: sym, every: cfg.FormingEvery}
	seen := map[market.Timeframe]bool{}
	for _, tf := range tfs {
		if !tf.Known() {
			return nil, fmt.Errorf("new candle builder: unknown timeframe %q", string(tf))
		}
		if seen[tf] {
			continue
		}
		seen[tf] = true
		b.frames = append(b.frames, &frame{tf: tf})
	}
	return b, nil
}

// Late returns how many trades arrived for a bucket that was already closed.
func (b *Builder) Late() uint64 { return b.late }

// Add folds trade t in. It appends to out the candles t closed (a trade of
// a later bucket closes the open one) and, at most once per FormingEvery
// of exchange time, a forming update of each candle t changed; it returns
// out. Trades of another exchange or symbol are ignored.
func (b *Builder) Add(t *market.Trade, out []*market.Candle) []*market.Candle {
	if t.Exchange != b.exchange || t.Symbol != b.symbol {
		return out
	}
	ts := t.Time.UTC()
	countedLate := false
	for _, f := range b.frames {
		start := f.tf.Truncate(ts)
		if !f.closedTo.IsZero() && start.Before(f.closedTo) {
			if !countedLate {
				b.late++
				countedLate = true
			}
			continue
		}
		if f.open && start.After(f.c.Time) {
			out = append(out, b.close(f, t.Received))
		}
		if !f.open {
			f.open = true
			f.emitted = false
			f.c = market.Candle{
				Meta:      market.Meta{Exchange: b.exchange, Symbol: b.symbol, Time: start},
				Timeframe: f.tf,
				Open:      t.Price, High: t.Price, Low: t.Price, Close: t.Price,
				Volume:      decimal.Zero,
				QuoteVolume: decimal.NullDecimal{Decimal: decimal.Zero, Valid: true},
			}
			f.firstTS, f.lastTS = ts, ts
		}
		f.fold(t, ts)
		if b.every == 0 || !f.emitted || ts.Sub(f.lastEmit) >= b.every {
			f.lastEmit = ts
			f.emitted = true
			c := f.c
			c.Received = t.Received
			out = append(out, &c)
		}
	}
	return out
}

func (f *frame) fold(t *market.Trade, ts time.Time) {
	c := &f.c
	if ts.Before(f.firstTS) {
		c.Open = t.Price
		f.firstTS = ts
	}
	if !ts.Before(f.lastTS) {
		c.Close = t.Price
		f.lastTS = ts
	}
	if t.Price.GreaterThan(c.High) {
		c.High = t.Price
	}
	if t.Price.LessThan(c.Low) {
		c.Low = t.Price
	}
	c.Volume = c.Volume.Add(t.Size)
	c.QuoteVolume.Decimal = c.QuoteVolume.Decimal.Add(t.Price.Mul(t.Size))
	if c.Trades < 0 {
		c.Trades = 0
	}
	c.Trades++
}

// Advance closes every open candle whose bucket ended at or before exchange
// time now, appending them to out, and returns out.
func (b *Builder) Advance(now time.Time, out []*market.Candle) []*market.Candle {
	for _, f := range b.frames {
		if f.open && !f.c.Time.Add(f.tf.Duration()).After(now) {
			out = append(out, b.close(f, now))
		}
	}
	return out
}

// close finishes f's candle and returns it, stamped as received at received.
func (b *Builder) close(f *frame, received time.Time) *market.Candle {
	c := f.c
	c.Closed = true
	c.Received = received
	f.open = false
	f.closedTo = c.Time.Add(f.tf.Duration())
	return &c
}
