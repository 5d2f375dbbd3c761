package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"marketetl/market"
)

// testStart is an hour boundary in the past, so that exchange time is
// never capped by the wall clock in tests.
var testStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func okxTradeFrame(tr market.Trade, seq int) string {
	return fmt.Sprintf(`{"arg":{"channel":"trades","instId":"%s"},"data":[{"instId":"%s","tradeId":"%s","px":"%s","sz":"%s","side":"%s","ts":"%d","count":"1","source":"0","seqId":%d}]}`,
		tr.Symbol, tr.Symbol, tr.TradeID, dec(tr.Price), dec(tr.Size), tr.Side, tr.Time.UnixMilli(), seq)
}

func okxRow(c market.Candle) [9]string {
	confirm := "0"
	if c.Closed {
		confirm = "1"
	}
	return [9]string{msText(c.Time), dec(c.Open), dec(c.High), dec(c.Low), dec(c.Close), dec(c.Volume),
		dec(c.QuoteVolume.Decimal), dec(c.QuoteVolume.Decimal), confirm}
}

func TestOKXPublic(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	c := dial(t, ep.OKXPublicWS)
	c.send(`{"id":"1","op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"},{"channel":"tickers","instId":"BTC-USDT"}]}`)
	ack := c.read()
	checkKeys(t, ack, "id", "event", "arg", "connId")
	var connID string
	field(t, ack, "connId", &connID)
	if want := `{"id":"1","event":"subscribe","arg":{"channel":"trades","instId":"BTC-USDT"},"connId":"` + connID + `"}`; string(ack) != want {
		t.Fatalf("ack\n got %s\nwant %s", ack, want)
	}
	c.expect(`{"id":"1","event":"subscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"` + connID + `"}`)
	if err := s.WaitSubscribed(ctx(t), market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTicker}); err != nil {
		t.Fatal(err)
	}

	step(t, s, 2)
	trades := s.Trades(market.OKX, "BTC-USDT")
	tickers := s.Tickers(market.OKX, "BTC-USDT")
	if len(trades) != 2 || len(tickers) != 2 {
		t.Fatalf("recorded %d trades and %d tickers, want 2 and 2", len(trades), len(tickers))
	}
	for i := range 2 {
		c.expect(okxTradeFrame(trades[i], i+1))
		tk := c.read()
		checkKeys(t, tk, "arg", "data")
		var data []json.RawMessage
		field(t, tk, "data", &data)
		checkKeys(t, data[0], "instType", "instId", "last", "lastSz", "askPx", "askSz", "bidPx", "bidSz",
			"open24h", "high24h", "low24h", "volCcy24h", "vol24h", "sodUtc0", "sodUtc8", "ts")
		var got map[string]string
		if err := json.Unmarshal(data[0], &got); err != nil {
			t.Fatalf("ticker data is not all strings: %s", data[0])
		}
		want := tickers[i]
		for k, v := range map[string]string{
			"last": dec(want.Last.Decimal), "lastSz": dec(trades[i].Size), "bidPx": dec(want.Bid.Decimal), "askPx": dec(want.Ask.Decimal),
			"vol24h": dec(want.Volume24h.Decimal), "volCcy24h": dec(want.QuoteVolume24h.Decimal), "ts": msText(trades[i].Time),
		} {
			if got[k] != v {
				t.Errorf("ticker %d %s = %q, want %q", i, k, got[k], v)
			}
		}
	}

	docMsg := "Wrong URL or channel:%s,instId:%s doesn't exist. Please use the correct URL, channel and parameters referring to API document."
	tests := []struct {
		name, send, want string
	}{
		{"candles belong to the business URL", `{"id":"2","op":"subscribe","args":[{"channel":"candle1m","instId":"BTC-USDT"}]}`,
			`{"id":"2","event":"error","msg":"` + fmt.Sprintf(docMsg, "candle1m", "BTC-USDT") + `","code":"60018","connId":"` + connID + `"}`},
		{"unknown instrument", `{"op":"subscribe","args":[{"channel":"tickers","instId":"NOPE-USDT"}]}`,
			`{"event":"error","msg":"` + fmt.Sprintf(docMsg, "tickers", "NOPE-USDT") + `","code":"60018","connId":"` + connID + `"}`},
		{"misspelt args", `{"op": "subscribe", "argss":[{ "channel" : "tickers", "instId" : "LTC-USD-200327"}]}`,
			`{"event":"error","code":"60012","msg":"Invalid request: {\"op\": \"subscribe\", \"argss\":[{ \"channel\" : \"tickers\", \"instId\" : \"LTC-USD-200327\"}]}","connId":"` + connID + `"}`},
		{"bad JSON", `{"op":`, `{"event":"error","code":"60012","msg":"Invalid request: {\"op\":","connId":"` + connID + `"}`},
		{"unknown op", `{"id":"7","op":"subscrib","args":[]}`, `{"id":"7","event":"error","code":"60019","msg":"Invalid op: subscrib","connId":"` + connID + `"}`},
		{"ping", `ping`, `pong`},
		{"unsubscribe", `{"id":"8","op":"unsubscribe","args":[{"channel":"tickers","instId":"BTC-USDT"}]}`,
			`{"id":"8","event":"unsubscribe","arg":{"channel":"tickers","instId":"BTC-USDT"},"connId":"` + connID + `"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.send)
			c.expect(tt.want)
		})
	}
	c.t = t
	if s.Subscribed(market.Stream{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTicker}) {
		t.Error("tickers still subscribed after unsubscribe")
	}
}

func TestOKXCandles(t *testing.T) {
	s, ep := start(t, Config{Seed: 2, Start: testStart, Timeframes: []market.Timeframe{market.TF1m, market.TF1d}})
	c := dial(t, ep.OKXBusinessWS)
	c.send(`{"id":"1","op":"subscribe","args":[{"channel":"candle1m","instId":"ETH-USDT"},{"channel":"trades","instId":"ETH-USDT"},{"channel":"candle1D","instId":"ETH-USDT"}]}`)
	ack := c.read()
	if !strings.Contains(string(ack), `"event":"subscribe"`) {
		t.Fatalf("ack: %s", ack)
	}
	if got := c.read(); !strings.Contains(string(got), `"code":"60018"`) {
		t.Fatalf("trades on the business URL: %s", got)
	}
	if got := c.read(); !strings.Contains(string(got), `"event":"subscribe"`) {
		t.Fatalf("candle1D (UTC+8) ack: %s", got)
	}
	if err := s.WaitSubscribed(ctx(t), market.Stream{Exchange: market.OKX, Symbol: "ETH-USDT", Type: market.TypeCandle, Timeframe: market.TF1m}); err != nil {
		t.Fatal(err)
	}
	// Trades at 00:00:01 … 00:01:10: the first minute closes with the
	// trade at 00:01:00.
	step(t, s, 70)
	closed := s.ClosedCandles(market.OKX, "ETH-USDT", market.TF1m)
	if len(closed) != 1 || closed[0].Trades != -1 || !closed[0].Time.Equal(testStart) {
		t.Fatalf("closed candles: %+v", closed)
	}
	var lastForming [9]string
	var pushes1m, pushes1D int
	for pushes1m < 71 || pushes1D < 70 {
		f := c.read()
		checkKeys(t, f, "arg", "data")
		var arg okxArg
		var rows [][9]string
		field(t, f, "arg", &arg)
		field(t, f, "data", &rows)
		if arg.Channel == "candle1D" {
			pushes1D++
			continue
		}
		pushes1m++
		row := rows[0]
		if row[8] == "1" {
			if want := okxRow(closed[0]); row != want {
				t.Fatalf("closed row\n got %v\nwant %v", row, want)
			}
			want := lastForming
			want[8] = "1"
			if row != want {
				t.Fatalf("closed row %v differs from the last forming push %v", row, lastForming)
			}
			continue
		}
		lastForming = row
	}
	if pushes1D != 70 {
		t.Errorf("candle1D pushes = %d, want one per trade (70)", pushes1D)
	}
	forming, ok := s.FormingCandle(market.OKX, "ETH-USDT", market.TF1m)
	if !ok || okxRow(forming) != lastForming {
		t.Errorf("forming candle %v, last push %v", okxRow(forming), lastForming)
	}
}

func TestOKXIdleClose(t *testing.T) {
	tests := []struct {
		name string
		send []string
	}{
		{"never subscribed", nil},
		{"only pinged, never subscribed", []string{"ping"}},
		{"subscribed but nothing pushed", []string{`{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`}},
		{"unsubscribed everything", []string{
			`{"op":"subscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`,
			`{"op":"unsubscribe","args":[{"channel":"trades","instId":"BTC-USDT"}]}`,
		}},
	}
	_, ep := start(t, Config{Seed: 1, Start: testStart, OKXIdleTimeout: 200 * time.Millisecond})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, ep.OKXPublicWS)
			for _, m := range tt.send {
				c.send(m)
			}
			code, text := closeCode(c.readUntilError())
			if code != 4004 || text != "No data received in 30s" {
				t.Fatalf("close %d %q, want 4004 %q", code, text, "No data received in 30s")
			}
		})
	}
}

