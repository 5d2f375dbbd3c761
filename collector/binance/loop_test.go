package binance

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/collector"
	"marketetl/collector/adaptertest"
	"marketetl/market"
)

// TestWithCollectorLoop runs the adapter under the generic loop against a
// local combined-stream endpoint: the loop must dial the planned URL,
// answer the server's ping with a pong copying its payload, and hand on
// the decoded trade.
func TestWithCollectorLoop(t *testing.T) {
	type dialled struct{ path, streams string }
	dials := make(chan dialled, 4)
	pongs := make(chan string, 4)
	var handlers sync.WaitGroup
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handlers.Add(1)
		defer handlers.Done()
		dials <- dialled{r.URL.Path, r.URL.RawQuery}
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetPongHandler(func(p string) error { pongs <- p; return nil })
		if err := conn.WriteControl(websocket.PingMessage, []byte("1700000000000"), time.Now().Add(time.Second)); err != nil {
			return
		}
		frame := `{"stream":"bnbbtc@trade","data":{"e":"trade","E":1672515782136,"s":"BNBBTC","t":12345,"p":"0.001","q":"100","T":1672515782136,"m":true,"M":true}}`
		if err := conn.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
			return
		}
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}))
	defer func() {
		srv.CloseClientConnections()
		srv.Close()
		handlers.Wait()
	}()

	a, err := New(Config{WSURL: "ws" + strings.TrimPrefix(srv.URL, "http")})
	if err != nil {
		t.Fatal(err)
	}
	sink := adaptertest.NewSink(16)
	streams := []market.Stream{trade("BNB-BTC"), candle("BNB-BTC", market.TF1m)}
	c, err := collector.New(collector.Config{Name: "binance-test", Streams: streams}, a, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	}()

	select {
	case d := <-dials:
		if d.path != "/stream" || d.streams != "streams=bnbbtc@kline_1m/bnbbtc@trade" {
			t.Errorf("dialled %s?%s", d.path, d.streams)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the loop did not dial")
	}
	select {
	case p := <-pongs:
		if p != "1700000000000" {
			t.Errorf("pong payload %q, want the ping's", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no pong")
	}
	select {
	case rec := <-sink.Records:
		want := "trade binance BNB-BTC t=1672515782136"
		if got := render(rec); !strings.HasPrefix(got, want) || !strings.Contains(got, "id=12345 p=0.001 q=100 sell") {
			t.Errorf("record %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no record")
	}
}
