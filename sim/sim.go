// Package sim is a simulated exchange: a local server that speaks the
// public market-data subsets of OKX v5, Binance spot and Coinbase Exchange,
// over WebSocket and REST, as their documents describe them. Its markets
// are deterministic random walks in virtual exchange time; it records what
// it generated, so that tests can compare a database with the truth, and
// it injects faults on request. See README.md.
package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// Sim is a simulated exchange. Its methods are safe for concurrent use.
type Sim struct {
	cfg      Config
	log      *zap.Logger
	counters map[market.Exchange]*counters // fixed at New; fields are atomic

	mu sync.Mutex // guards the fields below and every instrument and conn state
	// clock is the exchange time of the latest tick (Start before the first).
	clock       time.Time
	instruments map[market.Exchange][]*instrument
	native      map[market.Exchange]map[string]*instrument // by the exchange's own symbol
	conns       map[market.Exchange]map[*conn]struct{}
	topics      map[market.Exchange]map[string]map[*conn]struct{}
	stalled     map[market.Exchange]bool
	rejecting   map[market.Exchange]bool
	changed     chan struct{} // closed and replaced on every connection or subscription change
	listener    net.Listener
	endpoints   Endpoints
	serving     bool
	closing     bool
	serveCtx    context.Context
	connSeq     uint64
	// restFaults holds the REST history horizon and 429 injection
	// (faults.go); nil until one is set.
	restFaults map[market.Exchange]*restFault
	// accounts are the private accounts (private.go); nil until used.
	accounts map[market.Exchange]*account
	// okxChecksumZero makes OKX books frames carry checksum 0 (book.go).
	okxChecksumZero bool
	// refusedSyms are the native symbols whose subscriptions are refused
	// (refuse.go); nil until one is set.
	refusedSyms map[market.Exchange]map[string]bool
	// coinbaseAuthRefusals counts the signed Coinbase market data
	// subscribes refused (book_frames.go).
	coinbaseAuthRefusals int

	handlers sync.WaitGroup // one per WebSocket connection being served
}

// Endpoints are the URLs to configure clients with. The WebSocket URLs of
// OKX and Coinbase are full URLs; BinanceWS and the REST URLs are bases to
// which clients append the exchanges' own paths (/stream?streams=…,
// /api/v5/market/candles, /products/{id}/trades, …).
type Endpoints struct {
	OKXPublicWS, OKXBusinessWS, OKXREST string
	BinanceWS, BinanceREST              string
	CoinbaseWS, CoinbaseREST            string
	KrakenWS, KrakenREST                string
}

// EndpointsAt returns the endpoints of a simulator listening on addr
// (host:port).
func EndpointsAt(addr string) Endpoints {
	return Endpoints{
		OKXPublicWS:   "ws://" + addr + "/okx/ws/v5/public",
		OKXBusinessWS: "ws://" + addr + "/okx/ws/v5/business",
		OKXREST:       "http://" + addr + "/okx",
		BinanceWS:     "ws://" + addr + "/binance",
		BinanceREST:   "http://" + addr + "/binance",
		CoinbaseWS:    "ws://" + addr + "/coinbase/",
		CoinbaseREST:  "http://" + addr + "/coinbase",
		KrakenWS:      "ws://" + addr + "/kraken/v2",
		KrakenREST:    "http://" + addr + "/kraken",
	}
}

// Per-exchange push throttles in exchange time: OKX pushes candles at most
// once a second and tickers every 100 ms; Binance pushes klines every 2 s
// and its 24 h ticker every second; Coinbase sends a ticker on every match.
const (
	okxCandleThrottle     = time.Second
	okxTickerThrottle     = 100 * time.Millisecond
	binanceKlineThrottle  = 2 * time.Second
	binanceTickerThrottle = time.Second
)

