package kraken

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// fakeKraken sends the status frame, reads the subscribe requests,
// acknowledges each symbol, then pushes its frames in order.
type fakeKraken struct {
	t    *testing.T
	push []string
	mu   sync.Mutex
	reqs []string // guarded by mu
}

func (f *fakeKraken) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
	if err != nil {
		f.t.Errorf("upgrade: %v", err)
		return
	}
	defer conn.Close()
	send := func(s string) bool { return conn.WriteMessage(websocket.TextMessage, []byte(s)) == nil }
	if !send(`{"channel":"status","data":[{"api_version":"v2","connection_id":1,"system":"online","version":"2.0.0"}],"type":"update"}`) {
		return
	}
	acks := []string{
		`{"method":"subscribe","result":{"channel":"ohlc","interval":1,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2023-10-04T16:26:30.514394Z","time_out":"2023-10-04T16:26:30.524394Z"}`,
		`{"method":"subscribe","result":{"channel":"trade","snapshot":false,"symbol":"BTC/USD"},"success":true,"time_in":"2023-10-04T16:26:30.514394Z","time_out":"2023-10-04T16:26:30.524394Z"}`,
	}
	for range 2 {
		_, req, err := conn.ReadMessage()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, string(req))
		f.mu.Unlock()
	}
	for _, s := range append(acks, f.push...) {
		if !send(s) {
			return
		}
	}
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

func ohlcFrame(begin, close string, trades string) string {
	return `{"channel":"ohlc","type":"update","data":[{"symbol":"BTC/USD","open":100.0,"high":101.5,"low":99.5,"close":` + close +
		`,"trades":` + trades + `,"volume":2.5,"vwap":100.2,"interval_begin":"` + begin + `","interval":1,"timestamp":"2023-10-04T16:27:00.000000Z"}]}`
}

// TestCollectorLoop runs the generic collector loop with this adapter
// against a local server: the subscriptions are acknowledged per symbol,
// trades arrive, and the candle closing rule closes the 16:26 candle, with
// its last update's values, when the 16:27 one appears.
func TestCollectorLoop(t *testing.T) {
	fake := &fakeKraken{t: t, push: []string{
		ohlcFrame("2023-10-04T16:26:00.000000000Z", "100.5", "1"),
		`{"channel":"heartbeat"}`,
		ohlcFrame("2023-10-04T16:26:00.000000000Z", "100.7", "2"),
		`{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","side":"buy","price":100.7,"qty":0.5,"ord_type":"market","trade_id":42,"timestamp":"2023-10-04T16:26:59.100000Z"}]}`,
		ohlcFrame("2023-10-04T16:27:00.000000000Z", "100.9", "1"),
	}}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	a, err := New(Config{WSURL: "ws" + strings.TrimPrefix(srv.URL, "http") + "/v2"})
	if err != nil {
		t.Fatal(err)
	}
	streams := []market.Stream{st(market.TypeTrade, "BTC-USD", ""), st(market.TypeCandle, "BTC-USD", market.TF1m)}
	sink := adaptertest.NewSink(0)
	c, err := collector.New(collector.Config{Name: "kraken-loop", Streams: streams}, a, sink)
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
	var got []string
	for len(got) < 5 {
		select {
		case r := <-sink.Records:
			switch v := r.(type) {
			case *market.Candle:
				got = append(got, "candle "+v.Time.Format("15:04")+" c="+adaptertest.Exact(v.Close)+" n="+strconv.FormatInt(v.Trades, 10)+" closed="+boolText(v.Closed))
			case *market.Trade:
				got = append(got, "trade "+v.TradeID)
			}
		case rej := <-sink.Rejects:
			t.Fatalf("rejected: %+v", rej)
		case <-t.Context().Done():
			t.Fatal("test ended before the records arrived")
		}
	}
	cancel()
	wg.Wait()
	want := []string{
		"candle 16:26 c=100.5 n=1 closed=false",
		"candle 16:26 c=100.7 n=2 closed=false",
		"trade 42",
		"candle 16:26 c=100.7 n=2 closed=true",
		"candle 16:27 c=100.9 n=1 closed=false",
	}
	if !slices.Equal(got, want) {
		t.Errorf("records:\n got %q\nwant %q", got, want)
	}
	fake.mu.Lock()
	reqs := fake.reqs
	fake.mu.Unlock()
	wantReqs := []string{
		`{"method":"subscribe","params":{"channel":"ohlc","symbol":["BTC/USD"],"interval":1},"req_id":1}`,
		`{"method":"subscribe","params":{"channel":"trade","symbol":["BTC/USD"]},"req_id":1}`,
	}
	if !slices.Equal(reqs, wantReqs) {
		t.Errorf("requests:\n got %q\nwant %q", reqs, wantReqs)
	}
	status := c.Status()
	for _, s := range streams {
		if !status.Streams[s.String()].Subscribed {
			t.Errorf("stream %s not marked subscribed", s)
		}
	}
}

func boolText(b bool) string { return strconv.FormatBool(b) }
