package sim

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

func TestDropConnections(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	c := dial(t, ep.OKXPublicWS)
	if err := s.WaitConnections(ctx(t), market.OKX, 1); err != nil {
		t.Fatal(err)
	}
	if n := s.DropConnections(market.OKX); n != 1 {
		t.Fatalf("dropped %d, want 1", n)
	}
	err := c.readUntilError()
	if code, _ := closeCode(err); code != websocket.CloseAbnormalClosure {
		t.Fatalf("read after a drop: %v, want no close frame", err)
	}
	if err := s.WaitConnections(ctx(t), market.OKX, 0); err != nil {
		t.Fatal(err)
	}
	if n := s.Counts(market.OKX); n.Dropped != 1 || n.Connects != 1 {
		t.Fatalf("counts %+v", n)
	}
}

func TestRejectConnections(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	s.RejectConnections(market.Binance, true)
	_, resp, err := websocket.DefaultDialer.DialContext(ctx(t), ep.BinanceWS+"/ws/btcusdt@trade", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial while rejecting: %v, %v", resp, err)
	}
	_ = resp.Body.Close()
	s.RejectConnections(market.Binance, false)
	dial(t, ep.BinanceWS+"/ws/btcusdt@trade")
	// The client's handshake completes before the server counts the
	// connection: wait for it.
	if err := s.WaitConnects(ctx(t), market.Binance, 1); err != nil {
		t.Fatal(err)
	}
	if n := s.Counts(market.Binance); n.Rejected != 1 || n.Connects != 1 {
		t.Fatalf("counts %+v", n)
	}
}

func TestJumpTradeID(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	step(t, s, 1)
	if err := s.JumpTradeID(market.Binance, "BTC-USDT", 5); err != nil {
		t.Fatal(err)
	}
	if err := s.JumpTradeID(market.Binance, "NOPE-USDT", 5); !errors.Is(err, ErrUnknownMarket) {
		t.Fatalf("jump on an unknown market: %v", err)
	}
	step(t, s, 1)
	var ids []string
	for _, tr := range s.Trades(market.Binance, "BTC-USDT") {
		ids = append(ids, tr.TradeID)
	}
	if strings.Join(ids, ",") != "100000001,100000007" {
		t.Fatalf("trade ids %v", ids)
	}
	_, _, body := get(t, ep.BinanceREST+"/api/v3/historicalTrades?symbol=BTCUSDT&fromId=100000002")
	var got []struct{ ID int64 }
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 1 || got[0].ID != 100000007 {
		t.Fatalf("REST from the skipped ids: %s", body)
	}
}

