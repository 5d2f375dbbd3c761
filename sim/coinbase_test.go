package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

func coinbaseMatchKeys() []string {
	return []string{"type", "trade_id", "sequence", "maker_order_id", "taker_order_id", "time", "product_id", "size", "price", "side"}
}

func TestCoinbaseFeed(t *testing.T) {
	s, ep := start(t, Config{Seed: 7, Start: testStart})
	step(t, s, 3)
	c := dial(t, ep.CoinbaseWS)
	c.send(`{"type":"subscribe","product_ids":["BTC-USD","XYZ-USD"],"channels":["matches","heartbeat",{"name":"ticker","product_ids":["ETH-USD"]}]}`)
	c.expect(`{"type":"error","message":"Failed to subscribe","reason":"XYZ-USD is not a valid product"}`)
	c.expect(`{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]},{"name":"ticker","product_ids":["BTC-USD","ETH-USD"]}]}`)

	// The first matches message is the last match before subscribing.
	btc := s.Trades(market.Coinbase, "BTC-USD")
	lm := c.read()
	checkKeys(t, lm, coinbaseMatchKeys()...)
	var last struct {
		Type     string `json:"type"`
		TradeID  int64  `json:"trade_id"`
		Sequence int64  `json:"sequence"`
		Side     string `json:"side"`
	}
	if err := json.Unmarshal(lm, &last); err != nil || last.Type != "last_match" || itoa(last.TradeID) != btc[2].TradeID ||
		last.Side != string(btc[2].Side.Opposite()) {
		t.Fatalf("last_match %s (%v), trade %+v", lm, err, btc[2])
	}

	step(t, s, 1)
	tr := s.Trades(market.Coinbase, "BTC-USD")[3]
	match := c.read()
	checkKeys(t, match, coinbaseMatchKeys()...)
	var m coinbaseMatch
	if err := json.Unmarshal(match, &m); err != nil {
		t.Fatal(err)
	}
	if m.Type != "match" || itoa(m.TradeID) != tr.TradeID || m.Price != dec(tr.Price) || m.Size != dec(tr.Size) ||
		m.Side != string(tr.Side.Opposite()) || m.Time != tr.Time.Format(coinbaseTimeWS) || m.ProductID != "BTC-USD" {
		t.Fatalf("match %s, trade %+v", match, tr)
	}
	if m.Sequence <= last.Sequence {
		t.Fatalf("match sequence %d after last_match %d", m.Sequence, last.Sequence)
	}
	tk := c.read()
	checkKeys(t, tk, "type", "sequence", "product_id", "price", "open_24h", "volume_24h", "low_24h", "high_24h", "volume_30d",
		"best_bid", "best_bid_size", "best_ask", "best_ask_size", "side", "time", "trade_id", "last_size")
	var ticker coinbaseTicker
	if err := json.Unmarshal(tk, &ticker); err != nil {
		t.Fatal(err)
	}
	if ticker.Sequence != m.Sequence+1 || ticker.Side != string(tr.Side) || ticker.Price != dec(tr.Price) || ticker.ProductID != "BTC-USD" {
		t.Fatalf("ticker %s after match %s", tk, match)
	}
	eth := c.read()
	if !strings.HasPrefix(string(eth), `{"type":"ticker","sequence":`) || !strings.Contains(string(eth), `"product_id":"ETH-USD"`) {
		t.Fatalf("ETH-USD ticker: %s", eth)
	}
	c.expect(fmt.Sprintf(`{"type":"heartbeat","sequence":%d,"last_trade_id":%s,"product_id":"BTC-USD","time":"%s"}`,
		m.Sequence+2, tr.TradeID, tr.Time.Format(coinbaseTimeWS)))

	tests := []struct {
		name string
		send string
		want []string
	}{
		{"level2 needs authentication", `{"type":"subscribe","product_ids":["BTC-USD"],"channels":["level2"]}`, []string{
			`{"type":"error","message":"Failed to subscribe","reason":"level2, level3, and full channels now require authentication. https://docs.cloud.coinbase.com/exchange/docs/websocket-auth"}`,
			`{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]},{"name":"ticker","product_ids":["BTC-USD","ETH-USD"]}]}`,
		}},
		{"no channels", `{"type":"subscribe","product_ids":["BTC-USD"]}`, []string{
			`{"type":"error","message":"Failed to subscribe","reason":"No channels provided"}`,
		}},
		{"unsubscribe a product", `{"type":"unsubscribe","channels":[{"name":"ticker","product_ids":["BTC-USD"]}]}`, []string{
			`{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]},{"name":"heartbeat","product_ids":["BTC-USD"]},{"name":"ticker","product_ids":["ETH-USD"]}]}`,
		}},
		{"unsubscribe a channel", `{"type":"unsubscribe","channels":["heartbeat"]}`, []string{
			`{"type":"subscriptions","channels":[{"name":"matches","product_ids":["BTC-USD"]},{"name":"ticker","product_ids":["ETH-USD"]}]}`,
		}},
		{"malformed JSON", `{"type":`, []string{`{"type":"error","message":"Failed to subscribe","reason":"Malformed JSON"}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.send)
			for _, w := range tt.want {
				c.expect(w)
			}
		})
	}
}

func TestCoinbaseSubscribeTimeout(t *testing.T) {
	_, ep := start(t, Config{Seed: 1, Start: testStart, CoinbaseSubscribeTimeout: 100 * time.Millisecond})
	c := dial(t, ep.CoinbaseWS)
	if code, text := closeCode(c.readUntilError()); code != websocket.ClosePolicyViolation || text != "subscribe timeout" {
		t.Fatalf("close %d %q", code, text)
	}
}

func TestCoinbaseREST(t *testing.T) {
	s, ep := start(t, Config{Seed: 8, Start: testStart})
	step(t, s, 700)
	base := ep.CoinbaseREST + "/products/"
	closed := s.ClosedCandles(market.Coinbase, "ETH-USD", market.TF1m)
	forming, _ := s.FormingCandle(market.Coinbase, "ETH-USD", market.TF1m)
	all := append(append([]market.Candle{}, closed...), forming)
	rows := func(cs []market.Candle) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := len(cs) - 1; i >= 0; i-- {
			c := cs[i]
			fmt.Fprintf(&b, "[%d,%s,%s,%s,%s,%s]", c.Time.Unix(), dec(c.Low), dec(c.High), dec(c.Open), dec(c.Close), dec(c.Volume))
			if i > 0 {
				b.WriteByte(',')
			}
		}
		b.WriteByte(']')
		return b.String()
	}
	unix := func(t time.Time) string { return itoa(t.Unix()) }
	tests := []struct {
		name, query string
		status      int
		want        string
	}{
		{"latest", "ETH-USD/candles?granularity=60", http.StatusOK, rows(all)},
		{"a range, inclusive", "ETH-USD/candles?granularity=60&start=" + unix(closed[2].Time) + "&end=" + closed[4].Time.Format(time.RFC3339), http.StatusOK, rows(closed[2:5])},
		{"unsupported granularity", "ETH-USD/candles?granularity=120", http.StatusBadRequest, `{"message":"Unsupported granularity"}`},
		{"more than 300 buckets", "ETH-USD/candles?granularity=60&start=" + unix(testStart) + "&end=" + unix(testStart.Add(301*time.Minute)), http.StatusBadRequest,
			`{"message":"granularity too small for the requested time range. Count of aggregations requested exceeds 300"}`},
		{"unknown product candles", "XYZ-USD/candles?granularity=60", http.StatusNotFound, `{"message":"NotFound"}`},
		{"unknown product trades", "XYZ-USD/trades", http.StatusNotFound, `{"message":"NotFound"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, base+tt.query)
			if status != tt.status || string(body) != tt.want {
				t.Fatalf("got %d %s\nwant %d %s", status, body, tt.status, tt.want)
			}
		})
	}

	t.Run("trades page to the recorded ones", func(t *testing.T) {
		want := s.Trades(market.Coinbase, "BTC-USD")
		var got []coinbaseRESTTrade
		query := "BTC-USD/trades?limit=300"
		var firstBefore string
		for {
			status, h, body := get(t, base+query)
			if status != http.StatusOK {
				t.Fatalf("%d %s", status, body)
			}
			var page []coinbaseRESTTrade
			if err := json.Unmarshal(body, &page); err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			if h.Get("CB-BEFORE") != itoa(page[0].TradeID) || h.Get("CB-AFTER") != itoa(page[len(page)-1].TradeID) {
				t.Fatalf("headers %v for page %d..%d", h, page[0].TradeID, page[len(page)-1].TradeID)
			}
			if firstBefore == "" {
				firstBefore = h.Get("CB-BEFORE")
			}
			got = append(got, page...)
			query = "BTC-USD/trades?limit=300&after=" + h.Get("CB-AFTER")
		}
		if len(got) != len(want) {
			t.Fatalf("paged %d trades, want %d", len(got), len(want))
		}
		for i, g := range got {
			w := want[len(want)-1-i]
			if g != (coinbaseRESTTrade{Time: w.Time.Format(coinbaseTimeREST), TradeID: g.TradeID, Price: dec(w.Price), Size: dec(w.Size), Side: string(w.Side.Opposite())}) || itoa(g.TradeID) != w.TradeID {
				t.Fatalf("trade %d: got %+v, want %+v", i, g, w)
			}
		}
		// Nothing is newer than the newest trade; two back, two are.
		status, _, body := get(t, base+"BTC-USD/trades?before="+firstBefore)
		if status != http.StatusOK || string(body) != "[]" {
			t.Fatalf("before the newest: %d %s", status, body)
		}
		status, _, body = get(t, base+"BTC-USD/trades?limit=1&before="+want[len(want)-3].TradeID)
		if status != http.StatusOK || !strings.Contains(string(body), `"trade_id":`+want[len(want)-2].TradeID+`,`) {
			t.Fatalf("the page after %s: %d %s", want[len(want)-3].TradeID, status, body)
		}
	})
}
