package sim

import (
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// trade is one execution as the simulated exchange keeps it.
type trade struct {
	id          int64
	time        time.Time
	price, size decimal.Decimal
	quote       decimal.Decimal // price × size
	side        market.Side     // the taker's side
	// seq is the Coinbase sequence number of the trade's match message.
	seq int64
}

// dayOpen is the first price of a day, for OKX's sodUtc0 and sodUtc8.
type dayOpen struct {
	start time.Time
	price decimal.Decimal
}

func (d *dayOpen) update(start time.Time, price decimal.Decimal) {
	if !d.start.Equal(start) {
		d.start, d.price = start, price
	}
}

// instrument is the state of one market of one exchange. Its fields are
// guarded by Sim.mu.
type instrument struct {
	ex     market.Exchange
	sym    market.Symbol
	native string // the exchange's own name: BTC-USDT, BTCUSDT, BTC-USD
	cfg    Market
	rng    *rand.Rand

	maxUnits int64 // MaxSize in units of 10^-SizeDecimals
	price    decimal.Decimal
	nextID   int64
	trades   []trade // the valid trades, ascending ids
	invalid  []market.Trade

	series []*series
	byName map[string]*series // by the exchange's frame name

	day, month window // 24 h and 30 days
	sodUTC0    dayOpen
	sodUTC8    dayOpen

	bid, ask, bidSize, askSize decimal.Decimal

	tickers        []market.Ticker // ring of the latest published tickers
	tickerHead     int             // index of the oldest once the ring is full
	tickerCount    int
	tickerThrottle time.Duration
	tickerPush     time.Time

	// seq is OKX's trades seqId or Coinbase's sequence number: the last
	// value used.
	seq int64
	// lastMatch is the latest trade published on Coinbase's matches
	// channel (a copy), nil before the first.
	lastMatch *trade
	// book is the market's order book (book.go), made on first use.
	book *simBook
}

// nativeSymbol returns the exchange's name for sym.
func nativeSymbol(ex market.Exchange, sym market.Symbol) string {
	switch ex {
	case market.Binance:
		return sym.Base() + sym.Quote()
	case market.Kraken:
		return sym.Base() + "/" + sym.Quote()
	}
	return string(sym)
}

func newInstrument(ex market.Exchange, m Market, seed int64, frames []frame, throttle, tickerThrottle time.Duration) *instrument {
	h := fnv.New64a()
	h.Write([]byte(string(ex) + "/" + string(m.Symbol)))
	in := &instrument{
		ex: ex, sym: m.Symbol, native: nativeSymbol(ex, m.Symbol), cfg: m,
		rng:            rand.New(rand.NewPCG(uint64(seed), h.Sum64())),
		maxUnits:       m.MaxSize.Shift(m.SizeDecimals).IntPart(),
		price:          m.Price.Round(m.PriceDecimals),
		nextID:         m.FirstTradeID,
		byName:         make(map[string]*series, len(frames)),
		day:            window{span: 24 * time.Hour},
		month:          window{span: 30 * 24 * time.Hour},
		tickerThrottle: tickerThrottle,
	}
	for _, f := range frames {
		s := &series{frame: f, throttle: throttle}
		in.series = append(in.series, s)
		in.byName[f.name] = s
	}
	return in
}

// next generates the instrument's next trade at t and folds it into the
// candles and rolling statistics. It returns the new trade and what
// happened to each series.
func (in *instrument) next(t time.Time) (*trade, []seriesUpdate) {
	tick := in.cfg.Tick
	move := int64(in.rng.IntN(11) - 5)
	p := in.price.Add(tick.Mul(decimal.NewFromInt(move)))
	if !p.IsPositive() {
		p = in.price.Add(tick.Mul(decimal.NewFromInt(-move)))
	}
	in.price = p.Round(in.cfg.PriceDecimals)
	tr := trade{
		id:    in.nextID,
		time:  t,
		price: in.price,
		size:  decimal.New(in.rng.Int64N(in.maxUnits)+1, -in.cfg.SizeDecimals),
		side:  market.Buy,
	}
	if in.rng.IntN(2) == 1 {
		tr.side = market.Sell
	}
	tr.quote = tr.price.Mul(tr.size)
	in.nextID++

	// The book around the last price: one to three ticks away.
	in.bid = in.price.Sub(tick.Mul(decimal.NewFromInt(int64(1 + in.rng.IntN(3))))).Round(in.cfg.PriceDecimals)
	if !in.bid.IsPositive() {
		in.bid = in.price
	}
	in.ask = in.price.Add(tick.Mul(decimal.NewFromInt(int64(1 + in.rng.IntN(3))))).Round(in.cfg.PriceDecimals)
	in.bidSize = decimal.New(in.rng.Int64N(in.maxUnits)+1, -in.cfg.SizeDecimals)
	in.askSize = decimal.New(in.rng.Int64N(in.maxUnits)+1, -in.cfg.SizeDecimals)

	in.trades = append(in.trades, tr)
	i := len(in.trades) - 1
	in.day.add(in.trades, i)
	in.month.add(in.trades, i)
	in.sodUTC0.update(t.Truncate(24*time.Hour), tr.price)
	in.sodUTC8.update(frame{d: 24 * time.Hour, origin: epoch.Add(-utc8)}.bucket(t), tr.price)

	ups := make([]seriesUpdate, len(in.series))
	for k, s := range in.series {
		ups[k] = s.add(&in.trades[i])
	}
	return &in.trades[i], ups
}

// invalidTrade makes a well-formed trade with an invalid value at t,
// alternately a zero size and a negative price. It takes the next trade id
// but is kept apart from the valid trades: no candle, ticker or REST
// answer includes it.
func (in *instrument) invalidTrade(t time.Time) trade {
	tr := trade{id: in.nextID, time: t, price: in.price, size: decimal.New(1, -in.cfg.SizeDecimals), side: market.Buy}
	if len(in.invalid)%2 == 0 {
		tr.size = decimal.New(0, -in.cfg.SizeDecimals)
	} else {
		tr.price = decimal.New(-1, 0).Round(in.cfg.PriceDecimals)
	}
	in.nextID++
	in.invalid = append(in.invalid, in.toMarket(&tr))
	return tr
}

// tickerDue reports whether a ticker is due at t, and if so takes the turn.
func (in *instrument) tickerDue(t time.Time) bool {
	if !in.tickerPush.IsZero() && t.Sub(in.tickerPush) < in.tickerThrottle {
		return false
	}
	in.tickerPush = t
	return true
}

// ticker returns the instrument's ticker at t, with the fields its
// exchange sends.
func (in *instrument) ticker(t time.Time) market.Ticker {
	st := in.day.stats(in.trades)
	tk := market.Ticker{
		Meta:    market.Meta{Exchange: in.ex, Symbol: in.sym, Time: t},
		Last:    decimal.NewNullDecimal(in.price),
		Bid:     decimal.NewNullDecimal(in.bid),
		Ask:     decimal.NewNullDecimal(in.ask),
		BidSize: decimal.NewNullDecimal(in.bidSize),
		AskSize: decimal.NewNullDecimal(in.askSize),
		Open24h: decimal.NewNullDecimal(st.open),
		High24h: decimal.NewNullDecimal(st.high),
		Low24h:  decimal.NewNullDecimal(st.low),

		Volume24h:      decimal.NewNullDecimal(st.vol),
		QuoteVolume24h: decimal.NewNullDecimal(st.quote),
	}
	if in.ex == market.Coinbase || in.ex == market.Kraken {
		tk.QuoteVolume24h = decimal.NullDecimal{}
	}
	return tk
}

// record keeps a published ticker, within the history limit.
func (in *instrument) record(tk market.Ticker, limit int) {
	in.tickerCount++
	switch {
	case limit == 0:
	case len(in.tickers) < limit:
		in.tickers = append(in.tickers, tk)
	default:
		in.tickers[in.tickerHead] = tk
		in.tickerHead = (in.tickerHead + 1) % limit
	}
}

// recentTickers returns the kept tickers, oldest first.
func (in *instrument) recentTickers() []market.Ticker {
	out := make([]market.Ticker, 0, len(in.tickers))
	out = append(out, in.tickers[in.tickerHead:]...)
	return append(out, in.tickers[:in.tickerHead]...)
}

// toMarket converts tr for the recorder.
func (in *instrument) toMarket(tr *trade) market.Trade {
	return market.Trade{
		Meta:    market.Meta{Exchange: in.ex, Symbol: in.sym, Time: tr.time},
		TradeID: itoa(tr.id),
		Price:   tr.price,
		Size:    tr.size,
		Side:    tr.side,
	}
}

// lower returns the Binance stream-name form of a symbol.
func lower(s string) string { return strings.ToLower(s) }
