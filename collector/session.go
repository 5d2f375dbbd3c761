package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"runtime/debug"
	"sort"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"marketetl/market"
)

// defaultReadTimeout applies when neither the protocol nor the config sets one.
const defaultReadTimeout = time.Minute

// session is one WebSocket connection from dial to close. It owns three
// goroutines besides the reader (the caller's): the writer (the only one
// that writes data frames), the keep-alive timer and the closer, and
// returns only after all of them have exited. It signals rollover when the
// connection nears the protocol's MaxLifetime or when the exchange
// announces that it will close the connection (OKX notice 64008, Binance
// serverShutdown), and closes ready when the first frame arrives.
func (c *Collector) session(ctx context.Context, key string, plan ConnPlan, updates <-chan struct{}, rollover chan<- struct{}, ready chan<- struct{}) error {
	ka := c.proto.KeepAlive()
	readTimeout := c.cfg.ReadTimeout
	if readTimeout <= 0 {
		readTimeout = ka.ReadTimeout
	}
	if readTimeout <= 0 {
		readTimeout = defaultReadTimeout
	}
	c.st.setConnState(key, StateConnecting)
	if err := c.dials.wait(ctx); err != nil {
		return err
	}
	dctx, cancelDial := context.WithTimeout(ctx, c.cfg.HandshakeTimeout)
	conn, resp, err := c.cfg.Dialer.DialContext(dctx, plan.URL, nil)
	cancelDial()
	if err != nil {
		if resp != nil {
			return &dialError{fmt.Errorf("dial %s: HTTP %s: %w", redactURL(plan.URL), resp.Status, err)}
		}
		return &dialError{fmt.Errorf("dial %s: %w", redactURL(plan.URL), err)}
	}
	conn.SetReadLimit(c.cfg.ReadLimit)
	c.st.setConnState(key, StateConnected)

	g, gctx := errgroup.WithContext(ctx)
	w := &writer{
		conn:    conn,
		timeout: c.cfg.WriteTimeout,
		frames:  make(chan []byte, 64),
		now:     c.cfg.Now,
	}
	w.limit = sendLimiter(ka.MaxSendPerSecond)
	w.requests = c.pace.limits.Requests.limiter()
	var lastRead atomic.Int64 // unix nanos of the last frame read
	lastRead.Store(c.cfg.Now().UnixNano())
	touch := c.toucher(conn, readTimeout, &lastRead)

	// Closer: closing the connection is what unblocks the reader.
	g.Go(func() error {
		<-gctx.Done()
		_ = conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		return conn.Close()
	})
	// Writer.
	g.Go(func() error { return w.run(gctx) })
	// Keep-alive and rollover timer.
	g.Go(func() error { return c.keepAlive(gctx, ka, w, &lastRead, rollover) })
	// Book resyncs: a chained or unsequenced book resyncs by
	// resubscribing; a ranged one (Binance) from a REST snapshot.
	resync := make(chan market.Stream, 64)
	resubscribe := resync
	if f, ok := c.proto.(BookFetcher); ok {
		switch {
		case c.books.seq == BookRanged:
			resubscribe = nil
			g.Go(func() error { return c.fetchBooks(gctx, f, resync) })
		case c.books.seq == BookUnsequenced && c.books.cfg.DriftCheck > 0:
			g.Go(func() error { return c.checkDrift(gctx, key, f, resync) })
		}
	}
	// The session's number for gap detection; its order books are
	// restated by their interval timer while it runs.
	sess := c.positions.next()
	// inHand tells the quiet book timer about the reader's frame in hand.
	inHand := new(frameInHand)
	if _, ok := c.proto.(BookProtocol); ok {
		g.Go(func() error { return c.quietBooks(gctx, key, sess, inHand) })
	}
	ps := newPrivSession()
	// Subscriptions: at dial (after the login, if any), then runtime changes and book resyncs.
	g.Go(func() error {
		return c.recovered("subscriptions", func() error { return c.subscriptions(gctx, key, plan, updates, resubscribe, w, ps) })
	})
	if c.private {
		// REST snapshots after each subscription acknowledgement.
		g.Go(func() error { return c.recovered("snapshots", func() error { return c.snapshots(gctx, ps) }) })
	}
	// Reader.
	g.Go(func() error {
		conn.SetPingHandler(func(payload string) error {
			now := c.cfg.Now()
			touch(now)
			c.st.message(now)
			err := conn.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(c.cfg.WriteTimeout))
			if err != nil && !errors.Is(err, websocket.ErrCloseSent) {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					return nil
				}
				return err
			}
			return nil
		})
		conn.SetPongHandler(func(string) error {
			now := c.cfg.Now()
			touch(now)
			c.st.message(now)
			return nil
		})
		touch(c.cfg.Now())
		return c.recovered("reader", func() error { return c.read(gctx, key, plan, sess, inHand, conn, touch, ready, rollover, resync, ps) })
	})
	err = g.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// toucher returns the function that notes a frame of conn read at now:
