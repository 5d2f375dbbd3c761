package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/bench"
	"marketetl/collector"
	"marketetl/config"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/spec"
)

// cmdBench runs the end-to-end benchmark (see package bench) and prints
// its table; --serve is the frame server child it starts.
func cmdBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	serve := fs.Bool("serve", false, "internal: run as the benchmark's frame server (plan on stdin)")
	exchange := fs.String("exchange", "binance", "frame format: binance, okx, coinbase or kraken")
	records := fs.Int("records", 0, "trades of the throughput phase (default 4000000)")
	candleEvery := fs.Int("candle-every", 0, "one closed 1m candle after every N trades (default 10; coinbase: none)")
	warmup := fs.Duration("warmup", 0, "excluded from the sustained rate (default 5s)")
	rate := fs.Float64("rate", 0, "offered rate of the latency phase, records/s (default 20000)")
	latencyFor := fs.Duration("latency-duration", 0, "length of the latency phase (default 20s)")
	burstFactor := fs.Float64("burst-factor", 0, "burst rate as a multiple of --rate (default 10)")
	burstFor := fs.Duration("burst-duration", 0, "length of the burst (default 10s)")
	stallFor := fs.Duration("stall-duration", 0, "how long the stall phase locks the trades table (default 10s)")
	stallPhaseFor := fs.Duration("stall-phase-duration", 0, "length of the stall phase at --rate (default 20s)")
	naive := fs.Int("naive-rows", 0, "rows inserted one statement per row (default 20000)")
	out := fs.String("out", "bench-result.json", "write the result as JSON to this file (empty: none)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the sustained phase to this file")
	keepDB := fs.Bool("keep-db", false, "keep the benchmark's database instead of dropping it")
	quick := fs.Bool("quick", false, "a few seconds with small counts (CI: proves it works, measures nothing)")
	serveSim := fs.Bool("serve-sim", false, "internal: run as the symbols mode's simulated exchange (plan on stdin)")
	symbols := fs.Int("symbols", 0, "symbols mode: this many symbols over okx, binance and coinbase against the simulated exchange (the usual phases are not run)")
	tradesPerSecond := fs.Float64("symbol-trades-per-second", 0, "symbols mode: trades per second per symbol (default 1)")
	symbolsFor := fs.Duration("symbols-duration", 0, "symbols mode: measured window of data (default 1m)")
	afterDropFor := fs.Duration("after-drop-duration", 0, "symbols mode: data sent after the mass disconnect (default 10s)")
	bookSymbols := fs.Int("book-symbols", 0, "symbols mode: symbols of the books phase (default 200; negative skips it)")
	bookEvery := fs.Duration("book-every", 0, "symbols mode: book update (and trade) pace per symbol (default 100ms)")
	bookFor := fs.Duration("book-duration", 0, "symbols mode: measured window of the books phase (default 30s)")
	memProfile := fs.String("memprofile", "", "symbols mode: write a heap profile at the end of the thousand phase's window to this file")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if *serve {
		return bench.Serve(ctx, os.Stdin, stdout)
	}
	cfg, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	if *serveSim {
		return bench.ServeSim(ctx, os.Stdin, stdout, log.Named("sim"))
	}
	if *symbols != 0 {
		scfg := bench.SymbolsConfig{
			DatabaseURL: cfg.DatabaseURL, KeepDatabase: *keepDB, RedisURL: cfg.RedisURL,
			Symbols: *symbols, TradesPerSecond: *tradesPerSecond, SustainFor: *symbolsFor, AfterDropFor: *afterDropFor,
			BookSymbols: *bookSymbols, BookEvery: *bookEvery, BookFor: *bookFor, MemProfile: *memProfile,
			Build:     benchService(cfg, log),
			LaunchSim: bench.ChildSimLauncher(benchSimCommand, stderr),
			Progress:  stderr,
			Log:       log.Named("bench"),
		}
		if *quick {
			scfg = bench.QuickSymbols(scfg)
		}
		res, err := bench.RunSymbols(ctx, scfg)
		if res != nil && *out != "" {
			if werr := writeResult(*out, res.WriteJSON); werr != nil {
				return errors.Join(err, werr)
			}
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout)
		return res.WriteTable(stdout)
	}
	bcfg := bench.Config{
		Exchange:      market.Exchange(*exchange),
		DatabaseURL:   cfg.DatabaseURL,
		KeepDatabase:  *keepDB,
		RedisURL:      cfg.RedisURL,
		Records:       *records,
		CandleEvery:   *candleEvery,
		Warmup:        *warmup,
		Rate:          *rate,
		LatencyFor:    *latencyFor,
		BurstFactor:   *burstFactor,
		BurstFor:      *burstFor,
		StallFor:      *stallFor,
		StallPhaseFor: *stallPhaseFor,
		NaiveRows:     *naive,
		CPUProfile:    *cpuProfile,
		Build:         benchService(cfg, log),
		Launch:        bench.ChildLauncher(benchServerCommand, stderr),
		Progress:      stderr,
		Log:           log.Named("bench"),
	}
	if *quick {
		bcfg = bench.Quick(bcfg)
	}
	if p, err := exec.LookPath("psql"); err == nil {
		bcfg.Psql = p
	}
	res, err := bench.Run(ctx, bcfg)
	if err != nil {
		return err
	}
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return fmt.Errorf("write result: %w", err)
		}
		if err := res.WriteJSON(f); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("write result: %w", err)
		}
	}
	fmt.Fprintln(stdout)
	return res.WriteTable(stdout)
}

