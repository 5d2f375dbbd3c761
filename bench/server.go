package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"golang.org/x/sync/errgroup"
)

// ServerPlan is what the frame server is asked to serve; the benchmark
// sends it as one JSON line on the server's standard input.
type ServerPlan struct {
	Phases []PhasePlan `json:"phases"`
	// PingEvery is the period of the server's WebSocket pings on every
	// connection (the exchange's keep-alive); 0 sends none.
	PingEvery time.Duration `json:"ping_every"`
}

// PhasePlan is one phase's workload and pace.
type PhasePlan struct {
	// Name is the first element of the phase's URL paths.
	Name     string   `json:"name"`
	Workload Workload `json:"workload"`
	// Rate is the offered rate in records per second over all channels;
	// 0 writes as fast as the client reads (TCP backpressure).
	Rate float64 `json:"rate"`
}

// ServerReady is the server's one line on standard output once its frames
// are generated and it listens.
type ServerReady struct {
	Addr   string            `json:"addr"`
	Phases map[string]Counts `json:"phases"`
	// Generate is how long pre-generating every frame took.
	Generate time.Duration `json:"generate"`
}

// ServerStats are a phase's counters on the server side, over its channels.
type ServerStats struct {
	// Frames is the phase's number of data frames; Sent those written (or
	// lost with a connection whose write failed: never offered again).
	Frames int `json:"frames"`
	Sent   int `json:"sent"`
	// Connects counts WebSocket connections accepted.
	Connects int `json:"connects"`
	// ServerCloses counts connections the server dropped (a failed
	// write): exchange-side disconnects. ClientCloses counts connections
	// the client ended.
	ServerCloses int `json:"server_closes"`
	ClientCloses int `json:"client_closes"`
	// Pings sent and Pongs received.
	Pings int `json:"pings"`
	Pongs int `json:"pongs"`
	// First and Last are when the first and the last data frame were
	// written (zero before).
	First time.Time `json:"first"`
	Last  time.Time `json:"last"`
}

// frameServer serves pre-generated frames over WebSocket.
type frameServer struct {
	pingEvery time.Duration
	// phases maps a phase name to its channels by name. Set before serving.
	phases map[string]map[string]*channel
	// conns tracks the streaming handlers, whose hijacked connections the
	// HTTP server's Shutdown does not wait for.
	conns sync.WaitGroup
}

// channel is one phase's frames on one URL, with its cursor: connections
// to the same URL (a reconnect) carry on where the previous one stopped.
type channel struct {
	f    *frames
	rate float64 // frames per second; 0: unpaced

	next  atomic.Int64 // index of the next frame to claim
	start atomic.Int64 // unix nanos of the first connection (paced start)

	connects, serverCloses, clientCloses atomic.Int64
	pings, pongs, sent                   atomic.Int64
	first, last                          atomic.Int64 // unix nanos
}

