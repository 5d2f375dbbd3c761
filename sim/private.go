package sim

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// Private account data (PROTOCOLS.md part 2): each exchange has one
// simulated account with one API key, whose balances tests and the demo
// change by script. The simulator checks signatures and timestamps as the
// exchanges document them, refusing with their documented errors, and it
// records every change, so that a database can be compared with the truth.
//
// The signature checks are written here independently of the collectors'
// signers (and tested against the exchanges' published vectors), so that a
// misread signing rule cannot pass both sides.

// APIKey is an exchange API key as the exchange issues it.
type APIKey struct {
	Key    string
	Secret string
	// Passphrase is empty for Binance, which has none.
	Passphrase string
}

// DemoAPIKey returns the key the simulator accepts for ex unless SetAPIKey
// changed it. They are demo values, printed by `etl demo`; Coinbase's
// secret is Base64 like a real one.
func DemoAPIKey(ex market.Exchange) APIKey {
	switch ex {
	case market.OKX:
		return APIKey{Key: "demo-okx-key", Secret: "demo-okx-secret", Passphrase: "demo-okx-passphrase"}
	case market.Binance:
		return APIKey{Key: "demo-binance-key", Secret: "demo-binance-secret"}
	case market.Coinbase:
		return APIKey{Key: "demo-coinbase-key", Secret: base64.StdEncoding.EncodeToString([]byte("demo-coinbase-secret-0123456789abcdef")), Passphrase: "demo-coinbase-passphrase"}
	}
	return APIKey{}
}

// BalanceChange is one scripted change of an asset's balance.
type BalanceChange struct {
	Asset  string
	Free   decimal.Decimal
	Locked decimal.Decimal
}

// holding is one asset of the simulated account.
type holding struct {
	free, locked decimal.Decimal
	updated      time.Time
	accountID    string // Coinbase account UUID
}

// account is one exchange's simulated account; guarded by Sim.mu.
type account struct {
	key      APIKey
	holdings map[string]*holding
	history  []market.Balance
	// refuse, when set, is the error code every login or signed request is
	// refused with (a revoked key).
	refuse string
	// clockOffset is added to the simulator's wall clock to give the
	// exchange's server time (a host clock that is off).
	clockOffset time.Duration
	// canTrade is what the key's permissions say.
	canTrade bool
}

// privateOf returns ex's account, creating it. s.mu is held.
func (s *Sim) privateOf(ex market.Exchange) *account {
	if s.accounts == nil {
		s.accounts = make(map[market.Exchange]*account)
	}
	a := s.accounts[ex]
	if a == nil {
		a = &account{key: DemoAPIKey(ex), holdings: make(map[string]*holding)}
		s.accounts[ex] = a
	}
	return a
}

// SetAPIKey replaces the key ex accepts.
func (s *Sim) SetAPIKey(ex market.Exchange, k APIKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.privateOf(ex).key = k
}

// SetKeyCanTrade sets whether ex reports the key as able to trade (the
// collectors warn about such keys).
func (s *Sim) SetKeyCanTrade(ex market.Exchange, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.privateOf(ex).canTrade = on
}

// RefuseLogins makes ex refuse every login and signed request as if the
// key had been revoked (code "" resumes accepting).
func (s *Sim) RefuseLogins(ex market.Exchange, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if on {
		s.privateOf(ex).refuse = "revoked"
	} else {
		s.privateOf(ex).refuse = ""
	}
}

// SetServerClockOffset makes ex's server clock run d ahead of the
// simulator's wall clock (negative: behind), as its server-time endpoint and
// its timestamp checks see it.
func (s *Sim) SetServerClockOffset(ex market.Exchange, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.privateOf(ex).clockOffset = d
}

// serverTime is ex's clock. s.mu is held.
func (s *Sim) serverTime(ex market.Exchange) time.Time {
	return s.cfg.Now().UTC().Add(s.privateOf(ex).clockOffset)
}

// SetBalances applies changes to ex's account at the exchange's current
// time and returns the balances as recorded; with push, they are pushed on
// the private streams subscribed now (without, the change is one the
// exchange did not push, as Coinbase's balance channel "does not track every
// update", or one made while no stream was connected).
func (s *Sim) SetBalances(ex market.Exchange, push bool, changes ...BalanceChange) ([]market.Balance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.privateOf(ex)
	now := s.serverTime(ex).Truncate(time.Millisecond)
	if n := len(a.history); n > 0 && !now.After(a.history[n-1].Time) {
		// Two changes in one millisecond would share the exchange's time.
		now = a.history[n-1].Time.Add(time.Millisecond)
	}
	out := make([]market.Balance, 0, len(changes))
	changed := make([]string, 0, len(changes))
	for _, c := range changes {
		if c.Asset == "" || c.Free.IsNegative() || c.Locked.IsNegative() {
			return nil, fmt.Errorf("set %s balance %q: want an asset and non-negative amounts", ex, c.Asset)
		}
		h := a.holdings[c.Asset]
		if h == nil {
			h = &holding{accountID: coinbaseAccountID(s.cfg.Seed, c.Asset)}
			a.holdings[c.Asset] = h
		}
		h.free, h.locked, h.updated = c.Free, c.Locked, now
		b := market.Balance{Meta: market.Meta{Exchange: ex, Symbol: market.Symbol(c.Asset), Time: now}, Free: c.Free, Locked: c.Locked}
		a.history = append(a.history, b)
		out = append(out, b)
		changed = append(changed, c.Asset)
	}
	if push {
		switch ex {
		case market.OKX:
			s.okxPushBalances(a, changed, now)
		case market.Binance:
			s.binancePushBalances(a, changed, now)
		case market.Coinbase:
			s.coinbasePushBalances(a, changed, now)
		}
	}
	s.notify()
	return out, nil
}

// BalanceHistory returns every change made to ex's account, in order.
func (s *Sim) BalanceHistory(ex market.Exchange) []market.Balance {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]market.Balance(nil), s.privateOf(ex).history...)
}

// CurrentBalances returns ex's balances now, by asset.
func (s *Sim) CurrentBalances(ex market.Exchange) map[string]market.Balance {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]market.Balance)
	for asset, h := range s.privateOf(ex).holdings {
		out[asset] = market.Balance{Meta: market.Meta{Exchange: ex, Symbol: market.Symbol(asset), Time: h.updated}, Free: h.free, Locked: h.locked}
	}
	return out
}

// assets returns the account's assets, sorted, optionally only non-zero
// ones. s.mu is held.
func (a *account) assets(nonZero bool) []string {
	out := make([]string, 0, len(a.holdings))
	for asset, h := range a.holdings {
		if nonZero && h.free.IsZero() && h.locked.IsZero() {
			continue
		}
		out = append(out, asset)
	}
	sort.Strings(out)
	return out
}

// coinbaseAccountID is a stable UUID-shaped account id for an asset.
func coinbaseAccountID(seed int64, asset string) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%s", seed, asset)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// hmacSHA256 returns HMAC-SHA256(key, msg).
func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// OKXPrivateWS is the URL of OKX's private WebSocket endpoint (login, the
// account channel).
func (e Endpoints) OKXPrivateWS() string {
	return strings.Replace(e.OKXPublicWS, "/ws/v5/public", "/ws/v5/private", 1)
}

// BinanceWSAPI is the URL of Binance's WebSocket API (the user data stream).
func (e Endpoints) BinanceWSAPI() string { return e.BinanceWS + "/ws-api/v3" }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func base64Decode(s string) ([]byte, error) { return base64.StdEncoding.DecodeString(s) }

func hexStd(b []byte) string { return hex.EncodeToString(b) }
