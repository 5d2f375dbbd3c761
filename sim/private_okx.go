package sim

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"marketetl/market"
)

// OKX v5 private WebSocket (/ws/v5/private: login, then the account
// channel) and the signed REST balance (PROTOCOLS.md §5).

// okxSkew is how far a signed timestamp may be from OKX's clock.
const okxSkew = 30 * time.Second

// okxPrivateSession is one connection to the private endpoint.
type okxPrivateSession struct {
	c        *conn
	loggedIn bool // guarded by s.mu
}

func (s *Sim) okxPrivateWS(w http.ResponseWriter, r *http.Request) {
	s.serveWS(w, r, market.OKX, func(c *conn) session { return &okxPrivateSession{c: c} })
}

func (o *okxPrivateSession) opened() {}

func (o *okxPrivateSession) watch(ctx context.Context) { (&okxSession{c: o.c}).watch(ctx) }

type okxLoginArg struct {
	APIKey     string `json:"apiKey"`
	Passphrase string `json:"passphrase"`
	Timestamp  string `json:"timestamp"`
	Sign       string `json:"sign"`
}

type okxEvent struct {
	ID     string `json:"id,omitempty"`
	Event  string `json:"event"`
	Code   string `json:"code"`
	Msg    string `json:"msg"`
	ConnID string `json:"connId"`
}

func (o *okxPrivateSession) handle(msg []byte) {
	s, c := o.c.s, o.c
	s.mu.Lock()
	defer s.mu.Unlock()
	if string(msg) == "ping" {
		c.send([]byte("pong"))
		return
	}
	var req struct {
		ID   string            `json:"id"`
		Op   string            `json:"op"`
		Args []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(msg, &req); err != nil || req.Op == "" || len(req.Args) == 0 {
		c.send(encode(okxEvent{ID: req.ID, Event: "error", Code: okxInvalidRequest, Msg: "Invalid request: " + string(msg), ConnID: c.id}))
		return
	}
	switch req.Op {
	case "login":
		var arg okxLoginArg
		if err := json.Unmarshal(req.Args[0], &arg); err != nil {
			c.send(encode(okxEvent{Event: "error", Code: okxInvalidRequest, Msg: "Invalid request: " + string(msg), ConnID: c.id}))
			return
		}
		if code, text := s.okxCheckLogin(arg); code != "" {
			// OKX answers a failed login with an error event (the
			// document's example); the connection stays open.
			c.send(encode(okxEvent{Event: "error", Code: code, Msg: text, ConnID: c.id}))
			return
		}
		o.loggedIn = true
		c.send(encode(okxEvent{Event: "login", Code: "0", Msg: "", ConnID: c.id}))
	case "subscribe", "unsubscribe":
		var arg struct {
			Channel string `json:"channel"`
		}
		if err := json.Unmarshal(req.Args[0], &arg); err != nil || arg.Channel != "account" {
			c.send(encode(okxEvent{ID: req.ID, Event: "error", Code: okxWrongChannel, Msg: "Wrong URL or channel:" + arg.Channel + ", Please use the correct URL, channel and parameters referring to API document.", ConnID: c.id}))
			return
		}
		if !o.loggedIn {
			c.send(encode(okxEvent{ID: req.ID, Event: "error", Code: "60011", Msg: "Please log in", ConnID: c.id}))
			return
		}
		if req.Op == "unsubscribe" {
			s.removeTopic(c, "account")
		} else {
			s.addTopic(c, "account")
		}
		c.send(encode(map[string]any{"id": req.ID, "event": req.Op, "arg": map[string]string{"channel": "account"}, "connId": c.id}))
		if req.Op == "subscribe" {
			a := s.privateOf(market.OKX)
			c.send(encode(okxAccountPush("snapshot", a, a.assets(true), s.serverTime(market.OKX))))
		}
	default:
		c.send(encode(okxEvent{ID: req.ID, Event: "error", Code: okxInvalidOp, Msg: "Invalid op: " + req.Op, ConnID: c.id}))
	}
}

// okxCheckLogin returns OKX's error code and message for a bad login, or "".
// s.mu is held.
func (s *Sim) okxCheckLogin(arg okxLoginArg) (code, msg string) {
	a := s.privateOf(market.OKX)
	switch {
	case a.refuse != "":
		return "60032", "API key doesn't exist."
	case arg.APIKey != a.key.Key:
		return "60005", "Invalid apiKey"
	case arg.Passphrase != a.key.Passphrase:
		return "60024", "Wrong passphrase"
	}
	secs, err := strconv.ParseFloat(arg.Timestamp, 64)
	if err != nil {
		return "60004", "Invalid timestamp"
	}
	ts := time.Unix(0, int64(secs*1e9))
	if d := s.serverTime(market.OKX).Sub(ts); d > okxSkew || d < -okxSkew {
		return "60006", "Timestamp request expired"
	}
	want := base64.StdEncoding.EncodeToString(hmacSHA256([]byte(a.key.Secret), arg.Timestamp+"GET/users/self/verify"))
	if !hmac.Equal([]byte(want), []byte(arg.Sign)) {
		return "60007", "Invalid sign"
	}
	return "", ""
}

// okxDetail is one currency of an account push or the REST balance.
type okxDetail struct {
	Ccy       string `json:"ccy"`
	Eq        string `json:"eq"`
	CashBal   string `json:"cashBal"`
	AvailBal  string `json:"availBal"`
	FrozenBal string `json:"frozenBal"`
	OrdFrozen string `json:"ordFrozen"`
	UTime     string `json:"uTime"`
}

type okxAccountData struct {
	UTime   string      `json:"uTime"`
	TotalEq string      `json:"totalEq"`
	Details []okxDetail `json:"details"`
}

// okxAccountData returns the account data of assets. s.mu is held.
func okxAccountDataOf(a *account, assets []string, now time.Time) okxAccountData {
	d := okxAccountData{UTime: msText(now), TotalEq: "0", Details: []okxDetail{}}
	for _, asset := range assets {
		h := a.holdings[asset]
		eq := h.free.Add(h.locked)
		d.Details = append(d.Details, okxDetail{Ccy: asset, Eq: dec(eq), CashBal: dec(eq), AvailBal: dec(h.free),
			FrozenBal: dec(h.locked), OrdFrozen: dec(h.locked), UTime: msText(h.updated)})
	}
	return d
}

// okxAccountPush is an account channel push: a one-page snapshot or an
// event_update of the changed currencies.
func okxAccountPush(eventType string, a *account, assets []string, now time.Time) map[string]any {
	push := map[string]any{
		"arg":       map[string]string{"channel": "account", "uid": "44" + "1234567" + "584"},
		"eventType": eventType,
		"data":      []okxAccountData{okxAccountDataOf(a, assets, now)},
	}
	if eventType == "snapshot" {
		push["curPage"] = 1
		push["lastPage"] = true
	}
	return push
}

// okxPushBalances pushes changed currencies to account subscribers. s.mu is held.
func (s *Sim) okxPushBalances(a *account, changed []string, now time.Time) {
	if s.stalled[market.OKX] {
		return
	}
	s.fanout(market.OKX, "account", encode(okxAccountPush("event_update", a, changed, now)))
}

// okxRESTAuth checks a signed REST request and writes OKX's 401 when it
// fails. s.mu is held.
func (s *Sim) okxRESTAuth(w http.ResponseWriter, r *http.Request) bool {
	a := s.privateOf(market.OKX)
	fail := func(code, msg string) bool {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"code": code, "msg": msg, "data": []any{}})
		return false
	}
	key, sign, ts, pass := r.Header.Get("OK-ACCESS-KEY"), r.Header.Get("OK-ACCESS-SIGN"), r.Header.Get("OK-ACCESS-TIMESTAMP"), r.Header.Get("OK-ACCESS-PASSPHRASE")
	switch {
	case key == "":
		return fail("50103", `Request header "OK-ACCESS-KEY" can't be empty.`)
	case pass == "":
		return fail("50104", `Request header "OK-ACCESS-PASSPHRASE" can't be empty.`)
	case sign == "":
		return fail("50106", `Request header "OK-ACCESS-SIGN" can't be empty.`)
	case ts == "":
		return fail("50107", `Request header "OK-ACCESS-TIMESTAMP" can't be empty.`)
	case a.refuse != "" || key != a.key.Key:
		return fail("50111", "Invalid OK-ACCESS-KEY.")
	case pass != a.key.Passphrase:
		return fail("50105", `Request header "OK-ACCESS-PASSPHRASE" incorrect.`)
	}
	t, err := time.Parse("2006-01-02T15:04:05.000Z", ts)
	if err != nil {
		return fail("50112", "Invalid OK-ACCESS-TIMESTAMP.")
	}
	if d := s.serverTime(market.OKX).Sub(t); d > okxSkew || d < -okxSkew {
		return fail("50102", "Timestamp request expired.")
	}
	path := strings.TrimPrefix(r.URL.Path, "/okx")
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	want := base64.StdEncoding.EncodeToString(hmacSHA256([]byte(a.key.Secret), ts+r.Method+path))
	if !hmac.Equal([]byte(want), []byte(sign)) {
		return fail("50113", "Invalid signature.")
	}
	return true
}

