package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Kraken spot WebSocket v2 (PROTOCOLS.md §8), served at /kraken/v2:
// the status frame on connect, subscribe/unsubscribe with one answer per
// symbol, channels trade (no snapshot by default), ticker and ohlc (with
// a snapshot by default), heartbeats about once a second once anything is
// subscribed, and {"method":"ping"} answered with pong. Prices and
// quantities are JSON numbers.

// krakenIntervals maps the timeframes Kraken's ohlc channel serves to
// their interval in minutes (1w is left out: Kraken's weeks are aligned on
// the Unix epoch, not on Mondays).
var krakenIntervals = map[market.Timeframe]int64{
	market.TF1m: 1, market.TF5m: 5, market.TF15m: 15, market.TF30m: 30,
	market.TF1h: 60, market.TF4h: 240, market.TF1d: 1440,
}

// krakenTimeWS is the WebSocket API's time format.
const krakenTimeWS = "2006-01-02T15:04:05.000000Z"

type krakenRequest struct {
	Method string `json:"method"`
	Params struct {
		Channel  string   `json:"channel"`
		Symbol   []string `json:"symbol"`
		Interval int64    `json:"interval"`
		Snapshot *bool    `json:"snapshot"`
	} `json:"params"`
	ReqID *int64 `json:"req_id,omitempty"`
}

// krakenResult is the result of a subscribe or unsubscribe answer, keys
// in Kraken's (alphabetical) order. An unsubscribe result has no snapshot
// (websocket-v2/ohlc, "Example: Unsubscribe Ack"); an ohlc subscribe
// result carries the deprecation warning of the ohlc page's example.
type krakenResult struct {
	Channel string `json:"channel"`
	// EventTrigger is in the ticker's unsubscribe result only (the
	// ticker page's "Example: Unsubscribe Ack").
	EventTrigger string   `json:"event_trigger,omitempty"`
	Interval     int64    `json:"interval,omitempty"`
	Snapshot     *bool    `json:"snapshot,omitempty"`
	Symbol       string   `json:"symbol"`
	Warnings     []string `json:"warnings,omitempty"`
}

// krakenOHLCWarning is the warning of the ohlc subscribe acknowledgement.
const krakenOHLCWarning = "timestamp is deprecated, use interval_begin"

// krakenAnswer answers a method. Kraken writes the members of its answers
// in alphabetical order: the documented acknowledgements
// (method, result, success, time_in, time_out), pong (method, req_id,
// time_in, time_out) and the observed refusal (error, method, success,
// symbol).
type krakenAnswer struct {
	Error   string        `json:"error,omitempty"`
	Method  string        `json:"method"`
	ReqID   *int64        `json:"req_id,omitempty"`
	Result  *krakenResult `json:"result,omitempty"`
	Success bool          `json:"success"`
	Symbol  string        `json:"symbol,omitempty"`
	TimeIn  string        `json:"time_in"`
	TimeOut string        `json:"time_out"`
}

// krakenPong answers ping (websocket-v2/ping); req_id only when the ping
// had one.
type krakenPong struct {
	Method  string `json:"method"`
	ReqID   *int64 `json:"req_id,omitempty"`
	TimeIn  string `json:"time_in"`
	TimeOut string `json:"time_out"`
}

type krakenPush struct {
	Channel string `json:"channel"`
	Type    string `json:"type"`
	Data    any    `json:"data"`
}

// krakenOHLCPush is an ohlc push: unlike the other channels it carries a
// top-level timestamp, the time of sending with nine fractional digits
// (websocket-v2/ohlc, snapshot and update examples).
type krakenOHLCPush struct {
	Channel   string       `json:"channel"`
	Type      string       `json:"type"`
	Timestamp string       `json:"timestamp"`
	Data      []krakenOHLC `json:"data"`
}

// krakenTimeNS is the format of the ohlc push's timestamp and of
// interval_begin.
const krakenTimeNS = "2006-01-02T15:04:05.000000000Z"

type krakenTrade struct {
	Symbol    string      `json:"symbol"`
	Side      string      `json:"side"`
	Price     json.Number `json:"price"`
	Qty       json.Number `json:"qty"`
	OrdType   string      `json:"ord_type"`
	TradeID   int64       `json:"trade_id"`
	Timestamp string      `json:"timestamp"`
}

type krakenTicker struct {
	Symbol    string      `json:"symbol"`
	Bid       json.Number `json:"bid"`
	BidQty    json.Number `json:"bid_qty"`
	Ask       json.Number `json:"ask"`
	AskQty    json.Number `json:"ask_qty"`
	Last      json.Number `json:"last"`
	Volume    json.Number `json:"volume"`
	VWAP      json.Number `json:"vwap"`
	Low       json.Number `json:"low"`
	High      json.Number `json:"high"`
	Change    json.Number `json:"change"`
	ChangePct json.Number `json:"change_pct"`
	Timestamp string      `json:"timestamp"`
}

