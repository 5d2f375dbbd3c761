// Package collector is the generic collector loop shared by every exchange.
//
// A Collector owns the WebSocket connections of one configured collector:
// it asks the exchange's Protocol for a connection plan, dials each
// connection, subscribes, reads with a deadline and a frame-size limit,
// keeps the connection alive the exchange's way, decodes frames into market
// records and hands them to a Sink, and reconnects with exponential backoff
// and jitter when a connection fails. Exchange adapters (collector/okx,
// collector/binance, collector/coinbase) speak protocol only.
//
// Two retry layers are kept apart: the Collector reconnects its own
// connections; restarting a whole collector is the supervisor's job.
package collector

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/zap"

	"marketetl/market"
)

// Sink receives what a collector decoded. Accept and Reject may be called
// from several connection goroutines at once.
type Sink interface {
	// Accept hands one decoded record on for validation, storage and
	// publishing. It blocks while the pipeline is full and returns ctx.Err()
	// when ctx ends; any other error is logged and counted by the collector,
	// which carries on.
	Accept(ctx context.Context, rec market.Record) error
	// Reject keeps a frame or record that could not be used, with its
	// reason. It blocks like Accept.
	Reject(ctx context.Context, rej market.Reject) error
}

// ReadBufferBytes is the read buffer of the default Dialer's connections:
// while frames are queued in the socket (a burst, a busy process), one read
// system call takes in up to this much (about 300 trade frames) instead of
// gorilla's default 4 KiB.
const ReadBufferBytes = 64 << 10

// StampedSink is a Sink that also takes, with a record read from a frame,
// the wall clock's reading (time.Now) the frame was stamped with, before
// the call, so that validation need not read the clock again. A collector
// whose Config.Now is the wall clock hands the records it reads to
// AcceptAfter, which must answer as Accept would. *pipeline.Pipeline
// implements it.
type StampedSink interface {
	Sink
	AcceptAfter(ctx context.Context, rec market.Record, earlier time.Time) error
}

// Config configures a Collector. Zero values take the defaults documented
// on each field.
type Config struct {
	// Name identifies the collector in logs and status.
	Name string
	// Streams are the streams to collect.
	Streams []market.Stream
	// HandshakeTimeout bounds the WebSocket opening handshake. Default 10s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one frame write. Default 10s.
	WriteTimeout time.Duration
	// ReadLimit is the largest frame accepted, in bytes; a larger one is
	// counted as an oversized_frame reject and the connection is redialled.
	// Default 4 MiB.
	ReadLimit int64
	// ReadTimeout overrides the protocol's KeepAlive.ReadTimeout when set.
	ReadTimeout time.Duration
	// BackoffMin and BackoffMax bound the reconnect delay, which doubles
	// after each consecutive failure and is jittered to [d/2, d].
	// Defaults 1s and 60s (the service passes RECONNECT_DELAY and
	// RECONNECT_DELAY_MAX).
	BackoffMin time.Duration
	BackoffMax time.Duration
	// MaxDialFailures, when > 0, is how many consecutive redials of a
	// connection may fail to connect: when the first dial and that many
	// redials after it have all failed, Run returns an error wrapping
	// ErrDialsExhausted, for the supervisor to restart the collector with
	// its own backoff. 0: redial for ever. The service passes
	// MAX_RECONNECT_ATTEMPTS.
	MaxDialFailures int
	// HealthyAfter is how long a connection must stay up for the backoff to
	// start afresh. Default 60s.
	HealthyAfter time.Duration
	// RolloverMargin is how long before a protocol's MaxLifetime a
	// replacement connection is dialled. Default 5m (or a tenth of
	// MaxLifetime when that is shorter).
	RolloverMargin time.Duration
	// History, when set, is the exchange's REST history: every closed
	// candle — built from trades (Coinbase) or received (OKX, Binance) — is
	// compared with the exchange's own ReconcileAfter after it closes, and
	// replaced by it when they differ; a provisional candle (built from
	// part of its interval's trades) is replaced by it in any case,
	// retried with backoff until the exchange serves it.
	History History
	// ReconcileAfter is how long after a closed or provisional candle
	// (built or received) closes it is compared with the exchange's.
	// Default 1m.
	ReconcileAfter time.Duration
	// Checks keeps the candles waiting for that comparison where they
	// survive restarts (*store.CandleChecks); the collector resumes the
	// pending ones of its streams when it starts. Nil: kept in memory,
	// lost when the collector stops.
	Checks CandleChecks
	// Sync, when set, waits until the records handed to the sink so far
	// are stored (*store.Writer.Sync): a check is removed only once the
	// exchange's candle that finished it is stored. Nil: at once.
	Sync func(ctx context.Context) error
	// Gaps receives the gaps found in the streams (skipped trade ids,
	// missing closed candles, windows opened by a reconnect or a restart);
	// nil: gaps are only logged and counted in Status.
	Gaps GapRecorder
	// Positions keeps each stream's last delivered record for gap
	// detection; share one between the collectors built one after the
	// other for the same configuration (supervisor restarts) so that a
	// restart resumes detection. Nil: a fresh one.
	Positions *Positions
	// Resume, when set, tells where each stream's stored data ends, so that
	// the first record after a process restart is checked against the
	// last stored one (a hole is a GapRestart).
	Resume ResumeFunc
	// ClockSkew, when set, measures the exchange's clock from the trades
	// received (share one between all collectors; validation reads it);
	// Status reports its estimate for the collector's exchange.
	ClockSkew *ClockSkew
	// Books configures the order book streams (depth, snapshot and
	// publish intervals, level changes, the live feed).
	Books BookConfig
	// Dials paces the collector's connection attempts together with those
	// of every other collector given the same DialPacer: the service
	// builds one per exchange (NewDialPacer of the exchange's
	// Limits.Dials), so that all its collectors of that exchange keep to
	// the exchange's limit on connections per IP. Nil: the collector
	// paces its own connections by its Protocol's Limits.Dials.
	Dials *DialPacer
	// Dialer dials WebSockets; default a gorilla Dialer with TLS
	// verification, the proxy from the environment, HandshakeTimeout and
	// a ReadBufferSize of ReadBufferBytes.
	Dialer *websocket.Dialer
	// Log receives the collector's logs; default a no-op logger.
	Log *zap.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
	// Rand returns a float in [0,1) for jitter; default math/rand/v2.
	Rand func() float64

	// Private (balance) streams; used when the Protocol implements
	// Snapshotter.

	// BalanceReconcile is how often the balances built from the stream are
	// compared with the exchange's REST snapshot. Default
	// DefaultBalanceReconcile (5m).
	BalanceReconcile time.Duration
	// LoginTimeout bounds the wait for an Authenticator's login
	// confirmation. Default 15s.
	LoginTimeout time.Duration
	// Clock is the exchange's clock that the adapter signs with: the
	// collector measures the skew against the exchange's ServerClock and
	// sets it here. Nil: the skew is measured and reported only.
	Clock *ExchangeClock
}