func TestInjectInvalidTrade(t *testing.T) {
	tests := []struct {
		ex        market.Exchange
		sym       market.Symbol
		url       func(Endpoints) string
		subscribe string
		zeroSize  string // what the first (zero-size) invalid trade carries
		negPrice  string // and the second (negative price)
	}{
		{market.OKX, "BTC-USDT", func(ep Endpoints) string { return ep.OKXPublicWS }, `{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`, `"sz":"0.00000000"`, `"px":"-1.0"`},
		{market.Binance, "BTC-USDT", func(ep Endpoints) string { return ep.BinanceWS + "/ws/btcusdt@trade" }, "", `"q":"0.00000000"`, `"p":"-1.00000000"`},
		{market.Coinbase, "BTC-USD", func(ep Endpoints) string { return ep.CoinbaseWS }, `{"type":"subscribe","product_ids":["BTC-USD"],"channels":["matches"]}`, `"size":"0.00000000"`, `"price":"-1.00"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.ex), func(t *testing.T) {
			s, ep := start(t, Config{Seed: 1, Start: testStart})
			c := dial(t, tt.url(ep))
			if tt.subscribe != "" {
				c.send(tt.subscribe)
				c.read() // the acknowledgement
			}
			if err := s.WaitSubscribed(ctx(t), market.Stream{Exchange: tt.ex, Symbol: tt.sym, Type: market.TypeTrade}); err != nil {
				t.Fatal(err)
			}
			step(t, s, 1)
			c.read() // the valid trade
			for _, want := range []string{tt.zeroSize, tt.negPrice} {
				inv, err := s.InjectInvalidTrade(tt.ex, tt.sym)
				if err != nil {
					t.Fatal(err)
				}
				f := c.read()
				if !strings.Contains(string(f), want) || !strings.Contains(string(f), inv.TradeID) {
					t.Fatalf("invalid trade frame %s lacks %s or id %s", f, want, inv.TradeID)
				}
			}
			inv := s.InvalidTrades(tt.ex, tt.sym)
			if len(inv) != 2 || !inv[0].Size.IsZero() || !inv[1].Price.IsNegative() {
				t.Fatalf("invalid trades %+v", inv)
			}
			step(t, s, 1)
			trades := s.Trades(tt.ex, tt.sym)
			if len(trades) != 2 || trades[1].TradeID != "100000004" {
				t.Fatalf("valid trades %+v", trades)
			}
			if n := s.Counts(tt.ex); n.InvalidTrades != 2 || n.Trades != 4 {
				t.Fatalf("counts %+v", n)
			}
		})
	}
}

func TestStallKeepsHeartbeats(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	c := dial(t, ep.CoinbaseWS)
	c.send(`{"type":"subscribe","product_ids":["ETH-USD"],"channels":["matches","heartbeat"]}`)
	c.read() // subscriptions
	s.Stall(market.Coinbase, true)
	step(t, s, 1)
	if f := c.read(); !strings.HasPrefix(string(f), `{"type":"heartbeat",`) {
		t.Fatalf("during a stall: %s", f)
	}
	s.Stall(market.Coinbase, false)
	step(t, s, 1)
	f := c.read()
	var m coinbaseMatch
	if err := json.Unmarshal(f, &m); err != nil || m.Type != "match" || m.TradeID != 100000002 {
		t.Fatalf("after the stall: %s", f)
	}
	// The stalled trade exists: REST serves it.
	_, _, body := get(t, ep.CoinbaseREST+"/products/ETH-USD/trades?after=100000002")
	if !strings.Contains(string(body), `"trade_id":100000001,`) {
		t.Fatalf("REST lacks the stalled trade: %s", body)
	}
}

func TestSendRawAndOversized(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	c := dial(t, ep.CoinbaseWS)
	if err := s.WaitConnections(ctx(t), market.Coinbase, 1); err != nil {
		t.Fatal(err)
	}
	if n := s.SendRaw(market.Coinbase, []byte(`{"type":"match",`)); n != 1 {
		t.Fatalf("SendRaw reached %d connections", n)
	}
	c.expect(`{"type":"match",`)
	s.SendOversized(market.Coinbase, 100000)
	f := c.read()
	if len(f) != 100000 || !json.Valid(f) {
		t.Fatalf("oversized frame of %d bytes, valid %v", len(f), json.Valid(f))
	}
}

func TestSlowClientIsDropped(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart, SendQueue: 4})
	dial(t, ep.OKXPublicWS) // never reads
	if err := s.WaitConnections(ctx(t), market.OKX, 1); err != nil {
		t.Fatal(err)
	}
	// Once the socket buffers are full the writer blocks and the queue
	// fills.
	for i := 0; i < 1000 && s.Counts(market.OKX).Slow == 0; i++ {
		s.SendOversized(market.OKX, 1<<20)
	}
	if err := s.WaitConnections(ctx(t), market.OKX, 0); err != nil {
		t.Fatal(err)
	}
	if n := s.Counts(market.OKX); n.Slow != 1 {
		t.Fatalf("counts %+v", n)
	}
}

func TestAnnounceShutdownCoinbase(t *testing.T) {
	s, err := New(Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AnnounceShutdown(market.Coinbase); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("AnnounceShutdown(coinbase) = %v, want ErrUnsupported", err)
	}
}
