package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/market"
	"marketetl/store"
)

// SymbolsConfig sets up the symbols mode (`etl bench --symbols`): many
// symbols over OKX, Binance and Coinbase through one service, against the
// simulated exchange, which honours subscriptions as the exchanges do.
// Two phases run, each on a fresh database and a fresh service:
//
//  1. thousand: Symbols symbols, each with trades, tickers and 1m
//     candles at TradesPerSecond trades a second; startup until every
//     subscription is confirmed, sustained CPU and peak RSS, then every
//     connection dropped at once and the time until all are subscribed
//     again, then more data; the database must hold exactly what was
//     sent.
//  2. books: BookSymbols symbols with order books changed every
//     BookEvery and a trade in each at the same pace; sustained CPU and
//     peak RSS, trades exact.
type SymbolsConfig struct {
	DatabaseURL  string
	KeepDatabase bool
	RedisURL     string
	// Symbols of the thousand phase, spread evenly over the three
	// exchanges (default 1000); TradesPerSecond per symbol (default 1).
	Symbols         int
	TradesPerSecond float64
	// SustainFor is the measured window of data (default 60s);
	// AfterDropFor the data sent after the mass disconnect (default 10s).
	SustainFor   time.Duration
	AfterDropFor time.Duration
	// BookSymbols of the books phase (default 200; negative skips it),
	// BookEvery the book (and trade) pace (default 100ms), BookFor its
	// measured window (default 30s).
	BookSymbols int
	BookEvery   time.Duration
	BookFor     time.Duration
	// Stall bounds how long the database may go without progress while
	// catching up with what was sent (default 1m).
	Stall time.Duration
	Seed  int64
	// MemProfile, if set, receives a heap profile of the thousand phase
	// taken at the end of its sustained window.
	MemProfile string
	// Build builds the service under test; LaunchSim starts the simulated
	// exchange (in a child process: its CPU and memory are not counted).
	Build     BuildFunc
	LaunchSim SimLauncher
	Progress  io.Writer
	Log       *zap.Logger
}

// QuickSymbols returns cfg shrunk to seconds, for CI: it proves the mode
// works, never measures anything worth reading.
func QuickSymbols(cfg SymbolsConfig) SymbolsConfig {
	cfg.Symbols = 30
	cfg.SustainFor = 3 * time.Second
	cfg.AfterDropFor = 2 * time.Second
	cfg.BookSymbols = 6
	cfg.BookFor = 2 * time.Second
	return cfg
}

