package sim

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"marketetl/market"
)

// Close codes the simulator sends.
const (
	closeNormal       = websocket.CloseNormalClosure
	closeGoingAway    = websocket.CloseGoingAway
	closePolicy       = websocket.ClosePolicyViolation
	closeOKXNoData    = 4004
	closeOKXNoDataMsg = "No data received in 30s"
)

// counters are per-exchange connection counts, updated atomically.
type counters struct {
	connects atomic.Int64 // WebSocket connections accepted
	rejected atomic.Int64 // upgrades refused by RejectConnections
	slow     atomic.Int64 // connections dropped because their queue was full
	dropped  atomic.Int64 // connections dropped by DropConnections
	frames   atomic.Int64 // text frames written
}

// session is one protocol's side of a connection.
type session interface {
	// opened runs once the connection is registered, with s.mu held.
	opened()
	// handle handles one text message from the reader goroutine; it takes
	// s.mu itself.
	handle(msg []byte)
	// watch runs the protocol's timers until ctx ends.
	watch(ctx context.Context)
}

// conn is one WebSocket connection.
type conn struct {
	s      *Sim
	ex     market.Exchange
	ws     *websocket.Conn
	id     string
	opened time.Time
	out    chan []byte // text frames for the writer goroutine
	sess   session

	// topics are the subscriptions, in the order they were made; guarded
	// by s.mu.
	topics map[string]struct{}
	order  []string

	lastActive atomic.Int64 // unix nanoseconds of the last frame read or written
	noSubSince atomic.Int64 // unix nanoseconds since which it had no subscription; 0 while it has one
	closing    atomic.Bool  // a close frame was sent or the connection was dropped
	closeOnce  sync.Once
}

var upgrader = websocket.Upgrader{
	CheckOrigin: func(*http.Request) bool { return true },
}

// serveWS upgrades r and serves the connection with the session mk makes
// until it ends.
func (s *Sim) serveWS(w http.ResponseWriter, r *http.Request, ex market.Exchange, mk func(*conn) session) {
	s.mu.Lock()
	if s.rejecting[ex] || s.closing {
		s.mu.Unlock()
		s.counters[ex].rejected.Add(1)
		http.Error(w, "503 Service Unavailable", http.StatusServiceUnavailable)
		return
	}
	s.handlers.Add(1)
	serveCtx := s.serveCtx
	s.mu.Unlock()
	defer s.handlers.Done()

	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		s.log.Debug("websocket upgrade failed", zap.String("exchange", string(ex)), zap.Error(err))
		return
	}
	now := time.Now()
	c := &conn{s: s, ex: ex, ws: ws, opened: now, out: make(chan []byte, s.cfg.SendQueue), topics: make(map[string]struct{})}
	c.lastActive.Store(now.UnixNano())
	c.noSubSince.Store(now.UnixNano())
	c.sess = mk(c)
	ws.SetReadLimit(s.cfg.ReadLimit)

	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		c.closeWith(closeGoingAway, "")
		_ = ws.Close()
		return
	}
	s.connSeq++
	c.id = fmt.Sprintf("%08x", uint32(s.connSeq*2654435761))
	s.conns[ex][c] = struct{}{}
	s.counters[ex].connects.Add(1)
	c.sess.opened()
	s.notify()
	s.mu.Unlock()
	log := s.log.With(zap.String("exchange", string(ex)), zap.String("conn", c.id))
	log.Debug("websocket connected", zap.String("path", r.URL.Path))

	ctx, cancel := context.WithCancel(serveCtx)
	var wg sync.WaitGroup
	wg.Go(func() { c.writeLoop(ctx) })
	wg.Go(func() { c.sess.watch(ctx) })
	err = c.readLoop()
	cancel()
	_ = ws.Close()
	wg.Wait()

	s.mu.Lock()
	for _, t := range c.order {
		s.removeTopic(c, t)
	}
	delete(s.conns[ex], c)
	s.notify()
	s.mu.Unlock()
	log.Debug("websocket closed", zap.Error(err))
}

