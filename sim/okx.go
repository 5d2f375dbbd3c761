package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"marketetl/market"
)

// OKX v5: public WebSocket (tickers, trades) and business WebSocket
// (candle channels), per the documents cited in PROTOCOLS.md §1.

// okxBars names the bars of the normalised timeframes (UTC); okxLocalBars
// the bars of 6 hours and more that open at UTC+8.
var (
	okxBars = map[market.Timeframe]string{
		market.TF1m: "1m", market.TF3m: "3m", market.TF5m: "5m", market.TF15m: "15m",
		market.TF30m: "30m", market.TF1h: "1H", market.TF2h: "2H", market.TF4h: "4H",
		market.TF6h: "6Hutc", market.TF12h: "12Hutc", market.TF1d: "1Dutc", market.TF1w: "1Wutc",
	}
	okxLocalBars = map[market.Timeframe]string{
		market.TF6h: "6H", market.TF12h: "12H", market.TF1d: "1D", market.TF1w: "1W",
	}
)

// OKX error codes and messages (error-code-websocket-public).
const (
	okxInvalidRequest = "60012"
	okxWrongChannel   = "60018"
	okxInvalidOp      = "60019"
	okxNoticeCode     = "64008"
	okxNoticeMsg      = "The connection will soon be closed for a service upgrade. Please reconnect."
)

// okxArg is a channel argument, as sent and echoed.
type okxArg struct {
	Channel string `json:"channel"`
	InstID  string `json:"instId"`
}

// okxAck acknowledges one argument of a subscribe or unsubscribe.
type okxAck struct {
	ID     string `json:"id,omitempty"`
	Event  string `json:"event"`
	Arg    okxArg `json:"arg"`
	ConnID string `json:"connId"`
}

// okxRequestError is the error event of a request that cannot be parsed
// (field order of the documented 60012 example).
type okxRequestError struct {
	ID     string `json:"id,omitempty"`
	Event  string `json:"event"`
	Code   string `json:"code"`
	Msg    string `json:"msg"`
	ConnID string `json:"connId"`
}

// okxChannelError is the error event of an unknown channel or instrument
// (field order of the documented 60018 example).
type okxChannelError struct {
	ID     string `json:"id,omitempty"`
	Event  string `json:"event"`
	Msg    string `json:"msg"`
	Code   string `json:"code"`
	ConnID string `json:"connId"`
}

// okxNotice is the 64008 notice.
type okxNotice struct {
	Event  string `json:"event"`
	Code   string `json:"code"`
	Msg    string `json:"msg"`
	ConnID string `json:"connId"`
}

// okxPush is a data push.
type okxPush struct {
	Arg  okxArg `json:"arg"`
	Data any    `json:"data"`
}

type okxTrade struct {
	InstID  string `json:"instId"`
	TradeID string `json:"tradeId"`
	Px      string `json:"px"`
	Sz      string `json:"sz"`
	Side    string `json:"side"`
	Ts      string `json:"ts"`
	Count   string `json:"count"`
	Source  string `json:"source"`
	SeqID   int64  `json:"seqId"`
}

type okxTicker struct {
	InstType  string `json:"instType"`
	InstID    string `json:"instId"`
	Last      string `json:"last"`
	LastSz    string `json:"lastSz"`
	AskPx     string `json:"askPx"`
	AskSz     string `json:"askSz"`
	BidPx     string `json:"bidPx"`
	BidSz     string `json:"bidSz"`
	Open24h   string `json:"open24h"`
	High24h   string `json:"high24h"`
	Low24h    string `json:"low24h"`
	VolCcy24h string `json:"volCcy24h"`
	Vol24h    string `json:"vol24h"`
	SodUtc0   string `json:"sodUtc0"`
	SodUtc8   string `json:"sodUtc8"`
	Ts        string `json:"ts"`
}

