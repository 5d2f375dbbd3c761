package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"marketetl/market"
)

// Coinbase Exchange WebSocket feed (PROTOCOLS.md §3), served at the path
// "/" below the /coinbase prefix: subscribe within CoinbaseSubscribeTimeout,
// channels heartbeat, ticker and matches.

// coinbaseTimeWS and coinbaseTimeREST are the feed's and the REST API's
// time formats.
const (
	coinbaseTimeWS   = "2006-01-02T15:04:05.000000Z"
	coinbaseTimeREST = "2006-01-02T15:04:05.000Z"
	coinbaseAuthMsg  = "level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth"
)

// coinbaseServed are the channels with data; coinbaseQuiet are public
// channels that are accepted but carry nothing here; coinbaseAuth need
// authentication: the simulator serves level2 to a subscribe signed with
// its API key (and refuses the others).
var (
	coinbaseServed = map[string]bool{"heartbeat": true, "ticker": true, "matches": true}
	coinbaseQuiet  = map[string]bool{"ticker_batch": true, "level2_batch": true, "level2_50": true, "status": true}
	coinbaseAuth   = map[string]bool{"level2": true, "level3": true, "full": true, "user": true}
)

type coinbaseError struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

type coinbaseChannel struct {
	Name       string   `json:"name"`
	ProductIDs []string `json:"product_ids"`
}

type coinbaseSubscriptions struct {
	Type     string            `json:"type"`
	Channels []coinbaseChannel `json:"channels"`
}

type coinbaseMatch struct {
	Type         string `json:"type"`
	TradeID      int64  `json:"trade_id"`
	Sequence     int64  `json:"sequence"`
	MakerOrderID string `json:"maker_order_id"`
	TakerOrderID string `json:"taker_order_id"`
	Time         string `json:"time"`
	ProductID    string `json:"product_id"`
	Size         string `json:"size"`
	Price        string `json:"price"`
	Side         string `json:"side"`
}

type coinbaseTicker struct {
	Type        string `json:"type"`
	Sequence    int64  `json:"sequence"`
	ProductID   string `json:"product_id"`
	Price       string `json:"price"`
	Open24h     string `json:"open_24h"`
	Volume24h   string `json:"volume_24h"`
	Low24h      string `json:"low_24h"`
	High24h     string `json:"high_24h"`
	Volume30d   string `json:"volume_30d"`
	BestBid     string `json:"best_bid"`
	BestBidSize string `json:"best_bid_size"`
	BestAsk     string `json:"best_ask"`
	BestAskSize string `json:"best_ask_size"`
	Side        string `json:"side"`
	Time        string `json:"time"`
	TradeID     int64  `json:"trade_id"`
	LastSize    string `json:"last_size"`
}

type coinbaseHeartbeat struct {
	Type        string `json:"type"`
	Sequence    int64  `json:"sequence"`
	LastTradeID int64  `json:"last_trade_id"`
	ProductID   string `json:"product_id"`
	Time        string `json:"time"`
}

// coinbaseSession is one Coinbase connection.
type coinbaseSession struct {
	c *conn
	// channels are the subscriptions, in the order first made; guarded by
	// s.mu.
	channels []coinbaseChannel
	// subscribed is set when a subscribe message arrived.
	subscribed atomic.Bool
}

func (s *Sim) coinbaseWS(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, market.Coinbase, func(c *conn) session { return &coinbaseSession{c: c} })
}

func (cb *coinbaseSession) opened() {}

// coinbaseRequest is a subscribe or unsubscribe message.
type coinbaseRequest struct {
	Type       string            `json:"type"`
	ProductIDs []string          `json:"product_ids"`
	Channels   []json.RawMessage `json:"channels"`
}