func (cfg *Config) applyDefaults() {
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = 10 * time.Second
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = 10 * time.Second
	}
	if cfg.ReadLimit <= 0 {
		cfg.ReadLimit = 4 << 20
	}
	if cfg.BackoffMin <= 0 {
		cfg.BackoffMin = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = time.Minute
	}
	if cfg.BackoffMax < cfg.BackoffMin {
		cfg.BackoffMax = cfg.BackoffMin
	}
	if cfg.HealthyAfter <= 0 {
		cfg.HealthyAfter = time.Minute
	}
	if cfg.RolloverMargin <= 0 {
		cfg.RolloverMargin = 5 * time.Minute
	}
	if cfg.ReconcileAfter <= 0 {
		cfg.ReconcileAfter = time.Minute
	}
	if cfg.Dialer == nil {
		cfg.Dialer = &websocket.Dialer{
			Proxy:            http.ProxyFromEnvironment,
			HandshakeTimeout: cfg.HandshakeTimeout,
			ReadBufferSize:   ReadBufferBytes,
		}
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Positions == nil {
		cfg.Positions = NewPositions()
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Float64
	}
	if cfg.BalanceReconcile <= 0 {
		cfg.BalanceReconcile = DefaultBalanceReconcile
	}
	if cfg.LoginTimeout <= 0 {
		cfg.LoginTimeout = defaultLoginTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = NewExchangeClock(cfg.Now)
	}
}

// Collector runs one configured collector's connections. Create it with New
// and run it with Run; Status and SetStreams may be called at any time from
// any goroutine.
type Collector struct {
	cfg Config
	// wallClock is set when Config.Now is the wall clock (time.Now), so
	// that its readings also serve for socket deadlines.
	wallClock bool
	proto     Protocol
	sink      Sink
	log       *zap.Logger
	st        *tracker
	// checks is Config.Checks, or a list in memory; checkQueue holds the
	// checks enqueued and not yet recorded in it, and checkWake is
	// signalled (non-blocking) when one is enqueued.
	checks     CandleChecks
	checkMu    sync.Mutex // guards checkQueue
	checkQueue []market.CandleCheck
	checkWake  chan struct{}
	// due is the reconcile loop's knowledge of the check list's earliest
	// due time (its goroutine only); dueStale tells it the streams changed.
	due      dueCache
	dueStale atomic.Bool
	// positions numbers the sessions and keeps each stream's last record,
	// for gap detection.
	positions *Positions
	// pace is the exchange's declared limits; dials paces the
	// connection attempts (Config.Dials, else the collector's own).
	pace  pacing
	dials *DialPacer
	// route routes what the connections decoded.
	route *router
	// books keeps the order books.
	books *books

	// private is set for a balance collector (the Protocol is a
	// Snapshotter): it logs in or signs, never keeps raw frames, takes
	// REST snapshots and measures the clock skew.
	private bool
	snap    Snapshotter
	auth    Authenticator // nil when the protocol does not log in
	held    *heldBalances
	clock   *ExchangeClock

	mu sync.Mutex // guards the fields below
	// plans is the latest connection plan by key.
	plans map[string]ConnPlan
	// changed is signalled (non-blocking) when SetStreams changed the plan.
	changed chan struct{}
	// resumeKick is signalled (non-blocking) when streams were added, for
	// resumeLoop to ask storage about them.
	resumeKick chan struct{}
}

