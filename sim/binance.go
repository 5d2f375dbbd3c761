package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

// Binance spot WebSocket streams (PROTOCOLS.md §2): raw streams under
// /ws/<stream>, combined streams under /stream?streams=a/b, live
// SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS/SET_PROPERTY/GET_PROPERTY.

// binanceIntervals are the kline intervals Binance names; the simulator
// streams those among them that are configured timeframes.
var binanceIntervals = map[string]bool{
	"1s": true, "1m": true, "3m": true, "5m": true, "15m": true, "30m": true, "1h": true, "2h": true,
	"4h": true, "6h": true, "8h": true, "12h": true, "1d": true, "3d": true, "1w": true, "1M": true,
}

// binanceKinds are the other stream kinds a well-formed name may carry.
var binanceKinds = map[string]bool{
	"trade": true, "aggTrade": true, "ticker": true, "miniTicker": true, "bookTicker": true,
	"depth": true, "depth@100ms": true, "depth@1000ms": true,
	"depth5": true, "depth10": true, "depth20": true,
	"depth5@100ms": true, "depth10@100ms": true, "depth20@100ms": true,
	"depth5@1000ms": true, "depth10@1000ms": true, "depth20@1000ms": true,
}

// binanceValidStream reports whether name is a well-formed stream name:
// a lower-case symbol, "@" and a known kind. The symbol need not exist.
func binanceValidStream(name string) bool {
	sym, kind, ok := strings.Cut(name, "@")
	if !ok || sym == "" {
		return false
	}
	for _, r := range sym {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return false
		}
	}
	if iv, ok := strings.CutPrefix(kind, "kline_"); ok {
		return binanceIntervals[iv]
	}
	return binanceKinds[kind]
}

// Binance WebSocket error codes and messages (web-socket-streams.md, error
// messages table).
const (
	binanceErrProperty = 0
	binanceErrValue    = 1
	binanceErrRequest  = 2
	binanceErrJSON     = 3
	binanceMethods     = "expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
)

type binanceErrorBody struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

// binanceError is the nested error envelope observed on the wire.
type binanceError struct {
	Error binanceErrorBody `json:"error"`
	ID    json.RawMessage  `json:"id,omitempty"`
}

// binanceResult answers a request.
type binanceResult struct {
	Result any             `json:"result"`
	ID     json.RawMessage `json:"id"`
}

// binanceSession is one Binance connection.
type binanceSession struct {
	c       *conn
	initial []string // streams named in the URL

	combined bool // guarded by s.mu

	recent []time.Time // incoming message times in the last second; reader goroutine only

	pingMu sync.Mutex
	pings  map[string]time.Time // unanswered ping payloads and when they were sent; guarded by pingMu
}

// binanceWS serves /ws[/<stream>…] (raw) and /stream?streams=… (combined).
func (s *Sim) binanceWS(combined bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var names []string
		if combined {
			if v := r.URL.Query().Get("streams"); v != "" {
				names = strings.Split(v, "/")
			}
		} else if v := r.PathValue("streams"); v != "" {
			names = strings.Split(v, "/")
		}
		for _, n := range names {
			if !binanceValidStream(n) {
				writeJSON(w, http.StatusBadRequest, binanceErrorBody{Code: -1100, Msg: "Illegal characters found in parameter 'streams'; legal range is '" + `^(([a-z0-9]+@[a-zA-Z0-9_@]+)(/|$))+$` + "'."})
				return
			}
		}
		if len(names) > s.cfg.BinanceMaxStreams {
			writeJSON(w, http.StatusBadRequest, binanceErrorBody{Code: -1101, Msg: "Too many streams."})
			return
		}
		s.serveWS(w, r, market.Binance, func(c *conn) session {
			return &binanceSession{c: c, initial: names, combined: combined, pings: make(map[string]time.Time)}
		})
	}
}