// okxCandleRow is [ts, o, h, l, c, vol, volCcy, volCcyQuote, confirm].
func okxCandleRow(c *candle, closed bool) [9]string {
	confirm := "0"
	if closed {
		confirm = "1"
	}
	return [9]string{msText(c.open), dec(c.o), dec(c.h), dec(c.l), dec(c.c), dec(c.vol), dec(c.quote), dec(c.quote), confirm}
}

// okxSession is one OKX connection, public or business.
type okxSession struct {
	c        *conn
	business bool
}

func (s *Sim) okxWS(business bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.serveWS(w, r, market.OKX, func(c *conn) session { return &okxSession{c: c, business: business} })
	}
}

func (o *okxSession) opened() {}

// okxRequest is a subscribe or unsubscribe request.
type okxRequest struct {
	ID   *string            `json:"id"`
	Op   *string            `json:"op"`
	Args *[]json.RawMessage `json:"args"`
}

func (o *okxSession) handle(msg []byte) {
	s, c := o.c.s, o.c
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(msg) == "ping" {
		c.send([]byte("pong"))
		return
	}
	var req okxRequest
	if err := json.Unmarshal(msg, &req); err != nil || req.Op == nil || req.Args == nil || (req.ID != nil && !okxValidID(*req.ID)) {
		id := ""
		if err == nil && req.ID != nil {
			id = *req.ID
		}
		c.send(encode(okxRequestError{ID: id, Event: "error", Code: okxInvalidRequest, Msg: "Invalid request: " + string(msg), ConnID: c.id}))
		return
	}
	id := ""
	if req.ID != nil {
		id = *req.ID
	}
	op := *req.Op
	if op != "subscribe" && op != "unsubscribe" {
		c.send(encode(okxRequestError{ID: id, Event: "error", Code: okxInvalidOp, Msg: "Invalid op: " + op, ConnID: c.id}))
		return
	}
	if len(*req.Args) == 0 {
		c.send(encode(okxRequestError{ID: id, Event: "error", Code: okxInvalidRequest, Msg: "Invalid request: " + string(msg), ConnID: c.id}))
		return
	}
	for _, raw := range *req.Args {
		var arg okxArg
		if err := json.Unmarshal(raw, &arg); err != nil || arg.Channel == "" {
			c.send(encode(okxRequestError{ID: id, Event: "error", Code: okxInvalidRequest, Msg: "Invalid request: " + string(msg), ConnID: c.id}))
			continue
		}
		if !o.serves(arg) {
			c.send(encode(okxChannelError{ID: id, Event: "error", Code: okxWrongChannel, ConnID: c.id,
				Msg: fmt.Sprintf("Wrong URL or channel:%s,instId:%s doesn't exist. Please use the correct URL, channel and parameters referring to API document.", arg.Channel, arg.InstID)}))
			continue
		}
		topic := arg.Channel + ":" + arg.InstID
		if op == "subscribe" {
			s.addTopic(c, topic)
		} else {
			s.removeTopic(c, topic)
		}
		c.send(encode(okxAck{ID: id, Event: op, Arg: arg, ConnID: c.id}))
		if op == "subscribe" && arg.Channel == "books" {
			c.send(s.okxBookSnapshot(s.native[market.OKX][arg.InstID]))
		}
	}
}

