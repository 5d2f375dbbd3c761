package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"marketetl/collector"
	"marketetl/exchange"
	"marketetl/market"
	"marketetl/service"
	"marketetl/sim"
	"marketetl/spec"
)

// cmdDemo is the one-command experience: it creates and migrates the
// database, starts the simulated exchange in-process, runs collectors for
// all three exchanges against it and prints progress until Ctrl-C (or
// --duration), then a summary.
func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	duration := fs.Duration("duration", 0, "stop after this long (0: run until Ctrl-C)")
	every := fs.Duration("every", 3*time.Second, "progress line period")
	rate := fs.Float64("rate", 20, "simulated ticks per second (one trade in every market per tick)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	cfg, log, closeLog, err := loadConfig()
	if err != nil {
		return err
	}
	defer closeLog()
	if *duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *duration)
		defer cancel()
	}
	if err := ensureDatabase(ctx, cfg.DatabaseURL); err != nil {
		return err
	}
	if err := migrateUp(ctx, cfg.DatabaseURL, log); err != nil {
		return err
	}
	pool, err := service.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer pool.Close()
	s, err := sim.New(sim.Config{Seed: 1, Rate: *rate, Addr: "127.0.0.1:0"}, log.Named("sim"))
	if err != nil {
		return err
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		return err
	}
	svc, err := service.New(cfg, pool, exchange.Registry(), append([]service.Option{service.WithLogger(log),
		service.WithEndpoints(service.Endpoints(ep)), service.WithoutSupervisor()}, demoBalanceOptions(ep)...)...)
	if err != nil {
		return err
	}
	var cols []*collector.Collector
	for _, ex := range market.Exchanges() {
		sp := spec.Collector{
			Name: "demo-" + string(ex), Exchange: ex, Symbols: s.Symbols(ex),
			DataTypes:  []market.DataType{market.TypeTicker, market.TypeTrade, market.TypeCandle},
			Timeframes: []market.Timeframe{market.TF1m, market.TF5m},
		}
		if spec.MaxBookDepth(ex) > 0 { // Kraken's books are not collected
			sp.DataTypes = append(sp.DataTypes, market.TypeOrderBook)
		}
		if sp.UsesBookKeys() {
			// Coinbase's order books on the authenticated level2 channel,
			// with the demo keys.
			sp.Credentials = demoBalanceSpec(ex).Credentials
		}
		col, err := svc.Collector(sp)
		if err != nil {
			return err
		}
		cols = append(cols, col)
		if exchange.Registry()[ex].Private == nil {
			continue // no private stream (Kraken)
		}
		bal, err := svc.Collector(demoBalanceSpec(ex))
		if err != nil {
			return err
		}
		cols = append(cols, bal)
	}
	fmt.Fprintf(stdout, "marketetl demo: simulated OKX, Binance, Coinbase and Kraken on %s, writing to %s\n",
		strings.TrimPrefix(ep.BinanceREST, "http://"), redactDatabaseURL(cfg.DatabaseURL))
	if svc.Publisher() != nil {
		fmt.Fprintf(stdout, "live feed on Redis channels %s:* (watch it with: go run ./cmd/etl tail)\n", cfg.RedisChannelPrefix)
	}
	printDemoKeys(stdout)
	fmt.Fprintln(stdout, "Ctrl-C stops it.")

	start := time.Now()
	err = svc.RunWith(ctx, func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.Run(gctx) })
		g.Go(func() error { return scriptBalances(gctx, s, *every) })
		for _, col := range cols {
			g.Go(func() error { return col.Run(gctx) })
		}
		g.Go(func() error { return progress(gctx, stdout, pool, cols, svc, log, *every, start) })
		return g.Wait()
	})
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	if err != nil {
		return err
	}
	// The writer has flushed: the summary reads the final rows.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	fmt.Fprintln(stdout, "\nsummary:")
	if err := printCounts(sctx, stdout, pool, cols, svc, time.Since(start)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\nquery it:\n  psql %q -c \"SELECT exchange, symbol, ts, open, high, low, close, volume FROM candles WHERE timeframe = '1m' AND closed ORDER BY ts DESC LIMIT 10\"\n",
		redactDatabaseURL(cfg.DatabaseURL))
	fmt.Fprintf(stdout, "  psql %q -c \"SELECT exchange, symbol, ts, sequence, bids[1][1] AS best_bid, asks[1][1] AS best_ask FROM book_snapshots ORDER BY ts DESC LIMIT 10\"\n",
		redactDatabaseURL(cfg.DatabaseURL))
	fmt.Fprintf(stdout, "  psql %q -c \"SELECT DISTINCT ON (exchange, account, asset) exchange, account, asset, free, locked, ts FROM balances ORDER BY exchange, account, asset, ts DESC\"\n",
		redactDatabaseURL(cfg.DatabaseURL))
	return nil
}