func (b *binanceSession) opened() {
	for _, n := range b.initial {
		b.c.s.addTopic(b.c, n)
	}
	b.c.ws.SetPingHandler(func(data string) error {
		if b.overLimit() {
			return nil
		}
		err := b.c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(b.c.s.cfg.WriteTimeout))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	b.c.ws.SetPongHandler(func(data string) error {
		if b.overLimit() {
			return nil
		}
		b.pingMu.Lock()
		if _, ok := b.pings[data]; ok {
			clear(b.pings)
		}
		b.pingMu.Unlock()
		return nil
	})
}

// overLimit counts one incoming message and closes the connection when
// more than BinanceMaxMessages arrived within a second. It runs on the
// reader goroutine.
func (b *binanceSession) overLimit() bool {
	now := time.Now()
	keep := b.recent[:0]
	for _, t := range b.recent {
		if now.Sub(t) < time.Second {
			keep = append(keep, t)
		}
	}
	b.recent = append(keep, now)
	if len(b.recent) > b.c.s.cfg.BinanceMaxMessages {
		b.c.closeWith(closePolicy, "Too many requests")
		return true
	}
	return false
}

// binanceRequest is a live request.
type binanceRequest struct {
	Method *string          `json:"method"`
	Params *json.RawMessage `json:"params"`
	ID     json.RawMessage  `json:"id"`
}

func (b *binanceSession) handle(msg []byte) {
	if b.overLimit() {
		return
	}
	s, c := b.c.s, b.c
	s.mu.Lock()
	defer s.mu.Unlock()
	reply := func(v any) { c.send(encode(v)) }
	fail := func(code int, msg string, id json.RawMessage) {
		reply(binanceError{Error: binanceErrorBody{Code: code, Msg: msg}, ID: id})
	}
	var req binanceRequest
	if err := json.Unmarshal(msg, &req); err != nil {
		var syn *json.SyntaxError
		off := int64(0)
		if errors.As(err, &syn) {
			off = syn.Offset
		}
		if syn != nil || !json.Valid(msg) {
			line, col := lineColumn(msg, off)
			fail(binanceErrJSON, fmt.Sprintf("Invalid JSON: expected value at line %d column %d", line, col), nil)
			return
		}
		fail(binanceErrRequest, "Invalid request: request ID must be an unsigned integer", nil)
		return
	}
	id := req.ID
	if !binanceValidID(id) {
		fail(binanceErrRequest, "Invalid request: request ID must be an unsigned integer", nil)
		return
	}
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	if req.Method == nil {
		line, col := lineColumn(msg, int64(len(msg)))
		fail(binanceErrRequest, fmt.Sprintf("Invalid request: missing field `method` at line %d column %d", line, col), id)
		return
	}
	var params []json.RawMessage
	if req.Params != nil && string(*req.Params) != "null" {
		if err := json.Unmarshal(*req.Params, &params); err != nil {
			fail(binanceErrRequest, "Invalid request: invalid params", id)
			return
		}
	}
	switch *req.Method {
	case "SUBSCRIBE", "UNSUBSCRIBE":
		names := make([]string, 0, len(params))
		for _, p := range params {
			var n string
			if err := json.Unmarshal(p, &n); err != nil || !binanceValidStream(n) {
				fail(binanceErrRequest, "Invalid request: invalid stream", id)
				return
			}
			names = append(names, n)
		}
		if *req.Method == "UNSUBSCRIBE" {
			for _, n := range names {
				s.removeTopic(c, n)
			}
		} else {
			fresh := 0
			for _, n := range names {
				if _, ok := c.topics[n]; !ok {
					fresh++
				}
			}
			if len(c.topics)+fresh > s.cfg.BinanceMaxStreams {
				fail(binanceErrRequest, "Invalid request: too many streams", id)
				return
			}
			for _, n := range names {
				s.addTopic(c, n)
			}
		}
		reply(binanceResult{Result: nil, ID: id})
	case "LIST_SUBSCRIPTIONS":
		if len(params) > 0 {
			fail(binanceErrRequest, "Invalid request: too many parameters", id)
			return
		}
		reply(binanceResult{Result: append([]string{}, c.order...), ID: id})
	case "SET_PROPERTY", "GET_PROPERTY":
		b.property(*req.Method, params, id, reply, fail)
	default:
		method, _ := json.Marshal(*req.Method)
		end := bytes.Index(msg, method)
		col := len(msg)
		if end >= 0 {
			col = end + len(method)
		}
		fail(binanceErrRequest, fmt.Sprintf("Invalid request: unknown variant `%s`, %s at line 1 column %d", *req.Method, binanceMethods, col), id)
	}
}

// property handles SET_PROPERTY ["combined", bool] and GET_PROPERTY
// ["combined"]. s.mu is held.
func (b *binanceSession) property(method string, params []json.RawMessage, id json.RawMessage, reply func(any), fail func(int, string, json.RawMessage)) {
	if len(params) == 0 {
		fail(binanceErrRequest, "Invalid request: property name must be a string", id)
		return
	}
	var name string
	if err := json.Unmarshal(params[0], &name); err != nil {
		fail(binanceErrRequest, "Invalid request: property name must be a string", id)
		return
	}
	if name != "combined" {
		fail(binanceErrProperty, "Unknown property", id)
		return
	}
	if method == "GET_PROPERTY" {
		if len(params) > 1 {
			fail(binanceErrRequest, "Invalid request: too many parameters", id)
			return
		}
		reply(binanceResult{Result: b.combined, ID: id})
		return
	}
	if len(params) != 2 {
		fail(binanceErrRequest, "Invalid request: too many parameters", id)
		return
	}
	var v bool
	if err := json.Unmarshal(params[1], &v); err != nil {
		fail(binanceErrValue, "Invalid value type: expected Boolean", id)
		return
	}
	b.combined = v
	reply(binanceResult{Result: nil, ID: id})
}

// binanceValidID reports whether raw is absent, null, an unsigned 64-bit
// integer or a string of at most 36 letters and digits.
func binanceValidID(raw json.RawMessage) bool {
	if len(raw) == 0 || string(raw) == "null" {
		return true
	}
	var str string
	if err := json.Unmarshal(raw, &str); err == nil {
		return len(str) <= 36 && okxValidID(str)
	}
	var n uint64
	return json.Unmarshal(raw, &n) == nil
}

// lineColumn returns the 1-based line and column of byte offset off.
func lineColumn(msg []byte, off int64) (line, col int) {
	off = min(max(off, 1), int64(len(msg))+1)
	line, col = 1, 0
	for _, ch := range msg[:off-1] {
		if ch == '\n' {
			line, col = line+1, 0
			continue
		}
		col++
	}
	return line, col + 1
}

// watch sends a ping every BinancePingInterval, closes the connection when
// a ping stays unanswered for BinancePongTimeout, and at
// BinanceMaxLifetime.
func (b *binanceSession) watch(ctx context.Context) {
	c := b.c
	cfg := c.s.cfg
	ping := time.NewTicker(cfg.BinancePingInterval)
	defer ping.Stop()
	check := time.NewTicker(min(cfg.BinancePongTimeout, cfg.BinancePingInterval) / 2)
	defer check.Stop()
	life := time.NewTimer(time.Until(c.opened.Add(cfg.BinanceMaxLifetime)))
	defer life.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-life.C:
			c.closeWith(closeNormal, "Connection lifetime expired")
			return
		case now := <-ping.C:
			payload := itoa(now.UnixMilli())
			b.pingMu.Lock()
			b.pings[payload] = now
			b.pingMu.Unlock()
			_ = c.ws.WriteControl(websocket.PingMessage, []byte(payload), now.Add(cfg.WriteTimeout))
		case now := <-check.C:
			b.pingMu.Lock()
			late := false
			for _, sent := range b.pings {
				if now.Sub(sent) >= cfg.BinancePongTimeout {
					late = true
				}
			}
			b.pingMu.Unlock()
			if late {
				c.closeWith(closePolicy, "Pong timeout")
				return
			}
		}
	}
}
