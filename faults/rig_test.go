package faults

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/config"
	"marketetl/dbtest"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/supervisor"
)

// rigOpts shape one in-process service for a scenario.
type rigOpts struct {
	// exchanges to collect trades and 1m candles from; default OKX.
	exchanges []market.Exchange
	// store overrides the writer's configuration (zero fields: the rig's
	// defaults).
	store store.Config
	// pgDown starts with the PostgreSQL relay refusing connections; the
	// pool is then built without the ping store.Open does.
	pgDown bool
	// redisDown starts with the Redis relay refusing connections.
	redisDown bool
	// readLimit is the collectors' largest frame (0: default).
	readLimit int64
	// readTimeout overrides the protocols' read deadline (0: theirs).
	readTimeout time.Duration
	// backoffMin and backoffMax bound the collectors' reconnect delay
	// (defaults 20ms and 200ms).
	backoffMin, backoffMax time.Duration
	// sim adjusts the simulator's configuration.
	sim func(*sim.Config)
	// rejecting are exchanges that refuse every connection from the
	// start (their streams are not awaited).
	rejecting []market.Exchange
	// spoolBytes, when > 0, puts the disk spool (capped at this many
	// bytes) between the pipeline and the writer, as SPOOL_DIR does.
	spoolBytes int64
	// books makes the collectors collect order books too, bookDepth
	// levels per side, every book message stored as a snapshot row.
	books bool
	// spoolSegment is the spool's segment size (0: 64 KiB, at most
	// spoolBytes).
	spoolSegment int64
	// supervised runs the collectors under the service's supervisor, as
	// `etl run` does (seeded with Reconcile), instead of in the rig; the
	// collectors' backoff is then the configuration's, and cols is empty.
	supervised bool
	// configure adjusts the service's configuration (the environment).
	configure func(*config.Config)
	// logTee, when set, also receives the service's logs.
	logTee zapcore.Core
	// spoolConfig, when set, adjusts the spool's configuration.
	spoolConfig func(*spool.Config)
}

// rig is the service as package service builds it for `etl run` — the
// collectors with the exchanges' adapters, validation, store writer, spool,
// gap filler, Redis publisher — with the simulated exchange, built in the
// test process, with relays in front of PostgreSQL and Redis.
type rig struct {
	t      *testing.T
	ctx    context.Context
	opts   rigOpts
	log    *zap.Logger
	sim    *sim.Sim
	ep     sim.Endpoints
	pg     *dbtest.Relay
	redis  *dbtest.Relay
	dbName string
	check  *pgxpool.Pool // direct to PostgreSQL, for the test's own queries
	pool   *pgxpool.Pool // the service's, through the relay
	writer *store.Writer
	pub    *pubsub.Publisher
	pipe   *pipeline.Pipeline
	buffer *spool.Buffer // nil without a spool
	// spoolDir is the spool's directory ("" without a spool).
	spoolDir string
	filler   *backfill.Filler // nil without gap repair
	// svc is the service the rig built (nil when external).
	svc  *service.Service
	cols map[market.Exchange]*collector.Collector
	// manager is the supervisor (nil unless opts.supervised).
	manager *supervisor.Manager
	streams []market.Stream
	// external: the service runs as a separate process (etl run) with gap
	// repair; only sim, check, dbName, streams and opts are set.
	external bool
}

// viaRelay returns raw with its host replaced by addr.
func viaRelay(t testing.TB, raw, addr string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}

