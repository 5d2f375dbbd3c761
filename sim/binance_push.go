package sim

import (
	"encoding/json"
	"fmt"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Binance stream payloads, fields in the documented order
// (web-socket-streams.md).

type binanceTrade struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	TradeID   int64  `json:"t"`
	Price     string `json:"p"`
	Qty       string `json:"q"`
	TradeTime int64  `json:"T"`
	Maker     bool   `json:"m"`
	Best      bool   `json:"M"`
}

type binanceAggTrade struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
	Symbol    string `json:"s"`
	AggID     int64  `json:"a"`
	Price     string `json:"p"`
	Qty       string `json:"q"`
	First     int64  `json:"f"`
	Last      int64  `json:"l"`
	TradeTime int64  `json:"T"`
	Maker     bool   `json:"m"`
	Best      bool   `json:"M"`
}

type binanceKline struct {
	Event     string           `json:"e"`
	EventTime int64            `json:"E"`
	Symbol    string           `json:"s"`
	K         binanceKlineBody `json:"k"`
}

type binanceKlineBody struct {
	Open      int64  `json:"t"`
	Close     int64  `json:"T"`
	Symbol    string `json:"s"`
	Interval  string `json:"i"`
	First     int64  `json:"f"`
	Last      int64  `json:"L"`
	O         string `json:"o"`
	C         string `json:"c"`
	H         string `json:"h"`
	L         string `json:"l"`
	Volume    string `json:"v"`
	Trades    int64  `json:"n"`
	Closed    bool   `json:"x"`
	Quote     string `json:"q"`
	BuyVolume string `json:"V"`
	BuyQuote  string `json:"Q"`
	Ignore    string `json:"B"`
}

type binanceTicker struct {
	Event       string `json:"e"`
	EventTime   int64  `json:"E"`
	Symbol      string `json:"s"`
	Change      string `json:"p"`
	ChangePct   string `json:"P"`
	WeightedAvg string `json:"w"`
	PrevClose   string `json:"x"`
	Last        string `json:"c"`
	LastQty     string `json:"Q"`
	Bid         string `json:"b"`
	BidQty      string `json:"B"`
	Ask         string `json:"a"`
	AskQty      string `json:"A"`
	Open        string `json:"o"`
	High        string `json:"h"`
	Low         string `json:"l"`
	Volume      string `json:"v"`
	QuoteVolume string `json:"q"`
	OpenTime    int64  `json:"O"`
	CloseTime   int64  `json:"C"`
	FirstID     int64  `json:"F"`
	LastID      int64  `json:"L"`
	Count       int64  `json:"n"`
}

type binanceShutdown struct {
	Event     string `json:"e"`
	EventTime int64  `json:"E"`
}

// binanceWrapped is a combined-stream event.
type binanceWrapped struct {
	Stream string          `json:"stream"`
	Data   json.RawMessage `json:"data"`
}

// binanceFanout queues payload for the subscribers of stream, wrapped for
// combined connections. s.mu is held.
func (s *Sim) binanceFanout(stream string, payload []byte) {
	var wrapped []byte
	for c := range s.topics[market.Binance][stream] {
		if b, ok := c.sess.(*binanceSession); ok && b.combined {
			if wrapped == nil {
				wrapped = encode(binanceWrapped{Stream: stream, Data: payload})
			}
			c.send(wrapped)
			continue
		}
		c.send(payload)
	}
}

// binancePublish pushes a trade (trade and aggTrade streams), its klines
// and its 24 h ticker. s.mu is held.
func (s *Sim) binancePublish(in *instrument, tr *trade, ups []seriesUpdate, tk *market.Ticker, live bool) {
	if !live {
		return
	}
	prefix := lower(in.native) + "@"
	for _, u := range ups {
		if u.closed != nil {
			s.binanceKline(in, prefix, u.s, u.closed, true, tr)
		}
	}
	if st := prefix + "trade"; s.subscribed(market.Binance, st) {
		s.binanceFanout(st, encode(binanceTrade{Event: "trade", EventTime: ms(tr.time), Symbol: in.native, TradeID: tr.id,
			Price: dec(tr.price), Qty: dec(tr.size), TradeTime: ms(tr.time), Maker: tr.side == market.Sell, Best: true}))
	}
	if st := prefix + "aggTrade"; s.subscribed(market.Binance, st) {
		s.binanceFanout(st, encode(binanceAggTrade{Event: "aggTrade", EventTime: ms(tr.time), Symbol: in.native, AggID: tr.id,
			Price: dec(tr.price), Qty: dec(tr.size), First: tr.id, Last: tr.id, TradeTime: ms(tr.time), Maker: tr.side == market.Sell, Best: true}))
	}
	for _, u := range ups {
		if u.push {
			s.binanceKline(in, prefix, u.s, &u.s.cur, false, tr)
		}
	}
	if tk != nil {
		s.binanceTicker(in, prefix+"ticker", tk)
	}
}

