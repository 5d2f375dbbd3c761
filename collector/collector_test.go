package collector

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"
	"go.uber.org/goleak"

	"marketetl/market"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// lineProto is a tiny text protocol for testing the loop:
//
//	client: "sub <stream>[,<stream>]" / "unsub ..." / "ping"
//	server: "ack <stream>", "trade <symbol> <id> <price> <size> <unix> [<count>]", "hb <symbol> <unix>",
//	        "candle <symbol> <tf> <open unix> <o> <h> <l> <c> <v> <closed 0|1>", "pong", "bye"
type lineProto struct {
	url       string
	ka        KeepAlive
	aggregate bool
	// candles streams candle streams itself (not built from trades).
	candles bool
	// seqIDs is what SequentialTradeIDs declares.
	seqIDs bool
}

func (p *lineProto) SequentialTradeIDs() bool { return p.seqIDs }

func (p *lineProto) Exchange() market.Exchange { return market.Coinbase }
func (p *lineProto) KeepAlive() KeepAlive      { return p.ka }

func (p *lineProto) Plan(streams []market.Stream) ([]ConnPlan, error) {
	plan := ConnPlan{Key: "only", URL: p.url}
	seen := map[string]bool{}
	for _, s := range streams {
		if s.Type == market.TypeCandle && !p.candles {
			if !p.aggregate {
				return nil, fmt.Errorf("no candles here")
			}
			plan.Aggregated = append(plan.Aggregated, s)
			s = market.Stream{Exchange: s.Exchange, Symbol: s.Symbol, Type: market.TypeTrade}
		}
		if !seen[s.String()] {
			seen[s.String()] = true
			plan.Streams = append(plan.Streams, s)
		}
	}
	return []ConnPlan{plan}, nil
}

func names(streams []market.Stream) string {
	var out []string
	for _, s := range streams {
		out = append(out, s.String())
	}
	return strings.Join(out, ",")
}

func (p *lineProto) Subscribe(_ ConnPlan, streams []market.Stream, _ uint64) ([][]byte, error) {
	return [][]byte{[]byte("sub " + names(streams))}, nil
}

func (p *lineProto) Unsubscribe(_ ConnPlan, streams []market.Stream, _ uint64) ([][]byte, error) {
	return [][]byte{[]byte("unsub " + names(streams))}, nil
}

func (p *lineProto) Decode(frame []byte, received time.Time, ev *Event) error {
	f := strings.Fields(string(frame))
	bad := func(reason string) error {
		return &DecodeError{Stream: market.Stream{Exchange: market.Coinbase}, Reason: reason}
	}
	if len(f) == 0 {
		return bad(ReasonMalformedJSON)
	}
	switch f[0] {
	case "pong":
		ev.Pong = true
	case "bye":
		ev.Reconnect = true
	case "ack":
		if len(f) != 2 {
			return bad(ReasonBadField)
		}
		parts := strings.Split(f[1], ":")
		ev.Acked = append(ev.Acked, market.Stream{Exchange: market.Coinbase, Type: market.DataType(parts[1]), Symbol: market.Symbol(parts[2])})
	case "hb":
		if len(f) != 3 {
			return bad(ReasonBadField)
		}
		var sec int64
		fmt.Sscan(f[2], &sec)
		ev.Heartbeat = true
		ev.HeartbeatTime = time.Unix(sec, 0).UTC()
		ev.HeartbeatStream = market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(f[1]), Type: market.TypeTrade}
	case "candle":
		if len(f) != 10 {
			return bad(ReasonBadField)
		}
		var sec int64
		fmt.Sscan(f[3], &sec)
		var v [5]decimal.Decimal
		for i := range v {
			d, err := decimal.NewFromString(f[4+i])
			if err != nil {
				return bad(ReasonBadNumber)
			}
			v[i] = d
		}
		ev.Records = append(ev.Records, &market.Candle{
			Meta:      market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(f[1]), Time: time.Unix(sec, 0).UTC(), Received: received},
			Timeframe: market.Timeframe(f[2]), Open: v[0], High: v[1], Low: v[2], Close: v[3], Volume: v[4], Trades: -1,
			Closed: f[9] == "1",
		})
	case "trade":
		if len(f) != 6 && len(f) != 7 {
			return bad(ReasonBadField)
		}
		count := 0
		if len(f) == 7 {
			fmt.Sscan(f[6], &count)
		}
		px, err1 := decimal.NewFromString(f[3])
		sz, err2 := decimal.NewFromString(f[4])
		var sec int64
		_, err3 := fmt.Sscan(f[5], &sec)
		if err1 != nil || err2 != nil || err3 != nil {
			return &DecodeError{Stream: market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(f[1]), Type: market.TypeTrade}, Reason: ReasonBadNumber}
		}
		ev.Records = append(ev.Records, &market.Trade{
			Meta:    market.Meta{Exchange: market.Coinbase, Symbol: market.Symbol(f[1]), Time: time.Unix(sec, 0).UTC(), Received: received},
			TradeID: f[2], Price: px, Size: sz, Side: market.Buy, Aggregates: count,
		})
	default:
		return bad(ReasonUnknownChannel)
	}
	return nil
}