// startRig builds and starts the service; everything stops when the test
// ends, the data path after the collectors, as in the service.
func startRig(t *testing.T, opts rigOpts) *rig {
	t.Helper()
	if len(opts.exchanges) == 0 {
		opts.exchanges = []market.Exchange{market.OKX}
	}
	if opts.backoffMin == 0 {
		opts.backoffMin, opts.backoffMax = 20*time.Millisecond, 200*time.Millisecond
	}
	ctx, cancel := context.WithCancel(t.Context())
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	if opts.logTee != nil {
		log = zap.New(zapcore.NewTee(log.Core(), opts.logTee))
	}
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, log); err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, ctx: ctx, opts: opts, log: log, cols: map[market.Exchange]*collector.Collector{}}
	u, _ := url.Parse(dbURL)
	r.dbName = strings.TrimPrefix(u.Path, "/")
	var err error
	r.check, err = pgxpool.New(ctx, dbURL+"&application_name=faults_check")
	if err != nil {
		t.Fatal(err)
	}
	var ts string
	if err := r.check.QueryRow(ctx, `SELECT coalesce((SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'), '')`).Scan(&ts); err != nil {
		t.Fatal(err)
	}
	results.setTimescale(ts)
	pgTarget := u.Host
	r.pg = dbtest.NewRelay(t, pgTarget)
	ru, err := url.Parse(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	r.redis = dbtest.NewRelay(t, ru.Host)
	if opts.pgDown {
		r.pg.SetDown(true)
	}
	if opts.redisDown {
		r.redis.SetDown(true)
	}

	svcURL := viaRelay(t, dbURL, r.pg.Addr())
	if opts.pgDown {
		cfg, err := pgxpool.ParseConfig(svcURL + "&application_name=marketetl&pool_max_conns=16")
		if err != nil {
			t.Fatal(err)
		}
		r.pool, err = pgxpool.NewWithConfig(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		r.pool, err = store.Open(ctx, svcURL)
		if err != nil {
			t.Fatal(err)
		}
	}

	scfg := sim.Config{Seed: 6}
	if opts.sim != nil {
		opts.sim(&scfg)
	}
	r.sim, err = sim.New(scfg, log.Named("sim"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ex := range opts.rejecting {
		r.sim.RejectConnections(ex, true)
	}
	r.ep, err = r.sim.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := service.New(r.config(), r.pool, exchange.Registry(), r.options()...)
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	r.writer, r.buffer, r.pub, r.pipe, r.filler = svc.Writer(), svc.Spool(), svc.Publisher(), svc.Pipeline(), svc.Filler()
	var specs []spec.Collector
	for _, ex := range opts.exchanges {
		sp := spec.Collector{Name: "faults-" + string(ex), Exchange: ex, Symbols: r.sim.Symbols(ex),
			DataTypes: []market.DataType{market.TypeTrade, market.TypeCandle}, Timeframes: []market.Timeframe{market.TF1m}}
		if opts.books {
			sp.DataTypes, sp.BookDepth = append(sp.DataTypes, market.TypeOrderBook), bookDepth
		}
		specs = append(specs, sp)
		r.streams = append(r.streams, sp.Streams()...)
		if opts.supervised {
			continue
		}
		r.cols[ex], err = svc.Collector(sp)
		if err != nil {
			t.Fatal(err)
		}
	}
	if opts.supervised {
		r.manager = svc.Supervisor()
		if _, err := r.manager.Reconcile(ctx, specs); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { // owned by the cleanup below, which waits for it
		done <- svc.RunWith(ctx, func(ctx context.Context) error {
			front, fctx := errgroup.WithContext(ctx)
			front.Go(func() error { return r.sim.Run(fctx) })
			for _, c := range r.cols {
				front.Go(func() error { return c.Run(fctx) })
			}
			err := front.Wait()
			// The collectors have stopped: the relays forward again so
			// that the filler's last records and the writer's final
			// flush can reach the database.
			r.pg.SetDown(false)
			r.pg.SetLatency(0)
			return err
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("service: %v", err)
		}
		r.pool.Close()
		r.check.Close()
	})
	var ok []market.Exchange
	for _, ex := range opts.exchanges {
		if !contains(opts.rejecting, ex) {
			ok = append(ok, ex)
		}
	}
	r.waitSubscribed(ok...)
	return r
}

// config is the service's configuration: the defaults of the
// environment, with the rig's Redis relay, quick flushes and, with
// spoolBytes, the disk spool.
func (r *rig) config() config.Config {
	r.t.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		r.t.Fatal(err)
	}
	cfg.RedisURL = "redis://" + r.redis.Addr() + "/0"
	cfg.RedisChannelPrefix = dbtest.Unique("faults")
	cfg.StoreFlushInterval = 10 * time.Millisecond
	if r.opts.store.FlushInterval > 0 {
		cfg.StoreFlushInterval = r.opts.store.FlushInterval
	}
	if r.opts.store.QueueSize > 0 {
		cfg.StoreQueueSize = r.opts.store.QueueSize
	}
	if r.opts.store.BatchSize > 0 {
		cfg.StoreBatchSize = r.opts.store.BatchSize
	}
	cfg.ShutdownTimeout = 10 * time.Second
	if r.opts.readLimit > 0 {
		cfg.ReadLimitBytes = int(r.opts.readLimit)
	}
	if r.opts.supervised {
		cfg.StopTimeout = 2 * time.Second // within the supervisor's share of the shutdown
	}
	if r.opts.configure != nil {
		r.opts.configure(&cfg)
	}
	cfg.SpoolDir = ""
	if r.opts.spoolBytes > 0 {
		cfg.SpoolDir = r.t.TempDir()
		r.spoolDir = cfg.SpoolDir
		cfg.SpoolMaxBytes = int(r.opts.spoolBytes)
	}
	return cfg
}

// options are the service's options for the rig: no supervisor (the
// scenarios run their collectors themselves), the simulated exchange's
// endpoints, quick retries and reconnects.
func (r *rig) options() []service.Option {
	opts := []service.Option{
		service.WithLogger(r.log), service.WithEndpoints(service.Endpoints(r.ep)),
		service.WithStoreConfig(func(c *store.Config) {
			c.RetryMin, c.RetryMax = 10*time.Millisecond, 200*time.Millisecond
			if r.opts.store.RetryMin > 0 {
				c.RetryMin, c.RetryMax = r.opts.store.RetryMin, r.opts.store.RetryMax
			}
		}),
		service.WithSpoolConfig(func(c *spool.Config) {
			c.SegmentBytes = min(r.opts.spoolBytes, 64<<10)
			if r.opts.spoolSegment > 0 {
				c.SegmentBytes = min(r.opts.spoolBytes, r.opts.spoolSegment)
			}
			if r.opts.spoolConfig != nil {
				r.opts.spoolConfig(c)
			}
		}),
		service.WithBackfillConfig(func(c *backfill.Config) { c.RetryMin, c.RetryMax = 50*time.Millisecond, time.Second }),
		service.WithCollectorConfig(func(c *collector.Config) {
			if !r.opts.supervised {
				c.BackoffMin, c.BackoffMax = r.opts.backoffMin, r.opts.backoffMax
			}
			c.ReadTimeout = r.opts.readTimeout
			c.ReconcileAfter = 10 * time.Millisecond
			if r.opts.books {
				// Every book message makes a row, so that every row can
				// be compared with the exchange's book at its update.
				c.Books.Interval = time.Nanosecond
			}
		}),
	}
	if !haveGapRepair {
		opts = append(opts, service.WithoutBackfill())
	}
	if !r.opts.supervised {
		opts = append(opts, service.WithoutSupervisor())
	}
	return opts
}

// waitSubscribed waits until the exchange sees every stream subscribed.
func (r *rig) waitSubscribed(exs ...market.Exchange) {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(r.ctx, time.Minute)
	defer cancel()
	for _, st := range r.streams {
		if len(exs) > 0 && !contains(exs, st.Exchange) {
			continue
		}
		if err := r.sim.WaitSubscribed(ctx, st); err != nil {
			r.t.Fatalf("wait for %s to be subscribed: %v", st, err)
		}
	}
}

func contains[T comparable](xs []T, x T) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// warmUp trades until every candle stream has a closed candle stored:
// gap detection of a candle stream starts from its last closed candle.
func (r *rig) warmUp() {
	r.t.Helper()
	r.step(65)
	r.waitTruth()
}

// afterFault trades on for a minute and a bit after a fault: a closed
// candle missed during the fault is noticed when the stream's next closed
// candle arrives, up to one timeframe later.
func (r *rig) afterFault() {
	r.t.Helper()
	r.step(65)
}

// step advances the exchange n ticks.
func (r *rig) step(n int) {
	r.t.Helper()
	if err := r.sim.Step(r.ctx, n); err != nil {
		r.t.Fatal(err)
	}
}

// stepper ticks the exchange every interval in its own goroutine until the
// returned stop is called; stop waits for it.
func (r *rig) stepper(interval time.Duration) (stop func()) {
	return r.every(interval, func(ctx context.Context) error { return r.sim.Step(ctx, 1) })
}

// every calls tick every interval in its own goroutine until the returned
// stop is called or tick fails; stop waits for it.
func (r *rig) every(interval time.Duration, tick func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(r.ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				if tick(ctx) != nil {
					return
				}
			}
		}
	})
	return func() {
		cancel()
		wg.Wait()
	}
}