// it stores now in lastRead and extends conn's read deadline. The function
// runs on the reader goroutine only (the read loop and the ping and pong
// handlers, which run inside the reader's NextReader and Read). The read
// deadline is moved at most every readTimeout/16: moving it costs a clock
// reading and a timer update, on every frame otherwise; a frame therefore
// extends it to between 15/16 of readTimeout and all of it.
func (c *Collector) toucher(conn *websocket.Conn, readTimeout time.Duration, lastRead *atomic.Int64) func(now time.Time) {
	var deadlineFrom time.Time
	return func(now time.Time) {
		lastRead.Store(now.UnixNano())
		wall := now
		if !c.wallClock {
			wall = time.Now()
		}
		if wall.Sub(deadlineFrom) >= readTimeout/16 || wall.Before(deadlineFrom) {
			deadlineFrom = wall
			_ = conn.SetReadDeadline(wall.Add(readTimeout))
		}
	}
}

// read is the session's reader loop: it reads and decodes frames and hands
// each decoded Event to the router. session numbers the session for gap
// detection: a record that follows one of another session crossed a
// reconnect. inHand says which frame the reader holds. An announced
// disconnect signals rollover and reading goes on: the connection keeps
// delivering until a replacement does (or until the exchange closes it).
func (c *Collector) read(ctx context.Context, key string, plan ConnPlan, session uint64, inHand *frameInHand, conn *websocket.Conn, touch func(time.Time), ready chan<- struct{}, rollover chan<- struct{}, resync chan<- market.Stream, ps *privSession) error {
	var ev Event
	// frames holds the frame being read; data is valid until the next
	// frame is read (see frameBuffer).
	var frames frameBuffer
	readySent := false
	announced := false
	for {
		inHand.none()
		mt, data, err := frames.next(conn)
		inHand.stamping()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				c.route.reject(ctx, &DecodeError{Stream: marketStream(c.proto.Exchange()), Reason: ReasonOversizedFrame,
					Err: fmt.Errorf("frame larger than %d bytes", c.cfg.ReadLimit)}, nil, c.cfg.Now().UTC())
			}
			return fmt.Errorf("read: %w", err)
		}
		received := c.cfg.Now().UTC()
		inHand.stamped(received)
		touch(received)
		c.st.message(received)
		if !readySent {
			if plan.URLCarriesStreams {
				// The URL subscribed the streams: the connection
				// delivering is their acknowledgement. Marked before
				// ready is closed (see runWithRollover).
				c.st.subscribed(plan.Streams)
			}
			close(ready)
			readySent = true
		}
		if mt != websocket.TextMessage {
			continue
		}
		ev.Reset()
		derr := c.proto.Decode(data, received, &ev)
		if derr != nil {
			c.route.reject(ctx, derr, data, received)
		} else {
			c.st.processed()
		}
		if err := c.route.route(ctx, key, &ev, received, session); err != nil {
			return err
		}
		if len(ev.Books) > 0 {
			if err := c.routeBooks(ctx, &ev, received, session, resync); err != nil {
				return err
			}
		}
		if c.private {
			if err := ps.event(&ev); err != nil {
				return err
			}
		}
		if ev.Reconnect && !announced {
			announced = true
			c.log.Info("exchange announced it will close the connection; switching to a replacement first", zap.String("conn", key))
			select {
			case rollover <- struct{}{}:
			default:
			}
		}
	}
}

// subscriptions sends the subscribe frames at dial (unless the URL carries
// the streams) and then, on every plan update, the frames for the
// difference; a book stream sent on resync is resubscribed.
func (c *Collector) subscriptions(ctx context.Context, key string, plan ConnPlan, updates <-chan struct{}, resync <-chan market.Stream, w *writer, ps *privSession) error {
	var id uint64
	next := func() uint64 { id++; return id }
	if c.auth != nil {
		if err := c.login(ctx, plan, next(), w, ps); err != nil {
			return err
		}
	}
	cur := map[string]market.Stream{}
	for _, s := range plan.Streams {
		cur[s.String()] = s
	}
	if !plan.URLCarriesStreams && len(plan.Streams) > 0 {
		frames, err := c.proto.Subscribe(plan, plan.Streams, next())
		if err != nil {
			return fmt.Errorf("build subscribe frames: %w", errors.Join(err, ErrPermanent))
		}
		if err := w.request(ctx, frames...); err != nil {
			return err
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case s := <-resync:
			if err := c.resubscribe(ctx, key, s, next, w); err != nil {
				return err
			}
			continue
		case <-updates:
		}
		np, ok := c.plan(key)
		if !ok {
			continue
		}
		want := map[string]market.Stream{}
		for _, s := range np.Streams {
			want[s.String()] = s
		}
		var add, drop []market.Stream
		for k, s := range want {
			if _, ok := cur[k]; !ok {
				add = append(add, s)
			}
		}
		for k, s := range cur {
			if _, ok := want[k]; !ok {
				drop = append(drop, s)
			}
		}
		sortStreams(add)
		sortStreams(drop)
		if len(drop) > 0 {
			frames, err := c.proto.Unsubscribe(np, drop, next())
			if err != nil {
				return fmt.Errorf("build unsubscribe frames: %w", err)
			}
			if err := w.request(ctx, frames...); err != nil {
				return err
			}
		}
		if len(add) > 0 {
			frames, err := c.proto.Subscribe(np, add, next())
			if err != nil {
				return fmt.Errorf("build subscribe frames: %w", err)
			}
			if err := w.request(ctx, frames...); err != nil {
				return err
			}
		}
		c.log.Info("subscriptions changed without reconnecting", zap.String("conn", key), zap.Int("added", len(add)), zap.Int("removed", len(drop)))
		cur = want
	}
}

