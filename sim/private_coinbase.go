package sim

import (
	"crypto/hmac"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"marketetl/market"
)

// Coinbase Exchange authenticated feed: the balance channel, subscribed by
// account id with the key, passphrase, timestamp and signature in the
// subscribe message; and the signed REST GET /accounts (PROTOCOLS.md §7).

// coinbaseSkew is how far a signed timestamp may be from Coinbase's clock.
const coinbaseSkew = 30 * time.Second

// coinbaseAuthFields are the authentication fields of a subscribe message.
type coinbaseAuthFields struct {
	Signature  string          `json:"signature"`
	Key        string          `json:"key"`
	Passphrase string          `json:"passphrase"`
	Timestamp  json.RawMessage `json:"timestamp"`
	AccountIDs []string        `json:"account_ids"`
	Channels   []json.RawMessage
}

type coinbaseBalance struct {
	Type      string `json:"type"`
	AccountID string `json:"account_id"`
	Currency  string `json:"currency"`
	Holds     string `json:"holds"`
	Available string `json:"available"`
	Updated   string `json:"updated"`
	Timestamp string `json:"timestamp"`
}

// handleBalance serves a (un)subscribe message naming the balance channel
// and reports whether it did. s.mu is held.
func (cb *coinbaseSession) handleBalance(msg []byte, typ string) bool {
	s, c := cb.c.s, cb.c
	var req coinbaseAuthFields
	var probe struct {
		Channels []json.RawMessage `json:"channels"`
	}
	if json.Unmarshal(msg, &req) != nil || json.Unmarshal(msg, &probe) != nil {
		return false
	}
	ids := append([]string(nil), req.AccountIDs...)
	found := false
	for _, raw := range probe.Channels {
		var name string
		if json.Unmarshal(raw, &name) == nil {
			found = found || name == "balance"
			continue
		}
		var ch struct {
			Name       string   `json:"name"`
			AccountIDs []string `json:"account_ids"`
		}
		if json.Unmarshal(raw, &ch) == nil && ch.Name == "balance" {
			found = true
			ids = appendNew(ids, ch.AccountIDs...)
		}
	}
	if !found {
		return false
	}
	if typ == "unsubscribe" {
		for _, id := range ids {
			s.removeTopic(c, "balance:"+id)
		}
		c.send(encode(coinbaseSubscriptions{Type: "subscriptions", Channels: []coinbaseChannel{}}))
		return true
	}
	ts := strings.Trim(string(req.Timestamp), `"`)
	if reason := s.coinbaseCheckAuth(req.Key, req.Passphrase, ts, "GET", "/users/self/verify", req.Signature); reason != "" {
		c.send(encode(coinbaseError{Type: "error", Message: "Sorry, you could not be authenticated: Bad Request", Reason: reason}))
		return true
	}
	if len(ids) == 0 {
		c.send(encode(coinbaseError{Type: "error", Message: "Failed to subscribe", Reason: "balance channel requires account_ids"}))
		return true
	}
	a := s.privateOf(market.Coinbase)
	byID := make(map[string]string)
	for asset, h := range a.holdings {
		byID[h.accountID] = asset
	}
	now := s.serverTime(market.Coinbase)
	var first [][]byte
	for _, id := range ids {
		asset, ok := byID[id]
		if !ok {
			c.send(encode(coinbaseError{Type: "error", Message: "Failed to subscribe", Reason: id + " is not a valid account"}))
			continue
		}
		s.addTopic(c, "balance:"+id)
		first = append(first, encode(coinbaseBalanceOf(a.holdings[asset], asset, now)))
	}
	c.send(encode(map[string]any{"type": "subscriptions", "channels": []map[string]string{{"name": "balance"}}}))
	for _, f := range first {
		c.send(f)
	}
	return true
}

func coinbaseBalanceOf(h *holding, asset string, now time.Time) coinbaseBalance {
	updated := "0001-01-01T00:00:00Z"
	if !h.updated.IsZero() {
		updated = h.updated.UTC().Format(coinbaseTimeREST)
	}
	return coinbaseBalance{Type: "balance", AccountID: h.accountID, Currency: asset, Holds: dec(h.locked),
		Available: dec(h.free), Updated: updated, Timestamp: now.UTC().Format(coinbaseTimeREST)}
}

// coinbaseCheckAuth returns Coinbase's reason for refusing a signed request,
// or "". s.mu is held.
func (s *Sim) coinbaseCheckAuth(key, passphrase, timestamp, method, path, signature string) string {
	a := s.privateOf(market.Coinbase)
	switch {
	case a.refuse != "" || key != a.key.Key:
		return "Invalid API Key"
	case passphrase != a.key.Passphrase:
		return "Invalid Passphrase"
	}
	secs, err := strconv.ParseFloat(timestamp, 64)
	if err != nil {
		return "invalid timestamp"
	}
	if d := s.serverTime(market.Coinbase).Sub(time.Unix(0, int64(secs*1e9))); d > coinbaseSkew || d < -coinbaseSkew {
		return "request timestamp expired"
	}
	secret, err := base64.StdEncoding.DecodeString(a.key.Secret)
	if err != nil {
		return "invalid signature"
	}
	want := base64.StdEncoding.EncodeToString(hmacSHA256(secret, timestamp+method+path))
	if !hmac.Equal([]byte(want), []byte(signature)) {
		return "invalid signature"
	}
	return ""
}

// coinbasePushBalances sends a balance message per changed account. s.mu is held.
func (s *Sim) coinbasePushBalances(a *account, changed []string, now time.Time) {
	if s.stalled[market.Coinbase] {
		return
	}
	for _, asset := range changed {
		h := a.holdings[asset]
		s.fanout(market.Coinbase, "balance:"+h.accountID, encode(coinbaseBalanceOf(h, asset, now)))
	}
}

// coinbaseAccounts serves the signed GET /accounts: every account of the
// profile, zero balances included.
func (s *Sim) coinbaseAccounts(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/coinbase")
	if r.URL.RawQuery != "" {
		path += "?" + r.URL.RawQuery
	}
	if reason := s.coinbaseCheckAuth(r.Header.Get("CB-ACCESS-KEY"), r.Header.Get("CB-ACCESS-PASSPHRASE"),
		r.Header.Get("CB-ACCESS-TIMESTAMP"), r.Method, path, r.Header.Get("CB-ACCESS-SIGN")); reason != "" {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": reason})
		return
	}
	a := s.privateOf(market.Coinbase)
	out := []map[string]any{}
	for _, asset := range a.assets(false) {
		h := a.holdings[asset]
		out = append(out, map[string]any{
			"id": h.accountID, "currency": asset, "balance": dec(h.free.Add(h.locked)), "hold": dec(h.locked),
			"available": dec(h.free), "profile_id": "5cfdd6f1-0d3f-4c6e-9e2b-2a2c3b6d7e8f", "trading_enabled": true,
			"pending_deposit": "0", "display_name": asset,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// coinbaseTime serves GET /time.
func (s *Sim) coinbaseTime(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	now := s.serverTime(market.Coinbase)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"iso": now.Format(coinbaseTimeREST), "epoch": json.Number(strconv.FormatFloat(float64(now.UnixMilli())/1000, 'f', 3, 64))})
}
