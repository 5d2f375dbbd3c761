package faults

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"golang.org/x/sync/errgroup"

	"marketetl/backfill"
	"marketetl/collector"
	"marketetl/collector/binance"
	"marketetl/collector/coinbase"
	"marketetl/collector/okx"
	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/pipeline"
	"marketetl/pubsub"
	"marketetl/sim"
	"marketetl/spool"
	"marketetl/store"
	"marketetl/validate"
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
	// noGapRepair builds the collectors without gap detection and the
	// REST backfill (as before they existed).
	noGapRepair bool
	// spoolBytes, when > 0, puts the disk spool (capped at this many
	// bytes) between the pipeline and the writer, as SPOOL_DIR does.
	spoolBytes int64
}

// rig is the real service wiring — simulated exchange, collectors with the
// exchanges' adapters, validation, store writer, Redis publisher — built in
// the test process, with relays in front of PostgreSQL and Redis.
type rig struct {
	t       *testing.T
	ctx     context.Context
	opts    rigOpts
	log     *zap.Logger
	sim     *sim.Sim
	ep      sim.Endpoints
	pg      *relay
	redis   *relay
	dbName  string
	check   *pgxpool.Pool // direct to PostgreSQL, for the test's own queries
	pool    *pgxpool.Pool // the service's, through the relay
	writer  *store.Writer
	pub     *pubsub.Publisher
	pipe    *pipeline.Pipeline
	buffer  *spool.Buffer    // nil without a spool
	filler  *backfill.Filler // nil without gap repair
	cols    map[market.Exchange]*collector.Collector
	streams []market.Stream
	// external: the service runs as a separate process (etl run) with gap
	// repair; only sim, check, dbName, streams and opts are set.
	external bool
}

