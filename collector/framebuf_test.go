package collector

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

// TestFrameBufferReuseKeepsRejectedFrames: the reader reuses one buffer
// for every frame, growing it for large frames and dropping it after one
// beyond maxKeptFrameBuffer; every rejected frame keeps its own bytes
// after later frames were read into that buffer, and the frames after
// them decode as sent.
func TestFrameBufferReuseKeepsRejectedFrames(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	_, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, &lineProto{url: ls.url()}, sink)
	defer stop()
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == 1 })

	sizes := []int{1, initialFrameBuffer - 1, initialFrameBuffer, initialFrameBuffer + 1, 3 * initialFrameBuffer, 2,
		maxKeptFrameBuffer + 5, 7, 100}
	var sent []string
	for i, n := range sizes {
		// Each frame of its own letter, so that one overwritten by a
		// later frame shows.
		f := strings.Repeat(string(rune('a'+i)), n)
		sent = append(sent, f)
		ls.broadcast(f)
	}
	ls.broadcast("trade BTC-USD 1 10.5 2 1700000000")
	waitFor(t, "the trade after the rejected frames", func() bool { r, _ := sink.snapshot(); return len(r) == 1 })
	recs, rej := sink.snapshot()
	if len(rej) != len(sent) {
		t.Fatalf("%d rejects, want %d", len(rej), len(sent))
	}
	for i, r := range rej {
		if string(r.Raw) != sent[i] {
			t.Errorf("reject %d: raw of %d bytes starting %q, want %d bytes of %q", i, len(r.Raw), prefix(r.Raw), len(sent[i]), sent[i][:1])
		}
	}
	tr := recs[0].(*market.Trade)
	if got := fmt.Sprintf("%s %s %s", tr.TradeID, tr.Price, tr.Size); got != "1 10.5 2" {
		t.Errorf("trade after the rejected frames: %s", got)
	}
}

func prefix(b []byte) string {
	if len(b) > 8 {
		return string(b[:8])
	}
	return string(b)
}

// BenchmarkReadFrame reads Binance-sized trade frames from a local
// WebSocket server: websocket's ReadMessage (a new slice per frame)
// against the reader's reused frameBuffer.
func BenchmarkReadFrame(b *testing.B) {
	frame := []byte(`{"stream":"btcusdt@trade","data":{"e":"trade","E":1672515782136,"s":"BTCUSDT","t":3012345678,"p":"42219.90000000","q":"0.00123000","T":1672515782136,"m":true,"M":true}}`)
	for _, tc := range []struct {
		name string
		read func(*websocket.Conn) ([]byte, error)
	}{
		{"ReadMessage", func(c *websocket.Conn) ([]byte, error) { _, d, err := c.ReadMessage(); return d, err }},
		{"frameBuffer", func() func(*websocket.Conn) ([]byte, error) {
			var f frameBuffer
			return func(c *websocket.Conn) ([]byte, error) { _, d, err := f.next(c); return d, err }
		}()},
	} {
		b.Run(tc.name, func(b *testing.B) {
			pm, err := websocket.NewPreparedMessage(websocket.TextMessage, frame)
			if err != nil {
				b.Fatal(err)
			}
			var wg sync.WaitGroup
			up := websocket.Upgrader{}
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c, err := up.Upgrade(w, r, nil)
				if err != nil {
					return
				}
				wg.Add(1)
				defer wg.Done()
				defer c.Close()
				for c.WritePreparedMessage(pm) == nil {
				}
			}))
			defer func() { srv.Close(); wg.Wait() }()
			c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			for b.Loop() {
				d, err := tc.read(c)
				if err != nil || len(d) != len(frame) {
					b.Fatalf("read %d bytes: %v", len(d), err)
				}
			}
		})
	}
}
