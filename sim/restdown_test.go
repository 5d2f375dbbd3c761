package sim

import (
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"marketetl/market"
)

// SetRESTDown fails every REST request of the exchange (503, then a cut
// connection) until RESTUp, recording each as failed; other exchanges are
// served.
func TestSetRESTDown(t *testing.T) {
	s, ep := start(t, Config{Seed: 1})
	url := ep.BinanceREST + "/api/v3/trades?symbol=BTCUSDT"
	s.SetRESTDown(market.Binance, RESTUnavailable)
	if code, _, body := get(t, url); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "Unavailable") {
		t.Errorf("while unavailable: %d %s", code, body)
	}
	if code, _, _ := get(t, ep.OKXREST+"/api/v5/market/history-trades?instId=BTC-USDT"); code != http.StatusOK {
		t.Errorf("OKX while Binance is down: %d", code)
	}
	s.SetRESTDown(market.Binance, RESTReset)
	req, _ := http.NewRequestWithContext(ctx(t), http.MethodGet, url, nil)
	req.Close = true
	if resp, err := http.DefaultClient.Do(req); err == nil {
		_ = resp.Body.Close()
		t.Errorf("while reset: answered %s", resp.Status)
	}
	s.SetRESTDown(market.Binance, RESTUp)
	if code, _, _ := get(t, url); code != http.StatusOK {
		t.Errorf("back up: %d", code)
	}
	var failed []bool
	for _, q := range s.RESTRequests(market.Binance) {
		failed = append(failed, q.Failed)
	}
	if len(failed) != 3 || !failed[0] || !failed[1] || failed[2] {
		t.Errorf("requests failed: %v, want [true true false]", failed)
	}
}

// BanREST answers Binance's 418 with Retry-After until the ban ends and
// Binance's -1003 body; requests after it are served.
func TestBanREST(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	var clock atomic.Int64 // nanoseconds after now
	s, ep := start(t, Config{Seed: 1, Now: func() time.Time { return now.Add(time.Duration(clock.Load())) }})
	url := ep.BinanceREST + "/api/v3/trades?symbol=BTCUSDT"
	s.BanREST(market.Binance, 2500*time.Millisecond)
	code, h, body := get(t, url)
	if code != http.StatusTeapot || h.Get("Retry-After") != "3" ||
		!strings.Contains(string(body), `"code":-1003`) || !strings.Contains(string(body), "IP banned until 1767322802500") {
		t.Errorf("banned: %d Retry-After %q %s", code, h.Get("Retry-After"), body)
	}
	clock.Store(int64(2500 * time.Millisecond))
	if code, _, _ := get(t, url); code != http.StatusOK {
		t.Errorf("after the ban: %d", code)
	}
	reqs := s.RESTRequests(market.Binance)
	if len(reqs) != 2 || !reqs[0].Banned || reqs[1].Banned {
		t.Errorf("requests %+v, want the first banned", reqs)
	}
}

// RefuseSymbol makes OKX answer a subscription to a listed symbol with its
// 60018 error, as for a symbol it does not list; Binance has no refusal.
func TestRefuseSymbol(t *testing.T) {
	s, ep := start(t, Config{Seed: 1})
	if err := s.RefuseSymbol(market.Binance, "BTC-USDT", true); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Binance: %v, want ErrUnsupported", err)
	}
	if err := s.RefuseSymbol(market.OKX, "ETH-USDT", true); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ep.OKXPublicWS)
	c.send(`{"op":"subscribe","args":[{"channel":"trades","instId":"ETH-USDT"},{"channel":"trades","instId":"BTC-USDT"}]}`)
	if got := c.read(); !strings.Contains(string(got), `"code":"60018"`) || !strings.Contains(string(got), "instId:ETH-USDT doesn't exist") {
		t.Errorf("refused: %s", got)
	}
	if got := c.read(); !strings.Contains(string(got), `"event":"subscribe"`) || !strings.Contains(string(got), "BTC-USDT") {
		t.Errorf("the other symbol: %s", got)
	}
}