// New returns a simulator for cfg. It does not listen yet: call Listen and
// Run, or Serve.
func New(cfg Config, log *zap.Logger) (*Sim, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("new simulated exchange: %w", err)
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &Sim{
		cfg:         cfg,
		log:         log,
		counters:    make(map[market.Exchange]*counters),
		clock:       cfg.Start,
		instruments: make(map[market.Exchange][]*instrument),
		native:      make(map[market.Exchange]map[string]*instrument),
		conns:       make(map[market.Exchange]map[*conn]struct{}),
		topics:      make(map[market.Exchange]map[string]map[*conn]struct{}),
		stalled:     make(map[market.Exchange]bool),
		rejecting:   make(map[market.Exchange]bool),
		changed:     make(chan struct{}),
	}
	for _, ex := range market.Exchanges() {
		s.counters[ex] = &counters{}
		s.native[ex] = make(map[string]*instrument)
		s.conns[ex] = make(map[*conn]struct{})
		s.topics[ex] = make(map[string]map[*conn]struct{})
		frames, throttle, tickerThrottle := exchangeFrames(ex, cfg.Timeframes)
		for _, m := range cfg.Markets[ex] {
			in := newInstrument(ex, m, cfg.Seed, frames, throttle, tickerThrottle)
			s.instruments[ex] = append(s.instruments[ex], in)
			s.native[ex][in.native] = in
		}
	}
	return s, nil
}

// exchangeFrames returns the candle frames ex serves for tfs and its push
// throttles.
func exchangeFrames(ex market.Exchange, tfs []market.Timeframe) (frames []frame, candle, ticker time.Duration) {
	switch ex {
	case market.OKX:
		for _, tf := range tfs {
			frames = append(frames, utcFrame(tf, okxBars[tf]))
			if local, ok := okxLocalBars[tf]; ok {
				f := utcFrame(tf, local)
				f.tf, f.origin = "", f.origin.Add(-utc8)
				frames = append(frames, f)
			}
		}
		return frames, okxCandleThrottle, okxTickerThrottle
	case market.Binance:
		for _, tf := range tfs {
			frames = append(frames, utcFrame(tf, string(tf)))
		}
		return frames, binanceKlineThrottle, binanceTickerThrottle
	case market.Kraken:
		for _, tf := range tfs {
			if n, ok := krakenIntervals[tf]; ok {
				frames = append(frames, utcFrame(tf, itoa(n)))
			}
		}
		return frames, 0, 0
	default:
		for _, tf := range tfs {
			if g, ok := coinbaseGranularities[tf]; ok {
				frames = append(frames, utcFrame(tf, g))
			}
		}
		return frames, 0, 0
	}
}

// Listen binds Config.Addr and returns the endpoints; Run then serves on
// it. Calling it again returns the same endpoints.
func (s *Sim) Listen(ctx context.Context) (Endpoints, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener != nil {
		return s.endpoints, nil
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return Endpoints{}, fmt.Errorf("listen on %s: %w", s.cfg.Addr, err)
	}
	s.listener = l
	s.endpoints = EndpointsAt(l.Addr().String())
	return s.endpoints, nil
}

// Endpoints returns the URLs of the listening simulator, or the zero value
// before Listen or Serve.
func (s *Sim) Endpoints() Endpoints {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.endpoints
}

// Run serves on the listener of Listen (listening on Config.Addr first if
// needed) until ctx ends; see Serve.
func (s *Sim) Run(ctx context.Context) error {
	if _, err := s.Listen(ctx); err != nil {
		return err
	}
	s.mu.Lock()
	l := s.listener
	s.mu.Unlock()
	return s.Serve(ctx, l)
}

// Serve serves every exchange on l until ctx ends, and generates Rate
// ticks per second when Rate > 0. It closes l. It returns only after every
// connection and goroutine it started has ended; it returns nil when ctx
// ended and an error when serving failed. A simulator serves once.
func (s *Sim) Serve(ctx context.Context, l net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("serve simulated exchange: already serving")
	}
	s.serving, s.serveCtx, s.listener = true, ctx, l
	s.endpoints = EndpointsAt(l.Addr().String())
	s.mu.Unlock()

	srv := &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          zap.NewStdLog(s.log),
	}
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Go(func() {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve simulated exchange: %w", err)
			cancel()
		}
	})
	wg.Go(func() { s.heartbeatLoop(ctx) })
	if s.cfg.Rate > 0 {
		wg.Go(func() { s.generateLoop(ctx) })
	}
	<-ctx.Done()

	s.mu.Lock()
	s.closing = true
	var open []*conn
	for _, ex := range market.Exchanges() {
		for c := range s.conns[ex] {
			open = append(open, c)
		}
	}
	s.mu.Unlock()
	shutdownCtx, stop := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.WriteTimeout)
	defer stop()
	err := srv.Shutdown(shutdownCtx)
	var closing sync.WaitGroup
	for _, c := range open {
		closing.Go(func() { c.closeWith(closeGoingAway, "") })
	}
	closing.Wait()
	s.handlers.Wait()
	wg.Wait()
	select {
	case serr := <-errc:
		return serr
	default:
	}
	if err != nil {
		return fmt.Errorf("shut down simulated exchange: %w", err)
	}
	return nil
}