// subscribedStepper is stepper trading, at each tick, only in the markets
// whose stream of streams the exchange sees subscribed, and in the markets
// of always: a market of streams trades from its subscription on, so that
// no trade is published before it can be received and no subscribed stream
// stays silent while the others are still being subscribed. Meant for
// scenarios that never unsubscribe.
func (r *rig) subscribedStepper(interval time.Duration, streams []market.Stream, always ...market.Stream) (stop func()) {
	return r.every(interval, func(ctx context.Context) error {
		markets := map[market.Exchange][]market.Symbol{}
		for _, st := range always {
			markets[st.Exchange] = append(markets[st.Exchange], st.Symbol)
		}
		for _, st := range streams {
			if r.sim.Subscribed(st) {
				markets[st.Exchange] = append(markets[st.Exchange], st.Symbol)
			}
		}
		return r.sim.StepMarkets(ctx, 1, markets)
	})
}

// counts are the truth and the database side by side.
type counts struct {
	published, rejected, wantStored, stored, duplicates int
	detail                                              []string
}

func (c counts) String() string { return strings.Join(c.detail, "; ") }

// count compares, per market, the exchange's trades and closed 1m candles
// with the database's. from (may be nil) gives, per exchange, the index
// of the first trade the scenario expects (a stream that could not be
// collected before it).
func (r *rig) count(exs ...market.Exchange) counts {
	r.t.Helper()
	if len(exs) == 0 {
		exs = r.opts.exchanges
	}
	var c counts
	for _, ex := range exs {
		for _, sym := range r.sim.Symbols(ex) {
			wt := len(r.sim.Trades(ex, sym))
			wi := len(r.sim.InvalidTrades(ex, sym))
			wc := len(r.sim.ClosedCandles(ex, sym, market.TF1m))
			nt := r.queryInt(`SELECT count(*) FROM trades WHERE exchange = $1 AND symbol = $2`, string(ex), string(sym))
			nc := r.queryInt(`SELECT count(*) FROM candles WHERE exchange = $1 AND symbol = $2 AND timeframe = '1m' AND closed`, string(ex), string(sym))
			c.published += wt + wi + wc
			c.rejected += wi
			c.wantStored += wt + wc
			c.stored += nt + nc
			c.detail = append(c.detail, fmt.Sprintf("%s %s trades %d/%d candles %d/%d", ex, sym, nt, wt, nc, wc))
		}
	}
	c.duplicates = r.duplicates()
	return c
}