// New checks cfg and the protocol's plan for cfg.Streams and returns a
// Collector ready to Run.
func New(cfg Config, proto Protocol, sink Sink) (*Collector, error) {
	if proto == nil || sink == nil {
		return nil, errors.New("new collector: protocol and sink are required")
	}
	wallClock := cfg.Now == nil
	cfg.applyDefaults()
	c := &Collector{
		cfg:        cfg,
		wallClock:  wallClock,
		proto:      proto,
		sink:       sink,
		log:        cfg.Log.With(zap.String("collector", cfg.Name), zap.String("exchange", string(proto.Exchange()))),
		st:         newTracker(cfg.Name, proto.Exchange(), cfg.Now),
		changed:    make(chan struct{}, 1),
		resumeKick: make(chan struct{}, 1),
		checks:     cfg.Checks,
		checkWake:  make(chan struct{}, 1),
		positions:  cfg.Positions,
		books:      newBooks(cfg.Books, proto),
		pace:       newPacing(proto),
	}
	c.route = &router{
		exchange: proto.Exchange(), sink: sink, st: c.st, dedup: newDedup(), log: c.log, now: cfg.Now,
		gaps: cfg.Gaps, run: cfg.Positions.next(), skew: cfg.ClockSkew, reconcile: c.enqueueReconcile,
	}
	c.dials = cfg.Dials
	if c.dials == nil {
		c.dials = NewDialPacer(c.pace.limits.Dials)
	}
	if c.checks == nil {
		c.checks = newMemChecks()
	}
	if ss, ok := sink.(StampedSink); ok && wallClock {
		// The frames are stamped by the wall clock (Config.Now unset).
		c.route.stamped = ss
	}
	if r, ok := proto.(TradeIDRule); ok {
		c.route.seqIDs = r.SequentialTradeIDs()
	}
	if r, ok := proto.(CandleCloseRule); ok && r.CandlesCloseOnNext() {
		c.route.forming = newForming()
	}
	if sn, ok := proto.(Snapshotter); ok {
		c.private, c.snap, c.held, c.clock = true, sn, newHeldBalances(), cfg.Clock
		c.auth, _ = proto.(Authenticator)
		c.route.held = c.held
	}
	if err := c.setStreams(cfg.Streams); err != nil {
		return nil, fmt.Errorf("new collector %s: %w", cfg.Name, err)
	}
	return c, nil
}

// Status returns a snapshot of the collector's health and counters. It
// never blocks on network I/O.
func (c *Collector) Status() Status {
	st := c.st.snapshot()
	st.ClockSkew, st.ClockSkewKnown = c.cfg.ClockSkew.Offset(c.proto.Exchange())
	for k, b := range c.books.status() {
		ss, ok := st.Streams[k]
		if !ok {
			continue
		}
		ss.Book = &b
		st.Streams[k] = ss
	}
	return st
}

// Streams returns the streams the collector is configured to collect.
func (c *Collector) Streams() []market.Stream { return c.route.streams() }

// SetStreams replaces the set of streams at runtime. Connections that stay
// are sent subscribe and unsubscribe frames for the difference, without a
// reconnect; connections the new plan adds are dialled and those it drops
// are closed. An error (a stream the exchange cannot serve) leaves the
// current set unchanged.
func (c *Collector) SetStreams(streams []market.Stream) error {
	if err := c.setStreams(streams); err != nil {
		return fmt.Errorf("set streams of collector %s: %w", c.cfg.Name, err)
	}
	c.dueStale.Store(true)
	select {
	case c.changed <- struct{}{}:
	default:
	}
	select {
	case c.checkWake <- struct{}{}:
	default:
	}
	return nil
}

