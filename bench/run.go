package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/market"
	"marketetl/sim"
	"marketetl/store"
)

// Config sets up a benchmark run. Zero values take the defaults of
// withDefaults (the `make bench` run); Quick shrinks everything for CI.
type Config struct {
	// Exchange is the workload's format: binance (default), okx or coinbase.
	Exchange market.Exchange
	// DatabaseURL names the PostgreSQL server (its database is not used:
	// a fresh one is created for the run, migrated, and dropped after
	// unless KeepDatabase).
	DatabaseURL  string
	KeepDatabase bool
	// RedisURL is reported on (its version); the service publishes there.
	RedisURL string
	// Records is the number of trades of the throughput phase; CandleEvery
	// adds a closed candle after every CandleEvery trades (not Coinbase).
	Records     int
	CandleEvery int
	// Warmup is excluded from the sustained rate.
	Warmup time.Duration
	// Rate is the fixed offered rate of the latency phase (records/s),
	// LatencyFor its length.
	Rate       float64
	LatencyFor time.Duration
	// StallFor is how long the stall phase holds a lock on the trades
	// table; the phase offers Rate for StallPhaseFor.
	StallFor      time.Duration
	StallPhaseFor time.Duration
	// BurstFactor times Rate is offered for BurstFor.
	BurstFactor float64
	BurstFor    time.Duration
	// NaiveRows is the sample inserted one row per statement.
	NaiveRows int
	// PingEvery is the frame server's ping period.
	PingEvery time.Duration
	// Seed drives the workload.
	Seed uint64
	// CPUProfile, if set, receives a CPU profile of the sustained window.
	CPUProfile string
	// Psql is the psql program for the CSV \copy measurement; empty skips it.
	Psql string
	// Stall bounds how long a phase may go without progress.
	Stall time.Duration
	// Build builds the service under test; Launch starts the frame server.
	Build  BuildFunc
	Launch Launcher
	// Progress receives one line per step (may be nil); Log the details.
	Progress io.Writer
	Log      *zap.Logger
}

// Quick returns cfg shrunk to a few seconds, for CI: it proves the
// benchmark works, never measures anything worth reading.
func Quick(cfg Config) Config {
	cfg.Records = 20_000
	cfg.Warmup = 200 * time.Millisecond
	cfg.Rate = 2_000
	cfg.LatencyFor = time.Second
	cfg.BurstFor = time.Second
	cfg.StallFor = time.Second
	cfg.StallPhaseFor = 3 * time.Second
	cfg.NaiveRows = 500
	cfg.PingEvery = 200 * time.Millisecond
	return cfg
}