func (cfg SymbolsConfig) withDefaults() (SymbolsConfig, error) {
	if cfg.Symbols == 0 {
		cfg.Symbols = 1000
	}
	if cfg.TradesPerSecond == 0 {
		cfg.TradesPerSecond = 1
	}
	if cfg.SustainFor == 0 {
		cfg.SustainFor = time.Minute
	}
	if cfg.AfterDropFor == 0 {
		cfg.AfterDropFor = 10 * time.Second
	}
	if cfg.BookSymbols == 0 {
		cfg.BookSymbols = 200
	}
	if cfg.BookEvery == 0 {
		cfg.BookEvery = 100 * time.Millisecond
	}
	if cfg.BookFor == 0 {
		cfg.BookFor = 30 * time.Second
	}
	if cfg.Stall == 0 {
		cfg.Stall = time.Minute
	}
	if cfg.Seed == 0 {
		cfg.Seed = 1
	}
	if cfg.Symbols < len(simExchanges) || cfg.TradesPerSecond < 0 || cfg.SustainFor < 0 || cfg.AfterDropFor < 0 || cfg.BookEvery < 0 || cfg.BookFor < 0 {
		return cfg, fmt.Errorf("bench: symbols mode: want at least %d symbols and no negative rate or duration", len(simExchanges))
	}
	if time.Duration(float64(time.Second)/cfg.TradesPerSecond) > time.Minute || cfg.BookEvery > time.Minute {
		return cfg, errors.New("bench: symbols mode: at least one trade a minute per symbol (the candles need one per bucket)")
	}
	if cfg.Build == nil || cfg.LaunchSim == nil {
		return cfg, errors.New("bench: Build and LaunchSim are required")
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

// SymbolsResult is the symbols mode's measurements.
type SymbolsResult struct {
	Started  time.Time     `json:"started"`
	Machine  Machine       `json:"machine"`
	Thousand *SymbolsPhase `json:"thousand"`
	Books    *SymbolsPhase `json:"books,omitempty"`
	Targets  []Check       `json:"targets"`
}

// SymbolsPhase is one phase of the symbols mode.
type SymbolsPhase struct {
	Name    string                  `json:"name"`
	Symbols map[market.Exchange]int `json:"symbols"`
	// Streams subscribed; Conns the WebSocket connections open at the
	// exchange once all were subscribed.
	Streams int                     `json:"streams"`
	Conns   map[market.Exchange]int `json:"conns"`
	// Step is the pace of trades (and book updates) per symbol.
	StepSeconds float64 `json:"step_seconds"`
	// StartupSeconds: from the service's start until the exchange had
	// every stream subscribed.
	StartupSeconds float64 `json:"startup_seconds"`
	// The sustained window: from the first tick of data to the moment the
	// database holds all that was sent.
	SustainedSeconds float64 `json:"sustained_seconds"`
	Records          int64   `json:"records"`
	RecordsPerSecond float64 `json:"records_per_second"`
	// CPU of this process over the window: seconds, share of one core,
	// microseconds per record.
	CPUSeconds      float64 `json:"cpu_seconds"`
	CPUCores        float64 `json:"cpu_cores"`
	CPUMicrosPerRec float64 `json:"cpu_us_per_record"`
	// BaseRSS before the service was built (after returning freed memory
	// to the system); PeakRSS over the phase;
	// BytesPerSymbol = (PeakRSS - BaseRSS) / symbols.
	BaseRSS        int64 `json:"base_rss_bytes"`
	PeakRSS        int64 `json:"peak_rss_bytes"`
	BytesPerSymbol int64 `json:"bytes_per_symbol"`
	// Dropped connections at once, and the seconds until every stream was
	// subscribed again (0: not measured in this phase).
	Dropped            int     `json:"dropped,omitempty"`
	ResubscribeSeconds float64 `json:"resubscribe_seconds,omitempty"`
	// Verify compares the database with what was sent.
	Verify  *Verification `json:"verify"`
	Service ServiceStatus `json:"service"`
}

// RunSymbols runs the symbols mode.
func RunSymbols(ctx context.Context, cfg SymbolsConfig) (*SymbolsResult, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	res := &SymbolsResult{Started: time.Now().UTC()}
	res.Machine = machineInfo(ctx, cfg.DatabaseURL, cfg.RedisURL)
	step := time.Duration(float64(time.Second) / cfg.TradesPerSecond)
	res.Thousand, err = symbolsPhase(ctx, cfg, "thousand", cfg.Symbols, step, cfg.SustainFor, true)
	if err != nil {
		return res, err
	}
	if cfg.BookSymbols > 0 {
		res.Books, err = symbolsPhase(ctx, cfg, "books", cfg.BookSymbols, cfg.BookEvery, cfg.BookFor, false)
		if err != nil {
			return res, err
		}
	}
	res.Targets = symbolsTargets(res)
	return res, nil
}

// spread divides n symbols over the exchanges, the remainder to the first.
func spread(n int) map[market.Exchange]int {
	out := map[market.Exchange]int{}
	for i, ex := range simExchanges {
		out[ex] = n / len(simExchanges)
		if i < n%len(simExchanges) {
			out[ex]++
		}
	}
	return out
}

// symbolsPhase runs one phase against a fresh database, simulated
// exchange and service.
func symbolsPhase(ctx context.Context, cfg SymbolsConfig, name string, symbols int, step, sustain time.Duration, drop bool) (*SymbolsPhase, error) {
	books := name == "books"
	ph := &SymbolsPhase{Name: name, Symbols: spread(symbols), StepSeconds: step.Seconds()}
	dbURL, dropDB, err := createDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cfg.KeepDatabase {
			fmt.Fprintf(cfg.Progress, "database kept: %s\n", redactURL(dbURL))
			return
		}
		if err := dropDB(context.WithoutCancel(ctx)); err != nil {
			cfg.Log.Warn("drop benchmark database", zap.Error(err))
		}
	}()
	fmt.Fprintf(cfg.Progress, "database %s created; migrating\n", redactURL(dbURL))
	if err := store.Migrate(ctx, dbURL, cfg.Log.Named("migrate")); err != nil {
		return nil, fmt.Errorf("migrate benchmark database: %w", err)
	}
	plan := SimPlan{Markets: ph.Symbols, Step: step, Seed: cfg.Seed, Tickers: !books, Candles: !books}
	sc, ep, stopSim, err := cfg.LaunchSim(ctx, plan)
	if err != nil {
		return nil, fmt.Errorf("phase %s: start the simulated exchange: %w", name, err)
	}
	defer func() {
		if err := stopSim(); err != nil {
			cfg.Log.Warn("simulated exchange", zap.Error(err))
		}
	}()

	types := []market.DataType{market.TypeTrade, market.TypeTicker, market.TypeCandle}
	if books {
		types = []market.DataType{market.TypeTrade, market.TypeOrderBook}
	}
	spec := ServiceSpec{Name: "bench-" + name, DatabaseURL: dbURL, URLs: Endpoints(ep)}
	var streams []market.Stream
	for _, ex := range simExchanges {
		cs := CollectorSpec{Name: "bench-" + name + "-" + string(ex), Exchange: ex, DataTypes: types}
		if !books {
			cs.Timeframes = []market.Timeframe{market.TF1m}
		}
		for _, m := range simMarkets(ex, ph.Symbols[ex], cfg.Seed) {
			cs.Symbols = append(cs.Symbols, m.Symbol)
			for _, t := range types {
				st := market.Stream{Exchange: ex, Symbol: m.Symbol, Type: t}
				if t == market.TypeCandle {
					st.Timeframe = market.TF1m
				}
				streams = append(streams, st)
			}
		}
		spec.Collectors = append(spec.Collectors, cs)
	}
	ph.Streams = len(streams)
	fmt.Fprintf(cfg.Progress, "phase %s: %d symbols (%v), %d streams, one trade per symbol every %s\n", name, symbols, ph.Symbols, len(streams), step)

	// What an earlier phase freed goes back to the system first, so that
	// the base is this process without a service.
	debug.FreeOSMemory()
	ph.BaseRSS = currentRSS()
	resetPeakRSS()
	svc, err := cfg.Build(ctx, spec)
	if err != nil {
		return nil, fmt.Errorf("phase %s: build service: %w", name, err)
	}
	runCtx, stopService := context.WithCancel(ctx)
	defer stopService()
	g, gctx := errgroup.WithContext(runCtx)
	t0 := time.Now()
	g.Go(func() error { return svc.Run(gctx) })
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		stopService()
		if err := g.Wait(); err != nil && !errors.Is(err, context.Canceled) {
			return fmt.Errorf("phase %s: service: %w", name, err)
		}
		return nil
	}
	defer func() { _ = stop() }()
	// the simulated exchange's answers come from another goroutine, so
	// that a service that stops early ends the wait.
	ask := func(cmd simCommand) (simAnswer, error) {
		type reply struct {
			a   simAnswer
			err error
		}
		ch := make(chan reply, 1)
		go func() { a, err := sc.do(cmd); ch <- reply{a, err} }()
		select {
		case r := <-ch:
			return r.a, r.err
		case <-gctx.Done():
			_ = stop()
			r := <-ch // the child answers or its pipe ends once the plan's ctx does
			return r.a, errors.Join(fmt.Errorf("phase %s: the service stopped", name), g.Wait(), r.err)
		}
	}
	if _, err := ask(simCommand{Op: "subscribed", Streams: streams}); err != nil {
		return nil, err
	}
	ph.StartupSeconds = time.Since(t0).Seconds()
	fmt.Fprintf(cfg.Progress, "  %s: every stream subscribed %.1fs after the start\n", name, ph.StartupSeconds)

	ticks := max(1, int(sustain/step))
	cpuA, tA := cpuTime(), time.Now()
	ans, err := ask(simCommand{Op: "run", Ticks: ticks})
	if err != nil {
		return nil, err
	}
	ph.Conns = ans.Conns
	if err := caughtUp(ctx, cfg, dbURL, ans.Sent, gctx); err != nil {
		return nil, fmt.Errorf("phase %s: %w", name, err)
	}
	cpuB, tB := cpuTime(), time.Now()
	ph.SustainedSeconds = tB.Sub(tA).Seconds()
	ph.Records = ans.Sent.Trades + ans.Sent.Tickers + ans.Sent.Candles
	ph.RecordsPerSecond = float64(ph.Records) / ph.SustainedSeconds
	ph.CPUSeconds = (cpuB - cpuA).Seconds()
	ph.CPUCores = ph.CPUSeconds / ph.SustainedSeconds
	if ph.Records > 0 {
		ph.CPUMicrosPerRec = ph.CPUSeconds / float64(ph.Records) * 1e6
	}
	fmt.Fprintf(cfg.Progress, "  %s: %d records in %.1fs, %.2f cores, %.1f µs CPU per record\n",
		name, ph.Records, ph.SustainedSeconds, ph.CPUCores, ph.CPUMicrosPerRec)
	if cfg.MemProfile != "" && drop {
		if err := writeHeapProfile(cfg.MemProfile); err != nil {
			cfg.Log.Warn("heap profile", zap.Error(err))
		}
	}

	if drop {
		t := time.Now()
		a, err := ask(simCommand{Op: "drop"})
		if err != nil {
			return nil, err
		}
		ph.Dropped = a.Dropped
		if _, err := ask(simCommand{Op: "subscribed", Streams: streams}); err != nil {
			return nil, err
		}
		ph.ResubscribeSeconds = time.Since(t).Seconds()
		fmt.Fprintf(cfg.Progress, "  %s: %d connections dropped at once; every stream subscribed again after %.1fs\n",
			name, ph.Dropped, ph.ResubscribeSeconds)
		ans, err = ask(simCommand{Op: "run", Ticks: max(1, int(cfg.AfterDropFor/step))})
		if err != nil {
			return nil, err
		}
		if err := caughtUp(ctx, cfg, dbURL, ans.Sent, gctx); err != nil {
			return nil, fmt.Errorf("phase %s: after the mass disconnect: %w", name, err)
		}
	}
	ph.PeakRSS = peakRSS()
	if symbols > 0 && ph.PeakRSS > ph.BaseRSS {
		ph.BytesPerSymbol = (ph.PeakRSS - ph.BaseRSS) / int64(symbols)
	}
	ph.Service = svc.Status()
	if err := stop(); err != nil {
		return nil, err
	}
	a, err := sc.do(simCommand{Op: "verify", DatabaseURL: dbURL})
	if err != nil {
		return ph, err
	}
	ph.Verify = a.Verify
	v := ph.Verify
	fmt.Fprintf(cfg.Progress, "  %s: sent %+v, stored %+v; %d missing, %d wrong, %d extra trades, %d wrong candles\n",
		name, v.Sent, v.Stored, v.MissingTrades, v.WrongTrades, v.ExtraTrades, v.WrongCandles)
	if !v.Exact() {
		return ph, fmt.Errorf("phase %s: the database does not hold exactly what was sent: %+v", name, *v)
	}
	return ph, nil
}