// newFrameServer generates every phase's frames, in parallel.
func newFrameServer(ctx context.Context, plan ServerPlan) (*frameServer, map[string]Counts, error) {
	s := &frameServer{pingEvery: plan.PingEvery, phases: map[string]map[string]*channel{}}
	counts := map[string]Counts{}
	encoded := make([]map[string]*frames, len(plan.Phases))
	g, _ := errgroup.WithContext(ctx)
	g.SetLimit(2)
	for i, p := range plan.Phases {
		if p.Name == "" || strings.Contains(p.Name, "/") {
			return nil, nil, fmt.Errorf("frame server: phase name %q", p.Name)
		}
		if _, dup := counts[p.Name]; dup {
			return nil, nil, fmt.Errorf("frame server: phase %q twice", p.Name)
		}
		counts[p.Name] = p.Workload.Counts()
		g.Go(func() error {
			f, err := encodeFrames(p.Workload)
			if err != nil {
				return fmt.Errorf("generate phase %s: %w", p.Name, err)
			}
			encoded[i] = f
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	for i, p := range plan.Phases {
		total := 0
		for _, f := range encoded[i] {
			total += f.n()
		}
		chans := map[string]*channel{}
		for name, f := range encoded[i] {
			c := &channel{f: f}
			if p.Rate > 0 && total > 0 {
				c.rate = p.Rate * float64(f.n()) / float64(total)
			}
			chans[name] = c
		}
		s.phases[p.Name] = chans
	}
	return s, counts, nil
}

// stats sums a phase's channels.
func (s *frameServer) stats(phase string) (ServerStats, bool) {
	chans, ok := s.phases[phase]
	if !ok {
		return ServerStats{}, false
	}
	var st ServerStats
	for _, c := range chans {
		st.Frames += c.f.n()
		st.Sent += int(c.sent.Load())
		st.Connects += int(c.connects.Load())
		st.ServerCloses += int(c.serverCloses.Load())
		st.ClientCloses += int(c.clientCloses.Load())
		st.Pings += int(c.pings.Load())
		st.Pongs += int(c.pongs.Load())
		if f := c.first.Load(); f != 0 && (st.First.IsZero() || time.Unix(0, f).Before(st.First)) {
			st.First = time.Unix(0, f)
		}
		if l := c.last.Load(); l != 0 && time.Unix(0, l).After(st.Last) {
			st.Last = time.Unix(0, l)
		}
	}
	return st, true
}

// ServeHTTP upgrades /<phase>/<channel>[/...] to a WebSocket that streams
// the channel's frames, and answers GET /stats?phase=<phase> with
// ServerStats. Anything else (the adapters' REST calls) is 404.
func (s *frameServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/stats" {
		st, ok := s.stats(r.URL.Query().Get("phase"))
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	parts := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 3)
	if len(parts) < 2 || !websocket.IsWebSocketUpgrade(r) {
		http.NotFound(w, r)
		return
	}
	c, ok := s.phases[parts[0]][parts[1]]
	if !ok {
		http.NotFound(w, r)
		return
	}
	s.conns.Add(1)
	defer s.conns.Done()
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered.
	}
	s.stream(r.Context(), conn, c)
}

// rawWriter writes whole frames to the connection, one writer at a time:
// data, pings and pongs never interleave inside a frame.
type rawWriter struct {
	mu   sync.Mutex // serialises writes
	conn net.Conn
}

func (w *rawWriter) write(b []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.conn.SetWriteDeadline(time.Now().Add(time.Minute))
	_, err := w.conn.Write(b)
	return err
}

// writeChunk is the most bytes written at once when unpaced.
const writeChunk = 64 << 10

// stream serves c's frames on conn until they are all written and the
// client closes, or ctx ends. Its goroutines (reader, pinger) are waited for.
func (s *frameServer) stream(ctx context.Context, conn *websocket.Conn, c *channel) {
	c.connects.Add(1)
	now := time.Now().UnixNano()
	c.start.CompareAndSwap(0, now)
	ctx, cancel := context.WithCancel(ctx)
	w := &rawWriter{conn: conn.NetConn()}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	// Closer: closing the connection unblocks the reader and any write.
	wg.Go(func() {
		<-ctx.Done()
		_ = conn.Close()
	})
	var clientClosed atomic.Bool
	readerDone := make(chan struct{})
	// Reader: pongs, the client's text pings (OKX) and its close.
	conn.SetPongHandler(func(string) error { c.pongs.Add(1); return nil })
	wg.Go(func() {
		defer close(readerDone)
		defer cancel()
		for {
			mt, msg, err := conn.ReadMessage()
			if err != nil {
				// Anything but our own Close ends the connection from
				// the client's side.
				clientClosed.Store(!errors.Is(err, net.ErrClosed))
				return
			}
			if mt == websocket.TextMessage && string(msg) == "ping" {
				if w.write(appendTextFrame(nil, []byte("pong"))) != nil {
					return
				}
			}
		}
	})
	if s.pingEvery > 0 {
		wg.Go(func() {
			t := time.NewTicker(s.pingEvery)
			defer t.Stop()
			for n := 0; ; n++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				if w.write(appendFrame(nil, opPing, []byte(fmt.Sprint(n)))) != nil {
					return
				}
				c.pings.Add(1)
			}
		})
	}
	err := s.send(ctx, w, c)
	if err == nil {
		<-ctx.Done() // everything sent: keep the connection (and pings) until the client leaves
	} else {
		// A write failed: when the client closed first, its close (or
		// reset) is in the socket for the reader to see; give it a
		// moment before the connection is closed from this side.
		wait := time.NewTimer(time.Second)
		select {
		case <-readerDone:
		case <-wait.C:
		}
		wait.Stop()
	}
	switch {
	case clientClosed.Load() || ctx.Err() != nil && err == nil:
		c.clientCloses.Add(1)
	default:
		c.serverCloses.Add(1)
	}
}