func (c *Collector) setStreams(streams []market.Stream) error {
	if len(streams) == 0 {
		return errors.New("no streams")
	}
	wanted := make(map[string]market.Stream, len(streams))
	for _, s := range streams {
		if s.Exchange != c.proto.Exchange() {
			return fmt.Errorf("stream %s: not an %s stream", s, c.proto.Exchange())
		}
		if err := s.Check(); err != nil {
			return fmt.Errorf("stream %s: %w", s, err)
		}
		wanted[s.String()] = s
	}
	list := make([]market.Stream, 0, len(wanted))
	for _, s := range wanted {
		list = append(list, s)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].String() < list[j].String() })
	plans, err := c.proto.Plan(list)
	if err != nil {
		return fmt.Errorf("plan connections: %w", errors.Join(err, ErrPermanent))
	}
	byKey := make(map[string]ConnPlan, len(plans))
	var aggregated []market.Stream
	for _, p := range plans {
		if _, dup := byKey[p.Key]; dup {
			return fmt.Errorf("plan connections: key %q used twice", p.Key)
		}
		byKey[p.Key] = p
		aggregated = append(aggregated, p.Aggregated...)
	}
	byKey = splitConns(byKey, c.pace.limits.StreamsPerConn)
	agg, err := newAggregators(aggregated, c.route.seqIDs, c.cfg.ClockSkew, c.enqueueReconcile)
	if err != nil {
		return err
	}
	tracked := make(map[market.Stream]*position, len(list))
	for _, s := range list {
		tracked[s] = c.positions.get(s)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	// The tracker lists the streams first: the routes keep their status
	// entries.
	c.st.setStreams(list)
	c.route.setRoutes(wanted, tracked, agg)
	c.plans = byKey
	c.st.setBuiltFrom(aggregated)
	return nil
}

func (c *Collector) kickResume() {
	select {
	case c.resumeKick <- struct{}{}:
	default:
	}
}

// plan returns the latest plan for key and whether the key is still planned.
func (c *Collector) plan(key string) (ConnPlan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.plans[key]
	return p, ok
}

// Run runs the collector's connections until ctx ends, then closes them and
// returns nil once every goroutine it started has exited. It returns early
// with an error only when every connection failed permanently.
func (c *Collector) Run(ctx context.Context) error {
	c.st.setState(StateConnecting)
	defer c.st.setState(StateStopped)

	type running struct {
		cancel  context.CancelFunc
		updates chan struct{}
		done    chan struct{}
	}
	conns := map[string]*running{}
	var wg sync.WaitGroup
	permErrs := make(chan error, 64)
	// An early return (every connection failed) must also stop the
	// reconciliation goroutines before waiting for them.
	ctx, cancelRun := context.WithCancel(ctx)
	defer func() {
		cancelRun()
		for _, r := range conns {
			r.cancel()
		}
		wg.Wait()
	}()

	syncConns := func() {
		c.mu.Lock()
		keys := make([]string, 0, len(c.plans))
		for k := range c.plans {
			keys = append(keys, k)
		}
		c.mu.Unlock()
		live := map[string]bool{}
		for _, k := range keys {
			live[k] = true
			if r, ok := conns[k]; ok {
				select {
				case r.updates <- struct{}{}:
				default:
				}
				continue
			}
			cctx, cancel := context.WithCancel(ctx)
			r := &running{cancel: cancel, updates: make(chan struct{}, 1), done: make(chan struct{})}
			conns[k] = r
			c.st.connAdded(k)
			wg.Add(1)
			go func(key string) {
				defer wg.Done()
				defer close(r.done)
				if err := c.connLoop(cctx, key, r.updates); err != nil {
					permErrs <- err
				}
			}(k)
		}
		for k, r := range conns {
			if !live[k] {
				r.cancel()
				<-r.done
				delete(conns, k)
				c.st.connRemoved(k)
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = c.reconcile(ctx)
	}()
	if c.private {
		c.checkPermissions(ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.reconcileBalances(ctx)
		}()
	}
	// The first attempt runs before dialling; failures are retried by
	// resumeLoop while the streams are collected.
	resumeErr := c.resumeOnce(ctx)
	wg.Add(1)
	go func() {
		defer wg.Done()
		c.resumeLoop(ctx, resumeErr)
	}()
	syncConns()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
			c.positions.await(c.positions.unresumed(c.Streams()))
			c.kickResume()
			syncConns()
		case err := <-permErrs:
			if !errors.Is(err, ErrPermanent) {
				c.st.recordError(err, c.cfg.Now())
				return fmt.Errorf("collector %s: %w", c.cfg.Name, err)
			}
			failed++
			c.st.recordError(err, c.cfg.Now())
			if failed >= len(conns) {
				return fmt.Errorf("collector %s: %w", c.cfg.Name, err)
			}
		}
	}
}
