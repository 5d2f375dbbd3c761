package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

func binanceTradeFrame(tr market.Trade) string {
	return fmt.Sprintf(`{"e":"trade","E":%d,"s":"%s","t":%s,"p":"%s","q":"%s","T":%d,"m":%t,"M":true}`,
		tr.Time.UnixMilli(), strings.ReplaceAll(string(tr.Symbol), "-", ""), tr.TradeID, dec(tr.Price), dec(tr.Size), tr.Time.UnixMilli(), tr.Side == market.Sell)
}

var binanceKlineKeys = []string{"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}

func TestBinanceCombinedStreams(t *testing.T) {
	s, ep := start(t, Config{Seed: 4, Start: testStart, Timeframes: []market.Timeframe{market.TF1m}})
	c := dial(t, ep.BinanceWS+"/stream?streams=btcusdt@trade/btcusdt@kline_1m/btcusdt@ticker")
	for _, st := range []market.Stream{
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTrade},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeTicker},
		{Exchange: market.Binance, Symbol: "BTC-USDT", Type: market.TypeCandle, Timeframe: market.TF1m},
	} {
		if err := s.WaitSubscribed(ctx(t), st); err != nil {
			t.Fatal(err)
		}
	}
	step(t, s, 1)
	tr := s.Trades(market.Binance, "BTC-USDT")[0]
	c.expect(`{"stream":"btcusdt@trade","data":` + binanceTradeFrame(tr) + `}`)

	kl := c.read()
	checkKeys(t, kl, "stream", "data")
	var data json.RawMessage
	field(t, kl, "data", &data)
	checkKeys(t, data, "e", "E", "s", "k")
	var k json.RawMessage
	field(t, data, "k", &k)
	checkKeys(t, k, binanceKlineKeys...)

	tk := c.read()
	field(t, tk, "data", &data)
	checkKeys(t, data, "e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l", "v", "q", "O", "C", "F", "L", "n")
	// Binance keys differ only in case ("c" and "C"): decode exactly.
	var ticker map[string]json.RawMessage
	if err := json.Unmarshal(data, &ticker); err != nil {
		t.Fatal(err)
	}
	rec := s.Tickers(market.Binance, "BTC-USDT")[0]
	for k, v := range map[string]string{
		"c": `"` + dec(tr.Price) + `"`, "b": `"` + dec(rec.Bid.Decimal) + `"`, "v": `"` + dec(tr.Size) + `"`,
		"F": "100000001", "L": "100000001", "n": "1", "C": msText(tr.Time),
	} {
		if string(ticker[k]) != v {
			t.Errorf("ticker %s = %s, want %s", k, ticker[k], v)
		}
	}

	// The minute closes with the 60th trade: one kline with x:true, equal
	// to the recorded candle.
	step(t, s, 60)
	closed := s.ClosedCandles(market.Binance, "BTC-USDT", market.TF1m)
	if len(closed) != 1 || closed[0].Trades != 59 {
		t.Fatalf("closed: %+v", closed)
	}
	for {
		f := c.read()
		var st string
		field(t, f, "stream", &st)
		if st != "btcusdt@kline_1m" {
			continue
		}
		var ev struct {
			K map[string]json.RawMessage `json:"k"`
		}
		field(t, f, "data", &ev)
		if string(ev.K["x"]) != "true" {
			continue
		}
		w := closed[0]
		q := func(s string) string { return `"` + s + `"` }
		for k, v := range map[string]string{
			"t": msText(w.Time), "T": itoa(w.Time.Add(time.Minute).UnixMilli() - 1), "s": `"BTCUSDT"`, "i": `"1m"`,
			"f": "100000001", "L": "100000059", "o": q(dec(w.Open)), "h": q(dec(w.High)), "l": q(dec(w.Low)), "c": q(dec(w.Close)),
			"v": q(dec(w.Volume)), "n": "59", "q": q(dec(w.QuoteVolume.Decimal)), "B": `"0"`,
		} {
			if string(ev.K[k]) != v {
				t.Errorf("closed kline %s = %s, want %s", k, ev.K[k], v)
			}
		}
		break
	}
}