// progress prints a line every period until ctx ends.
func progress(ctx context.Context, w io.Writer, pool *pgxpool.Pool, cols []*collector.Collector, c *service.Service, log *zap.Logger, every time.Duration, start time.Time) error {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := printCounts(ctx, w, pool, cols, c, time.Since(start)); err != nil && ctx.Err() == nil {
				log.Warn("demo progress", zap.Error(err))
			}
		}
	}
}

// printCounts prints rows stored per exchange and type, rejects and reconnects.
func printCounts(ctx context.Context, w io.Writer, pool *pgxpool.Pool, cols []*collector.Collector, c *service.Service, elapsed time.Duration) error {
	rows, err := pool.Query(ctx, `
		SELECT exchange, 'trades', count(*) FROM trades GROUP BY exchange
		UNION ALL SELECT exchange, 'candles(closed)', count(*) FROM candles WHERE closed GROUP BY exchange
		UNION ALL SELECT exchange, 'tickers', count(*) FROM tickers GROUP BY exchange
		UNION ALL SELECT exchange, 'books', count(*) FROM book_snapshots GROUP BY exchange
		UNION ALL SELECT exchange, 'rejects', count(*) FROM rejects GROUP BY exchange
		UNION ALL SELECT exchange, 'balances', count(*) FROM balances GROUP BY exchange`)
	if err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	counts := map[string]map[string]int64{}
	for rows.Next() {
		var ex, kind string
		var n int64
		if err := rows.Scan(&ex, &kind, &n); err != nil {
			return fmt.Errorf("count rows: %w", err)
		}
		if counts[ex] == nil {
			counts[ex] = map[string]int64{}
		}
		counts[ex][kind] = n
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("count rows: %w", err)
	}
	reconnects, resyncs := map[string]uint64{}, map[string]uint64{}
	for _, col := range cols {
		st := col.Status()
		reconnects[string(st.Exchange)] += st.Reconnects
		for _, ss := range st.Streams {
			if ss.Book != nil {
				for _, n := range ss.Book.Resyncs {
					resyncs[string(st.Exchange)] += n
				}
			}
		}
	}
	var parts []string
	for _, ex := range market.Exchanges() {
		m := counts[string(ex)]
		parts = append(parts, fmt.Sprintf("%s: %d trades, %d closed candles, %d tickers, %d book snapshots (%d resyncs), %d balance rows, %d rejects, %d reconnects",
			ex, m["trades"], m["candles(closed)"], m["tickers"], m["books"], resyncs[string(ex)], m["balances"], m["rejects"], reconnects[string(ex)]))
	}
	sort.Strings(parts)
	line := fmt.Sprintf("[%5.0fs] %s", elapsed.Seconds(), strings.Join(parts, " | "))
	if pub := c.Publisher(); pub != nil {
		st := pub.Status()
		line += fmt.Sprintf(" | redis: %s, %d published", st.State, st.Published)
	}
	_, err = fmt.Fprintln(w, line)
	return err
}

// ensureDatabase creates the database named in databaseURL when it does
// not exist, connecting to the server's postgres database to do so.
func ensureDatabase(ctx context.Context, databaseURL string) error {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return fmt.Errorf("DATABASE_URL: %s", redactErr(err, databaseURL))
	}
	name := cfg.Database
	if name == "" || name == "postgres" {
		return nil
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to create database %s: %s", name, redactErr(err, databaseURL))
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// redactDatabaseURL hides the password of a database URL.
func redactDatabaseURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(DATABASE_URL)"
	}
	return u.Redacted()
}

// redactErr returns err's text with the URL's password removed.
func redactErr(err error, raw string) string {
	s := err.Error()
	if u, perr := url.Parse(raw); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}
