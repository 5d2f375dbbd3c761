package okx

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// fakeOKX serves the two WebSocket paths with documented frames: it reads
// the subscribe request, acknowledges each arg, pushes one data frame, and
// answers "ping" with "pong" until the client goes away.
type fakeOKX struct {
	t    *testing.T
	push map[string]string // path → data frame
	mu   sync.Mutex
	reqs map[string]string // path → subscribe request received
}

func (f *fakeOKX) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	push, ok := f.push[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	up := websocket.Upgrader{}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("upgrade: %v", err)
		return
	}
	defer conn.Close()
	_, req, err := conn.ReadMessage()
	if err != nil {
		return
	}
	f.mu.Lock()
	f.reqs[r.URL.Path] = string(req)
	f.mu.Unlock()
	var sub struct {
		ID   string            `json:"id"`
		Op   string            `json:"op"`
		Args []json.RawMessage `json:"args"`
	}
	if err := json.Unmarshal(req, &sub); err != nil || sub.Op != "subscribe" {
		f.t.Errorf("subscribe request %s: %v", req, err)
		return
	}
	for _, arg := range sub.Args {
		ack := `{"id":"` + sub.ID + `","event":"subscribe","arg":` + string(arg) + `,"connId":"accb8e21"}`
		if err := conn.WriteMessage(websocket.TextMessage, []byte(ack)); err != nil {
			return
		}
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(push)); err != nil {
		return
	}
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if string(msg) == "ping" {
			if err := conn.WriteMessage(websocket.TextMessage, []byte("pong")); err != nil {
				return
			}
		}
	}
}

// TestCollectorLoop runs the generic collector loop with this adapter
// against a local server: candles go to the business path, tickers and
// trades to the public one, the acks mark the streams subscribed, and the
// pushed records arrive.
func TestCollectorLoop(t *testing.T) {
	fake := &fakeOKX{t: t, reqs: map[string]string{}, push: map[string]string{
		"/ws/v5/public":   string(readTestdata(t, "ws/trade.json")),
		"/ws/v5/business": string(readTestdata(t, "ws/candle1m_closed.json")),
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	base := "ws" + strings.TrimPrefix(srv.URL, "http")
	a := newAdapter(t, Config{PublicURL: base + "/ws/v5/public", BusinessURL: base + "/ws/v5/business"})

	streams := []market.Stream{
		stream(market.TypeTrade, "BTC-USDT", ""),
		stream(market.TypeTicker, "BTC-USDT", ""),
		stream(market.TypeCandle, "BTC-USDT", market.TF1m),
	}
	sink := adaptertest.NewSink(0)
	c, err := collector.New(collector.Config{Name: "okx-loop", Streams: streams}, a, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := c.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	got := map[market.DataType]market.Record{}
	for len(got) < 2 {
		select {
		case r := <-sink.Records:
			got[r.DataType()] = r
		case rej := <-sink.Rejects:
			t.Fatalf("rejected: %+v", rej)
		case <-t.Context().Done():
			t.Fatal("test ended before the records arrived")
		}
	}
	cancel()
	wg.Wait()

	if tr, ok := got[market.TypeTrade].(*market.Trade); !ok || tr.TradeID != "130639474" || tr.Symbol != "BTC-USDT" {
		t.Errorf("trade %+v", got[market.TypeTrade])
	}
	if cd, ok := got[market.TypeCandle].(*market.Candle); !ok || !cd.Closed || cd.Timeframe != market.TF1m {
		t.Errorf("candle %+v", got[market.TypeCandle])
	}
	fake.mu.Lock()
	reqs := fake.reqs
	fake.mu.Unlock()
	wantReqs := map[string]string{
		"/ws/v5/public":   `{"id":"1","op":"subscribe","args":[{"channel":"tickers","instId":"BTC-USDT"},{"channel":"trades","instId":"BTC-USDT"}]}`,
		"/ws/v5/business": `{"id":"1","op":"subscribe","args":[{"channel":"candle1m","instId":"BTC-USDT"}]}`,
	}
	for path, want := range wantReqs {
		if reqs[path] != want {
			t.Errorf("%s got %s, want %s", path, reqs[path], want)
		}
	}
	st := c.Status()
	for _, s := range streams {
		if !st.Streams[s.String()].Subscribed {
			t.Errorf("stream %s not marked subscribed: %+v", s, st.Streams[s.String()])
		}
	}
}