// send writes c's frames, claimed from its cursor, paced at c.rate or as
// fast as the connection takes them. It returns nil once every frame is
// claimed and written, ctx.Err() when ctx ends, or a write error.
func (s *frameServer) send(ctx context.Context, w *rawWriter, c *channel) error {
	f := c.f
	n := int64(f.n())
	var tick *time.Ticker
	if c.rate > 0 {
		tick = time.NewTicker(time.Millisecond)
		defer tick.Stop()
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		from := c.next.Load()
		if from >= n {
			return nil
		}
		to := n
		if c.rate > 0 {
			due := int64(c.rate * time.Since(time.Unix(0, c.start.Load())).Seconds())
			to = min(n, due)
			if to <= from {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-tick.C:
				}
				continue
			}
		}
		// At most writeChunk bytes (but at least one frame) per write.
		base := f.start(int(from))
		end := from + 1
		for end < to && f.ends[end]-base <= writeChunk {
			end++
		}
		if !c.next.CompareAndSwap(from, end) {
			continue // another connection claimed them
		}
		if err := w.write(f.data[base:f.ends[end-1]]); err != nil {
			// Claimed, so never offered again: counted as sent, lost with
			// the connection like frames left unread in its buffers.
			c.sent.Add(end - from)
			return fmt.Errorf("write frames %d..%d: %w", from, end, err)
		}
		t := time.Now().UnixNano()
		c.first.CompareAndSwap(0, t)
		c.last.Store(t)
		c.sent.Add(end - from)
	}
}

// Serve is the frame server's process: it reads one ServerPlan as a JSON
// line from in, generates the frames, listens on 127.0.0.1 and writes one
// ServerReady line to out, then serves until in reaches its end (the
// benchmark closes it) or ctx ends.
func Serve(ctx context.Context, in io.Reader, out io.Writer) error {
	r := bufio.NewReader(in)
	line, err := r.ReadBytes('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("frame server: read plan: %w", err)
	}
	var plan ServerPlan
	if err := json.Unmarshal(line, &plan); err != nil {
		return fmt.Errorf("frame server: decode plan: %w", err)
	}
	t0 := time.Now()
	s, counts, err := newFrameServer(ctx, plan)
	if err != nil {
		return err
	}
	gen := time.Since(t0)
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("frame server: listen: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hs := &http.Server{Handler: s, BaseContext: func(net.Listener) context.Context { return ctx }}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		if err := hs.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("frame server: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		sctx, scancel := context.WithTimeout(context.WithoutCancel(gctx), 5*time.Second)
		defer scancel()
		_ = hs.Shutdown(sctx)
		return nil
	})
	if err := json.NewEncoder(out).Encode(ServerReady{Addr: l.Addr().String(), Phases: counts, Generate: gen}); err != nil {
		cancel()
		_ = g.Wait()
		return fmt.Errorf("frame server: announce: %w", err)
	}
	// The end of the plan's stream is the benchmark's signal to stop.
	stdinDone := make(chan struct{})
	var reader sync.WaitGroup
	reader.Go(func() {
		_, _ = io.Copy(io.Discard, r)
		close(stdinDone)
	})
	select {
	case <-stdinDone:
	case <-gctx.Done():
		if c, ok := in.(io.Closer); ok {
			_ = c.Close()
		}
	}
	cancel()
	err = g.Wait()
	s.conns.Wait()
	reader.Wait()
	return err
}