func protocolFor(ex market.Exchange, ep sim.Endpoints) (interface {
	collector.Protocol
	collector.History
}, error) {
	switch ex {
	case market.OKX:
		return okx.New(okx.Config{PublicURL: ep.OKXPublicWS, BusinessURL: ep.OKXBusinessWS, RESTURL: ep.OKXREST})
	case market.Binance:
		return binance.New(binance.Config{WSURL: ep.BinanceWS, RESTURL: ep.BinanceREST})
	case market.Coinbase:
		return coinbase.New(coinbase.Config{WSURL: ep.CoinbaseWS, RESTURL: ep.CoinbaseREST})
	}
	return nil, fmt.Errorf("no adapter for %q", ex)
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
	pgTarget := u.Host
	r.pg = newRelay(t, pgTarget)
	ru, err := url.Parse(dbtest.RedisURL())
	if err != nil {
		t.Fatal(err)
	}
	r.redis = newRelay(t, ru.Host)
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
	wcfg := opts.store
	if wcfg.FlushInterval == 0 {
		wcfg.FlushInterval = 10 * time.Millisecond
	}
	if wcfg.RetryMin == 0 {
		wcfg.RetryMin, wcfg.RetryMax = 10*time.Millisecond, 200*time.Millisecond
	}
	if wcfg.ShutdownTimeout == 0 {
		wcfg.ShutdownTimeout = 10 * time.Second
	}
	r.writer, err = store.New(wcfg, r.pool, log.Named("store"))
	if err != nil {
		t.Fatal(err)
	}
	var sink pipeline.Store = r.writer
	gapRepair := haveGapRepair && !opts.noGapRepair
	var fillerGaps forwardGaps // the spool's and the collectors' gaps go to the filler, built below
	if opts.spoolBytes > 0 {
		sp, err := spool.Open(spool.Config{Dir: t.TempDir(), MaxBytes: opts.spoolBytes, SegmentBytes: min(opts.spoolBytes, 64<<10)}, log.Named("spool"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = sp.Close() })
		bcfg := spool.BufferConfig{SpoolAfter: 100 * time.Millisecond} // SPOOL_AFTER's default
		if gapRepair {
			bcfg.Gaps = &fillerGaps
		}
		r.buffer, err = spool.NewBuffer(bcfg, sp, r.writer, log.Named("spool"))
		if err != nil {
			t.Fatal(err)
		}
		sink = r.buffer
	}
	r.pub, err = pubsub.New(pubsub.Config{URL: "redis://" + r.redis.Addr() + "/0", ChannelPrefix: dbtest.Unique("faults")}, log.Named("pubsub"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := validate.New(validate.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.pipe, err = pipeline.New(pipeline.Config{Checker: v, Store: sink, Publisher: r.pub,
		Raw: func(rec market.Record) []byte { return pubsub.Encode(nil, rec) }})
	if err != nil {
		t.Fatal(err)
	}
	histories := map[market.Exchange]collector.History{}
	protos := map[market.Exchange]collector.Protocol{}
	for _, ex := range opts.exchanges {
		p, err := protocolFor(ex, r.ep)
		if err != nil {
			t.Fatal(err)
		}
		histories[ex], protos[ex] = p, p
	}
	positions := collector.NewPositions()
	if gapRepair {
		// Backfilled rows are validated and stored like live ones, without
		// the live feed.
		bpipe, err := pipeline.New(pipeline.Config{Checker: v, Store: r.writer})
		if err != nil {
			t.Fatal(err)
		}
		r.filler, err = backfill.New(backfill.Config{Histories: histories, Sink: bpipe, Sync: r.writer.Sync, Gaps: store.NewGaps(r.pool),
			RetryMin: 50 * time.Millisecond, RetryMax: time.Second, Log: log.Named("backfill")})
		if err != nil {
			t.Fatal(err)
		}
		fillerGaps.to.Store(r.filler)
	}
	for _, ex := range opts.exchanges {
		spec := collector.Spec{Name: "faults-" + string(ex), Exchange: ex, Symbols: r.sim.Symbols(ex),
			DataTypes: []market.DataType{market.TypeTrade, market.TypeCandle}, Timeframes: []market.Timeframe{market.TF1m}}
		ccfg := collector.Config{Name: spec.Name, Streams: spec.Streams(), Log: log.Named(string(ex)),
			BackoffMin: opts.backoffMin, BackoffMax: opts.backoffMax, ReadLimit: opts.readLimit, ReadTimeout: opts.readTimeout,
			History: histories[ex], ReconcileAfter: 10 * time.Millisecond}
		if gapRepair {
			ccfg.Gaps, ccfg.Positions, ccfg.Resume = &fillerGaps, positions, r.resume
		}
		r.cols[ex], err = collector.New(ccfg, protos[ex], r.pipe)
		if err != nil {
			t.Fatal(err)
		}
		r.streams = append(r.streams, spec.Streams()...)
	}

	dataCtx, stopData := context.WithCancel(context.WithoutCancel(ctx))
	data, _ := errgroup.WithContext(dataCtx)
	if r.buffer != nil {
		data.Go(func() error { return r.buffer.Run(dataCtx) })
	} else {
		data.Go(func() error { return r.writer.Run(dataCtx) })
	}
	data.Go(func() error { return r.pub.Run(dataCtx) })
	front, fctx := errgroup.WithContext(ctx)
	front.Go(func() error { return r.sim.Run(fctx) })
	for _, c := range r.cols {
		front.Go(func() error { return c.Run(fctx) })
	}
	if r.filler != nil {
		front.Go(func() error { return r.filler.Run(fctx) })
	}
	t.Cleanup(func() {
		cancel()
		if err := front.Wait(); err != nil {
			t.Errorf("collector side: %v", err)
		}
		// The relays forward again so that the writer's final flush can
		// reach the database.
		r.pg.SetDown(false)
		r.pg.SetLatency(0)
		stopData()
		if err := data.Wait(); err != nil {
			t.Errorf("data side: %v", err)
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

// resume is the collectors' ResumeFunc: the last stored record of each
// stream, as the service's is.
func (r *rig) resume(ctx context.Context, streams []market.Stream) (map[market.Stream]collector.Last, error) {
	stored, err := store.LastStored(ctx, r.pool, streams)
	if err != nil {
		return nil, err
	}
	out := make(map[market.Stream]collector.Last, len(stored))
	for s, l := range stored {
		out[s] = collector.Last{Time: l.Time, TradeID: l.TradeID}
	}
	return out, nil
}

// forwardGaps hands gaps to the filler once it exists; it is built after
// the spool buffer that reports to it.
type forwardGaps struct {
	to atomic.Pointer[backfill.Filler]
}

func (f *forwardGaps) RecordGap(g market.Gap) {
	if to := f.to.Load(); to != nil {
		to.RecordGap(g)
	}
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
				if r.sim.Step(ctx, 1) != nil {
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
	c.duplicates = r.queryInt(`SELECT (SELECT count(*) FROM trades) - (SELECT count(*) FROM (SELECT DISTINCT exchange, symbol, trade_id FROM trades) d)`) +
		r.queryInt(`SELECT (SELECT count(*) FROM candles) - (SELECT count(*) FROM (SELECT DISTINCT exchange, symbol, timeframe, ts FROM candles) d)`)
	return c
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