// caughtUp waits until the database holds sent's counts of trades,
// tickers and OKX and Binance 1m candles, or no count changed for
// cfg.Stall, or the service stopped (done).
func caughtUp(ctx context.Context, cfg SymbolsConfig, dbURL string, sent SentCounts, done context.Context) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("count rows: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var last SentCounts
	lastChange := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var c SentCounts
		err := conn.QueryRow(ctx, `SELECT (SELECT count(*) FROM trades), (SELECT count(*) FROM tickers),
			(SELECT count(*) FROM candles WHERE timeframe = '1m' AND exchange <> 'coinbase')`).Scan(&c.Trades, &c.Tickers, &c.Candles)
		if err != nil {
			return fmt.Errorf("count rows: %w", err)
		}
		if c == sent {
			return nil
		}
		if c != last {
			last, lastChange = c, time.Now()
		} else if time.Since(lastChange) > cfg.Stall {
			return fmt.Errorf("the database holds %+v after %s without progress, sent %+v", c, cfg.Stall, sent)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-done.Done():
			return errors.New("the service stopped")
		case <-tick.C:
		}
	}
}

// symbolsTargets checks the targets for a thousand symbols.
func symbolsTargets(res *SymbolsResult) []Check {
	var out []Check
	if p := res.Thousand; p != nil {
		mb := float64(p.PeakRSS) / (1 << 20)
		out = append(out,
			Check{Name: "thousand: peak RSS, MB", Value: mb, Target: "≤ 256", Met: p.PeakRSS > 0 && mb <= 256},
			Check{Name: "thousand: all subscribed after start, s", Value: p.StartupSeconds, Target: "≤ 30", Met: p.StartupSeconds <= 30},
			Check{Name: "thousand: all resubscribed after a mass disconnect, s", Value: p.ResubscribeSeconds, Target: "≤ 30", Met: p.ResubscribeSeconds <= 30},
			Check{Name: "thousand: records lost or wrong", Value: lostOrWrong(p.Verify), Target: "0", Met: p.Verify != nil && p.Verify.Exact()},
		)
	}
	if p := res.Books; p != nil {
		out = append(out, Check{Name: "books: trades lost or wrong", Value: lostOrWrong(p.Verify), Target: "0", Met: p.Verify != nil && p.Verify.Exact()})
	}
	return out
}