// recSink records what the collector hands on.
type recSink struct {
	mu      sync.Mutex
	recs    []market.Record
	rejects []market.Reject
	changed chan struct{}
}

func newSink() *recSink { return &recSink{changed: make(chan struct{}, 1)} }

func (s *recSink) notify() {
	select {
	case s.changed <- struct{}{}:
	default:
	}
}

func (s *recSink) Accept(_ context.Context, r market.Record) error {
	s.mu.Lock()
	s.recs = append(s.recs, r)
	s.mu.Unlock()
	s.notify()
	return nil
}

func (s *recSink) Reject(_ context.Context, r market.Reject) error {
	s.mu.Lock()
	s.rejects = append(s.rejects, r)
	s.mu.Unlock()
	s.notify()
	return nil
}

func (s *recSink) snapshot() ([]market.Record, []market.Reject) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]market.Record(nil), s.recs...), append([]market.Reject(nil), s.rejects...)
}

// waitFor polls cond whenever the sink or the server changes, until it
// holds or the test's deadline nears.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition, not synchronising on time
	}
}

// lineServer is a WebSocket server speaking lineProto's server side.
type lineServer struct {
	t        *testing.T
	srv      *httptest.Server
	upgrader websocket.Upgrader

	mu       sync.Mutex
	conns    []*serverConn
	accepted int
	received []string // every client text frame, in order
	pingsIn  int
	pongsIn  []string
	autoPong bool
	// noAck: subscribe frames are not acknowledged.
	noAck bool
}

type serverConn struct {
	mu   sync.Mutex
	c    *websocket.Conn
	dead bool
}

func (sc *serverConn) write(mt int, b []byte) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.c.WriteMessage(mt, b)
}

func newLineServer(t *testing.T) *lineServer {
	ls := &lineServer{t: t, autoPong: true}
	var wg sync.WaitGroup
	ls.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := ls.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		sc := &serverConn{c: c}
		c.SetPongHandler(func(p string) error {
			ls.mu.Lock()
			ls.pongsIn = append(ls.pongsIn, p)
			ls.mu.Unlock()
			return nil
		})
		ls.mu.Lock()
		ls.conns = append(ls.conns, sc)
		ls.accepted++
		ls.mu.Unlock()
		wg.Add(1)
		defer wg.Done()
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				sc.mu.Lock()
				sc.dead = true
				sc.mu.Unlock()
				return
			}
			msg := string(data)
			ls.mu.Lock()
			ls.received = append(ls.received, msg)
			autoPong, noAck := ls.autoPong, ls.noAck
			ls.mu.Unlock()
			switch {
			case msg == "ping":
				ls.mu.Lock()
				ls.pingsIn++
				ls.mu.Unlock()
				if autoPong {
					_ = sc.write(websocket.TextMessage, []byte("pong"))
				}
			case strings.HasPrefix(msg, "sub ") && !noAck:
				for _, s := range strings.Split(strings.TrimPrefix(msg, "sub "), ",") {
					_ = sc.write(websocket.TextMessage, []byte("ack "+s))
				}
			}
		}
	}))
	t.Cleanup(func() {
		ls.dropAll()
		ls.srv.Close()
		wg.Wait()
	})
	return ls
}