type krakenOHLC struct {
	Symbol        string      `json:"symbol"`
	Open          json.Number `json:"open"`
	High          json.Number `json:"high"`
	Low           json.Number `json:"low"`
	Close         json.Number `json:"close"`
	Trades        int64       `json:"trades"`
	Volume        json.Number `json:"volume"`
	VWAP          json.Number `json:"vwap"`
	IntervalBegin string      `json:"interval_begin"`
	Interval      int64       `json:"interval"`
	Timestamp     string      `json:"timestamp"`
}

// num writes d as a JSON number with its digits.
func num(d decimal.Decimal) json.Number { return json.Number(dec(d)) }

// vwap is quote/volume rounded to Kraken's 8 places (0 without volume).
func vwap(quote, vol decimal.Decimal) json.Number {
	if vol.IsZero() {
		return "0"
	}
	return num(quote.DivRound(vol, 8))
}

// krakenSession is one Kraken connection.
type krakenSession struct{ c *conn }

func (s *Sim) krakenWS(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, market.Kraken, func(c *conn) session { return &krakenSession{c: c} })
}

// opened sends the status frame. s.mu is held.
func (k *krakenSession) opened() {
	// Field order of the documented frame (guides/spot-ws-intro).
	k.c.send(encode(struct {
		Channel string           `json:"channel"`
		Data    []map[string]any `json:"data"`
		Type    string           `json:"type"`
	}{"status", []map[string]any{{"api_version": "v2", "connection_id": k.c.s.connSeq, "system": "online", "version": "2.0.0"}}, "update"}))
}

// watch does nothing: heartbeats come from the simulator's heartbeat loop.
func (k *krakenSession) watch(ctx context.Context) { <-ctx.Done() }

func (k *krakenSession) handle(msg []byte) {
	s, c := k.c.s, k.c
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Format(krakenTimeWS)
	var req krakenRequest
	if err := json.Unmarshal(msg, &req); err != nil {
		c.send(encode(krakenAnswer{Error: "Malformed request", Success: false, TimeIn: now, TimeOut: now}))
		return
	}
	switch req.Method {
	case "ping":
		c.send(encode(krakenPong{Method: "pong", ReqID: req.ReqID, TimeIn: now, TimeOut: now}))
		return
	case "subscribe", "unsubscribe":
	default:
		c.send(encode(krakenAnswer{Method: req.Method, Error: "Method not found", ReqID: req.ReqID, TimeIn: now, TimeOut: now}))
		return
	}
	p := req.Params
	fail := func(sym, msg string) {
		c.send(encode(krakenAnswer{Method: req.Method, Error: msg, Symbol: sym, ReqID: req.ReqID, TimeIn: now, TimeOut: now}))
	}
	switch p.Channel {
	case "trade", "ticker", "ohlc":
	default:
		fail("", "Channel "+strconv.Quote(p.Channel)+" not found")
		return
	}
	if p.Channel == "ohlc" && !slices.Contains([]int64{1, 5, 15, 30, 60, 240, 1440, 10080, 21600}, p.Interval) {
		fail("", "Invalid interval")
		return
	}
	snapshot := p.Channel != "trade"
	if p.Snapshot != nil {
		snapshot = *p.Snapshot
	}
	for _, sym := range p.Symbol {
		in := s.listed(market.Kraken, sym)
		if in == nil {
			fail(sym, "Currency pair not supported "+sym)
			continue
		}
		topic := krakenTopic(p.Channel, p.Interval, sym)
		var sr *series
		if p.Channel == "ohlc" {
			if sr = in.byName[itoa(p.Interval)]; sr == nil {
				fail(sym, "Invalid interval")
				continue
			}
		}
		if req.Method == "unsubscribe" {
			s.removeTopic(c, topic)
			res := &krakenResult{Channel: p.Channel, Interval: p.Interval, Symbol: sym}
			if p.Channel == "ticker" {
				res.EventTrigger = "trades"
			}
			c.send(encode(krakenAnswer{Method: req.Method, Result: res, Success: true, ReqID: req.ReqID, TimeIn: now, TimeOut: now}))
			continue
		}
		s.addTopic(c, topic)
		res := &krakenResult{Channel: p.Channel, Interval: p.Interval, Snapshot: &snapshot, Symbol: sym}
		if p.Channel == "ohlc" {
			res.Warnings = []string{krakenOHLCWarning}
		}
		c.send(encode(krakenAnswer{Method: req.Method, Result: res, Success: true, ReqID: req.ReqID, TimeIn: now, TimeOut: now}))
		if !snapshot {
			continue
		}
		if p.Channel == "ticker" && len(in.trades) > 0 {
			// The current ticker (the ticker page's "Example: Snapshot"); it
			// is a published ticker like the updates.
			tk := in.ticker(s.clock)
			in.record(tk, s.cfg.TickerHistory)
			c.send(encode(krakenPush{Channel: "ticker", Type: "snapshot", Data: []krakenTicker{krakenTickerOf(in, tk)}}))
		}
		if p.Channel == "ohlc" {
			// The last closed candle and the forming one.
			var rows []krakenOHLC
			if n := len(sr.closed); n > 0 {
				rows = append(rows, krakenOHLCOf(in, sr, &sr.closed[n-1]))
			}
			if sr.has {
				rows = append(rows, krakenOHLCOf(in, sr, &sr.cur))
			}
			if len(rows) > 0 {
				c.send(encode(krakenOHLCPush{Channel: "ohlc", Type: "snapshot", Timestamp: s.clock.UTC().Format(krakenTimeNS), Data: rows}))
			}
		}
	}
}