// readLoop reads until the connection fails, passing text messages to the
// session.
func (c *conn) readLoop() error {
	for {
		typ, msg, err := c.ws.ReadMessage()
		if err != nil {
			return err
		}
		c.lastActive.Store(time.Now().UnixNano())
		if c.closing.Load() || typ != websocket.TextMessage {
			continue
		}
		c.sess.handle(msg)
	}
}

// writeLoop writes queued frames until ctx ends or a write fails.
func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-c.out:
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
			if err := c.ws.WriteMessage(websocket.TextMessage, f); err != nil {
				_ = c.ws.Close()
				return
			}
			c.lastActive.Store(time.Now().UnixNano())
			c.s.counters[c.ex].frames.Add(1)
		}
	}
}

// send queues a text frame. A connection whose queue is full is dropped
// and counted as slow, so that it cannot stall the generator. s.mu is held,
// which keeps frames in the order the exchange made them.
func (c *conn) send(frame []byte) {
	if c.closing.Load() {
		return
	}
	select {
	case c.out <- frame:
	default:
		c.s.counters[c.ex].slow.Add(1)
		c.s.log.Warn("dropping slow websocket connection", zap.String("exchange", string(c.ex)), zap.String("conn", c.id))
		c.drop()
	}
}

// closeWith sends a close frame and gives the client CloseGrace to answer
// before the reader gives up and the connection is closed.
func (c *conn) closeWith(code int, text string) {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		// A writer stuck on a full socket holds the write lock: give up on
		// the close frame after CloseGrace.
		deadline := time.Now().Add(c.s.cfg.CloseGrace)
		_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), deadline)
		_ = c.ws.SetReadDeadline(time.Now().Add(c.s.cfg.CloseGrace))
	})
}

// drop closes the TCP connection without a close frame.
func (c *conn) drop() {
	c.closing.Store(true)
	_ = c.ws.Close()
}

// addTopic subscribes c to topic; it reports whether c was not subscribed
// yet. s.mu is held.
func (s *Sim) addTopic(c *conn, topic string) bool {
	if _, ok := c.topics[topic]; ok {
		return false
	}
	c.topics[topic] = struct{}{}
	c.order = append(c.order, topic)
	subs := s.topics[c.ex][topic]
	if subs == nil {
		subs = make(map[*conn]struct{})
		s.topics[c.ex][topic] = subs
	}
	subs[c] = struct{}{}
	c.noSubSince.Store(0)
	s.notify()
	return true
}

// removeTopic unsubscribes c from topic. s.mu is held.
func (s *Sim) removeTopic(c *conn, topic string) {
	if _, ok := c.topics[topic]; !ok {
		return
	}
	delete(c.topics, topic)
	for i, t := range c.order {
		if t == topic {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
	if subs := s.topics[c.ex][topic]; subs != nil {
		delete(subs, c)
		if len(subs) == 0 {
			delete(s.topics[c.ex], topic)
		}
	}
	if len(c.topics) == 0 {
		c.noSubSince.Store(time.Now().UnixNano())
	}
	s.notify()
}

// fanout queues frame on every connection of ex subscribed to topic. s.mu
// is held.
func (s *Sim) fanout(ex market.Exchange, topic string, frame []byte) {
	for c := range s.topics[ex][topic] {
		c.send(frame)
	}
}

// subscribed reports whether some connection of ex is subscribed to topic.
// s.mu is held.
func (s *Sim) subscribed(ex market.Exchange, topic string) bool {
	return len(s.topics[ex][topic]) > 0
}

// notify wakes the waiters of WaitSubscribed, WaitConnections and WaitTrades. s.mu is
// held.
func (s *Sim) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// await returns once cond, evaluated with s.mu held, is true, or when ctx
// ends.
func (s *Sim) await(ctx context.Context, cond func() bool) error {
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}
