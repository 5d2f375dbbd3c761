package sim

import (
	"bytes"
	"context"
	"crypto/hmac"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"marketetl/market"
)

// Binance spot WebSocket API (/ws-api/v3): userDataStream.subscribe.signature
// and the user data events wrapped with their subscriptionId, plus the
// signed REST GET /api/v3/account (PROTOCOLS.md §6). Only HMAC keys are
// simulated.

// binanceAPISession is one WebSocket API connection.
type binanceAPISession struct {
	c *conn
	// subscribed is the subscription id, -1 when none; guarded by s.mu.
	subscribed int
	nextID     int
}

func (s *Sim) binanceAPIWS(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, market.Binance, func(c *conn) session { return &binanceAPISession{c: c, subscribed: -1} })
}

func (b *binanceAPISession) opened()                   {}
func (b *binanceAPISession) watch(ctx context.Context) { <-ctx.Done() }

type binanceAPIError struct {
	Code int    `json:"code"`
	Msg  string `json:"msg"`
}

func (b *binanceAPISession) handle(msg []byte) {
	s, c := b.c.s, b.c
	s.mu.Lock()
	defer s.mu.Unlock()
	var req struct {
		ID     json.RawMessage            `json:"id"`
		Method string                     `json:"method"`
		Params map[string]json.RawMessage `json:"params"`
	}
	if err := json.Unmarshal(msg, &req); err != nil || req.Method == "" {
		c.send(encode(map[string]any{"id": nil, "status": 400, "error": binanceAPIError{-1000, "Malformed request."}}))
		return
	}
	id := req.ID
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	reply := func(status int, result any, e *binanceAPIError) {
		out := map[string]any{"id": id, "status": status}
		if e != nil {
			out["error"] = e
		} else {
			out["result"] = result
		}
		c.send(encode(out))
	}
	switch req.Method {
	case "ping":
		reply(200, struct{}{}, nil)
	case "time":
		reply(200, map[string]int64{"serverTime": ms(s.serverTime(market.Binance))}, nil)
	case "userDataStream.subscribe.signature":
		if status, e := s.binanceCheckSigned(req.Params); e != nil {
			reply(status, nil, e)
			return
		}
		if b.subscribed >= 0 {
			reply(400, nil, &binanceAPIError{-2035, "User Data Stream subscription already active."})
			return
		}
		b.subscribed = b.nextID
		b.nextID++
		s.addTopic(c, "userData")
		reply(200, map[string]int{"subscriptionId": b.subscribed}, nil)
	case "userDataStream.unsubscribe":
		if b.subscribed >= 0 {
			s.removeTopic(c, "userData")
			b.subscribed = -1
		}
		reply(200, struct{}{}, nil)
	case "account.status":
		if status, e := s.binanceCheckSigned(req.Params); e != nil {
			reply(status, nil, e)
			return
		}
		omit := string(req.Params["omitZeroBalances"]) == "true"
		reply(200, s.binanceAccount(omit), nil)
	default:
		reply(400, nil, &binanceAPIError{-1100, "Illegal characters found in parameter 'method'; legal range is '^[a-zA-Z0-9._]{1,64}$'."})
	}
}