func (ls *lineServer) url() string { return "ws" + strings.TrimPrefix(ls.srv.URL, "http") }

func (ls *lineServer) live() []*serverConn {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	var out []*serverConn
	for _, c := range ls.conns {
		c.mu.Lock()
		dead := c.dead
		c.mu.Unlock()
		if !dead {
			out = append(out, c)
		}
	}
	return out
}

// broadcast sends frame to every live connection.
func (ls *lineServer) broadcast(frame string) {
	for _, c := range ls.live() {
		_ = c.write(websocket.TextMessage, []byte(frame))
	}
}

func (ls *lineServer) dropAll() {
	for _, c := range ls.live() {
		_ = c.c.Close()
	}
}

func (ls *lineServer) count(prefix string) int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	n := 0
	for _, m := range ls.received {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func (ls *lineServer) acceptedConns() int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.accepted
}

func tradeStream(sym string) market.Stream {
	return market.Stream{Exchange: market.Coinbase, Symbol: market.Symbol(sym), Type: market.TypeTrade}
}

func startCollector(t *testing.T, cfg Config, p Protocol, sink Sink) (*Collector, func()) {
	t.Helper()
	if cfg.BackoffMin == 0 {
		cfg.BackoffMin = 10 * time.Millisecond
		cfg.BackoffMax = 50 * time.Millisecond
	}
	c, err := New(cfg, p, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if st := c.Status(); st.State != StateStopped {
			t.Errorf("state after Run returned: %s", st.State)
		}
	}
	return c, stop
}

func tradeIDs(recs []market.Record) []string {
	var ids []string
	for _, r := range recs {
		if tr, ok := r.(*market.Trade); ok {
			ids = append(ids, tr.TradeID)
		}
	}
	return ids
}

func TestCollectorDeliversAndResubscribesAfterDrop(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, &lineProto{url: ls.url()}, sink)
	defer stop()

	waitFor(t, "first subscribe", func() bool { return ls.count("sub coinbase:trade:BTC-USD") == 1 })
	waitFor(t, "subscription acked", func() bool { return c.Status().Streams["coinbase:trade:BTC-USD"].Subscribed })
	for i := 1; i <= 3; i++ {
		ls.broadcast(fmt.Sprintf("trade BTC-USD %d 100.5 0.25 1700000000", i))
	}
	waitFor(t, "3 trades", func() bool { r, _ := sink.snapshot(); return len(r) == 3 })

	ls.dropAll()
	waitFor(t, "resubscribe after the drop", func() bool { return ls.count("sub coinbase:trade:BTC-USD") == 2 })
	// The exchange resends trade 3 after reconnecting: it must not be handed on twice.
	for i := 3; i <= 5; i++ {
		ls.broadcast(fmt.Sprintf("trade BTC-USD %d 100.5 0.25 1700000000", i))
	}
	waitFor(t, "5 trades", func() bool { r, _ := sink.snapshot(); return len(r) == 5 })

	recs, _ := sink.snapshot()
	if got := strings.Join(tradeIDs(recs), ","); got != "1,2,3,4,5" {
		t.Errorf("trade ids %s, want 1,2,3,4,5 (each once)", got)
	}
	tr := recs[0].(*market.Trade)
	if tr.Price.String() != "100.5" || tr.Size.String() != "0.25" || tr.Received.IsZero() {
		t.Errorf("trade decoded wrong: %+v", tr)
	}
	st := c.Status()
	if st.Reconnects != 1 {
		t.Errorf("reconnects %d, want 1", st.Reconnects)
	}
	if st.Records != 5 || st.Streams["coinbase:trade:BTC-USD"].Records != 5 {
		t.Errorf("records %d, stream %+v", st.Records, st.Streams["coinbase:trade:BTC-USD"])
	}
	if st.LastError == "" {
		t.Error("last error not kept after the drop")
	}
	waitFor(t, "connected again", func() bool { return c.Status().State == StateConnected })
}