// generateLoop ticks Rate times per second of wall time until ctx ends.
func (s *Sim) generateLoop(ctx context.Context) {
	t := time.NewTicker(time.Duration(float64(time.Second) / s.cfg.Rate))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.Step(ctx, 1); err != nil {
				return
			}
		}
	}
}

// heartbeatLoop sends Coinbase heartbeats every CoinbaseHeartbeatInterval
// of wall time until ctx ends.
func (s *Sim) heartbeatLoop(ctx context.Context) {
	if s.cfg.CoinbaseHeartbeatInterval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.CoinbaseHeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			s.coinbaseHeartbeats()
			s.krakenHeartbeats()
			s.mu.Unlock()
		}
	}
}

// Step generates n ticks: each advances exchange time by Config.Step
// (never past the wall clock) and makes one trade in every market, in the
// order of Config.Markets, exchange by exchange. Frames for subscribed
// connections are queued before Step returns.
func (s *Sim) Step(ctx context.Context, n int) error {
	for range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("step simulated exchange: %w", err)
		}
		s.mu.Lock()
		s.tick()
		s.mu.Unlock()
	}
	return nil
}

// StepMarkets is Step trading only in markets (exchange → symbols): the
// others do not trade in these ticks. A scenario that trades in a market
// only once its stream is subscribed keeps an exact truth while no stream
// waits silent for the subscriptions of the others.
func (s *Sim) StepMarkets(ctx context.Context, n int, markets map[market.Exchange][]market.Symbol) error {
	for range n {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("step simulated exchange: %w", err)
		}
		s.mu.Lock()
		s.tickWhere(func(in *instrument) bool { return slices.Contains(markets[in.ex], in.sym) })
		s.mu.Unlock()
	}
	return nil
}

// tick advances the clock and trades once in every market. s.mu is held.
func (s *Sim) tick() { s.tickWhere(nil) }

// tickWhere advances the clock and trades once in every market trades
// accepts (nil: every market). s.mu is held.
func (s *Sim) tickWhere(trades func(*instrument) bool) {
	prev := s.clock
	next := prev.Add(s.cfg.Step)
	if wall := s.cfg.Now().UTC().Truncate(time.Millisecond); next.After(wall) {
		next = prev
		if wall.After(prev) {
			next = wall
		}
	}
	s.clock = next
	for _, ex := range market.Exchanges() {
		for _, in := range s.instruments[ex] {
			if trades == nil || trades(in) {
				s.trade(in, next)
			}
		}
	}
	if next.Unix() != prev.Unix() {
		s.coinbaseHeartbeats()
		s.krakenHeartbeats()
	}
	s.notify()
}

// trade makes in's next trade at t and publishes it. s.mu is held.
func (s *Sim) trade(in *instrument, t time.Time) {
	tr, ups := in.next(t)
	live := !s.stalled[in.ex]
	var tk *market.Ticker
	if in.tickerDue(t) && live {
		v := in.ticker(t)
		in.record(v, s.cfg.TickerHistory)
		tk = &v
	}
	switch in.ex {
	case market.OKX:
		s.okxPublish(in, tr, ups, tk, live)
	case market.Binance:
		s.binancePublish(in, tr, ups, tk, live)
	case market.Coinbase:
		s.coinbasePublish(in, tr, tk, live)
	case market.Kraken:
		s.krakenPublish(in, tr, ups, tk, live)
	}
	s.bookTick(in, t, live)
}

// Now returns the exchange time: that of the latest tick, or Config.Start
// before the first.
func (s *Sim) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clock
}

// instrument returns the instrument of ex named sym (normalised), or nil.
// s.mu is held.
func (s *Sim) instrument(ex market.Exchange, sym market.Symbol) *instrument {
	return s.native[ex][nativeSymbol(ex, sym)]
}

// Symbols returns the markets of ex in configuration order.
func (s *Sim) Symbols(ex market.Exchange) []market.Symbol {
	var out []market.Symbol
	for _, m := range s.cfg.Markets[ex] {
		out = append(out, m.Symbol)
	}
	return out
}
