package bench

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
	"marketetl/sim"
)

// The channels a phase's frames are served on: one per WebSocket URL the
// exchange's adapter dials.
const (
	chanBinance     = "binance"      // combined streams: trades and klines
	chanOKXPublic   = "okx-public"   // trades
	chanOKXBusiness = "okx-business" // candles
	chanCoinbase    = "coinbase"     // matches (Coinbase streams no candles)
	chanKraken      = "kraken"       // trades (a Kraken candle closes only on the next one)
)

// Workload describes the records of one phase. The same Workload always
// produces the same frames.
type Workload struct {
	Exchange market.Exchange `json:"exchange"`
	// Seed drives the random walk of prices and sizes.
	Seed uint64 `json:"seed"`
	// Trades is the number of trades, spread round-robin over the markets.
	Trades int `json:"trades"`
	// CandleEvery adds one closed 1-minute candle after every CandleEvery
	// trades (0: none; always none on Coinbase, which streams no candles,
	// and on Kraken, whose candles close only when the next one arrives).
	CandleEvery int `json:"candle_every"`
	// Slot separates the phases' records: trade ids, trade times and
	// candle times of different slots never overlap.
	Slot int `json:"slot"`
	// Now anchors the exchange times: every trade and candle lies before it.
	Now time.Time `json:"now"`
}

// Counts are the records of a workload, by type.
type Counts struct {
	Trades  int `json:"trades"`
	Candles int `json:"candles"`
}

// Records is the number of records.
func (c Counts) Records() int { return c.Trades + c.Candles }

// Counts returns how many records w produces.
func (w Workload) Counts() Counts {
	c := Counts{Trades: w.Trades}
	if w.CandleEvery > 0 && w.Exchange != market.Coinbase && w.Exchange != market.Kraken {
		c.Candles = w.Trades / w.CandleEvery
	}
	return c
}

// The layout of slots: trades of slot s are 1 ms apart from
// Now - 12h + s·slotSpan; candles 1 minute apart from Now - 4 years +
// s·candleSpan; trade ids from (s+1)·idSpan.
const (
	tradeStep  = time.Millisecond
	slotSpan   = 2 * time.Hour
	candleSpan = 240 * 24 * time.Hour
	idSpan     = 1_000_000_000
	maxSlots   = 5
)

// check reports whether w fits its slot.
func (w Workload) check() error {
	if !w.Exchange.Known() {
		return fmt.Errorf("workload: unknown exchange %q", w.Exchange)
	}
	if w.Slot < 0 || w.Slot >= maxSlots {
		return fmt.Errorf("workload: slot %d: want 0 to %d", w.Slot, maxSlots-1)
	}
	if w.Trades < 0 || time.Duration(w.Trades)*tradeStep > slotSpan {
		return fmt.Errorf("workload: %d trades: want 0 to %d per phase", w.Trades, int(slotSpan/tradeStep))
	}
	if w.CandleEvery < 0 {
		return errors.New("workload: negative candle interval")
	}
	markets := sim.DefaultMarkets(w.Exchange)
	if n := w.Counts().Candles / max(1, len(markets)); time.Duration(n+1)*time.Minute > candleSpan {
		return fmt.Errorf("workload: %d candles per market do not fit in a slot", n)
	}
	if w.Now.IsZero() {
		return errors.New("workload: no anchor time")
	}
	return nil
}

// tradeBase is the time of w's first trade: its trades lie in
// [tradeBase, tradeBase+slotSpan).
func (w Workload) tradeBase() time.Time {
	return w.Now.Add(-12*time.Hour + time.Duration(w.Slot)*slotSpan).UTC().Truncate(time.Millisecond)
}

// candleBase is the open time of w's first candles: its candles lie in
// [candleBase, candleBase+candleSpan).
func (w Workload) candleBase() time.Time {
	return w.Now.Add(-4*365*24*time.Hour + time.Duration(w.Slot)*candleSpan).UTC().Truncate(time.Minute)
}

// walker is one market's random walk.
type walker struct {
	m      sim.Market
	tick   decimal.Decimal
	price  decimal.Decimal
	units  int64 // sizes are 1..units × 10^-SizeDecimals
	nextID int64
	candle time.Time // open time of the next candle
}

// generate calls emit for every record of w, in the order they are sent.
// The records are the truth a benchmark compares the database with.
func (w Workload) generate(emit func(rec market.Record) error) error {
	if err := w.check(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(w.Seed, uint64(w.Slot)+1))
	markets := sim.DefaultMarkets(w.Exchange)
	walkers := make([]*walker, len(markets))
	tradeBase, candleBase := w.tradeBase(), w.candleBase()
	for i, m := range markets {
		tick := m.Tick
		if tick.IsZero() {
			tick = decimal.New(1, -m.PriceDecimals)
		}
		maxSize := m.MaxSize
		if maxSize.IsZero() {
			maxSize = decimal.NewFromInt(1)
		}
		walkers[i] = &walker{m: m, tick: tick, price: m.Price.Round(m.PriceDecimals),
			units: maxSize.Shift(m.SizeDecimals).IntPart(), nextID: int64(w.Slot+1) * idSpan, candle: candleBase}
	}
	candles := w.Counts().Candles > 0
	for i := 0; i < w.Trades; i++ {
		wk := walkers[i%len(walkers)]
		wk.step(rng)
		tr := &market.Trade{
			Meta:    market.Meta{Exchange: w.Exchange, Symbol: wk.m.Symbol, Time: tradeBase.Add(time.Duration(i) * tradeStep)},
			TradeID: strconv.FormatInt(wk.nextID, 10),
			Price:   wk.price,
			Size:    wk.size(rng),
			Side:    market.Buy,
		}
		if rng.IntN(2) == 1 {
			tr.Side = market.Sell
		}
		wk.nextID++
		if err := emit(tr); err != nil {
			return err
		}
		if candles && (i+1)%w.CandleEvery == 0 {
			ck := walkers[(i/w.CandleEvery)%len(walkers)]
			if err := emit(ck.nextCandle(rng, w.Exchange)); err != nil {
				return err
			}
		}
	}
	return nil
}