// okxValidID reports whether id is at most 32 letters and digits.
func okxValidID(id string) bool {
	if len(id) > 32 {
		return false
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// serves reports whether this connection's URL serves arg. s.mu is held.
func (o *okxSession) serves(arg okxArg) bool {
	in := o.c.s.listed(market.OKX, arg.InstID)
	if in == nil {
		return false
	}
	if bar, ok := strings.CutPrefix(arg.Channel, "candle"); ok {
		return o.business && in.byName[bar] != nil
	}
	return !o.business && (arg.Channel == "tickers" || arg.Channel == "trades" || arg.Channel == "books")
}

// watch closes the connection (4004) when it has had no subscription, or
// has neither read nor written a frame, for OKXIdleTimeout.
func (o *okxSession) watch(ctx context.Context) {
	c := o.c
	timeout := c.s.cfg.OKXIdleTimeout
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		deadline := time.Unix(0, c.lastActive.Load()).Add(timeout)
		if since := c.noSubSince.Load(); since != 0 {
			if d := time.Unix(0, since).Add(timeout); d.Before(deadline) {
				deadline = d
			}
		}
		now := time.Now()
		if !now.Before(deadline) {
			c.closeWith(closeOKXNoData, closeOKXNoDataMsg)
			return
		}
		t.Reset(deadline.Sub(now))
	}
}

// okxPublish pushes a trade, its candles and its ticker. s.mu is held.
func (s *Sim) okxPublish(in *instrument, tr *trade, ups []seriesUpdate, tk *market.Ticker, live bool) {
	in.seq++
	if !live {
		return
	}
	for _, u := range ups {
		if u.closed != nil {
			s.okxCandle(in, u.s, u.closed, true)
		}
	}
	if topic := "trades:" + in.native; s.subscribed(market.OKX, topic) {
		s.fanout(market.OKX, topic, encode(okxPush{Arg: okxArg{Channel: "trades", InstID: in.native}, Data: []okxTrade{okxTradeOf(in, tr, in.seq)}}))
	}
	for _, u := range ups {
		if u.push {
			s.okxCandle(in, u.s, &u.s.cur, false)
		}
	}
	if tk != nil {
		s.okxTicker(in, tk)
	}
}

func okxTradeOf(in *instrument, tr *trade, seq int64) okxTrade {
	return okxTrade{InstID: in.native, TradeID: itoa(tr.id), Px: dec(tr.price), Sz: dec(tr.size), Side: string(tr.side),
		Ts: msText(tr.time), Count: "1", Source: "0", SeqID: seq}
}

func (s *Sim) okxCandle(in *instrument, sr *series, c *candle, closed bool) {
	ch := "candle" + sr.frame.name
	if topic := ch + ":" + in.native; s.subscribed(market.OKX, topic) {
		s.fanout(market.OKX, topic, encode(okxPush{Arg: okxArg{Channel: ch, InstID: in.native}, Data: [][9]string{okxCandleRow(c, closed)}}))
	}
}

func (s *Sim) okxTicker(in *instrument, tk *market.Ticker) {
	topic := "tickers:" + in.native
	if !s.subscribed(market.OKX, topic) {
		return
	}
	last := in.trades[len(in.trades)-1]
	s.fanout(market.OKX, topic, encode(okxPush{Arg: okxArg{Channel: "tickers", InstID: in.native}, Data: []okxTicker{{
		InstType: "SPOT", InstID: in.native,
		Last: dec(tk.Last.Decimal), LastSz: dec(last.size),
		AskPx: dec(tk.Ask.Decimal), AskSz: dec(tk.AskSize.Decimal),
		BidPx: dec(tk.Bid.Decimal), BidSz: dec(tk.BidSize.Decimal),
		Open24h: dec(tk.Open24h.Decimal), High24h: dec(tk.High24h.Decimal), Low24h: dec(tk.Low24h.Decimal),
		VolCcy24h: dec(tk.QuoteVolume24h.Decimal), Vol24h: dec(tk.Volume24h.Decimal),
		SodUtc0: dec(in.sodUTC0.price), SodUtc8: dec(in.sodUTC8.price),
		Ts: msText(tk.Time),
	}}}))
}

// okxStreamTopics returns the OKX topics of st.
func okxStreamTopics(st market.Stream) ([]string, error) {
	id := string(st.Symbol)
	switch st.Type {
	case market.TypeTrade:
		return []string{"trades:" + id}, nil
	case market.TypeTicker:
		return []string{"tickers:" + id}, nil
	case market.TypeOrderBook:
		return []string{"books:" + id}, nil
	case market.TypeCandle:
		t := []string{"candle" + okxBars[st.Timeframe] + ":" + id}
		if local, ok := okxLocalBars[st.Timeframe]; ok {
			t = append(t, "candle"+local+":"+id)
		}
		return t, nil
	}
	return nil, fmt.Errorf("okx does not serve %s", st.Type)
}
