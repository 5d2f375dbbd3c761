package sim

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

// TestKrakenFeed: the status frame first, one acknowledgement per symbol,
// an unsupported pair refused as documented, trades with JSON-number
// prices and consecutive trade ids, ohlc updates on every trade without a
// closed flag, heartbeats once subscribed, ping answered with pong.
func TestKrakenFeed(t *testing.T) {
	s, ep := start(t, Config{Seed: 7, Start: testStart})
	step(t, s, 3)
	c := dial(t, ep.KrakenWS)
	status := c.read()
	checkKeys(t, status, "channel", "data", "type")
	c.send(`{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD","XBT/USD"]},"req_id":4}`)
	var ack krakenAnswer
	if err := json.Unmarshal(c.read(), &ack); err != nil || !ack.Success || ack.Result == nil || ack.Result.Symbol != "BTC/USD" || ack.Result.Channel != "trade" || ack.Result.Snapshot == nil || *ack.Result.Snapshot || *ack.ReqID != 4 {
		t.Fatalf("ack %+v, %v", ack, err)
	}
	refusal := c.read()
	if !strings.Contains(string(refusal), `"error":"Currency pair not supported XBT/USD"`) || !strings.Contains(string(refusal), `"success":false`) {
		t.Fatalf("refusal %s", refusal)
	}
	c.send(`{"method":"subscribe","params":{"channel":"ohlc","symbol":["BTC/USD"],"interval":1},"req_id":5}`)
	c.read() // ack
	snap := c.read()
	if !strings.Contains(string(snap), `"type":"snapshot"`) || !strings.Contains(string(snap), `"interval_begin"`) {
		t.Fatalf("ohlc snapshot %s", snap)
	}

	step(t, s, 2)
	trades := s.Trades(market.Kraken, "BTC-USD")
	for i := 3; i < 5; i++ {
		frame := krakenRead(c)
		var push struct {
			Channel string        `json:"channel"`
			Data    []krakenTrade `json:"data"`
		}
		if err := json.Unmarshal(frame, &push); err != nil || push.Channel != "trade" || len(push.Data) != 1 {
			t.Fatalf("trade frame %s: %v", frame, err)
		}
		got, want := push.Data[0], trades[i]
		if strconv.FormatInt(got.TradeID, 10) != want.TradeID || string(got.Price) != dec(want.Price) || string(got.Qty) != dec(want.Size) ||
			got.Side != string(want.Side) || got.Timestamp != want.Time.Format(krakenTimeWS) {
			t.Fatalf("trade %s, want %+v", frame, want)
		}
		if strings.Contains(string(frame), `"price":"`) {
			t.Fatalf("price as a string: %s", frame)
		}
		ohlc := krakenRead(c)
		if !strings.Contains(string(ohlc), `"channel":"ohlc","type":"update"`) || strings.Contains(string(ohlc), "closed") {
			t.Fatalf("ohlc update %s", ohlc)
		}
	}
	if a, _ := strconv.ParseInt(trades[3].TradeID, 10, 64); fmt.Sprint(a+1) != trades[4].TradeID {
		t.Fatalf("trade ids %s, %s are not consecutive", trades[3].TradeID, trades[4].TradeID)
	}
	s.mu.Lock()
	s.krakenHeartbeats()
	s.mu.Unlock()
	c.expect(`{"channel":"heartbeat"}`)
	c.send(`{"method":"ping","req_id":101}`)
	pong := krakenRead(c)
	if !strings.HasPrefix(string(pong), `{"method":"pong","req_id":101,`) {
		t.Fatalf("pong %s", pong)
	}
}