// duplicates counts rows a user would see twice: a trade id stored more
// than once for its market (under any time), and a candle stored more than
// once for its market, timeframe and minute (under open times that differ
// by less than a minute, which the primary key tells apart).
func (r *rig) duplicates() int {
	r.t.Helper()
	return r.queryInt(`SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM trades GROUP BY exchange, symbol, trade_id) d`) +
		r.queryInt(`SELECT coalesce(sum(n - 1), 0)::int FROM (SELECT count(*) AS n FROM candles
			GROUP BY exchange, symbol, timeframe, date_trunc('minute', ts)) d`)
}

func (r *rig) queryInt(sql string, args ...any) int {
	r.t.Helper()
	var n int
	if err := r.check.QueryRow(r.ctx, sql, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// candleExempt says which closed 1m candles a scenario does not expect
// (a documented limit), by exchange and open time.
type candleExempt func(ex market.Exchange, open time.Time) bool

// exemptCandles counts the exchange's closed 1m candles of exs that
// exempt excludes.
func (r *rig) exemptCandles(exempt candleExempt) int {
	n := 0
	for _, ex := range r.opts.exchanges {
		for _, sym := range r.sim.Symbols(ex) {
			for _, c := range r.sim.ClosedCandles(ex, sym, market.TF1m) {
				if exempt(ex, c.Time) {
					n++
				}
			}
		}
	}
	return n
}

// storedExempt counts the stored closed 1m candles that exempt excludes.
func (r *rig) storedExempt(exempt candleExempt) int {
	n := 0
	for _, ex := range r.opts.exchanges {
		for _, ts := range r.times(`SELECT ts FROM candles WHERE exchange = $1 AND timeframe = '1m' AND closed`, string(ex)) {
			if exempt(ex, ts) {
				n++
			}
		}
	}
	return n
}

func (r *rig) times(sql string, args ...any) []time.Time {
	r.t.Helper()
	rows, err := r.check.Query(r.ctx, sql, args...)
	if err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []time.Time
	for rows.Next() {
		var ts time.Time
		if err := rows.Scan(&ts); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, ts.UTC())
	}
	return out
}

// waitTruthExcept is waitTruth leaving out the exempt candles.
func (r *rig) waitTruthExcept(exempt candleExempt) {
	r.t.Helper()
	eventually(r.t, "the database to equal the exchange's truth (but the exempt candles)", func() (bool, string) {
		c := r.count()
		want, got := c.wantStored-r.exemptCandles(exempt), c.stored-r.storedExempt(exempt)
		return want == got && c.duplicates == 0, fmt.Sprintf("%d/%d rows; %s; gaps not filled: %s", got, want, c, strings.Join(r.gapRows(), "; "))
	})
}

// waitTruthWithin is waitTruth for the rig's exchanges with its own
// bound: for scenarios whose last candles become final only when
// reconciliation replaces provisional ones, a minute after they closed.
func (r *rig) waitTruthWithin(bound time.Duration) {
	r.t.Helper()
	eventuallyWithin(r.t, "the database to equal the exchange's truth", bound, func() (bool, string) {
		c := r.count()
		return c.stored == c.wantStored && c.duplicates == 0, c.String() + "; gaps not filled: [" + strings.Join(r.gapRows(), "; ") + "]"
	})
}

// waitTruth waits until the database holds exactly the truth of exs (all
// of the rig's by default) and returns how long that took.
func (r *rig) waitTruth(exs ...market.Exchange) time.Duration {
	r.t.Helper()
	start := time.Now()
	eventually(r.t, "the database to equal the exchange's truth", func() (bool, string) {
		c := r.count(exs...)
		if c.stored == c.wantStored && c.duplicates == 0 {
			return true, ""
		}
		var extra string
		if r.writer != nil {
			extra = fmt.Sprintf("; writer %+v", r.writer.Stats())
		}
		if r.buffer != nil {
			extra += fmt.Sprintf("; spool %+v", r.buffer.Stats())
		}
		return false, c.String() + extra + "; gaps not filled: [" + strings.Join(r.gapRows(), "; ") + "]; all gaps: " + itoa(r.queryInt(`SELECT count(*) FROM gaps`))
	})
	return time.Since(start)
}

// waitBound bounds every wait for a condition: a hung test fails instead
// of running into the package's timeout.
const waitBound = 30 * time.Second

// settle waits, without failing, until the database holds exactly the
// truth and no gap is open or being filled; it returns how long that took
// and whether it happened within waitBound.
func (r *rig) settle() (time.Duration, bool) {
	r.t.Helper()
	start := time.Now()
	for {
		c := r.count()
		open := r.queryInt(`SELECT count(*) FROM gaps WHERE status IN ('open', 'filling')`)
		if c.stored == c.wantStored && c.duplicates == 0 && open == 0 {
			return time.Since(start), true
		}
		if time.Since(start) > waitBound {
			r.t.Logf("not settled: %s; gaps not filled: %s", c, strings.Join(r.gapRows(), "; "))
			return time.Since(start), false
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}

// eventually polls cond until it holds, failing the test after a generous
// bound (a deadline for a hung test, not a speed assertion).
func eventually(t testing.TB, what string, cond func() (bool, string)) {
	t.Helper()
	eventuallyWithin(t, what, waitBound, cond)
}

// eventuallyWithin is eventually with its own bound.
func eventuallyWithin(t testing.TB, what string, bound time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last state: %s", what, state)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition
	}
}

// verify asserts, value for value, that the database holds exactly the
// exchange's trades and closed 1m candles of exs (default: the rig's).
func (r *rig) verify(exs ...market.Exchange) {
	r.t.Helper()
	if len(exs) == 0 {
		exs = r.opts.exchanges
	}
	for _, ex := range exs {
		for _, sym := range r.sim.Symbols(ex) {
			var want []string
			for _, tr := range r.sim.Trades(ex, sym) {
				want = append(want, fmt.Sprintf("%s %s %s %s %s", tr.TradeID, tr.Time.UTC().Format(time.RFC3339Nano), tr.Price.String(), tr.Size.String(), tr.Side))
			}
			got := r.strings(`SELECT trade_id || ' ' || to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS') || ' ' || trim_scale(price)::text || ' ' || trim_scale(size)::text || ' ' || side
				FROM trades WHERE exchange = $1 AND symbol = $2 ORDER BY trade_id::numeric`, string(ex), string(sym))
			for i := range want {
				want[i] = normTime(want[i])
			}
			diff(r.t, fmt.Sprintf("%s %s trades", ex, sym), want, got)

			var wantC []string
			for _, c := range r.sim.ClosedCandles(ex, sym, market.TF1m) {
				wantC = append(wantC, fmt.Sprintf("%s %s %s %s %s %s", c.Time.UTC().Format("2006-01-02T15:04:05"), c.Open, c.High, c.Low, c.Close, c.Volume))
			}
			gotC := r.strings(`SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || ' ' || trim_scale(open)::text || ' ' || trim_scale(high)::text || ' ' ||
				trim_scale(low)::text || ' ' || trim_scale(close)::text || ' ' || trim_scale(volume)::text
				FROM candles WHERE exchange = $1 AND symbol = $2 AND timeframe = '1m' AND closed ORDER BY ts`, string(ex), string(sym))
			diff(r.t, fmt.Sprintf("%s %s closed 1m candles", ex, sym), wantC, gotC)
		}
	}
}

// normTime rewrites the RFC 3339 time in a trade line to the database
// rendering (milliseconds, no zone).
func normTime(line string) string {
	f := strings.Fields(line)
	ts, err := time.Parse(time.RFC3339Nano, f[1])
	if err == nil {
		f[1] = ts.Format("2006-01-02T15:04:05.000")
	}
	return strings.Join(f, " ")
}

func (r *rig) strings(sql string, args ...any) []string {
	r.t.Helper()
	rows, err := r.check.Query(r.ctx, sql, args...)
	if err != nil {
		r.t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		r.t.Fatal(err)
	}
	return out
}

// diff reports the first differences between want and got.
func diff(t testing.TB, what string, want, got []string) {
	t.Helper()
	if len(want) != len(got) {
		t.Errorf("%s: the database holds %d, the exchange published %d", what, len(got), len(want))
	}
	shown := 0
	for i := 0; i < min(len(want), len(got)) && shown < 3; i++ {
		if want[i] != got[i] {
			t.Errorf("%s #%d:\n db       %s\n exchange %s", what, i, got[i], want[i])
			shown++
		}
	}
}

// gapsOpen returns the number of gaps not filled: open, being filled or
// unfillable.
func (r *rig) gapsOpen() int {
	r.t.Helper()
	return r.queryInt(`SELECT count(*) FROM gaps WHERE status <> 'filled'`)
}

// gapRows describes the gaps not filled, for failure messages.
func (r *rig) gapRows() []string {
	return r.strings(`SELECT concat_ws(' ', exchange, symbol, data_type, timeframe, from_ts, to_ts, after_trade_id, before_trade_id,
		reason, status, unfillable_reason, attempts, filled_rows, last_error) FROM gaps WHERE status <> 'filled' ORDER BY id`)
}

// waitGapsSettled waits until no gap is open or being filled.
func (r *rig) waitGapsSettled() {
	r.t.Helper()
	eventually(r.t, "every gap filled or found unfillable", func() (bool, string) {
		n := r.queryInt(`SELECT count(*) FROM gaps WHERE status IN ('open', 'filling')`)
		return n == 0, itoa(n) + " gaps open or filling"
	})
}

// scenario is one fault test's record for the report.
type scenario struct {
	t   *testing.T
	res Result
}

// newScenario starts the record of scenario n; it is added to the report
// when the test ends, with the test's outcome.
func newScenario(t *testing.T, n int) *scenario {
	s := &scenario{t: t, res: Result{Number: n, Scenario: scenarioNames[n]}}
	t.Cleanup(func() {
		switch {
		case t.Skipped():
		case t.Failed():
			s.res.Outcome = "fail"
		default:
			s.res.Outcome = "pass"
		}
		results.add(s.res)
	})
	return s
}

// finishExcept is finish leaving the exempt candles out of the
// comparison; the note says how many of them are missing.
func (s *scenario) finishExcept(r *rig, recovery time.Duration, exempt candleExempt) {
	s.t.Helper()
	r.waitGapsSettled()
	c := r.count()
	s.res.Published, s.res.Rejected, s.res.Stored, s.res.Duplicates = c.published, c.rejected, c.stored, c.duplicates
	s.res.Recovery = recovery
	s.res.GapsOpen = r.gapsOpen()
	ex, st := r.exemptCandles(exempt), r.storedExempt(exempt)
	if want, got := c.wantStored-ex, c.stored-st; want != got {
		s.t.Errorf("stored %d rows outside the exempt candles, want %d (%s)", got, want, c)
	}
	if c.duplicates != 0 {
		s.t.Errorf("%d duplicated keys", c.duplicates)
	}
	if s.res.GapsOpen != 0 {
		s.t.Errorf("%d gaps not filled:\n%s", s.res.GapsOpen, strings.Join(r.gapRows(), "\n"))
	}
	s.res.Note = "every Coinbase candle equal to the exchange's, the provisional ones of the restart replaced by reconciliation"
	if ex > 0 {
		s.res.Note = fmt.Sprintf("%d of %d exempt candles stored", st, ex)
	}
}

// watch makes a failed scenario report the counts it reached: when the
// test fails before finish, they are taken as the test ends.
func (s *scenario) watch(r *rig) {
	s.t.Cleanup(func() {
		if !s.t.Failed() || s.res.Published != 0 {
			return
		}
		r.ctx = context.Background() // t.Context() has ended; the database is still there
		c := r.count()
		s.res.Published, s.res.Rejected, s.res.Stored, s.res.Duplicates = c.published, c.rejected, c.stored, c.duplicates
		s.res.GapsOpen = r.gapsOpen()
		if c.stored != c.wantStored {
			s.res.Note = fmt.Sprintf("%d of %d rows stored", c.stored, c.wantStored)
		}
	})
}

// skip records why the scenario cannot run in this build and skips it.
func (s *scenario) skip(why string) {
	s.t.Helper()
	s.res.Outcome = "skip: " + why
	s.t.Skip(why)
}

// finish records the counts and asserts the promise: stored = published −
// rejected, no duplicates, and (when the build records gaps) exactly
// gapsExpected gaps open.
func (s *scenario) finish(r *rig, recovery time.Duration, gapsExpected int, exs ...market.Exchange) {
	s.t.Helper()
	c := r.count(exs...)
	s.res.Published, s.res.Rejected, s.res.Stored, s.res.Duplicates = c.published, c.rejected, c.stored, c.duplicates
	s.res.Recovery, s.res.GapsExpected = recovery, gapsExpected
	if r.filler != nil || r.external {
		r.waitGapsSettled()
	}
	g := r.gapsOpen()
	s.res.GapsOpen = g
	if c.stored != c.published-c.rejected {
		s.t.Errorf("stored %d, want published %d − rejected %d = %d (%s)", c.stored, c.published, c.rejected, c.published-c.rejected, c)
	}
	if c.duplicates != 0 {
		s.t.Errorf("%d duplicated keys", c.duplicates)
	}
	if g != gapsExpected {
		s.t.Errorf("%d gaps not filled, want %d:\n%s", g, gapsExpected, strings.Join(r.gapRows(), "\n"))
	}
	r.verify(exs...)
}