func (cfg Config) withDefaults() (Config, error) {
	if cfg.Exchange == "" {
		cfg.Exchange = market.Binance
	}
	if !cfg.Exchange.Known() {
		return cfg, fmt.Errorf("bench: exchange %q: want one of %v", cfg.Exchange, market.Exchanges())
	}
	set := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&cfg.Records, 4_000_000)
	set(&cfg.CandleEvery, 10)
	set(&cfg.NaiveRows, 20_000)
	setD(&cfg.Warmup, 5*time.Second)
	setD(&cfg.LatencyFor, 20*time.Second)
	setD(&cfg.BurstFor, 10*time.Second)
	setD(&cfg.StallFor, 10*time.Second)
	setD(&cfg.StallPhaseFor, 20*time.Second)
	setD(&cfg.PingEvery, time.Second)
	setD(&cfg.Stall, time.Minute)
	if cfg.Rate == 0 {
		cfg.Rate = 20_000
	}
	if cfg.BurstFactor == 0 {
		cfg.BurstFactor = 10
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Records < 0 || cfg.Rate < 0 || cfg.BurstFactor < 0 || cfg.NaiveRows < 0 || cfg.CandleEvery < 0 {
		return cfg, errors.New("bench: negative records, rate, burst factor, naive rows or candle interval")
	}
	if cfg.Build == nil || cfg.Launch == nil {
		return cfg, errors.New("bench: Build and Launch are required")
	}
	if cfg.DatabaseURL == "" {
		return cfg, errors.New("bench: DatabaseURL is required")
	}
	if cfg.Progress == nil {
		cfg.Progress = io.Discard
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	return cfg, nil
}

// The phases, by name (also their URL path element).
const (
	phaseThroughput = "throughput"
	phaseLatency    = "latency"
	phaseBurst      = "burst"
	phaseStall      = "stall"
)

// runner is one run's state.
type runner struct {
	cfg    Config
	dbURL  string
	addr   string
	counts map[string]Counts
	plans  map[string]PhasePlan
	// total is the records sent by the phases run so far, by table.
	totalTrades, totalCandles int
}

// Run runs the benchmark and returns its result. It creates (and drops)
// its own database, starts the frame server and runs every phase.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &Result{Exchange: cfg.Exchange, Started: time.Now().UTC()}
	dbURL, drop, err := createDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cfg.KeepDatabase {
			fmt.Fprintf(cfg.Progress, "database kept: %s\n", redactURL(dbURL))
			return
		}
		if err := drop(context.WithoutCancel(ctx)); err != nil {
			cfg.Log.Warn("drop benchmark database", zap.Error(err))
		}
	}()
	fmt.Fprintf(cfg.Progress, "database %s created; migrating\n", redactURL(dbURL))
	if err := store.Migrate(ctx, dbURL, cfg.Log.Named("migrate")); err != nil {
		return nil, fmt.Errorf("migrate benchmark database: %w", err)
	}
	res.Machine = machineInfo(ctx, dbURL, cfg.RedisURL)

	now := time.Now()
	wl := func(slot, trades int) Workload {
		return Workload{Exchange: cfg.Exchange, Seed: cfg.Seed, Trades: trades, CandleEvery: cfg.CandleEvery, Slot: slot, Now: now}
	}
	burstRate := cfg.Rate * cfg.BurstFactor
	plan := ServerPlan{PingEvery: cfg.PingEvery, Phases: []PhasePlan{
		{Name: phaseThroughput, Workload: wl(0, cfg.Records)},
		{Name: phaseLatency, Workload: wl(1, tradesFor(cfg.Rate, cfg.LatencyFor, cfg.CandleEvery, cfg.Exchange)), Rate: cfg.Rate},
		{Name: phaseBurst, Workload: wl(2, tradesFor(burstRate, cfg.BurstFor, cfg.CandleEvery, cfg.Exchange)), Rate: burstRate},
		{Name: phaseStall, Workload: wl(3, tradesFor(cfg.Rate, cfg.StallPhaseFor, cfg.CandleEvery, cfg.Exchange)), Rate: cfg.Rate},
	}}
	fmt.Fprintf(cfg.Progress, "frame server: generating %d phases of %s frames\n", len(plan.Phases), cfg.Exchange)
	ready, stop, err := cfg.Launch(ctx, plan)
	if err != nil {
		return nil, fmt.Errorf("start frame server: %w", err)
	}
	defer func() {
		if err := stop(); err != nil {
			cfg.Log.Warn("frame server", zap.Error(err))
		}
	}()
	res.Generate = ready.Generate.Seconds()
	fmt.Fprintf(cfg.Progress, "frame server on %s (generated in %.1fs)\n", ready.Addr, ready.Generate.Seconds())
	r := &runner{cfg: cfg, dbURL: dbURL, addr: ready.Addr, counts: ready.Phases, plans: map[string]PhasePlan{}}
	for _, p := range plan.Phases {
		r.plans[p.Name] = p
		if c, ok := ready.Phases[p.Name]; !ok || c != p.Workload.Counts() {
			return nil, fmt.Errorf("frame server: phase %s: serves %+v, want %+v", p.Name, c, p.Workload.Counts())
		}
	}

	if res.Throughput, err = r.phase(ctx, phaseThroughput, false, 0); err != nil {
		return nil, err
	}
	// Each phase after the first starts from a settled database, so that
	// it does not measure the server's own aftermath of the previous one
	// (autovacuum of millions of new rows, a checkpoint writing them out).
	if err := settle(ctx, r.dbURL, cfg.Progress); err != nil {
		return nil, err
	}
	if res.Latency, err = r.phase(ctx, phaseLatency, true, 0); err != nil {
		return nil, err
	}
	if err := settle(ctx, r.dbURL, cfg.Progress); err != nil {
		return nil, err
	}
	if res.Burst, err = r.phase(ctx, phaseBurst, false, 0); err != nil {
		return nil, err
	}
	if err := settle(ctx, r.dbURL, cfg.Progress); err != nil {
		return nil, err
	}
	if res.Stall, err = r.phase(ctx, phaseStall, true, cfg.StallFor); err != nil {
		return nil, err
	}
	if err := r.database(ctx, res); err != nil {
		return nil, err
	}
	res.finish()
	return res, nil
}

// tradesFor returns the trades that, with their candles, make rate
// records per second for d.
func tradesFor(rate float64, d time.Duration, candleEvery int, ex market.Exchange) int {
	records := rate * d.Seconds()
	if candleEvery > 0 && ex != market.Coinbase {
		records = records * float64(candleEvery) / float64(candleEvery+1)
	}
	return max(1, int(records))
}