func krakenTopic(channel string, interval int64, sym string) string {
	if channel == "ohlc" {
		return "ohlc-" + itoa(interval) + ":" + sym
	}
	return channel + ":" + sym
}

func krakenTradeOf(in *instrument, tr *trade) krakenTrade {
	ord := "limit"
	if tr.id%3 == 0 {
		ord = "market"
	}
	return krakenTrade{Symbol: in.native, Side: string(tr.side), Price: num(tr.price), Qty: num(tr.size),
		OrdType: ord, TradeID: tr.id, Timestamp: tr.time.Format(krakenTimeWS)}
}

// krakenTickerOf writes tk; change is last minus the 24-hour open.
func krakenTickerOf(in *instrument, tk market.Ticker) krakenTicker {
	change := tk.Last.Decimal.Sub(tk.Open24h.Decimal)
	pct := decimal.Zero
	if !tk.Open24h.Decimal.IsZero() {
		pct = change.Shift(2).DivRound(tk.Open24h.Decimal, 2)
	}
	return krakenTicker{Symbol: in.native, Bid: num(tk.Bid.Decimal), BidQty: num(tk.BidSize.Decimal),
		Ask: num(tk.Ask.Decimal), AskQty: num(tk.AskSize.Decimal), Last: num(tk.Last.Decimal),
		Volume: num(tk.Volume24h.Decimal), VWAP: vwap(tk.QuoteVolume24h.Decimal, tk.Volume24h.Decimal),
		Low: num(tk.Low24h.Decimal), High: num(tk.High24h.Decimal), Change: num(change), ChangePct: num(pct),
		Timestamp: tk.Time.Format(krakenTimeWS)}
}

func krakenOHLCOf(in *instrument, sr *series, c *candle) krakenOHLC {
	return krakenOHLC{Symbol: in.native, Open: num(c.o), High: num(c.h), Low: num(c.l), Close: num(c.c),
		Trades: c.n, Volume: num(c.vol), VWAP: vwap(c.quote, c.vol),
		IntervalBegin: c.open.Format(krakenTimeNS), Interval: krakenIntervals[sr.frame.tf],
		Timestamp: c.open.Add(sr.frame.d).Format(krakenTimeWS)}
}

// krakenPublish sends a trade, the ohlc updates it makes ("streamed on a
// trade event": every forming candle, no closed flag) and the ticker.
// s.mu is held.
func (s *Sim) krakenPublish(in *instrument, tr *trade, ups []seriesUpdate, tk *market.Ticker, live bool) {
	if !live {
		return
	}
	if topic := "trade:" + in.native; s.subscribed(market.Kraken, topic) {
		s.fanout(market.Kraken, topic, encode(krakenPush{Channel: "trade", Type: "update", Data: []krakenTrade{krakenTradeOf(in, tr)}}))
	}
	for _, u := range ups {
		topic := krakenTopic("ohlc", krakenIntervals[u.s.frame.tf], in.native)
		if s.subscribed(market.Kraken, topic) {
			s.fanout(market.Kraken, topic, encode(krakenOHLCPush{Channel: "ohlc", Type: "update", Timestamp: tr.time.Format(krakenTimeNS), Data: []krakenOHLC{krakenOHLCOf(in, u.s, &u.s.cur)}}))
		}
	}
	if tk != nil {
		if topic := "ticker:" + in.native; s.subscribed(market.Kraken, topic) {
			s.fanout(market.Kraken, topic, encode(krakenPush{Channel: "ticker", Type: "update", Data: []krakenTicker{krakenTickerOf(in, *tk)}}))
		}
	}
}

// krakenHeartbeats sends {"channel":"heartbeat"} to every Kraken
// connection with a subscription; they go on during a stall. s.mu is held.
func (s *Sim) krakenHeartbeats() {
	for c := range s.conns[market.Kraken] {
		if len(c.topics) > 0 {
			c.send([]byte(`{"channel":"heartbeat"}`))
		}
	}
}

// krakenStreamTopics returns the Kraken topics of st.
func krakenStreamTopics(st market.Stream) ([]string, error) {
	id := nativeSymbol(market.Kraken, st.Symbol)
	switch st.Type {
	case market.TypeTrade:
		return []string{"trade:" + id}, nil
	case market.TypeTicker:
		return []string{"ticker:" + id}, nil
	case market.TypeCandle:
		n, ok := krakenIntervals[st.Timeframe]
		if !ok {
			return nil, fmt.Errorf("kraken does not serve %s candles", st.Timeframe)
		}
		return []string{krakenTopic("ohlc", n, id)}, nil
	}
	return nil, fmt.Errorf("kraken does not serve %s", st.Type)
}