// TestKrakenREST: OHLC rows oldest first with the forming candle last and
// the REST id as the result key; Trades paged by since in nanoseconds
// with last as the next since; unknown pairs, throttling and the history
// horizon answered as documented.
func TestKrakenREST(t *testing.T) {
	s, ep := start(t, Config{Seed: 7, Start: testStart, Step: 250 * time.Millisecond})
	step(t, s, 600)
	code, _, body := get(t, ep.KrakenREST+"/0/public/OHLC?pair=XBTUSD&interval=1")
	var ohlc struct {
		Error  []string                   `json:"error"`
		Result map[string]json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(body, &ohlc); err != nil || code != 200 || len(ohlc.Error) != 0 || len(ohlc.Result) != 2 {
		t.Fatalf("OHLC %d %s", code, body)
	}
	var rows [][]any
	if err := json.Unmarshal(ohlc.Result["XXBTZUSD"], &rows); err != nil {
		t.Fatal(err)
	}
	closed := s.ClosedCandles(market.Kraken, "BTC-USD", market.TF1m)
	if len(rows) != len(closed)+1 || rows[0][1] != dec(closed[0].Open) || rows[len(rows)-2][4] != dec(closed[len(closed)-1].Close) {
		t.Fatalf("%d rows for %d closed candles: %v", len(rows), len(closed), rows[:2])
	}

	all := s.Trades(market.Kraken, "BTC-USD")
	var got []string
	since := "0"
	for page := 0; page < 10; page++ {
		_, _, body := get(t, ep.KrakenREST+"/0/public/Trades?pair=XBTUSD&count=250&since="+since)
		var tr struct {
			Result map[string]json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(body, &tr); err != nil {
			t.Fatal(err)
		}
		var rows [][]json.RawMessage
		if err := json.Unmarshal(tr.Result["XXBTZUSD"], &rows); err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		for _, r := range rows {
			got = append(got, string(r[6]))
		}
		if err := json.Unmarshal(tr.Result["last"], &since); err != nil {
			t.Fatalf("last %s: %v", tr.Result["last"], err)
		}
	}
	if len(got) != len(all) || got[0] != all[0].TradeID || got[len(got)-1] != all[len(all)-1].TradeID {
		t.Fatalf("paged %d trades, want %d", len(got), len(all))
	}

	if _, _, body := get(t, ep.KrakenREST+"/0/public/Trades?pair=XBTEUR"); string(body) != `{"error":["EQuery:Unknown asset pair"]}` {
		t.Fatalf("unknown pair: %s", body)
	}
	s.ThrottleREST(market.Kraken, 1, 2*time.Second)
	if code, h, body := get(t, ep.KrakenREST+"/0/public/Trades?pair=XBTUSD"); code != 200 || h.Get("Retry-After") != "2" || string(body) != `{"error":["EAPI:Rate limit exceeded"]}` {
		t.Fatalf("throttled: %d %v %s", code, h, body)
	}
	s.SetHistoryHorizon(market.Kraken, all[100].Time)
	_, _, body = get(t, ep.KrakenREST+"/0/public/Trades?pair=XBTUSD&count=1&since=0")
	if !strings.Contains(string(body), ","+all[100].TradeID+"]]") {
		t.Fatalf("first trade served after the horizon: %s, want id %s", body, all[100].TradeID)
	}
}

// krakenRead returns the next frame that is not a heartbeat (Step sends
// them as exchange time passes whole seconds).
func krakenRead(c *client) []byte {
	for {
		f := c.read()
		if string(f) != `{"channel":"heartbeat"}` {
			return f
		}
	}
}

// TestKrakenAnswersAsDocumented: the members of Kraken's answers and of
// the ohlc pushes, in the order of the documents' examples
// (websocket-v2/ohlc subscribe and unsubscribe acknowledgements and
// update, websocket-v2/ping, the observed refusal of an unsupported
// pair).
func TestKrakenAnswersAsDocumented(t *testing.T) {
	s, ep := start(t, Config{Seed: 7, Start: testStart})
	step(t, s, 3)
	c := dial(t, ep.KrakenWS)
	c.read() // status
	c.send(`{"method":"subscribe","params":{"channel":"ohlc","symbol":["BTC/USD"],"interval":1}}`)
	ack := c.read()
	checkKeys(t, ack, "method", "result", "success", "time_in", "time_out")
	var res json.RawMessage
	field(t, ack, "result", &res)
	checkKeys(t, res, "channel", "interval", "snapshot", "symbol", "warnings")
	if !strings.Contains(string(res), `"warnings":["timestamp is deprecated, use interval_begin"]`) {
		t.Fatalf("ohlc acknowledgement %s lacks the documented warning", ack)
	}
	snap := krakenRead(c)
	checkKeys(t, snap, "channel", "type", "timestamp", "data")
	var ts string
	field(t, snap, "timestamp", &ts)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil || len(ts) != len("2023-10-04T16:26:30.524394914Z") {
		t.Fatalf("ohlc timestamp %q: want nine fractional digits as documented", ts)
	}
	step(t, s, 1)
	for {
		f := krakenRead(c)
		if strings.HasPrefix(string(f), `{"channel":"ohlc","type":"update"`) {
			checkKeys(t, f, "channel", "type", "timestamp", "data")
			break
		}
	}
	c.send(`{"method":"unsubscribe","params":{"channel":"ohlc","symbol":["BTC/USD"],"interval":1},"req_id":9}`)
	var unsub []byte
	for unsub == nil {
		if f := krakenRead(c); strings.Contains(string(f), `"method":"unsubscribe"`) {
			unsub = f
		}
	}
	checkKeys(t, unsub, "method", "req_id", "result", "success", "time_in", "time_out")
	field(t, unsub, "result", &res)
	checkKeys(t, res, "channel", "interval", "symbol")
	// The ticker page's acknowledgements: no event_trigger when
	// subscribing, event_trigger "trades" when unsubscribing.
	published := s.Counts(market.Kraken).Tickers
	c.send(`{"method":"subscribe","params":{"channel":"ticker","symbol":["BTC/USD"]}}`)
	var tickerAck []byte
	for tickerAck == nil {
		if f := krakenRead(c); strings.HasPrefix(string(f), `{"method":"subscribe"`) {
			tickerAck = f
		}
	}
	field(t, tickerAck, "result", &res)
	checkKeys(t, res, "channel", "snapshot", "symbol")
	// snapshot defaults to true: the current ticker follows the ack, with
	// the members of the ticker page's snapshot example.
	tsnap := krakenRead(c)
	checkKeys(t, tsnap, "channel", "type", "data")
	var tdata []json.RawMessage
	field(t, tsnap, "data", &tdata)
	if !strings.HasPrefix(string(tsnap), `{"channel":"ticker","type":"snapshot"`) || len(tdata) != 1 {
		t.Fatalf("ticker snapshot %s", tsnap)
	}
	checkKeys(t, tdata[0], "symbol", "bid", "bid_qty", "ask", "ask_qty", "last", "volume", "vwap", "low", "high", "change", "change_pct", "timestamp")
	rec := s.Tickers(market.Kraken, "BTC-USD")
	var got krakenTicker
	if err := json.Unmarshal(tdata[0], &got); err != nil || len(rec) == 0 || string(got.Bid) != dec(rec[len(rec)-1].Bid.Decimal) {
		t.Fatalf("ticker snapshot %s is not the last recorded ticker (%d recorded): %v", tdata[0], len(rec), err)
	}
	if n := s.Counts(market.Kraken).Tickers; n != published+1 {
		t.Fatalf("%d tickers published after the snapshot, want %d: the snapshot is a published ticker", n, published+1)
	}
	c.send(`{"method":"unsubscribe","params":{"channel":"ticker","symbol":["BTC/USD"]}}`)
	unsub = nil
	for unsub == nil {
		if f := krakenRead(c); strings.HasPrefix(string(f), `{"method":"unsubscribe"`) {
			unsub = f
		}
	}
	field(t, unsub, "result", &res)
	if string(res) != `{"channel":"ticker","event_trigger":"trades","symbol":"BTC/USD"}` {
		t.Fatalf("ticker unsubscribe result %s", res)
	}
	c.send(`{"method":"subscribe","params":{"channel":"trade","symbol":["XBT/USD"]},"req_id":4}`)
	checkKeys(t, krakenRead(c), "error", "method", "req_id", "success", "symbol", "time_in", "time_out")
	c.send(`{"method":"ping"}`)
	checkKeys(t, krakenRead(c), "method", "time_in", "time_out")
	c.send(`{"method":"ping","req_id":101}`)
	checkKeys(t, krakenRead(c), "method", "req_id", "time_in", "time_out")
}
