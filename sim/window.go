package sim

import (
	"time"

	"github.com/shopspring/decimal"
)

// window keeps rolling statistics over the trades of the last span of
// exchange time: volumes as exact running sums, high and low through
// monotonic queues of trade indices.
type window struct {
	span  time.Duration
	start int // index of the first trade inside the window
	vol   decimal.Decimal
	quote decimal.Decimal
	highs []int // indices with decreasing prices: highs[0] is the high
	lows  []int // indices with increasing prices: lows[0] is the low
	// before is the price of the last trade that left the window, valid
	// when hasBefore.
	before    decimal.Decimal
	hasBefore bool
}

// add takes in trades[i], the newest trade, and drops the trades that are
// older than span before it.
func (w *window) add(trades []trade, i int) {
	tr := &trades[i]
	w.vol = w.vol.Add(tr.size)
	w.quote = w.quote.Add(tr.quote)
	for len(w.highs) > 0 && trades[w.highs[len(w.highs)-1]].price.LessThanOrEqual(tr.price) {
		w.highs = w.highs[:len(w.highs)-1]
	}
	w.highs = append(w.highs, i)
	for len(w.lows) > 0 && trades[w.lows[len(w.lows)-1]].price.GreaterThanOrEqual(tr.price) {
		w.lows = w.lows[:len(w.lows)-1]
	}
	w.lows = append(w.lows, i)

	limit := tr.time.Add(-w.span)
	for w.start < i && !trades[w.start].time.After(limit) {
		old := &trades[w.start]
		w.vol = w.vol.Sub(old.size)
		w.quote = w.quote.Sub(old.quote)
		w.before, w.hasBefore = old.price, true
		w.start++
	}
	for w.highs[0] < w.start {
		w.highs = w.highs[1:]
	}
	for w.lows[0] < w.start {
		w.lows = w.lows[1:]
	}
}

// stats is the window's summary, valid after at least one add.
type stats struct {
	open, high, low decimal.Decimal
	vol, quote      decimal.Decimal
	// prevClose is the last price before the window, or open if none.
	prevClose   decimal.Decimal
	first, last int64 // first and last trade ids in the window
	count       int64
}

func (w *window) stats(trades []trade) stats {
	last := len(trades) - 1
	st := stats{
		open:  trades[w.start].price,
		high:  trades[w.highs[0]].price,
		low:   trades[w.lows[0]].price,
		vol:   w.vol,
		quote: w.quote,
		first: trades[w.start].id,
		last:  trades[last].id,
		count: int64(last - w.start + 1),
	}
	st.prevClose = st.open
	if w.hasBefore {
		st.prevClose = w.before
	}
	return st
}