func TestSetStreamsWithoutReconnect(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, &lineProto{url: ls.url()}, sink)
	defer stop()
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == 1 })

	if err := c.SetStreams([]market.Stream{tradeStream("BTC-USD"), tradeStream("ETH-USD")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "runtime subscribe", func() bool { return ls.count("sub coinbase:trade:ETH-USD") == 1 })
	if err := c.SetStreams([]market.Stream{tradeStream("ETH-USD")}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "runtime unsubscribe", func() bool { return ls.count("unsub coinbase:trade:BTC-USD") == 1 })
	if n := ls.acceptedConns(); n != 1 {
		t.Errorf("%d connections, want 1: runtime changes must not reconnect", n)
	}
	// Records of a removed stream are no longer handed on.
	ls.broadcast("trade BTC-USD 1 1 1 1700000000")
	ls.broadcast("trade ETH-USD 7 1 1 1700000000")
	waitFor(t, "ETH trade", func() bool { r, _ := sink.snapshot(); return len(r) >= 1 })
	recs, _ := sink.snapshot()
	if got := strings.Join(tradeIDs(recs), ","); got != "7" {
		t.Errorf("handed on %s, want only 7", got)
	}
	if err := c.SetStreams([]market.Stream{{Exchange: market.OKX, Symbol: "BTC-USDT", Type: market.TypeTrade}}); err == nil {
		t.Error("an OKX stream was accepted by a Coinbase collector")
	}
	if keys := c.st.streamKeys(); strings.Join(keys, ",") != "coinbase:trade:ETH-USD" {
		t.Errorf("status streams %v", keys)
	}
}

func TestTextPingKeepAlive(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	p := &lineProto{url: ls.url(), ka: KeepAlive{PingText: "ping", PingAfter: 100 * time.Millisecond}}
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, p, sink)
	defer stop()
	waitFor(t, "a text ping on an idle connection", func() bool { return ls.count("ping") >= 1 })
	waitFor(t, "the pong counted as a message", func() bool { return c.Status().MessagesProcessed >= 2 })
	if n := ls.acceptedConns(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

func TestSilentConnectionIsRedialled(t *testing.T) {
	ls := newLineServer(t)
	ls.autoPong = false
	sink := newSink()
	p := &lineProto{url: ls.url(), ka: KeepAlive{PingText: "ping", PingAfter: 50 * time.Millisecond, ReadTimeout: 300 * time.Millisecond}}
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, p, sink)
	defer stop()
	waitFor(t, "a redial after the read deadline", func() bool { return ls.acceptedConns() >= 2 })
	waitFor(t, "reconnect counted", func() bool { return c.Status().Reconnects >= 1 })
	if !strings.Contains(c.Status().LastError, "timeout") {
		t.Errorf("last error %q, want a read timeout", c.Status().LastError)
	}
}

func TestServerPingAnsweredWithSamePayload(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	_, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, &lineProto{url: ls.url()}, sink)
	defer stop()
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == 1 })
	for _, c := range ls.live() {
		c.mu.Lock()
		err := c.c.WriteControl(websocket.PingMessage, []byte("p-1234"), time.Now().Add(time.Second))
		c.mu.Unlock()
		if err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "pong with the ping's payload", func() bool {
		ls.mu.Lock()
		defer ls.mu.Unlock()
		return len(ls.pongsIn) == 1 && ls.pongsIn[0] == "p-1234"
	})
}