// phase runs one phase against a fresh service and measures it. With
// stall > 0, the trades table is locked for stall once the warm-up is
// over (see stallWindow).
func (r *runner) phase(ctx context.Context, name string, latency bool, stall time.Duration) (*PhaseResult, error) {
	cfg := r.cfg
	p := r.plans[name]
	want := r.counts[name]
	expected := int64(want.Records())
	fmt.Fprintf(cfg.Progress, "phase %s: %d trades + %d candles", name, want.Trades, want.Candles)
	if p.Rate > 0 {
		fmt.Fprintf(cfg.Progress, " offered at %.0f records/s", p.Rate)
	} else {
		fmt.Fprint(cfg.Progress, " as fast as the pipeline takes them")
	}
	fmt.Fprintln(cfg.Progress)

	var committed, published atomic.Int64
	toCommit, toPublish := newRecorder(), newRecorder()
	var sw *stallWindow
	if stall > 0 {
		sw = newStallWindow()
	}
	spec := ServiceSpec{
		Name: "bench-" + name, DatabaseURL: r.dbURL, Exchange: cfg.Exchange,
		Symbols: symbols(cfg.Exchange), DataTypes: []market.DataType{market.TypeTrade},
		URLs: endpointsAt(r.addr, name),
		OnFlush: func(f store.FlushResult) {
			if latency {
				now := time.Now()
				toCommit.since(now, f.Received)
				if sw != nil {
					sw.committed(now, f.Received)
				}
			}
			committed.Add(int64(f.Inserted + f.Updated + f.Skipped))
		},
		OnPublishReceived: func(received []time.Time) {
			if latency {
				now := time.Now()
				toPublish.since(now, received)
				if sw != nil {
					sw.published(now, received)
				}
			}
			published.Add(int64(len(received)))
		},
	}
	if want.Candles > 0 {
		spec.DataTypes = append(spec.DataTypes, market.TypeCandle)
		spec.Timeframes = []market.Timeframe{market.TF1m}
	}
	svc, err := cfg.Build(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("phase %s: build service: %w", name, err)
	}
	runCtx, stopService := context.WithCancel(ctx)
	defer stopService()
	g, gctx := errgroup.WithContext(runCtx)
	resetPeakRSS()
	cpu0, t0 := cpuTime(), time.Now()
	g.Go(func() error { return svc.Run(gctx) })
	stallCtx, cancelStall := context.WithCancel(gctx)
	var stallWG sync.WaitGroup
	var stallErr error
	defer func() { cancelStall(); stallWG.Wait() }()

	res := &PhaseResult{Name: name, Records: expected, Trades: want.Trades, Candles: want.Candles, OfferedRate: p.Rate}
	var (
		first, warm, end     time.Time
		doneAtWarm           int64
		cpuAtWarm, cpuAtEnd  time.Duration
		lastDone, lastChange = int64(-1), time.Now()
		profile              *os.File
		lastReport           = time.Now()
	)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for end.IsZero() {
		select {
		case <-gctx.Done():
			stopService()
			err := g.Wait()
			return nil, fmt.Errorf("phase %s: service stopped early: %w", name, errors.Join(err, ctx.Err()))
		case <-tick.C:
		}
		now := time.Now()
		// A record the publisher dropped (its queue full: Redis slower
		// than the pipeline) will never be published; it is reported,
		// and counts as done so that the phase ends.
		gone := published.Load() + int64(svc.Status().Dropped)
		done := min(committed.Load(), gone)
		if now.Sub(lastReport) >= 5*time.Second {
			lastReport = now
			st := svc.Status()
			fmt.Fprintf(cfg.Progress, "  %s: %d/%d committed, %d published, %d dropped, %d frames read\n",
				name, committed.Load(), expected, published.Load(), st.Dropped, st.Frames)
		}
		if done > 0 && first.IsZero() {
			first = now
		}
		if !first.IsZero() && warm.IsZero() && now.Sub(first) >= cfg.Warmup && done < expected {
			warm, doneAtWarm, cpuAtWarm = now, done, cpuTime()
			if name == phaseThroughput && cfg.CPUProfile != "" {
				if profile, err = startProfile(cfg.CPUProfile); err != nil {
					cfg.Log.Warn("cpu profile", zap.Error(err))
				}
			}
		}
		if sw != nil && !first.IsZero() && !warm.IsZero() && stall > 0 {
			fmt.Fprintf(cfg.Progress, "  %s: locking the trades table for %s\n", name, stall)
			d := stall
			stallWG.Go(func() { stallErr = sw.hold(stallCtx, r.dbURL, d) })
			stall = 0 // once
		}
		if committed.Load() >= expected && gone >= expected {
			end, cpuAtEnd = now, cpuTime()
			break
		}
		if done != lastDone {
			lastDone, lastChange = done, now
		} else if now.Sub(lastChange) > cfg.Stall {
			stopService()
			_ = g.Wait()
			return nil, fmt.Errorf("phase %s: no progress for %s: %d of %d committed, %d published (status %+v)",
				name, cfg.Stall, committed.Load(), expected, published.Load(), svc.Status())
		}
	}
	if profile != nil {
		pprof.StopCPUProfile()
		if err := profile.Close(); err != nil {
			cfg.Log.Warn("cpu profile", zap.Error(err))
		}
	}
	stallWG.Wait()
	if stallErr != nil {
		stopService()
		_ = g.Wait()
		return nil, fmt.Errorf("phase %s: %w", name, stallErr)
	}
	res.PeakRSS = peakRSS()
	if st, err := serverStats(ctx, r.addr, name); err == nil {
		res.Server = st
	} else {
		cfg.Log.Warn("frame server stats", zap.Error(err))
	}
	res.Service = svc.Status()
	stopService()
	if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("phase %s: service: %w", name, err)
	}
	res.Seconds = end.Sub(t0).Seconds()
	res.Committed, res.Published = committed.Load(), published.Load()
	if warm.IsZero() {
		// The phase was over before the warm-up: the rate is the whole
		// phase's, from the first record committed and published.
		warm, doneAtWarm, cpuAtWarm = first, 0, cpu0
		res.WarmupIncluded = true
	}
	if window := end.Sub(warm); window > 0 {
		res.SustainedSeconds = window.Seconds()
		res.SustainedRecords = min(res.Committed, res.Published+int64(res.Service.Dropped)) - doneAtWarm
		res.Rate = float64(res.SustainedRecords) / window.Seconds()
		if res.SustainedRecords > 0 {
			res.CPUSecondsPerMillion = (cpuAtEnd - cpuAtWarm).Seconds() / float64(res.SustainedRecords) * 1e6
		}
	}
	res.CPUSeconds = (cpuAtEnd - cpu0).Seconds()
	if latency {
		c, pub := toCommit.summary(), toPublish.summary()
		res.ToCommit, res.ToPublish = &c, &pub
	}
	if sw != nil {
		during, after := sw.pubDuring.summary(), sw.commitAfter.summary()
		res.StallSeconds, res.PublishDuringStall, res.CommitAfterStall = sw.seconds(), &during, &after
	}
	if !res.Server.First.IsZero() && res.Server.Last.After(res.Server.First) {
		res.AchievedRate = float64(res.Server.Sent) / res.Server.Last.Sub(res.Server.First).Seconds()
	}
	// Exact: the tables hold every record sent so far, no more, no less.
	r.totalTrades += want.Trades
	r.totalCandles += want.Candles
	trades, candles, err := countRows(ctx, r.dbURL)
	if err != nil {
		return nil, err
	}
	res.RowsTrades, res.RowsCandles = trades, candles
	res.Lost = int64(r.totalTrades+r.totalCandles) - (trades + candles)
	if trades != int64(r.totalTrades) || candles != int64(r.totalCandles) {
		return res, fmt.Errorf("phase %s: the database holds %d trades and %d candles, want %d and %d",
			name, trades, candles, r.totalTrades, r.totalCandles)
	}
	fmt.Fprintf(cfg.Progress, "phase %s: %d records committed and published in %.1fs", name, expected, res.Seconds)
	if res.Rate > 0 {
		fmt.Fprintf(cfg.Progress, "; sustained %.0f records/s over %.1fs", res.Rate, res.SustainedSeconds)
	}
	fmt.Fprintln(cfg.Progress)
	return res, nil
}

// startProfile starts a CPU profile into path; the caller stops it and
// closes the file.
func startProfile(path string) (*os.File, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("create cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("start cpu profile: %w", err)
	}
	return f, nil
}

// symbols are the workload's markets of ex.
func symbols(ex market.Exchange) []market.Symbol {
	var out []market.Symbol
	for _, m := range sim.DefaultMarkets(ex) {
		out = append(out, m.Symbol)
	}
	return out
}

// countRows counts the market tables' rows.
func countRows(ctx context.Context, dbURL string) (trades, candles int64, err error) {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return 0, 0, fmt.Errorf("count rows: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM trades), (SELECT count(*) FROM candles)").Scan(&trades, &candles); err != nil {
		return 0, 0, fmt.Errorf("count rows: %w", err)
	}
	return trades, candles, nil
}
