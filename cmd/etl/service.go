package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/collector/wire"
	"marketetl/config"
	"marketetl/logging"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/validate"
)

// core is the data path shared by run and demo: the database pool, the
// store writer, the Redis publisher and the validating pipeline in front
// of them. Build it with newCore and run it with runData.
type core struct {
	cfg    config.Config
	log    *zap.Logger
	pool   *pgxpool.Pool
	writer *store.Writer
	pub    *pubsub.Publisher // nil when REDIS_ENABLED=false
	pipe   *pipeline.Pipeline
	buffer *spool.Buffer // nil when SPOOL_DIR is empty
	// checker is the pipeline's, shared by the backfill pipeline.
	checker pipeline.Checker
	// backfill is nil until attachBackfill.
	backfill *backfillParts
	// spoolGaps hands the gaps of records the full spool dropped to the
	// filler, once attachBackfill has built it.
	spoolGaps *gapRelay
	// gapCounts returns the gap counts cached by the admin API's read
	// cache, for the status and the metrics (no query per request); nil:
	// not reported.
	gapCounts func() (store.GapCounts, bool)
}

// gapRelay passes gaps on to a recorder attached after it was handed out
// (the spool is built before the gap filler); gaps reported before that
// wait, up to maxPendingGaps.
type gapRelay struct {
	log     *zap.Logger
	mu      sync.Mutex // guards to and pending
	to      collector.GapRecorder
	pending []market.Gap
}

// maxPendingGaps bounds the gaps a relay keeps while nothing is attached;
// beyond it they are logged (the restart's gap detection covers them).
const maxPendingGaps = 10000

// RecordGap implements spool.GapRecorder.
func (r *gapRelay) RecordGap(g market.Gap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.to != nil {
		r.to.RecordGap(g)
		return
	}
	if len(r.pending) >= maxPendingGaps {
		r.log.Error("gap not recorded: no gap filler attached", zap.Stringer("gap", g))
		return
	}
	r.pending = append(r.pending, g)
}

// attach sends the waiting gaps, then every later one, to to.
func (r *gapRelay) attach(to collector.GapRecorder) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.to = to
	for _, g := range r.pending {
		to.RecordGap(g)
	}
	r.pending = nil
}

// loadConfig reads the environment and builds the logger.
func loadConfig() (config.Config, *zap.Logger, func() error, error) {
	cfg, err := config.Load(config.LookupEnv)
	if err != nil {
		return cfg, nil, nil, err
	}
	log, closeLog, err := logging.New(logging.Config{
		Level: cfg.LogLevel, Format: cfg.LogFormat, Dir: cfg.LogDir, MaxFiles: cfg.LogMaxFiles, Cleanup: cfg.LogCleanup,
	})
	if err != nil {
		return cfg, nil, nil, err
	}
	return cfg, log, closeLog, nil
}

// openDatabase connects to DATABASE_URL, retrying for DATABASE_WAIT while
// the database is unreachable, so that a service started before its
// database waits instead of failing.
func openDatabase(ctx context.Context, cfg config.Config, log *zap.Logger) (*pgxpool.Pool, error) {
	deadline := time.Now().Add(cfg.DatabaseWait)
	delay := 500 * time.Millisecond
	for attempt := 1; ; attempt++ {
		pool, err := store.Open(ctx, cfg.DatabaseURL)
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("database (DATABASE_URL, waited %s, DATABASE_WAIT): %w", cfg.DatabaseWait, err)
		}
		log.Warn("database not reachable yet; retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		if delay < 5*time.Second {
			delay *= 2
		}
	}
}

// newCore builds the data path; onFlush (may be nil) observes each flush.
func newCore(cfg config.Config, log *zap.Logger, pool *pgxpool.Pool, onFlush func(store.FlushResult)) (*core, error) {
	return newCoreWith(cfg, log, pool, coreHooks{onFlush: onFlush})
}

// coreHooks observe the data path; every field may be nil. The benchmark
// (etl bench) measures through them.
type coreHooks struct {
	onFlush           func(store.FlushResult)
	onPublishReceived func(received []time.Time)
	// gaps is told of records dropped while the spool was full.
	gaps spool.GapRecorder
}