func (cb *coinbaseSession) handle(msg []byte) {
	s, c := cb.c.s, cb.c
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(reason string) {
		c.send(encode(coinbaseError{Type: "error", Message: "Failed to subscribe", Reason: reason}))
	}
	var req coinbaseRequest
	if err := json.Unmarshal(msg, &req); err != nil {
		fail("Malformed JSON")
		return
	}
	if req.Type != "subscribe" && req.Type != "unsubscribe" {
		fail("Type has to be either subscribe or unsubscribe")
		return
	}
	if req.Type == "subscribe" {
		cb.subscribed.Store(true)
	}
	if cb.handleBalance(msg, req.Type) {
		return
	}
	authed, refused := cb.authenticate(msg, req.Type)
	if refused {
		return
	}
	if len(req.Channels) == 0 {
		fail("No channels provided")
		return
	}
	var wanted []coinbaseChannel
	for _, raw := range req.Channels {
		var ch coinbaseChannel
		if err := json.Unmarshal(raw, &ch.Name); err != nil {
			if err := json.Unmarshal(raw, &ch); err != nil {
				fail("Malformed JSON")
				return
			}
		}
		ch.ProductIDs = appendNew(slices.Clone(req.ProductIDs), ch.ProductIDs...)
		wanted = append(wanted, ch)
	}
	var lastMatches, books []*instrument
	bad := make(map[string]bool)
	for _, ch := range wanted {
		switch {
		case ch.Name == coinbaseLevel2 && (authed || req.Type == "unsubscribe"):
		case coinbaseAuth[ch.Name]:
			fail(coinbaseAuthMsg)
			continue
		case !coinbaseServed[ch.Name] && !coinbaseQuiet[ch.Name]:
			fail(ch.Name + " is not a valid channel")
			continue
		}
		if req.Type == "unsubscribe" {
			cb.unsubscribe(ch)
			continue
		}
		for _, p := range ch.ProductIDs {
			in := s.listed(market.Coinbase, p)
			if in == nil {
				if !bad[p] {
					bad[p] = true
					fail(p + " is not a valid product")
				}
				continue
			}
			if cb.add(ch.Name, p) {
				switch {
				case ch.Name == "matches":
					lastMatches = append(lastMatches, in)
				case slices.Contains(coinbaseL2Channels, ch.Name):
					books = append(books, in)
				}
			}
		}
	}
	out := coinbaseSubscriptions{Type: "subscriptions", Channels: []coinbaseChannel{}}
	for _, ch := range cb.channels {
		if len(ch.ProductIDs) > 0 {
			out.Channels = append(out.Channels, ch)
		}
	}
	c.send(encode(out))
	for _, in := range lastMatches {
		if in.lastMatch != nil {
			c.send(encode(coinbaseMatchOf(s.cfg.Seed, in, in.lastMatch, "last_match")))
		}
	}
	for _, in := range books {
		c.send(s.coinbaseBookSnapshotOf(in))
	}
}

// appendNew appends the values of add that dst lacks.
func appendNew(dst []string, add ...string) []string {
	for _, v := range add {
		if !slices.Contains(dst, v) {
			dst = append(dst, v)
		}
	}
	return dst
}

// add subscribes channel name for product; it reports whether that is new.
// s.mu is held.
func (cb *coinbaseSession) add(name, product string) bool {
	i := slices.IndexFunc(cb.channels, func(ch coinbaseChannel) bool { return ch.Name == name })
	if i < 0 {
		cb.channels = append(cb.channels, coinbaseChannel{Name: name})
		i = len(cb.channels) - 1
	}
	if slices.Contains(cb.channels[i].ProductIDs, product) {
		return false
	}
	cb.channels[i].ProductIDs = append(cb.channels[i].ProductIDs, product)
	cb.c.s.addTopic(cb.c, name+":"+product)
	return true
}

// unsubscribe drops the products of ch from its channel, or the whole
// channel when ch names none. s.mu is held.
func (cb *coinbaseSession) unsubscribe(ch coinbaseChannel) {
	i := slices.IndexFunc(cb.channels, func(c coinbaseChannel) bool { return c.Name == ch.Name })
	if i < 0 {
		return
	}
	drop := ch.ProductIDs
	if len(drop) == 0 {
		drop = cb.channels[i].ProductIDs
	}
	keep := cb.channels[i].ProductIDs[:0]
	for _, p := range cb.channels[i].ProductIDs {
		if slices.Contains(drop, p) {
			cb.c.s.removeTopic(cb.c, ch.Name+":"+p)
			continue
		}
		keep = append(keep, p)
	}
	cb.channels[i].ProductIDs = keep
	if len(keep) == 0 {
		cb.channels = slices.Delete(cb.channels, i, i+1)
	}
}

// watch closes the connection when no subscribe message arrived within
// CoinbaseSubscribeTimeout.
func (cb *coinbaseSession) watch(ctx context.Context) {
	t := time.NewTimer(cb.c.s.cfg.CoinbaseSubscribeTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
		if !cb.subscribed.Load() {
			cb.c.closeWith(closePolicy, "subscribe timeout")
		}
	}
}