// writeResult writes a result as JSON to path.
func writeResult(path string, write func(io.Writer) error) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write result: %w", err)
	}
	return nil
}

// benchSimCommand re-executes this binary as the symbols mode's simulated
// exchange.
func benchSimCommand(ctx context.Context) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.CommandContext(ctx, self, "bench", "--serve-sim")
}

// benchServerCommand re-executes this binary as the frame server.
func benchServerCommand(ctx context.Context) *exec.Cmd {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return exec.CommandContext(ctx, self, "bench", "--serve")
}

// benchService builds the service under test with the service package,
// as `etl run` builds it, with the configuration from the environment,
// pointed at the frame server and the benchmark's database: one collector
// run beside the data path, no supervisor and no gap filler.
func benchService(cfg config.Config, log *zap.Logger) bench.BuildFunc {
	return func(ctx context.Context, ss bench.ServiceSpec) (bench.Service, error) {
		cfg.DatabaseURL = ss.DatabaseURL
		cfg.DatabaseWait = 0
		pool, err := service.OpenDatabase(ctx, cfg, log)
		if err != nil {
			return nil, err
		}
		svc, err := service.New(cfg, pool, exchange.Registry(), service.WithLogger(log),
			service.WithEndpoints(service.Endpoints(ss.URLs)), service.WithoutSupervisor(), service.WithoutBackfill(),
			service.WithOnFlush(ss.OnFlush), service.WithOnPublishReceived(ss.OnPublishReceived))
		if err != nil {
			pool.Close()
			return nil, err
		}
		if svc.Publisher() == nil {
			pool.Close()
			return nil, fmt.Errorf("bench: REDIS_ENABLED is false: the benchmark measures publishing too")
		}
		specs := ss.Collectors
		if len(specs) == 0 {
			specs = []bench.CollectorSpec{{Name: ss.Name, Exchange: ss.Exchange, Symbols: ss.Symbols, DataTypes: ss.DataTypes, Timeframes: ss.Timeframes}}
		}
		run := &benchRun{svc: svc, pool: pool}
		for _, cs := range specs {
			col, err := svc.Collector(spec.Collector{
				Name: cs.Name, Exchange: cs.Exchange, Symbols: cs.Symbols,
				DataTypes: cs.DataTypes, Timeframes: cs.Timeframes,
			})
			if err != nil {
				pool.Close()
				return nil, err
			}
			run.cols = append(run.cols, col)
		}
		return run, nil
	}
}

// benchRun is one phase's service.
type benchRun struct {
	svc  *service.Service
	pool *pgxpool.Pool
	cols []*collector.Collector
}

// Run runs the collectors over the data path, as `etl run` does, and
// closes the pool once everything has stopped.
func (b *benchRun) Run(ctx context.Context) error {
	defer b.pool.Close()
	return b.svc.RunWith(ctx, func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		for _, col := range b.cols {
			g.Go(func() error { return col.Run(gctx) })
		}
		return g.Wait()
	})
}

// Status reads the collectors', the pipeline's and the publisher's counters.
func (b *benchRun) Status() bench.ServiceStatus {
	var cs collector.Status
	for _, col := range b.cols {
		st := col.Status()
		cs.MessagesReceived += st.MessagesReceived
		cs.Reconnects += st.Reconnects
		cs.Rejects += st.Rejects
	}
	ps := b.svc.Publisher().Status()
	var rejected uint64
	for _, n := range b.svc.Pipeline().Counts().Rejected {
		rejected += n
	}
	var dropped uint64
	for _, n := range ps.Dropped {
		dropped += n
	}
	st := bench.ServiceStatus{
		Frames: cs.MessagesReceived, Reconnects: cs.Reconnects, DecodeRejects: cs.Rejects,
		Rejected: rejected, Published: ps.Published, Dropped: dropped,
	}
	if sp := b.svc.Spool(); sp != nil {
		ss := sp.Stats()
		st.Spooled, st.Replayed = ss.Spooled, ss.Replayed
	}
	return st
}