func TestBadFramesAreRejectedAndCollectorCarriesOn(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}, ReadLimit: 1024}, &lineProto{url: ls.url()}, sink)
	defer stop()
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == 1 })

	ls.broadcast("what is this")
	ls.broadcast("trade BTC-USD 1 notanumber 1 1700000000")
	ls.broadcast("trade BTC-USD 2 10 1 1700000000")
	waitFor(t, "good trade after bad frames", func() bool { r, _ := sink.snapshot(); return len(r) == 1 })
	ls.broadcast("trade BTC-USD 3 " + strings.Repeat("9", 2000) + " 1 1700000000")
	waitFor(t, "oversized frame kept and connection redialled", func() bool {
		_, rej := sink.snapshot()
		return len(rej) == 3 && ls.acceptedConns() == 2
	})
	_, rej := sink.snapshot()
	var reasons []string
	for _, r := range rej {
		reasons = append(reasons, r.Reason)
	}
	if got := strings.Join(reasons, ","); got != "unknown_channel,bad_number,oversized_frame" {
		t.Errorf("reject reasons %s", got)
	}
	if string(rej[1].Raw) != "trade BTC-USD 1 notanumber 1 1700000000" || rej[1].Symbol != "BTC-USD" || rej[1].Type != market.TypeTrade {
		t.Errorf("reject kept wrong: %+v", rej[1])
	}
	if st := c.Status(); st.Rejects != 3 {
		t.Errorf("rejects %d, want 3", st.Rejects)
	}
}

// TestExchangeReconnectNoticeSwitchesOver: an announced disconnect dials a
// replacement at once (an hour of backoff could not), and the announced
// connection is closed only once the replacement delivers: a connection
// loss is not counted.
func TestExchangeReconnectNoticeSwitchesOver(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")},
		BackoffMin: time.Hour, BackoffMax: time.Hour}, &lineProto{url: ls.url()}, sink)
	defer stop()
	waitFor(t, "subscribe", func() bool { return ls.count("sub ") == 1 })
	ls.broadcast("bye")
	waitFor(t, "a replacement subscribed and the old connection closed", func() bool {
		return ls.count("sub ") == 2 && ls.acceptedConns() == 2 && len(ls.live()) == 1
	})
	if st := c.Status(); st.Reconnects != 0 || !st.Streams["coinbase:trade:BTC-USD"].Subscribed {
		t.Errorf("reconnects %d, subscribed %v; want 0, true", st.Reconnects, st.Streams["coinbase:trade:BTC-USD"].Subscribed)
	}
}

// rolloverProto declares a short lifetime so that the loop replaces the connection.
func TestRolloverReplacesConnectionWithoutGapOrDuplicate(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	p := &lineProto{url: ls.url(), ka: KeepAlive{MaxLifetime: 500 * time.Millisecond}}
	_, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}, RolloverMargin: 250 * time.Millisecond}, p, sink)
	defer stop()
	waitFor(t, "first connection", func() bool { return ls.count("sub ") == 1 })
	id := 0
	send := func() {
		id++
		ls.broadcast(fmt.Sprintf("trade BTC-USD %d 1 1 1700000000", id))
	}
	// Keep trading while the replacement connects: every trade goes to every
	// live connection, as an exchange would.
	waitFor(t, "a replacement connection", func() bool { send(); return ls.acceptedConns() >= 2 })
	waitFor(t, "the old connection closed", func() bool { send(); return len(ls.live()) == 1 })
	send()
	waitFor(t, "every trade", func() bool { r, _ := sink.snapshot(); return len(r) == id })
	recs, _ := sink.snapshot()
	seen := map[string]bool{}
	for _, tid := range tradeIDs(recs) {
		if seen[tid] {
			t.Errorf("trade %s handed on twice", tid)
		}
		seen[tid] = true
	}
}