func TestOKXNotice(t *testing.T) {
	s, ep := start(t, Config{Seed: 1, Start: testStart})
	c := dial(t, ep.OKXPublicWS)
	biz := dial(t, ep.OKXBusinessWS)
	if err := s.WaitConnections(ctx(t), market.OKX, 2); err != nil {
		t.Fatal(err)
	}
	// The notice goes to public (and private) connections only
	// (overview-websocket-notification).
	if n, err := s.AnnounceShutdown(market.OKX); err != nil || n != 1 {
		t.Fatalf("AnnounceShutdown = %d, %v", n, err)
	}
	biz.send("ping")
	biz.expect("pong")
	f := c.read()
	checkKeys(t, f, "event", "code", "msg", "connId")
	if !strings.HasPrefix(string(f), `{"event":"notice","code":"64008","msg":"The connection will soon be closed for a service upgrade. Please reconnect.","connId":"`) {
		t.Fatalf("notice: %s", f)
	}
}

type okxEnvelope[T any] struct {
	Code string `json:"code"`
	Msg  string `json:"msg"`
	Data []T    `json:"data"`
}

func okxGet[T any](t *testing.T, url string) okxEnvelope[T] {
	t.Helper()
	status, _, body := get(t, url)
	if status != http.StatusOK {
		t.Fatalf("get %s: %d %s", url, status, body)
	}
	checkKeys(t, body, "code", "msg", "data")
	var env okxEnvelope[T]
	if err := json.Unmarshal(body, &env); err != nil || env.Code != "0" {
		t.Fatalf("get %s: %s (%v)", url, body, err)
	}
	return env
}