func TestBinanceRequests(t *testing.T) {
	s, ep := start(t, Config{Seed: 5, Start: testStart, BinanceMaxMessages: 1000})
	c := dial(t, ep.BinanceWS+"/ws")
	tests := []struct {
		name, send, want string
	}{
		{"subscribe", `{"method":"SUBSCRIBE","params":["btcusdt@aggTrade"],"id":1}`, `{"result":null,"id":1}`},
		{"unknown symbol is acknowledged", `{"method":"SUBSCRIBE","params":["nopeusdt@trade"],"id":"a2"}`, `{"result":null,"id":"a2"}`},
		{"malformed stream", `{"method":"SUBSCRIBE","params":["BTCUSDT@trade"],"id":3}`, `{"error":{"code":2,"msg":"Invalid request: invalid stream"},"id":3}`},
		{"list", `{"method":"LIST_SUBSCRIPTIONS","id":4}`, `{"result":["btcusdt@aggTrade","nopeusdt@trade"],"id":4}`},
		{"unsubscribe", `{"method":"UNSUBSCRIBE","params":["nopeusdt@trade"],"id":5}`, `{"result":null,"id":5}`},
		{"invalid JSON", `{"method":`, `{"error":{"code":3,"msg":"Invalid JSON: expected value at line 1 column 10"}}`},
		{"unknown method", `{"method":"SUBSCRIB","id":6}`, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: unknown variant `SUBSCRIB`, expected one of `SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY` at line 1 column 20\"},\"id\":6}"},
		{"missing method", `{"params":[],"id":7}`, "{\"error\":{\"code\":2,\"msg\":\"Invalid request: missing field `method` at line 1 column 20\"},\"id\":7}"},
		{"bad id", `{"method":"LIST_SUBSCRIPTIONS","id":-1}`, `{"error":{"code":2,"msg":"Invalid request: request ID must be an unsigned integer"}}`},
		{"get combined", `{"method":"GET_PROPERTY","params":["combined"],"id":8}`, `{"result":false,"id":8}`},
		{"unknown property", `{"method":"GET_PROPERTY","params":["nope"],"id":9}`, `{"error":{"code":0,"msg":"Unknown property"},"id":9}`},
		{"set combined needs a boolean", `{"method":"SET_PROPERTY","params":["combined","yes"],"id":10}`, `{"error":{"code":1,"msg":"Invalid value type: expected Boolean"},"id":10}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c.t = t
			c.send(tt.send)
			c.expect(tt.want)
		})
	}
	c.t = t

	// A raw connection gets raw payloads.
	step(t, s, 1)
	tr := s.Trades(market.Binance, "BTC-USDT")[0]
	f := c.read()
	checkKeys(t, f, "e", "E", "s", "a", "p", "q", "f", "l", "T", "m", "M")
	want := fmt.Sprintf(`{"e":"aggTrade","E":%d,"s":"BTCUSDT","a":%s,"p":"%s","q":"%s","f":%s,"l":%s,"T":%d,"m":%t,"M":true}`,
		tr.Time.UnixMilli(), tr.TradeID, dec(tr.Price), dec(tr.Size), tr.TradeID, tr.TradeID, tr.Time.UnixMilli(), tr.Side == market.Sell)
	if string(f) != want {
		t.Fatalf("aggTrade\n got %s\nwant %s", f, want)
	}

	// SET_PROPERTY combined wraps what follows.
	c.send(`{"method":"SET_PROPERTY","params":["combined",true],"id":11}`)
	c.expect(`{"result":null,"id":11}`)
	if n, err := s.AnnounceShutdown(market.Binance); err != nil || n != 1 {
		t.Fatalf("AnnounceShutdown = %d, %v", n, err)
	}
	c.expect(fmt.Sprintf(`{"stream":"!serverShutdown","data":{"e":"serverShutdown","E":%d}}`, tr.Time.UnixMilli()))
}

// errEnough ends a read loop from a control-frame handler.
var errEnough = errors.New("enough")

func TestBinanceKeepAlive(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		setup     func(c *client)
		wantCode  int
		wantText  string
		wantPings int // when > 0, the connection must survive this many answered pings
	}{
		{
			name:     "unanswered pings close the connection",
			cfg:      Config{BinancePingInterval: 20 * time.Millisecond, BinancePongTimeout: 100 * time.Millisecond},
			setup:    func(c *client) { c.ws.SetPingHandler(func(string) error { return nil }) },
			wantCode: websocket.ClosePolicyViolation, wantText: "Pong timeout",
		},
		{
			name:      "answered pings keep it open",
			cfg:       Config{BinancePingInterval: 20 * time.Millisecond, BinancePongTimeout: 100 * time.Millisecond, BinanceMaxMessages: 1000},
			wantPings: 20,
		},
		{
			name:     "lifetime",
			cfg:      Config{BinanceMaxLifetime: 200 * time.Millisecond},
			wantCode: websocket.CloseNormalClosure, wantText: "Connection lifetime expired",
		},
		{
			name: "more than 5 messages a second",
			setup: func(c *client) {
				for i := range 6 {
					c.send(fmt.Sprintf(`{"method":"LIST_SUBSCRIPTIONS","id":%d}`, i))
				}
			},
			wantCode: websocket.ClosePolicyViolation, wantText: "Too many requests",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Seed, tt.cfg.Start = 1, testStart
			_, ep := start(t, tt.cfg)
			c := dial(t, ep.BinanceWS+"/ws/btcusdt@trade")
			if tt.setup != nil {
				tt.setup(c)
			}
			if tt.wantPings > 0 {
				pings := 0
				c.ws.SetPingHandler(func(data string) error {
					pings++
					if err := c.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second)); err != nil {
						return err
					}
					if pings == tt.wantPings {
						return errEnough
					}
					return nil
				})
				if err := c.readUntilError(); !errors.Is(err, errEnough) {
					t.Fatalf("connection ended after %d pings: %v", pings, err)
				}
				return
			}
			code, text := closeCode(c.readUntilError())
			if code != tt.wantCode || text != tt.wantText {
				t.Fatalf("close %d %q, want %d %q", code, text, tt.wantCode, tt.wantText)
			}
		})
	}
}

func TestBinanceREST(t *testing.T) {
	s, ep := start(t, Config{Seed: 6, Start: testStart, Timeframes: []market.Timeframe{market.TF1m}})
	step(t, s, 200)
	base := ep.BinanceREST + "/api/v3/"
	closed := s.ClosedCandles(market.Binance, "ETH-USDT", market.TF1m)
	forming, _ := s.FormingCandle(market.Binance, "ETH-USDT", market.TF1m)
	all := append(append([]market.Candle{}, closed...), forming)
	trades := s.Trades(market.Binance, "ETH-USDT")

	klines := func(t *testing.T, query string) [][]any {
		status, _, body := get(t, base+"klines?symbol=ETHUSDT&interval=1m"+query)
		if status != http.StatusOK {
			t.Fatalf("klines: %d %s", status, body)
		}
		var rows [][]any
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.UseNumber()
		if err := dec.Decode(&rows); err != nil {
			t.Fatal(err)
		}
		return rows
	}
	row := func(c market.Candle) []any {
		return []any{json.Number(msText(c.Time)), dec(c.Open), dec(c.High), dec(c.Low), dec(c.Close), dec(c.Volume),
			json.Number(itoa(c.Time.Add(time.Minute).UnixMilli() - 1)), dec(c.QuoteVolume.Decimal), json.Number(itoa(c.Trades))}
	}
	check := func(t *testing.T, got [][]any, want []market.Candle) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%d klines, want %d", len(got), len(want))
		}
		for i := range got {
			if len(got[i]) != 12 || fmt.Sprint(got[i][:9]) != fmt.Sprint(row(want[i])) || got[i][11] != "0" {
				t.Fatalf("kline %d\n got %v\nwant %v", i, got[i], row(want[i]))
			}
		}
	}
	tests := []struct {
		name  string
		query string
		want  []market.Candle
	}{
		{"latest", "", all},
		{"from a start time", "&startTime=" + msText(closed[1].Time) + "&limit=1", all[1:2]},
		{"start inside an interval", "&startTime=" + itoa(closed[1].Time.UnixMilli()+1), all[2:]},
		{"up to an end time", "&endTime=" + msText(closed[1].Time), all[:2]},
		{"latest with a limit", "&limit=2", all[len(all)-2:]},
	}
	for _, tt := range tests {
		t.Run("klines "+tt.name, func(t *testing.T) { check(t, klines(t, tt.query), tt.want) })
	}

	t.Run("historical trades from an id", func(t *testing.T) {
		status, _, body := get(t, base+"historicalTrades?symbol=ETHUSDT&limit=5&fromId="+trades[10].TradeID)
		if status != http.StatusOK {
			t.Fatalf("%d %s", status, body)
		}
		var got []json.RawMessage
		if err := json.Unmarshal(body, &got); err != nil || len(got) != 5 {
			t.Fatalf("%s: %v", body, err)
		}
		for i, g := range got {
			checkKeys(t, g, "id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch")
			w := trades[10+i]
			want := fmt.Sprintf(`{"id":%s,"price":"%s","qty":"%s","quoteQty":"%s","time":%d,"isBuyerMaker":%t,"isBestMatch":true}`,
				w.TradeID, dec(w.Price), dec(w.Size), dec(w.Price.Mul(w.Size)), w.Time.UnixMilli(), w.Side == market.Sell)
			if string(g) != want {
				t.Fatalf("trade %d\n got %s\nwant %s", i, g, want)
			}
		}
	})

	errs := []struct{ name, query, want string }{
		{"missing symbol", "klines?interval=1m", `{"code":-1102,"msg":"Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."}`},
		{"unknown symbol", "klines?symbol=NOPEUSDT&interval=1m", `{"code":-1121,"msg":"Invalid symbol."}`},
		{"unknown symbol in trades", "historicalTrades?symbol=NOPEUSDT", `{"code":-1121,"msg":"Invalid symbol."}`},
		{"interval not served", "klines?symbol=ETHUSDT&interval=7m", `{"code":-1120,"msg":"Invalid interval."}`},
	}
	for _, tt := range errs {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := get(t, base+tt.query)
			if status != http.StatusBadRequest || string(body) != tt.want {
				t.Fatalf("got %d %s, want 400 %s", status, body, tt.want)
			}
		})
	}
}

// TestBinanceThrottledAsDocumented: a throttled request is answered 429
// with Retry-After in seconds and -1003's documented message for an
// exceeded request weight (errors.md).
func TestBinanceThrottledAsDocumented(t *testing.T) {
	s, ep := start(t, Config{Seed: 6, Start: testStart, Timeframes: []market.Timeframe{market.TF1m}})
	step(t, s, 3)
	s.ThrottleREST(market.Binance, 1, 3*time.Second)
	status, h, body := get(t, ep.BinanceREST+"/api/v3/klines?symbol=ETHUSDT&interval=1m")
	const want = `{"code":-1003,"msg":"Too much request weight used; current limit is 6000 request weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API."}`
	if status != http.StatusTooManyRequests || h.Get("Retry-After") != "3" || strings.TrimSpace(string(body)) != want {
		t.Fatalf("throttled: %d %v %s\nwant 429, Retry-After 3, %s", status, h, body, want)
	}
}

// TestRESTDatedByTheExchangesClock: REST answers carry the exchange's
// clock in their Date header, as a real exchange's server dates them (the
// Binance candle backfill tells forming klines by it).
func TestRESTDatedByTheExchangesClock(t *testing.T) {
	s, ep := start(t, Config{Seed: 6, Start: testStart, Timeframes: []market.Timeframe{market.TF1m}})
	step(t, s, 3)
	status, h, _ := get(t, ep.BinanceREST+"/api/v3/klines?symbol=ETHUSDT&interval=1m")
	d, err := http.ParseTime(h.Get("Date"))
	if status != http.StatusOK || err != nil || !d.Equal(s.Now().Truncate(time.Second)) {
		t.Fatalf("Date %q (%v), status %d; want the exchange's clock %s", h.Get("Date"), err, status, s.Now().Truncate(time.Second))
	}
}