func TestAggregatedCandlesFromTrades(t *testing.T) {
	ls := newLineServer(t)
	sink := newSink()
	candles := market.Stream{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}
	_, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{candles}}, &lineProto{url: ls.url(), aggregate: true}, sink)
	defer stop()
	waitFor(t, "matches subscribed for the candles", func() bool { return ls.count("sub coinbase:trade:BTC-USD") == 1 })
	base := int64(1700000040) // a minute boundary
	// A heartbeat before the minute opens: the collector sees the stream
	// from the minute's start, so its candle is closed, not provisional.
	ls.broadcast(fmt.Sprintf("hb BTC-USD %d", base-5))
	ls.broadcast(fmt.Sprintf("trade BTC-USD 1 10 1 %d", base+1))
	ls.broadcast(fmt.Sprintf("trade BTC-USD 2 12 2 %d", base+30))
	ls.broadcast(fmt.Sprintf("trade BTC-USD 2 12 2 %d", base+30)) // resent: folded once
	ls.broadcast(fmt.Sprintf("hb BTC-USD %d", base+60))
	waitFor(t, "a closed candle", func() bool {
		r, _ := sink.snapshot()
		for _, x := range r {
			if c, ok := x.(*market.Candle); ok && c.Closed {
				return true
			}
		}
		return false
	})
	recs, _ := sink.snapshot()
	var closed *market.Candle
	for _, x := range recs {
		switch v := x.(type) {
		case *market.Trade:
			t.Errorf("trade %s handed on, but only candles were wanted", v.TradeID)
		case *market.Candle:
			if v.Closed {
				closed = v
			}
		}
	}
	if closed.Open.String() != "10" || closed.Close.String() != "12" || closed.Volume.String() != "3" || closed.Trades != 2 ||
		!closed.Time.Equal(time.Unix(base, 0)) {
		t.Errorf("closed candle %+v", closed)
	}
}

func TestBackoffDoublesJittersAndCaps(t *testing.T) {
	tests := []struct {
		name    string
		attempt int
		rand    float64
		want    time.Duration
	}{
		{name: "first, low jitter", attempt: 0, rand: 0, want: 500 * time.Millisecond},
		{name: "first, high jitter", attempt: 0, rand: 0.5, want: 750 * time.Millisecond},
		{name: "third doubles twice", attempt: 2, rand: 0, want: 2 * time.Second},
		{name: "capped", attempt: 30, rand: 0, want: 5 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &Collector{cfg: Config{BackoffMin: time.Second, BackoffMax: 10 * time.Second, Rand: func() float64 { return tc.rand }}}
			got := c.backoff(tc.attempt)
			if got.Round(time.Microsecond) != tc.want {
				t.Errorf("backoff(%d) = %s, want %s", tc.attempt, got, tc.want)
			}
		})
	}
}

func TestClosedEndpointBacksOff(t *testing.T) {
	ls := newLineServer(t)
	url := ls.url()
	ls.srv.Close() // nothing listens any more
	sink := newSink()
	c, stop := startCollector(t, Config{Name: "t", Streams: []market.Stream{tradeStream("BTC-USD")}}, &lineProto{url: url}, sink)
	waitFor(t, "several failed dials", func() bool { return c.Status().Reconnects >= 3 })
	st := c.Status()
	stop()
	if st.State != StateReconnecting && st.State != StateConnecting {
		t.Errorf("state %s while the endpoint is closed", st.State)
	}
	if !strings.Contains(st.LastError, "dial") {
		t.Errorf("last error %q does not say what failed", st.LastError)
	}
}

func TestNewRefusesUnplannableStreams(t *testing.T) {
	_, err := New(Config{Name: "t", Streams: []market.Stream{{Exchange: market.Coinbase, Symbol: "BTC-USD", Type: market.TypeCandle, Timeframe: market.TF1m}}},
		&lineProto{url: "ws://127.0.0.1:1"}, newSink())
	if err == nil || !errors.Is(err, ErrPermanent) {
		t.Fatalf("want a permanent plan error, got %v", err)
	}
}

func TestSendLimiterSpacesFramesEvenly(t *testing.T) {
	if sendLimiter(0) != nil {
		t.Error("a zero rate must not pace")
	}
	l := sendLimiter(4)
	if l.Burst() != 1 || float64(l.Limit()) != 4 {
		t.Fatalf("limiter rate %v burst %d, want 4 and 1", l.Limit(), l.Burst())
	}
	// A full bucket admits one frame at once, not a second's worth.
	now := time.Now()
	if !l.AllowN(now, 1) || l.AllowN(now, 1) {
		t.Error("more than one frame admitted at one instant")
	}
}