// step moves the price by -5..5 ticks, staying positive.
func (wk *walker) step(rng *rand.Rand) {
	move := decimal.NewFromInt(int64(rng.IntN(11) - 5))
	p := wk.price.Add(wk.tick.Mul(move))
	if !p.IsPositive() {
		p = wk.price.Sub(wk.tick.Mul(move))
	}
	wk.price = p.Round(wk.m.PriceDecimals)
}

// size draws a size with the market's decimals.
func (wk *walker) size(rng *rand.Rand) decimal.Decimal {
	return decimal.New(rng.Int64N(wk.units)+1, -wk.m.SizeDecimals)
}

// nextCandle returns the market's next closed 1-minute candle around the
// current price.
func (wk *walker) nextCandle(rng *rand.Rand, ex market.Exchange) *market.Candle {
	pd := wk.m.PriceDecimals
	spread := func() decimal.Decimal { return wk.tick.Mul(decimal.NewFromInt(int64(rng.IntN(20)))) }
	open := wk.price
	cls := open.Add(wk.tick.Mul(decimal.NewFromInt(int64(rng.IntN(21) - 10))))
	if !cls.IsPositive() {
		cls = open
	}
	high := decimal.Max(open, cls).Add(spread()).Round(pd)
	low := decimal.Min(open, cls).Sub(spread())
	if !low.IsPositive() {
		low = decimal.Min(open, cls)
	}
	vol := wk.size(rng).Mul(decimal.NewFromInt(int64(1 + rng.IntN(50))))
	c := &market.Candle{
		Meta:      market.Meta{Exchange: ex, Symbol: wk.m.Symbol, Time: wk.candle},
		Timeframe: market.TF1m,
		Open:      open.Round(pd), High: high, Low: low.Round(pd), Close: cls.Round(pd),
		Volume:      vol,
		QuoteVolume: decimal.NewNullDecimal(vol.Mul(open)),
		Trades:      int64(1 + rng.IntN(500)),
		Closed:      true,
	}
	if ex == market.OKX {
		c.Trades = -1
	}
	wk.candle = wk.candle.Add(time.Minute)
	return c
}

// channelOf names the channel that carries rec on ex.
func channelOf(ex market.Exchange, rec market.Record) string {
	switch ex {
	case market.Binance:
		return chanBinance
	case market.OKX:
		if rec.DataType() == market.TypeCandle {
			return chanOKXBusiness
		}
		return chanOKXPublic
	case market.Kraken:
		return chanKraken
	}
	return chanCoinbase
}

// channels lists the channels of ex.
func channels(ex market.Exchange) []string {
	switch ex {
	case market.Binance:
		return []string{chanBinance}
	case market.OKX:
		return []string{chanOKXPublic, chanOKXBusiness}
	case market.Kraken:
		return []string{chanKraken}
	}
	return []string{chanCoinbase}
}

// frameOf encodes rec as ex's push frame, with the simulated exchange's
// encoders. seq numbers the frames of the channel.
func frameOf(ex market.Exchange, rec market.Record, seq int64) ([]byte, error) {
	switch r := rec.(type) {
	case *market.Trade:
		return sim.TradeFrame(ex, *r, seq)
	case *market.Candle:
		// The event is sent right after the candle closed.
		return sim.CandleFrame(ex, *r, r.Time.Add(time.Minute))
	}
	return nil, fmt.Errorf("frame of %T: not generated", rec)
}

// frames holds one channel's pre-encoded WebSocket frames back to back.
type frames struct {
	data []byte
	// ends[i] is the end offset of frame i in data.
	ends []int
}

// n is the number of frames.
func (f *frames) n() int { return len(f.ends) }

// start returns the offset of frame i.
func (f *frames) start(i int) int {
	if i == 0 {
		return 0
	}
	return f.ends[i-1]
}

// encodeFrames generates w and encodes its records as WebSocket text
// frames, by channel.
func encodeFrames(w Workload) (map[string]*frames, error) {
	out := map[string]*frames{}
	for _, ch := range channels(w.Exchange) {
		out[ch] = &frames{}
	}
	seq := map[string]int64{}
	err := w.generate(func(rec market.Record) error {
		ch := channelOf(w.Exchange, rec)
		seq[ch]++
		payload, err := frameOf(w.Exchange, rec, seq[ch])
		if err != nil {
			return err
		}
		f := out[ch]
		f.data = appendTextFrame(f.data, payload)
		f.ends = append(f.ends, len(f.data))
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