func TestOKXREST(t *testing.T) {
	s, ep := start(t, Config{Seed: 3, Start: testStart, Timeframes: []market.Timeframe{market.TF1m, market.TF5m}})
	step(t, s, 700)
	base := ep.OKXREST + "/api/v5/market/"

	t.Run("history candles page to the recorded ones", func(t *testing.T) {
		closed := s.ClosedCandles(market.OKX, "BTC-USDT", market.TF1m)
		forming, _ := s.FormingCandle(market.OKX, "BTC-USDT", market.TF1m)
		want := append(append([]market.Candle{}, closed...), forming)
		var got [][9]string
		after := ""
		for {
			env := okxGet[[9]string](t, base+"history-candles?instId=BTC-USDT&bar=1m&limit=2"+after)
			if len(env.Data) == 0 {
				break
			}
			got = append(got, env.Data...)
			after = "&after=" + env.Data[len(env.Data)-1][0]
		}
		if len(got) != len(want) {
			t.Fatalf("paged %d candles, want %d", len(got), len(want))
		}
		for i := range got {
			if w := okxRow(want[len(want)-1-i]); got[i] != w {
				t.Fatalf("row %d\n got %v\nwant %v", i, got[i], w)
			}
		}
	})
	t.Run("candles before a time", func(t *testing.T) {
		closed := s.ClosedCandles(market.OKX, "BTC-USDT", market.TF5m)
		env := okxGet[[9]string](t, base+"candles?instId=BTC-USDT&bar=5m&before="+msText(closed[0].Time))
		if len(env.Data) != 2 || env.Data[1] != okxRow(closed[1]) || env.Data[0][8] != "0" {
			t.Fatalf("candles: %v", env.Data)
		}
	})
	t.Run("history trades page to the recorded ones", func(t *testing.T) {
		want := s.Trades(market.OKX, "ETH-USDT")
		var got []okxRESTTrade
		after := ""
		for {
			env := okxGet[okxRESTTrade](t, base+"history-trades?instId=ETH-USDT&limit=100"+after)
			if len(env.Data) == 0 {
				break
			}
			got = append(got, env.Data...)
			after = "&type=1&after=" + env.Data[len(env.Data)-1].TradeID
		}
		if len(got) != len(want) {
			t.Fatalf("paged %d trades, want %d", len(got), len(want))
		}
		for i, g := range got {
			w := want[len(want)-1-i]
			if g != (okxRESTTrade{InstID: "ETH-USDT", Side: string(w.Side), Sz: dec(w.Size), Source: "0", Px: dec(w.Price), TradeID: w.TradeID, Ts: msText(w.Time)}) {
				t.Fatalf("trade %d: got %+v, want %+v", i, g, w)
			}
		}
	})
	t.Run("trades newer than an id", func(t *testing.T) {
		want := s.Trades(market.OKX, "ETH-USDT")
		env := okxGet[okxRESTTrade](t, base+"history-trades?instId=ETH-USDT&before="+want[len(want)-3].TradeID)
		if len(env.Data) != 2 || env.Data[0].TradeID != want[len(want)-1].TradeID {
			t.Fatalf("trades: %+v", env.Data)
		}
	})

	errs := []struct {
		name, query string
		status      int
		want        string
	}{
		{"missing instId", "candles?bar=1m", http.StatusBadRequest, `{"code":"50014","msg":"Parameter instId can not be empty.","data":[]}`},
		{"unknown instrument", "candles?instId=NOPE-USDT", http.StatusOK, `{"code":"51001","msg":"Instrument ID, Instrument ID code or Spread ID doesn't exist.","data":[]}`},
		{"unknown instrument in trades", "history-trades?instId=NOPE-USDT", http.StatusOK, `{"code":"51001","msg":"Instrument ID, Instrument ID code or Spread ID doesn't exist.","data":[]}`},
		{"bar not served", "candles?instId=BTC-USDT&bar=7m", http.StatusBadRequest, `{"code":"51000","msg":"Parameter bar error","data":[]}`},
		{"bad limit", "history-trades?instId=BTC-USDT&limit=x", http.StatusBadRequest, `{"code":"51000","msg":"Parameter limit error","data":[]}`},
		// error-code-rest-api-public: 50039 (HTTP 200) "Parameter "before" isn't supported for timestamp pagination".
		{"before with type 2", "history-trades?instId=BTC-USDT&type=2&before=1", http.StatusOK, `{"code":"50039","msg":"Parameter \"before\" isn't supported for timestamp pagination","data":[]}`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, base+tt.query)
			if status != tt.status || string(body) != tt.want {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.want)
			}
		})
	}
}
