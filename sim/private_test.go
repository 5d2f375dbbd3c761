package sim

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"marketetl/market"
)

// fixedNow returns a clock stopped at t.
func fixedNow(t time.Time) func() time.Time { return func() time.Time { return t } }

func d(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// The signature checks accept the exchanges' own vectors (PROTOCOLS.md
// §5.7, §6.8, §7.6) and refuse a one-character change: these checks are
// written independently of the collectors' signers.
func TestPrivateSignatureVectors(t *testing.T) {
	t.Run("okx login", func(t *testing.T) {
		s, err := New(Config{Seed: 1, Start: testStart, Now: fixedNow(time.Unix(1538054050, 0))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.SetAPIKey(market.OKX, APIKey{Key: "k", Secret: "22582BD0CFF14C41EDBF1AB98506286D", Passphrase: "p"})
		s.mu.Lock()
		defer s.mu.Unlock()
		good := okxLoginArg{APIKey: "k", Passphrase: "p", Timestamp: "1538054050", Sign: "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="}
		if code, msg := s.okxCheckLogin(good); code != "" {
			t.Fatalf("vector refused: %s %s", code, msg)
		}
		bad := good
		bad.Sign = "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4N="
		if code, _ := s.okxCheckLogin(bad); code != "60007" {
			t.Errorf("changed sign: code %q, want 60007", code)
		}
		stale := good
		stale.Timestamp = "1538054000"
		if code, _ := s.okxCheckLogin(stale); code != "60006" {
			t.Errorf("stale timestamp: code %q, want 60006", code)
		}
	})
	t.Run("binance ws api", func(t *testing.T) {
		s, err := New(Config{Seed: 1, Start: testStart, Now: fixedNow(time.UnixMilli(1747385641636 + 100))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		const key = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
		s.SetAPIKey(market.Binance, APIKey{Key: key, Secret: "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"})
		s.mu.Lock()
		defer s.mu.Unlock()
		params := func(sig string) map[string]json.RawMessage {
			return map[string]json.RawMessage{"apiKey": json.RawMessage(`"` + key + `"`), "timestamp": json.RawMessage("1747385641636"), "signature": json.RawMessage(`"` + sig + `"`)}
		}
		if _, e := s.binanceCheckSigned(params("681110a6057ad58657af22f5640fab9dd17418834cdfccdc81be8b0f7b2cde3e")); e != nil {
			t.Fatalf("vector refused: %+v", e)
		}
		if _, e := s.binanceCheckSigned(params("681110a6057ad58657af22f5640fab9dd17418834cdfccdc81be8b0f7b2cde3f")); e == nil || e.Code != -1022 {
			t.Errorf("changed signature: %+v, want -1022", e)
		}
	})
	t.Run("coinbase feed", func(t *testing.T) {
		s, err := New(Config{Seed: 1, Start: testStart, Now: fixedNow(time.Unix(1700000000, 0))}, nil)
		if err != nil {
			t.Fatal(err)
		}
		s.SetAPIKey(market.Coinbase, APIKey{Key: "k", Secret: "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+Pw==", Passphrase: "p"})
		s.mu.Lock()
		defer s.mu.Unlock()
		if r := s.coinbaseCheckAuth("k", "p", "1700000000", "GET", "/users/self/verify", "4w5N81jN+R8BEl+8gu26Lel0jalXF5uTezix+T8v9eY="); r != "" {
			t.Fatalf("vector refused: %s", r)
		}
		if r := s.coinbaseCheckAuth("k", "p", "1700000000", "GET", "/accounts", "rGG1JqXQ+E6pZei33vupSfjDznqIYp7EiYs3JKWtKIw="); r != "" {
			t.Fatalf("accounts vector refused: %s", r)
		}
		// Keyed with the undecoded secret: the classic mistake is refused.
		if r := s.coinbaseCheckAuth("k", "p", "1700000000", "GET", "/users/self/verify", "mrfYJJfLgYAQ17WPZ6ktZ5KtXBkLLB6MI9g6SvPc1ds="); r != "invalid signature" {
			t.Errorf("undecoded-secret signature: %q", r)
		}
	})
}

// okxLoginFrame builds a login frame for key at now, signed by the rule.
func okxLoginFrame(k APIKey, now time.Time) string {
	ts := fmt.Sprint(now.Unix())
	sign := base64Std(hmacSHA256([]byte(k.Secret), ts+"GET/users/self/verify"))
	return fmt.Sprintf(`{"op":"login","args":[{"apiKey":%q,"passphrase":%q,"timestamp":%q,"sign":%q}]}`, k.Key, k.Passphrase, ts, sign)
}

func TestOKXPrivate(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	if _, err := s.SetBalances(market.OKX, true, BalanceChange{Asset: "USDT", Free: d("100.50"), Locked: d("2.5")}); err != nil {
		t.Fatal(err)
	}
	c := dial(t, ep.OKXPrivateWS())
	c.send(`{"id":"1","op":"subscribe","args":[{"channel":"account"}]}`)
	if got := string(c.read()); !strings.Contains(got, `"code":"60011"`) {
		t.Fatalf("subscribe before login: %s", got)
	}
	c.send(okxLoginFrame(DemoAPIKey(market.OKX), time.Now()))
	if got := string(c.read()); !strings.Contains(got, `"event":"login","code":"0"`) {
		t.Fatalf("login: %s", got)
	}
	c.send(`{"id":"2","op":"subscribe","args":[{"channel":"account"}]}`)
	if got := string(c.read()); !strings.Contains(got, `"event":"subscribe"`) {
		t.Fatalf("ack: %s", got)
	}
	snap := string(c.read())
	for _, want := range []string{`"eventType":"snapshot"`, `"curPage":1`, `"lastPage":true`, `"ccy":"USDT"`, `"availBal":"100.50"`, `"frozenBal":"2.5"`, `"eq":"103.00"`} {
		if !strings.Contains(snap, want) {
			t.Errorf("snapshot lacks %s: %s", want, snap)
		}
	}
	if _, err := s.SetBalances(market.OKX, true, BalanceChange{Asset: "BTC", Free: d("0.1"), Locked: d("0")}); err != nil {
		t.Fatal(err)
	}
	upd := string(c.read())
	if !strings.Contains(upd, `"eventType":"event_update"`) || !strings.Contains(upd, `"ccy":"BTC"`) || strings.Contains(upd, `"USDT"`) {
		t.Errorf("update: %s", upd)
	}

	bad := dial(t, ep.OKXPrivateWS())
	k := DemoAPIKey(market.OKX)
	k.Secret = "wrong"
	bad.send(okxLoginFrame(k, time.Now()))
	if got := string(bad.read()); !strings.Contains(got, `"code":"60007"`) {
		t.Errorf("bad sign: %s", got)
	}
	bad.send(`{"id":"3","op":"subscribe","args":[{"channel":"account"}]}`)
	if got := string(bad.read()); !strings.Contains(got, `"code":"60011"`) {
		t.Errorf("subscribe after a failed login: %s", got)
	}

	// REST balance, signed.
	now := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
	req, _ := http.NewRequestWithContext(ctx(t), "GET", ep.OKXREST+"/api/v5/account/balance", nil)
	req.Header.Set("OK-ACCESS-KEY", DemoAPIKey(market.OKX).Key)
	req.Header.Set("OK-ACCESS-PASSPHRASE", DemoAPIKey(market.OKX).Passphrase)
	req.Header.Set("OK-ACCESS-TIMESTAMP", now)
	req.Header.Set("OK-ACCESS-SIGN", base64Std(hmacSHA256([]byte(DemoAPIKey(market.OKX).Secret), now+"GET/api/v5/account/balance")))
	body := doGet(t, req, http.StatusOK)
	if !strings.Contains(body, `"ccy":"BTC"`) || !strings.Contains(body, `"ccy":"USDT"`) {
		t.Errorf("REST balance: %s", body)
	}
	req.Header.Set("OK-ACCESS-SIGN", "x")
	if body := doGet(t, req, http.StatusUnauthorized); !strings.Contains(body, `"50113"`) {
		t.Errorf("bad REST sign: %s", body)
	}
}

func TestBinanceUserData(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	k := DemoAPIKey(market.Binance)
	c := dial(t, ep.BinanceWSAPI())
	ts := fmt.Sprint(time.Now().UnixMilli())
	sig := hexStd(hmacSHA256([]byte(k.Secret), "apiKey="+k.Key+"&timestamp="+ts))
	c.send(`{"id":"a1","method":"userDataStream.subscribe.signature","params":{"apiKey":"` + k.Key + `","timestamp":` + ts + `,"signature":"` + sig + `"}}`)
	if got := string(c.read()); got != `{"id":"a1","result":{"subscriptionId":0},"status":200}` {
		t.Fatalf("subscribe: %s", got)
	}
	c.send(`{"id":"a2","method":"userDataStream.subscribe.signature","params":{"apiKey":"` + k.Key + `","timestamp":` + ts + `,"signature":"` + sig + `"}}`)
	if got := string(c.read()); !strings.Contains(got, `-2035`) {
		t.Fatalf("second subscribe: %s", got)
	}
	if _, err := s.SetBalances(market.Binance, true, BalanceChange{Asset: "ETH", Free: d("10000.000000"), Locked: d("0.000000")}); err != nil {
		t.Fatal(err)
	}
	ev := string(c.read())
	if !strings.HasPrefix(ev, `{"event":{"B":[{"a":"ETH","f":"10000.000000","l":"0.000000"}],"E":`) || !strings.Contains(ev, `"e":"outboundAccountPosition"`) || !strings.HasSuffix(ev, `"subscriptionId":0}`) {
		t.Errorf("event: %s", ev)
	}
	// The WebSocket API's serverShutdown comes in an "event" envelope,
	// without a subscription id.
	if n, err := s.AnnounceShutdown(market.Binance); err != nil || n != 1 {
		t.Fatalf("AnnounceShutdown = %d, %v", n, err)
	}
	if got := string(c.read()); !strings.HasPrefix(got, `{"event":{"e":"serverShutdown","E":`) || !strings.HasSuffix(got, `}}`) {
		t.Errorf("serverShutdown on the WebSocket API: %s", got)
	}
	bad := dial(t, ep.BinanceWSAPI())
	bad.send(`{"id":7,"method":"userDataStream.subscribe.signature","params":{"apiKey":"` + k.Key + `","timestamp":` + ts + `,"signature":"00"}}`)
	if got := string(bad.read()); got != `{"error":{"code":-1022,"msg":"Signature for this request is not valid."},"id":7,"status":400}` {
		t.Errorf("bad signature: %s", got)
	}
	q := "omitZeroBalances=true&timestamp=" + ts
	req, _ := http.NewRequestWithContext(ctx(t), "GET", ep.BinanceREST+"/api/v3/account?"+q+"&signature="+hexStd(hmacSHA256([]byte(k.Secret), q)), nil)
	req.Header.Set("X-MBX-APIKEY", k.Key)
	if body := doGet(t, req, http.StatusOK); !strings.Contains(body, `{"asset":"ETH","free":"10000.000000","locked":"0.000000"}`) {
		t.Errorf("REST account: %s", body)
	}
}

func TestCoinbaseBalance(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	k := DemoAPIKey(market.Coinbase)
	if _, err := s.SetBalances(market.Coinbase, true, BalanceChange{Asset: "USD", Free: d("102030.99"), Locked: d("1000.23")}, BalanceChange{Asset: "BTC", Free: d("0"), Locked: d("0")}); err != nil {
		t.Fatal(err)
	}
	// The account ids come from REST, as a client gets them.
	now := fmt.Sprint(time.Now().Unix())
	req, _ := http.NewRequestWithContext(ctx(t), "GET", ep.CoinbaseREST+"/accounts", nil)
	req.Header.Set("CB-ACCESS-KEY", k.Key)
	req.Header.Set("CB-ACCESS-PASSPHRASE", k.Passphrase)
	req.Header.Set("CB-ACCESS-TIMESTAMP", now)
	secret, _ := base64Decode(k.Secret)
	req.Header.Set("CB-ACCESS-SIGN", base64Std(hmacSHA256(secret, now+"GET/accounts")))
	var accounts []struct{ ID, Currency, Balance, Hold, Available string }
	if err := json.Unmarshal([]byte(doGet(t, req, http.StatusOK)), &accounts); err != nil || len(accounts) != 2 {
		t.Fatalf("accounts: %v %+v", err, accounts)
	}
	var usd string
	for _, a := range accounts {
		if a.Currency == "USD" {
			usd = a.ID
			if a.Balance != "103031.22" || a.Hold != "1000.23" || a.Available != "102030.99" {
				t.Errorf("USD account %+v", a)
			}
		}
	}
	sig := base64Std(hmacSHA256(secret, now+"GET/users/self/verify"))
	c := dial(t, ep.CoinbaseWS)
	c.send(`{"type":"subscribe","channels":[{"name":"balance","account_ids":["` + usd + `"]}],"signature":"` + sig + `","key":"` + k.Key + `","passphrase":"` + k.Passphrase + `","timestamp":"` + now + `"}`)
	if got := string(c.read()); got != `{"channels":[{"name":"balance"}],"type":"subscriptions"}` {
		t.Fatalf("ack: %s", got)
	}
	first := string(c.read())
	if !strings.Contains(first, `"type":"balance","account_id":"`+usd+`","currency":"USD","holds":"1000.23","available":"102030.99"`) {
		t.Errorf("first message: %s", first)
	}
	if _, err := s.SetBalances(market.Coinbase, true, BalanceChange{Asset: "USD", Free: d("5"), Locked: d("1")}); err != nil {
		t.Fatal(err)
	}
	if got := string(c.read()); !strings.Contains(got, `"holds":"1","available":"5"`) {
		t.Errorf("update: %s", got)
	}
	bad := dial(t, ep.CoinbaseWS)
	bad.send(`{"type":"subscribe","channels":["balance"],"account_ids":["` + usd + `"],"signature":"AAAA","key":"` + k.Key + `","passphrase":"` + k.Passphrase + `","timestamp":"` + now + `"}`)
	if got := string(bad.read()); got != `{"type":"error","message":"Sorry, you could not be authenticated: Bad Request","reason":"invalid signature"}` {
		t.Errorf("bad signature: %s", got)
	}
	if h := s.BalanceHistory(market.Coinbase); len(h) != 3 {
		t.Errorf("history has %d changes, want 3", len(h))
	}
}

func doGet(t *testing.T, req *http.Request, status int) string {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("%s: status %d, want %d: %s", req.URL.Path, resp.StatusCode, status, b)
	}
	return string(b)
}