// binanceCheckSigned checks a signed WebSocket API request: every parameter
// but signature, sorted by name, joined name=value with '&'. s.mu is held.
func (s *Sim) binanceCheckSigned(params map[string]json.RawMessage) (int, *binanceAPIError) {
	text := make(map[string]string, len(params))
	names := make([]string, 0, len(params))
	for k, raw := range params {
		var str string
		if err := json.Unmarshal(raw, &str); err == nil {
			text[k] = str
		} else {
			text[k] = string(bytes.TrimSpace(raw))
		}
		if k != "signature" {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	var payload strings.Builder
	for i, k := range names {
		if i > 0 {
			payload.WriteByte('&')
		}
		payload.WriteString(k + "=" + text[k])
	}
	return s.binanceCheck(text["apiKey"], text["timestamp"], text["recvWindow"], payload.String(), text["signature"])
}

// binanceCheck checks key, timing and signature. s.mu is held.
func (s *Sim) binanceCheck(key, timestamp, recvWindow, payload, signature string) (int, *binanceAPIError) {
	a := s.privateOf(market.Binance)
	if a.refuse != "" || key != a.key.Key {
		return 401, &binanceAPIError{-2015, "Invalid API-key, IP, or permissions for action."}
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return 400, &binanceAPIError{-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."}
	}
	if ts > 1e14 { // microseconds
		ts /= 1000
	}
	window := int64(5000)
	if recvWindow != "" {
		f, err := strconv.ParseFloat(recvWindow, 64)
		if err != nil || f <= 0 || f > 60000 {
			return 400, &binanceAPIError{-1131, "recvWindow must be less than 60000"}
		}
		window = int64(f)
	}
	server := ms(s.serverTime(market.Binance))
	switch {
	case ts >= server+1000:
		return 400, &binanceAPIError{-1021, "Timestamp for this request was 1000ms ahead of the server's time."}
	case server-ts > window:
		return 400, &binanceAPIError{-1021, "Timestamp for this request is outside of the recvWindow."}
	}
	want := hex.EncodeToString(hmacSHA256([]byte(a.key.Secret), payload))
	if !hmac.Equal([]byte(want), []byte(strings.ToLower(signature))) {
		return 400, &binanceAPIError{-1022, "Signature for this request is not valid."}
	}
	return 0, nil
}

type binanceAsset struct {
	Asset  string `json:"asset"`
	Free   string `json:"free"`
	Locked string `json:"locked"`
}

// binanceAccount is the account object of GET /api/v3/account. s.mu is held.
func (s *Sim) binanceAccount(omitZero bool) map[string]any {
	a := s.privateOf(market.Binance)
	balances := []binanceAsset{}
	for _, asset := range a.assets(omitZero) {
		h := a.holdings[asset]
		balances = append(balances, binanceAsset{asset, dec(h.free), dec(h.locked)})
	}
	return map[string]any{
		"makerCommission": 15, "takerCommission": 15, "buyerCommission": 0, "sellerCommission": 0,
		"canTrade": a.canTrade, "canWithdraw": false, "canDeposit": true, "brokered": false,
		"updateTime": ms(s.serverTime(market.Binance)), "accountType": "SPOT",
		"balances": balances, "permissions": []string{"SPOT"}, "uid": 354937868,
	}
}

// binancePushBalances sends outboundAccountPosition with the changed assets
// to every user data subscription. s.mu is held.
func (s *Sim) binancePushBalances(a *account, changed []string, now time.Time) {
	if s.stalled[market.Binance] {
		return
	}
	bs := make([]map[string]string, 0, len(changed))
	for _, asset := range changed {
		h := a.holdings[asset]
		bs = append(bs, map[string]string{"a": asset, "f": dec(h.free), "l": dec(h.locked)})
	}
	for c := range s.topics[market.Binance]["userData"] {
		sess, ok := c.sess.(*binanceAPISession)
		if !ok || sess.subscribed < 0 {
			continue
		}
		c.send(encode(map[string]any{"subscriptionId": sess.subscribed, "event": map[string]any{
			"e": "outboundAccountPosition", "E": ms(now), "u": ms(now), "B": bs}}))
	}
}

// binanceAccountREST serves the signed GET /api/v3/account.
func (s *Sim) binanceAccountREST(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw := r.URL.RawQuery
	i := strings.LastIndex(raw, "signature=")
	if i < 0 {
		writeJSON(w, http.StatusBadRequest, binanceAPIError{-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."})
		return
	}
	payload := strings.TrimSuffix(raw[:i], "&")
	q := r.URL.Query()
	if status, e := s.binanceCheck(r.Header.Get("X-MBX-APIKEY"), q.Get("timestamp"), q.Get("recvWindow"), payload, q.Get("signature")); e != nil {
		writeJSON(w, status, e)
		return
	}
	writeJSON(w, http.StatusOK, s.binanceAccount(q.Get("omitZeroBalances") == "true"))
}

// binanceTime serves GET /api/v3/time.
func (s *Sim) binanceTime(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	now := s.serverTime(market.Binance)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]int64{"serverTime": ms(now)})
}
