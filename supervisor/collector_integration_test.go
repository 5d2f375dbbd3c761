package supervisor

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/shopspring/decimal"

	"marketetl/collector"
	"marketetl/market"
	"marketetl/spec"
)

// lineProtocol is a minimal text protocol spoken by lineServer, enough to
// drive the real collector loop: the client sends "sub <n>"; the server
// sends "trade <symbol> <id> <price> <size> <unix seconds>" lines.
type lineProtocol struct{ url string }

var _ collector.Protocol = (*lineProtocol)(nil)

func (p *lineProtocol) Exchange() market.Exchange { return market.OKX }

func (p *lineProtocol) KeepAlive() collector.KeepAlive {
	// A long read timeout: the supervisor must notice the silence first.
	return collector.KeepAlive{ReadTimeout: time.Minute}
}

func (p *lineProtocol) Plan(streams []market.Stream) ([]collector.ConnPlan, error) {
	return []collector.ConnPlan{{Key: "only", URL: p.url, Streams: streams}}, nil
}

func (p *lineProtocol) Subscribe(_ collector.ConnPlan, streams []market.Stream, _ uint64) ([][]byte, error) {
	return [][]byte{[]byte(fmt.Sprintf("sub %d", len(streams)))}, nil
}

func (p *lineProtocol) Unsubscribe(collector.ConnPlan, []market.Stream, uint64) ([][]byte, error) {
	return nil, nil
}

func (p *lineProtocol) Decode(frame []byte, received time.Time, ev *collector.Event) error {
	f := strings.Fields(string(frame))
	if len(f) != 6 || f[0] != "trade" {
		return &collector.DecodeError{Stream: market.Stream{Exchange: market.OKX}, Reason: collector.ReasonUnknownChannel}
	}
	px, err1 := decimal.NewFromString(f[3])
	sz, err2 := decimal.NewFromString(f[4])
	var sec int64
	_, err3 := fmt.Sscan(f[5], &sec)
	if err1 != nil || err2 != nil || err3 != nil {
		return &collector.DecodeError{Stream: market.Stream{Exchange: market.OKX}, Reason: collector.ReasonBadNumber}
	}
	ev.Records = append(ev.Records, &market.Trade{
		Meta:    market.Meta{Exchange: market.OKX, Symbol: market.Symbol(f[1]), Time: time.Unix(sec, 0).UTC(), Received: received},
		TradeID: f[2], Price: px, Size: sz, Side: market.Buy,
	})
	return nil
}

// lineServer streams trades of BTC-USDT every few milliseconds to each
// subscribed connection, unless stalled: then it keeps connections open
// and silent.
type lineServer struct {
	srv     *httptest.Server
	stalled atomic.Bool
	id      atomic.Int64
	conns   sync.WaitGroup
}

func newLineServer(t *testing.T) *lineServer {
	s := &lineServer{}
	up := websocket.Upgrader{}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(); err != nil { // the subscription
			return
		}
		// Reads in the background notice the client closing.
		closed := make(chan struct{})
		s.conns.Add(1)
		go func() {
			defer s.conns.Done()
			defer close(closed)
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-closed:
				return
			case <-r.Context().Done():
				return
			case <-tick.C:
				if s.stalled.Load() {
					continue
				}
				line := fmt.Sprintf("trade BTC-USDT %d 65000.10 0.5 %d", s.id.Add(1), time.Now().Unix())
				if err := c.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(func() {
		s.srv.CloseClientConnections()
		s.srv.Close()
		s.conns.Wait()
	})
	return s
}

func (s *lineServer) url() string { return "ws" + strings.TrimPrefix(s.srv.URL, "http") }

// countingSink counts what the collector hands on.
type countingSink struct{ records, rejects atomic.Int64 }

func (s *countingSink) Accept(context.Context, market.Record) error { s.records.Add(1); return nil }
func (s *countingSink) Reject(context.Context, market.Reject) error { s.rejects.Add(1); return nil }

// eventually polls cond until it holds, failing the test after a generous
// deadline (a guard against hanging, not a timed assertion).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		<-tick.C
	}
}

// TestWithRealCollector runs the real collector loop under the supervisor
// against a local server that goes silent: the supervisor restarts the
// collector, which then collects again.
func TestWithRealCollector(t *testing.T) {
	srv := newLineServer(t)
	sink := &countingSink{}
	factory := func(spec spec.Collector) (Runner, error) {
		return collector.New(collector.Config{Name: spec.Name, Streams: spec.Streams(), BackoffMin: 10 * time.Millisecond},
			&lineProtocol{url: srv.url()}, sink)
	}
	m, err := New(Config{
		HealthCheckInterval: 50 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond,
		MaxSilence: 300 * time.Millisecond, ReconnectDelay: 10 * time.Millisecond,
	}, factory, newRegistry(), &fakeHistory{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if _, err := m.Reconcile(ctx, []spec.Collector{newSpec("live")}); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- m.Run(ctx) }()

	status := func() CollectorReport { r, _ := m.Status("live"); return r }
	eventually(t, "records collected and the collector connected", func() bool {
		r := status()
		return r.Statistics.Records > 10 && r.ConnectionState == string(collector.StateConnected) && r.Health.IsHealthy
	})
	srv.stalled.Store(true)
	eventually(t, "a restart for the silence", func() bool { return status().Statistics.Restarts > 0 })
	r := status()
	byTrigger := r.Statistics.RestartsByTrigger
	if byTrigger[string(TriggerNoHeartbeat)]+byTrigger[string(TriggerStaleData)] == 0 {
		t.Errorf("restarts by trigger %v, want no_heartbeat or stale_data", byTrigger)
	}
	before := r.Statistics.Records
	srv.stalled.Store(false)
	eventually(t, "records again after the restart", func() bool {
		r := status()
		return r.Statistics.Records > before+10 && r.Status == StateRunning
	})
	if got := sink.records.Load(); uint64(got) < before {
		t.Errorf("sink received %d records, status counts %d", got, before)
	}
	cancel()
	if err := <-errc; err != nil {
		t.Errorf("Run: %v", err)
	}
}