func (s *Sim) binanceKline(in *instrument, prefix string, sr *series, c *candle, closed bool, tr *trade) {
	st := prefix + "kline_" + sr.frame.name
	if !s.subscribed(market.Binance, st) {
		return
	}
	s.binanceFanout(st, encode(binanceKline{Event: "kline", EventTime: ms(tr.time), Symbol: in.native, K: binanceKlineBody{
		Open: ms(c.open), Close: ms(sr.frame.closeTime(c.open)), Symbol: in.native, Interval: sr.frame.name,
		First: c.first, Last: c.last, O: dec(c.o), C: dec(c.c), H: dec(c.h), L: dec(c.l),
		Volume: dec(c.vol), Trades: c.n, Closed: closed, Quote: dec(c.quote),
		BuyVolume: dec(c.buyVol), BuyQuote: dec(c.buyQte), Ignore: "0",
	}}))
}

func (s *Sim) binanceTicker(in *instrument, stream string, tk *market.Ticker) {
	if !s.subscribed(market.Binance, stream) {
		return
	}
	st := in.day.stats(in.trades)
	pd := in.cfg.PriceDecimals
	change := tk.Last.Decimal.Sub(st.open)
	pct := decimal.Zero
	if st.open.IsPositive() {
		pct = change.Div(st.open).Mul(decimal.NewFromInt(100))
	}
	avg := tk.Last.Decimal
	if st.vol.IsPositive() {
		avg = st.quote.Div(st.vol)
	}
	last := in.trades[len(in.trades)-1]
	s.binanceFanout(stream, encode(binanceTicker{
		Event: "24hrTicker", EventTime: ms(tk.Time), Symbol: in.native,
		Change: dec(change), ChangePct: pct.StringFixed(2), WeightedAvg: avg.StringFixed(pd),
		PrevClose: dec(st.prevClose), Last: dec(tk.Last.Decimal), LastQty: dec(last.size),
		Bid: dec(tk.Bid.Decimal), BidQty: dec(tk.BidSize.Decimal), Ask: dec(tk.Ask.Decimal), AskQty: dec(tk.AskSize.Decimal),
		Open: dec(tk.Open24h.Decimal), High: dec(tk.High24h.Decimal), Low: dec(tk.Low24h.Decimal),
		Volume: dec(tk.Volume24h.Decimal), QuoteVolume: dec(tk.QuoteVolume24h.Decimal),
		OpenTime: ms(tk.Time) - 24*3600*1000, CloseTime: ms(tk.Time),
		FirstID: st.first, LastID: st.last, Count: st.count,
	}))
}

// binanceShutdownEvent sends serverShutdown to every connection: raw or
// wrapped (stream "!serverShutdown") on market data connections, in an
// "event" envelope on WebSocket API connections (PROTOCOLS.md §6: {"event":
// {"e":"serverShutdown","E":…}}). s.mu is held.
func (s *Sim) binanceShutdownEvent() {
	ev := binanceShutdown{Event: "serverShutdown", EventTime: ms(s.clock)}
	payload := encode(ev)
	wrapped := encode(binanceWrapped{Stream: "!serverShutdown", Data: payload})
	api := encode(struct {
		Event binanceShutdown `json:"event"`
	}{ev})
	for c := range s.conns[market.Binance] {
		switch b := c.sess.(type) {
		case *binanceAPISession:
			c.send(api)
		case *binanceSession:
			if b.combined {
				c.send(wrapped)
			} else {
				c.send(payload)
			}
		default:
			c.send(payload)
		}
	}
}

// binanceStreamTopics returns the Binance stream names of st.
func binanceStreamTopics(st market.Stream) ([]string, error) {
	p := lower(nativeSymbol(market.Binance, st.Symbol)) + "@"
	switch st.Type {
	case market.TypeTrade:
		return []string{p + "trade", p + "aggTrade"}, nil
	case market.TypeTicker:
		return []string{p + "ticker"}, nil
	case market.TypeOrderBook:
		return []string{p + "depth@100ms"}, nil
	case market.TypeCandle:
		return []string{p + "kline_" + string(st.Timeframe)}, nil
	}
	return nil, fmt.Errorf("binance does not serve %s", st.Type)
}