// lostOrWrong counts the records of v that differ from what was sent
// (-1: not verified).
func lostOrWrong(v *Verification) float64 {
	if v == nil {
		return -1
	}
	d := func(a, b int64) int64 { return max(a-b, b-a) }
	return float64(v.MissingTrades + v.WrongTrades + v.ExtraTrades + v.WrongCandles +
		d(v.Sent.Tickers, v.Stored.Tickers) + d(v.Sent.Candles, v.Stored.Candles))
}

// WriteJSON writes r as indented JSON.
func (r *SymbolsResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write benchmark result: %w", err)
	}
	return nil
}

// WriteTable writes r as Markdown tables: one column per phase, then the
// targets.
func (r *SymbolsResult) WriteTable(w io.Writer) error {
	var b strings.Builder
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %s, %d cores, %d MB; %s; Go %s; PostgreSQL %s; Redis %s\n\n",
		m.CPU, m.Cores, m.MemoryMB, m.OS, m.Go, m.PostgreSQL, m.Redis)
	phases := []*SymbolsPhase{r.Thousand, r.Books}
	b.WriteString("| measure |")
	for _, p := range phases {
		if p != nil {
			fmt.Fprintf(&b, " %s |", p.Name)
		}
	}
	b.WriteString("\n| --- |")
	for _, p := range phases {
		if p != nil {
			b.WriteString(" ---: |")
		}
	}
	b.WriteString("\n")
	row := func(name string, f func(p *SymbolsPhase) string) {
		fmt.Fprintf(&b, "| %s |", name)
		for _, p := range phases {
			if p != nil {
				fmt.Fprintf(&b, " %s |", f(p))
			}
		}
		b.WriteString("\n")
	}
	byEx := func(m map[market.Exchange]int) string {
		var parts []string
		for _, ex := range simExchanges {
			parts = append(parts, fmt.Sprintf("%s %d", ex, m[ex]))
		}
		return strings.Join(parts, ", ")
	}
	row("symbols", func(p *SymbolsPhase) string { return byEx(p.Symbols) })
	row("streams", func(p *SymbolsPhase) string { return fmt.Sprint(p.Streams) })
	row("connections", func(p *SymbolsPhase) string { return byEx(p.Conns) })
	row("trade (and book update) every", func(p *SymbolsPhase) string { return fmt.Sprintf("%.0f ms", p.StepSeconds*1000) })
	row("startup until all subscribed", func(p *SymbolsPhase) string { return fmt.Sprintf("%.1f s", p.StartupSeconds) })
	row("records stored in the window", func(p *SymbolsPhase) string { return fmt.Sprint(p.Records) })
	row("window", func(p *SymbolsPhase) string { return fmt.Sprintf("%.1f s", p.SustainedSeconds) })
	row("records/s", func(p *SymbolsPhase) string { return fmt.Sprintf("%.0f", p.RecordsPerSecond) })
	row("CPU (cores)", func(p *SymbolsPhase) string { return fmt.Sprintf("%.2f", p.CPUCores) })
	row("CPU per record", func(p *SymbolsPhase) string { return fmt.Sprintf("%.1f µs", p.CPUMicrosPerRec) })
	row("RSS before the service", func(p *SymbolsPhase) string { return fmt.Sprintf("%.0f MB", float64(p.BaseRSS)/(1<<20)) })
	row("peak RSS", func(p *SymbolsPhase) string { return fmt.Sprintf("%.0f MB", float64(p.PeakRSS)/(1<<20)) })
	row("memory per symbol", func(p *SymbolsPhase) string { return fmt.Sprintf("%.0f KB", float64(p.BytesPerSymbol)/1024) })
	row("mass disconnect → all resubscribed", func(p *SymbolsPhase) string {
		if p.Dropped == 0 {
			return "–"
		}
		return fmt.Sprintf("%.1f s (%d connections)", p.ResubscribeSeconds, p.Dropped)
	})
	row("sent: trades / tickers / candles", func(p *SymbolsPhase) string {
		if p.Verify == nil {
			return "–"
		}
		return fmt.Sprintf("%d / %d / %d", p.Verify.Sent.Trades, p.Verify.Sent.Tickers, p.Verify.Sent.Candles)
	})
	row("stored: trades / tickers / candles", func(p *SymbolsPhase) string {
		if p.Verify == nil {
			return "–"
		}
		return fmt.Sprintf("%d / %d / %d", p.Verify.Stored.Trades, p.Verify.Stored.Tickers, p.Verify.Stored.Candles)
	})
	row("book snapshots stored / resyncs", func(p *SymbolsPhase) string {
		if p.Verify == nil {
			return "–"
		}
		return fmt.Sprintf("%d / %d", p.Verify.BookSnapshots, p.Verify.BookResyncs)
	})
	row("reconnects (service)", func(p *SymbolsPhase) string { return fmt.Sprint(p.Service.Reconnects) })
	b.WriteString("\n| target | value | wanted | met |\n| --- | ---: | --- | --- |\n")
	for _, c := range r.Targets {
		fmt.Fprintf(&b, "| %s | %.1f | %s | %v |\n", c.Name, c.Value, c.Target, c.Met)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeHeapProfile writes the heap profile (in use and allocated since
// the start) to path.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create heap profile: %w", err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("write heap profile: %w", err)
	}
	return f.Close()
}
