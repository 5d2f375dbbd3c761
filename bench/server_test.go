package bench

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"marketetl/market"
)

// startServer runs the frame server in this process for the test.
func startServer(t *testing.T, plan ServerPlan) ServerReady {
	t.Helper()
	ready, stop, err := InProcessLauncher()(t.Context(), plan)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return ready
}

// waitStats polls the server's stats of phase until ok accepts them.
func waitStats(t *testing.T, addr, phase string, ok func(ServerStats) bool) ServerStats {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := serverStats(t.Context(), addr, phase)
		if err != nil {
			t.Fatal(err)
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("phase %s: stats %+v never satisfied the condition", phase, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// read reads n text frames from url's connection, closing it after.
func read(t *testing.T, url string, n int) [][]byte {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var out [][]byte
	for len(out) < n {
		mt, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("after %d frames: %v", len(out), err)
		}
		if mt == websocket.TextMessage {
			out = append(out, msg)
		}
	}
	_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return out
}

// TestServerStreamsEveryFrameOnceAcrossReconnects reads a phase's frames
// over two connections: the second carries on where the first stopped,
// and together they are exactly the generated frames.
func TestServerStreamsEveryFrameOnceAcrossReconnects(t *testing.T) {
	w := Workload{Exchange: market.Binance, Seed: 5, Trades: 2000, CandleEvery: 10, Now: anchor}
	plan := ServerPlan{Phases: []PhasePlan{{Name: "fast", Workload: w}}}
	ready := startServer(t, plan)
	if ready.Phases["fast"] != w.Counts() {
		t.Fatalf("ready %+v, want counts %+v", ready, w.Counts())
	}
	url := "ws://" + ready.Addr + "/fast/" + chanBinance + "/stream?streams=btcusdt@trade"
	total := w.Counts().Records()
	// The first connection reads some frames; the server may have written
	// more into the socket's buffers, which are lost with it.
	first := read(t, url, 100)
	st := waitStats(t, ready.Addr, "fast", func(s ServerStats) bool { return s.ClientCloses == 1 })
	rest := read(t, url, total-st.Sent)
	got := append(first, rest...)
	frames, err := encodeFrames(w)
	if err != nil {
		t.Fatal(err)
	}
	want := splitFrames(t, frames[chanBinance].data)
	// Frames written to the first connection after it stopped reading are
	// skipped; the rest arrive once, in order.
	for i, p := range first {
		if !bytes.Equal(p, want[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	for i, p := range rest {
		if !bytes.Equal(p, want[st.Sent+i]) {
			t.Fatalf("frame %d of the second connection differs", i)
		}
	}
	if len(got) > total {
		t.Fatalf("%d frames read, %d generated", len(got), total)
	}
	end := waitStats(t, ready.Addr, "fast", func(s ServerStats) bool { return s.ClientCloses == 2 })
	if end.Sent != total || end.Frames != total || end.Connects != 2 || end.ServerCloses != 0 {
		t.Fatalf("stats %+v: want %d sent, 2 connects, no server close", end, total)
	}
}

// TestServerPacesPingsAndAnswersTextPings checks a paced phase: every
// frame arrives, the server's pings are answered (gorilla's client answers
// them while reading) and OKX's text ping gets its pong.
func TestServerPacesPingsAndAnswersTextPings(t *testing.T) {
	w := Workload{Exchange: market.OKX, Seed: 5, Trades: 300, Slot: 1, Now: anchor}
	ready := startServer(t, ServerPlan{PingEvery: 10 * time.Millisecond, Phases: []PhasePlan{{Name: "paced", Workload: w, Rate: 3000}}})
	url := "ws://" + ready.Addr + "/paced/" + chanOKXPublic
	conn, _, err := websocket.DefaultDialer.DialContext(t.Context(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WriteMessage(websocket.TextMessage, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	trades, pongs := 0, 0
	for trades < 300 || pongs == 0 {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case string(msg) == "pong":
			pongs++
		case bytes.Contains(msg, []byte(`"channel":"trades"`)):
			trades++
		default:
			t.Fatalf("unexpected frame %s", msg)
		}
	}
	// The server counts a frame sent once its write returned, which can be
	// after the client has read it: wait for the count too.
	st := waitStats(t, ready.Addr, "paced", func(s ServerStats) bool { return s.Pongs >= 2 && s.Sent == 300 })
	if st.Sent != 300 || st.Pings < st.Pongs || pongs != 1 {
		t.Fatalf("stats %+v, %d text pongs: want 300 sent, pongs for pings, one text pong", st, pongs)
	}
	if _, err := serverStats(t.Context(), ready.Addr, "nope"); err == nil {
		t.Fatal("stats of an unknown phase: no error")
	}
}

func TestServePlanErrors(t *testing.T) {
	for name, plan := range map[string]ServerPlan{
		"no name":    {Phases: []PhasePlan{{Workload: Workload{Exchange: market.OKX, Now: anchor}}}},
		"twice":      {Phases: []PhasePlan{{Name: "a", Workload: Workload{Exchange: market.OKX, Now: anchor}}, {Name: "a", Workload: Workload{Exchange: market.OKX, Now: anchor}}}},
		"bad slot":   {Phases: []PhasePlan{{Name: "a", Workload: Workload{Exchange: market.OKX, Slot: 9, Now: anchor}}}},
		"no anchor":  {Phases: []PhasePlan{{Name: "a", Workload: Workload{Exchange: market.OKX}}}},
		"bad phase/": {Phases: []PhasePlan{{Name: "a/b", Workload: Workload{Exchange: market.OKX, Now: anchor}}}},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if _, stop, err := InProcessLauncher()(ctx, plan); err == nil {
				_ = stop()
				t.Fatal(fmt.Sprintf("plan %+v: no error", plan))
			}
		})
	}
}