// keepAlive sends the protocol's text ping when the connection has been
// idle for PingAfter, and signals rollover once before MaxLifetime.
func (c *Collector) keepAlive(ctx context.Context, ka KeepAlive, w *writer, lastRead *atomic.Int64, rollover chan<- struct{}) error {
	var tick <-chan time.Time
	if ka.PingText != "" && ka.PingAfter > 0 {
		every := ka.PingAfter / 4
		if every < 100*time.Millisecond {
			every = 100 * time.Millisecond
		}
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	var life <-chan time.Time
	if ka.MaxLifetime > 0 {
		margin := c.cfg.RolloverMargin
		if m := ka.MaxLifetime / 10; m < margin {
			margin = m
		}
		t := time.NewTimer(ka.MaxLifetime - margin)
		defer t.Stop()
		life = t.C
	}
	var lastPing time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-life:
			select {
			case rollover <- struct{}{}:
			default:
			}
		case <-tick:
			now := c.cfg.Now()
			idle := now.Sub(time.Unix(0, lastRead.Load()))
			if idle >= ka.PingAfter && now.Sub(lastPing) >= ka.PingAfter {
				lastPing = now
				if err := w.send(ctx, []byte(ka.PingText)); err != nil {
					return err
				}
			}
		}
	}
}

// writer is the one goroutine that writes data frames on a connection,
// paced by an optional rate limit.
type writer struct {
	conn    *websocket.Conn
	timeout time.Duration
	frames  chan []byte
	limit   *rate.Limiter
	// requests paces subscribe and unsubscribe frames (Limits.Requests);
	// nil: unpaced. Its wait is the sender's, not the writer's, so that a
	// ping is never queued behind a request waiting for its turn.
	requests *rate.Limiter
	now      func() time.Time
}

// request queues subscribe or unsubscribe frames, each once the
// connection's request pace lets it through; it blocks meanwhile.
func (w *writer) request(ctx context.Context, frames ...[]byte) error {
	for _, f := range frames {
		if w.requests != nil {
			if err := w.requests.Wait(ctx); err != nil {
				return fmt.Errorf("wait to send a request: %w", err)
			}
		}
		if err := w.send(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// send queues frames for the writer; it blocks while the queue is full.
func (w *writer) send(ctx context.Context, frames ...[]byte) error {
	for _, f := range frames {
		select {
		case w.frames <- f:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (w *writer) run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case f := <-w.frames:
			if w.limit != nil {
				if err := w.limit.Wait(ctx); err != nil {
					return nil
				}
			}
			_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
			if err := w.conn.WriteMessage(websocket.TextMessage, f); err != nil {
				return fmt.Errorf("write: %w", err)
			}
		}
	}
}

// sendLimiter paces sent frames at perSecond (nil: unpaced). Its burst is
// 1, so frames are spaced evenly and no second ever holds more than the
// rate: an exchange counting messages per second (Binance: 5) is never
// exceeded by a full bucket.
func sendLimiter(perSecond float64) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

func sortStreams(s []market.Stream) {
	sort.Slice(s, func(i, j int) bool { return s[i].String() < s[j].String() })
}

func marketStream(e market.Exchange) market.Stream { return market.Stream{Exchange: e} }

// recovered runs fn, one of a session's goroutines, turning a panic (in
// the adapter's code, which the goroutine calls) into an error that ends
// the session: the connection is redialled instead of the process
// crashing. The panic's value and stack are logged; neither holds a
// frame's text.
func (c *Collector) recovered(what string, fn func() error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			c.log.Error("panic in a connection goroutine; redialling", zap.String("goroutine", what),
				zap.String("panic", fmt.Sprint(v)), zap.ByteString("stack", debug.Stack()))
			err = fmt.Errorf("panic in %s: %v", what, v)
		}
	}()
	return fn()
}