// newCoreWith builds the data path with hooks.
func newCoreWith(cfg config.Config, log *zap.Logger, pool *pgxpool.Pool, hooks coreHooks) (*core, error) {
	var sp *spool.Spool
	var overflow store.Overflow
	if cfg.SpoolDir != "" {
		var err error
		sp, err = spool.Open(spool.Config{
			Dir: cfg.SpoolDir, MaxBytes: int64(cfg.SpoolMaxBytes),
			Fsync: spool.FsyncPolicy(cfg.SpoolFsync), FsyncInterval: cfg.SpoolFsyncInterval,
		}, log.Named("spool"))
		if err != nil {
			return nil, fmt.Errorf("SPOOL_DIR: %w", err)
		}
		overflow = sp
	}
	w, err := store.New(store.Config{
		Overflow:         overflow,
		OnFlush:          hooks.onFlush,
		BatchSize:        cfg.StoreBatchSize,
		FlushInterval:    cfg.StoreFlushInterval,
		QueueSize:        cfg.StoreQueueSize,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		RawLimit:         cfg.StoreRawLimit,
		CopyWriters:      cfg.StoreCopyWriters,
		RejectsPerSecond: float64(cfg.StoreRejectsPerSec),
		RejectsBurst:     cfg.StoreRejectsPerSec,
	}, pool, log.Named("store"))
	if err != nil {
		return nil, err
	}
	c := &core{cfg: cfg, log: log, pool: pool, writer: w}
	var st pipeline.Store = w
	if sp != nil {
		gaps := hooks.gaps
		if gaps == nil {
			c.spoolGaps = &gapRelay{log: log.Named("spool")}
			gaps = c.spoolGaps
		}
		c.buffer, err = spool.NewBuffer(spool.BufferConfig{Gaps: gaps, SpoolAfter: cfg.SpoolAfter}, sp, w, log.Named("spool"))
		if err != nil {
			return nil, err
		}
		st = c.buffer
	}
	var pub pipeline.Publisher
	if cfg.RedisEnabled {
		p, err := pubsub.New(pubsub.Config{
			URL:           cfg.RedisURL,
			ChannelPrefix: cfg.RedisChannelPrefix,
			BatchSize:     cfg.RedisBatchSize,
			FlushInterval: cfg.RedisFlushInterval,
			QueueSize:     cfg.RedisQueueSize,
			StreamMaxLen:  int64(cfg.RedisStreamMaxLen),

			OnPublishReceived: hooks.onPublishReceived,
		}, log.Named("pubsub"))
		if err != nil {
			return nil, err
		}
		c.pub = p
		pub = p
	}
	v, err := validate.New(validate.Config{ClockSkew: cfg.ValidateClockSkew}, nil)
	if err != nil {
		return nil, err
	}
	c.checker = v
	c.pipe, err = pipeline.New(pipeline.Config{
		Checker:   v,
		Store:     st,
		Publisher: pub,
		Raw:       func(rec market.Record) []byte { return pubsub.Encode(nil, rec) },
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// runWithData runs the store writer and the publisher, then fn (the
// collectors) under ctx. When ctx ends, fn returns first (its collectors
// stop handing records on), and only then are the writer and the publisher
// told to drain and flush: nothing that was accepted is lost.
func (c *core) runWithData(ctx context.Context, fn func(ctx context.Context) error) error {
	dataCtx, stopData := context.WithCancel(context.WithoutCancel(ctx))
	defer stopData()
	data, _ := errgroup.WithContext(dataCtx)
	data.Go(func() error {
		if c.buffer != nil {
			// The buffer runs the writer and replays the spool.
			return c.buffer.Run(dataCtx)
		}
		return c.writer.Run(dataCtx)
	})
	if c.pub != nil {
		data.Go(func() error { return c.pub.Run(dataCtx) })
	}
	fnErr := c.runBackfill(ctx, fn)
	stopData()
	dataErr := data.Wait()
	if errors.Is(dataErr, context.Canceled) {
		dataErr = nil
	}
	return errors.Join(fnErr, dataErr)
}

// httpClient is the REST client shared by the exchange adapters.
func httpClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// components reports the live feed's and the store's health for
// GET /api/status. Error texts come from the components, which redact
// passwords.
func (c *core) components() map[string]any {
	out := map[string]any{}
	redis := map[string]any{"enabled": c.pub != nil}
	if c.pub != nil {
		st := c.pub.Status()
		redis["state"] = st.State
		redis["connected"] = st.Connected
		redis["since"] = st.Since
		redis["published"] = st.Published
		redis["dropped"] = st.Dropped
		redis["pending"] = st.Pending
		redis["reconnects"] = st.Reconnects
		if st.LastError != "" {
			redis["last_error"] = st.LastError
			redis["last_error_time"] = st.LastErrorTime
		}
	}
	out["redis"] = redis
	ws := c.writer.Stats()
	out["spool"] = c.spoolStatus()
	out["backfill"] = c.backfillStatus()
	out["store"] = map[string]any{
		"queue_depth":     ws.QueueDepth,
		"tables":          ws.Tables,
		"rejects_stored":  ws.RejectsStored,
		"rejects_dropped": ws.RejectsDropped,
	}
	return out
}

// spoolStatus reports the durable spool for GET /api/status.
func (c *core) spoolStatus() map[string]any {
	if c.buffer == nil {
		return map[string]any{"enabled": false}
	}
	st := c.buffer.Stats()
	return map[string]any{
		"enabled": true, "state": st.State, "bytes": st.Bytes, "segments": st.Segments, "max_bytes": st.MaxBytes,
		"spooled": st.Spooled, "appended": st.Appended, "replayed": st.Replayed, "corrupt": st.Corrupt,
		"dropped": st.Dropped, "gaps": st.Gaps, "torn_tails": st.TornTails, "unreadable_segments": st.Unreadable, "write_lost": st.WriteLost,
	}
}

// backfillParts are the per-exchange REST budgets and the gap filler.
type backfillParts struct {
	budgets restBudgets
	filler  *backfill.Filler
	gaps    *store.Gaps
	sink    *pipeline.Pipeline
	// manual: etl backfill works one gap itself; the filler's Run (which
	// resumes every pending gap) is not started.
	manual bool
}

// restBudgets holds each exchange's REST budget, shared by all of that
// exchange's REST calls (backfill and candle reconciliation).
type restBudgets map[market.Exchange]*wire.Budget

// newRESTBudgets builds the budgets from the exchanges' documented public
// limits, overridable in the environment:
//   - OKX: per endpoint and IP, history-trades and history-candles "20
//     requests per 2 seconds" (candles 40/2 s, trades 100/2 s): one bucket
//     at the tightest, OKX_REST_RATE (10) per second, burst 20;
//   - Binance: "REQUEST_WEIGHT 6000 per minute" per IP, each endpoint with
//     its weight (klines 2, historicalTrades and trades 25, aggTrades 4):
//     BINANCE_REST_WEIGHT_PER_MINUTE, burst a tenth of it; a 418 is an IP
//     ban ("from 2 minutes to 3 days"), held for its Retry-After;
//   - Coinbase Exchange: public endpoints "10 requests per second, up to 15
//     in bursts" per IP: COINBASE_REST_RATE, burst 1.5 times it.
//
// A 429 or 418 pauses the exchange's whole budget for Retry-After or the
// default below.
func newRESTBudgets(cfg config.Config) restBudgets {
	binanceWeights := map[string]int{"/api/v3/klines": 2, "/api/v3/historicalTrades": 25, "/api/v3/trades": 25, "/api/v3/aggTrades": 4}
	return restBudgets{
		market.OKX: wire.NewBudget(wire.BudgetConfig{Name: "okx", Rate: float64(cfg.OKXRESTRate), Burst: 2 * cfg.OKXRESTRate,
			PauseOn429: 2 * time.Second}),
		market.Binance: wire.NewBudget(wire.BudgetConfig{Name: "binance", Rate: float64(cfg.BinanceRESTWeight) / 60,
			Burst: max(cfg.BinanceRESTWeight/10, 25), PauseOn429: time.Minute, PauseOn418: 2 * time.Minute,
			Cost: func(r *http.Request) int {
				for suffix, w := range binanceWeights {
					if strings.HasSuffix(r.URL.Path, suffix) {
						return w
					}
				}
				return 1
			}}),
		market.Coinbase: wire.NewBudget(wire.BudgetConfig{Name: "coinbase", Rate: float64(cfg.CoinbaseRESTRate),
			Burst: max(cfg.CoinbaseRESTRate*3/2, 1), PauseOn429: time.Second}),
	}
}

// client returns an HTTP client for ex's REST calls, within its budget.
func (b restBudgets) client(ex market.Exchange) *http.Client {
	c := httpClient()
	if bu := b[ex]; bu != nil {
		c.Transport = bu.Transport(nil)
	}
	return c
}

// budgetedExchanges builds the adapters, each with its exchange's budget.
func budgetedExchanges(ep exchangeURLs, b restBudgets) (map[market.Exchange]exchangeAPI, error) {
	apis := map[market.Exchange]exchangeAPI{}
	for _, ex := range market.Exchanges() {
		all, err := exchanges(ep, b.client(ex))
		if err != nil {
			return nil, err
		}
		apis[ex] = all[ex]
	}
	return apis, nil
}

// attachExchanges builds the exchange adapters for ep, each behind its
// exchange's REST budget, and the gap filler over them (attachBackfill);
// onProgress may be nil.
func (c *core) attachExchanges(ep exchangeURLs, onProgress func(backfill.Progress)) (map[market.Exchange]exchangeAPI, *backfill.Filler, error) {
	budgets := newRESTBudgets(c.cfg)
	apis, err := budgetedExchanges(ep, budgets)
	if err != nil {
		return nil, nil, err
	}
	f, err := c.attachBackfill(apis, budgets, onProgress)
	if err != nil {
		return nil, nil, err
	}
	return apis, f, nil
}

// attachBackfill builds the gap filler: it records every gap in the gaps
// table and, with BACKFILL_ENABLED, fills them from apis' REST history
// through a second pipeline with the same checker and store but no
// publisher (backfilled rows are not pushed on the live feed).
func (c *core) attachBackfill(apis map[market.Exchange]exchangeAPI, budgets restBudgets, onProgress func(backfill.Progress)) (*backfill.Filler, error) {
	// Backfilled rows go to the writer itself, which blocks while its
	// queue is full, not through the spool: a fill waits for the database
	// rather than have its rows dropped when the spool is full.
	sink, err := pipeline.New(pipeline.Config{Checker: c.checker, Store: c.writer, Raw: func(rec market.Record) []byte { return pubsub.Encode(nil, rec) }})
	if err != nil {
		return nil, err
	}
	hist := map[market.Exchange]collector.History{}
	if c.cfg.BackfillEnabled {
		for ex, api := range apis {
			hist[ex] = api
		}
	}
	gaps := store.NewGaps(c.pool)
	f, err := backfill.New(backfill.Config{
		Histories: hist, Sink: sink, Gaps: gaps, Sync: c.writer.Sync, MaxLookback: c.cfg.BackfillMaxLookback,
		OnProgress: onProgress, Log: c.log.Named("backfill"),
	})
	if err != nil {
		return nil, err
	}
	c.backfill = &backfillParts{budgets: budgets, filler: f, gaps: gaps, sink: sink}
	if c.spoolGaps != nil {
		c.spoolGaps.attach(f)
	}
	return f, nil
}

// gapRecorder is what the collectors report gaps to: the filler, or nil.
func (c *core) gapRecorder() collector.GapRecorder {
	if c.backfill == nil {
		return nil
	}
	return c.backfill.filler
}

// runBackfill runs fn and, when attached, the filler beside it under ctx;
// both have returned when it returns, before the writer is told to drain.
func (c *core) runBackfill(ctx context.Context, fn func(ctx context.Context) error) error {
	if c.backfill == nil || c.backfill.manual {
		return fn(ctx)
	}
	done := make(chan error, 1)
	fctx, stop := context.WithCancel(ctx)
	go func() { done <- c.backfill.filler.Run(fctx) }()
	err := fn(ctx)
	stop()
	return errors.Join(err, <-done)
}

// backfillStatus reports gaps and REST budgets for GET /api/status.
func (c *core) backfillStatus() map[string]any {
	if c.backfill == nil {
		return map[string]any{"enabled": false}
	}
	out := map[string]any{"enabled": c.cfg.BackfillEnabled}
	if c.gapCounts != nil {
		if counts, ok := c.gapCounts(); ok {
			out["gaps"] = counts.ByStatus
			out["filled_rows"] = counts.FilledRows
		} else {
			out["gaps_error"] = "not known: see database.gaps_error"
		}
	}
	st := c.backfill.filler.Stats()
	out["queued"] = st.Queued
	out["received"] = st.Received
	out["merged_in_queue"] = st.MergedInQueue
	out["failures"] = st.Failures
	rest := map[string]any{}
	for ex, b := range c.backfill.budgets {
		bs := b.Stats()
		e := map[string]any{"requests": bs.Requests, "throttled": bs.Throttled, "banned": bs.Banned}
		if !bs.PausedUntil.IsZero() {
			e["paused_until"] = bs.PausedUntil
		}
		rest[string(ex)] = e
	}
	out["rest"] = rest
	return out
}