// coinbasePublish sends a trade's match and ticker; each takes the
// product's next sequence number. s.mu is held.
func (s *Sim) coinbasePublish(in *instrument, tr *trade, tk *market.Ticker, live bool) {
	in.seq++
	tr.seq = in.seq
	m := *tr
	in.lastMatch = &m
	if live {
		if topic := "matches:" + in.native; s.subscribed(market.Coinbase, topic) {
			s.fanout(market.Coinbase, topic, encode(coinbaseMatchOf(s.cfg.Seed, in, tr, "match")))
		}
	}
	if tk == nil {
		return
	}
	in.seq++
	if topic := "ticker:" + in.native; s.subscribed(market.Coinbase, topic) {
		st := in.month.stats(in.trades)
		s.fanout(market.Coinbase, topic, encode(coinbaseTicker{
			Type: "ticker", Sequence: in.seq, ProductID: in.native,
			Price: dec(tk.Last.Decimal), Open24h: dec(tk.Open24h.Decimal), Volume24h: dec(tk.Volume24h.Decimal),
			Low24h: dec(tk.Low24h.Decimal), High24h: dec(tk.High24h.Decimal), Volume30d: dec(st.vol),
			BestBid: dec(tk.Bid.Decimal), BestBidSize: dec(tk.BidSize.Decimal),
			BestAsk: dec(tk.Ask.Decimal), BestAskSize: dec(tk.AskSize.Decimal),
			Side: string(tr.side), Time: tr.time.Format(coinbaseTimeWS), TradeID: tr.id, LastSize: dec(tr.size),
		}))
	}
}

// coinbaseMatchOf returns tr as a match (typ "match" or "last_match"), with
// the maker's side.
func coinbaseMatchOf(seed int64, in *instrument, tr *trade, typ string) coinbaseMatch {
	return coinbaseMatch{
		Type: typ, TradeID: tr.id, Sequence: tr.seq,
		MakerOrderID: orderID(seed, in.native, tr.id, 1), TakerOrderID: orderID(seed, in.native, tr.id, 2),
		Time: tr.time.Format(coinbaseTimeWS), ProductID: in.native,
		Size: dec(tr.size), Price: dec(tr.price), Side: string(tr.side.Opposite()),
	}
}

// coinbaseHeartbeats sends one heartbeat per product, each taking the
// product's next sequence number. Heartbeats go on during a stall. s.mu is
// held.
func (s *Sim) coinbaseHeartbeats() {
	for _, in := range s.instruments[market.Coinbase] {
		in.seq++
		topic := "heartbeat:" + in.native
		if !s.subscribed(market.Coinbase, topic) {
			continue
		}
		var last int64
		if in.lastMatch != nil {
			last = in.lastMatch.id
		}
		s.fanout(market.Coinbase, topic, encode(coinbaseHeartbeat{Type: "heartbeat", Sequence: in.seq, LastTradeID: last,
			ProductID: in.native, Time: s.clock.Format(coinbaseTimeWS)}))
	}
}

// orderID returns a deterministic UUID-shaped order id for a trade's maker
// (role 1) or taker (role 2).
func orderID(seed int64, product string, id int64, role uint64) string {
	h := uint64(seed) ^ uint64(id)*0x9e3779b97f4a7c15 ^ role<<56
	for _, b := range []byte(product) {
		h = (h ^ uint64(b)) * 0x100000001b3
	}
	a, b := splitmix(h), splitmix(h+1)
	return fmt.Sprintf("%08x-%04x-4%03x-%04x-%012x", uint32(a>>32), uint16(a>>16), uint16(a)&0xfff, uint16(b>>48)&0x3fff|0x8000, b&0xffffffffffff)
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// coinbaseStreamTopics returns the Coinbase channels of st; candles are
// built by clients from matches.
func coinbaseStreamTopics(st market.Stream) ([]string, error) {
	id := string(st.Symbol)
	switch st.Type {
	case market.TypeTrade, market.TypeCandle:
		return []string{"matches:" + id}, nil
	case market.TypeTicker:
		return []string{"ticker:" + id}, nil
	case market.TypeOrderBook:
		return []string{"level2_batch:" + id, coinbaseLevel2 + ":" + id}, nil
	}
	return nil, fmt.Errorf("coinbase does not serve %s", st.Type)
}