// okxBalance serves GET /api/v5/account/balance (non-zero currencies).
func (s *Sim) okxBalance(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.okxRESTAuth(w, r) {
		return
	}
	a := s.privateOf(market.OKX)
	assets := a.assets(true)
	if ccy := r.URL.Query().Get("ccy"); ccy != "" {
		want := strings.Split(ccy, ",")
		assets = filterAssets(assets, want)
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": "0", "msg": "", "data": []okxAccountData{okxAccountDataOf(a, assets, s.serverTime(market.OKX))}})
}

// okxAccountConfig serves GET /api/v5/account/config (the key's permissions).
func (s *Sim) okxAccountConfig(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.okxRESTAuth(w, r) {
		return
	}
	perm := "read_only"
	if s.privateOf(market.OKX).canTrade {
		perm = "read_only,trade"
	}
	writeJSON(w, http.StatusOK, map[string]any{"code": "0", "msg": "", "data": []map[string]string{{"uid": "441234567584", "perm": perm}}})
}

// okxTime serves GET /api/v5/public/time.
func (s *Sim) okxTime(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	now := s.serverTime(market.OKX)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"code": "0", "msg": "", "data": []map[string]string{{"ts": msText(now)}}})
}

// filterAssets keeps the assets listed in want.
func filterAssets(assets, want []string) []string {
	out := assets[:0:0]
	for _, a := range assets {
		for _, w := range want {
			if a == w {
				out = append(out, a)
				break
			}
		}
	}
	return out
}
