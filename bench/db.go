package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// createDatabase creates a fresh database on the server of baseURL and
// returns its URL and a function that drops it.
func createDatabase(ctx context.Context, baseURL string) (string, func(context.Context) error, error) {
	cfg, err := pgx.ParseConfig(baseURL)
	if err != nil {
		return "", nil, fmt.Errorf("database URL: %w", err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "marketetl_bench_" + time.Now().UTC().Format("20060102_150405") + "_" + hex.EncodeToString(b[:])
	admin := cfg.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return "", nil, fmt.Errorf("connect to create the benchmark database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" {
		return "", nil, fmt.Errorf("database URL: want postgres://…, got something else")
	}
	u.Path = "/" + name
	drop := func(ctx context.Context) error {
		conn, err := pgx.ConnectConfig(ctx, admin)
		if err != nil {
			return fmt.Errorf("connect to drop %s: %w", name, err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", name, err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// redactURL hides a URL's password.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(database URL)"
	}
	return u.Redacted()
}

// The tables' columns copied by the database phase, in the order of the
// rows read back.
var (
	tradeColumns  = []string{"exchange", "symbol", "trade_id", "ts", "price", "size", "side", "received_at"}
	candleColumns = []string{"exchange", "symbol", "timeframe", "ts", "open", "high", "low", "close",
		"volume", "quote_volume", "trades", "closed", "received_at", "updated_at"}
)

const naiveInsert = `INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (exchange, symbol, trade_id, ts) DO NOTHING`

// database measures the database alone on the throughput phase's rows:
// read back, then loaded by pgx CopyFrom into the truncated tables and by
// psql \copy into tables created LIKE them (psqlBaseline), then a sample
// inserted one statement per row.
func (r *runner) database(ctx context.Context, res *Result) error {
	cfg := r.cfg
	tp := r.plans[phaseThroughput].Workload
	lo, clo := tp.tradeBase(), tp.candleBase()
	conn, err := pgx.Connect(ctx, r.dbURL)
	if err != nil {
		return fmt.Errorf("database phase: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	fmt.Fprintln(cfg.Progress, "phase copy: reading the throughput phase's rows back")
	tradeSQL := "SELECT " + strings.Join(tradeColumns, ", ") + " FROM trades WHERE ts >= $1 AND ts < $2"
	candleSQL := "SELECT " + strings.Join(candleColumns, ", ") + " FROM candles WHERE ts >= $1 AND ts < $2"
	trades, err := readRows(ctx, conn, tradeSQL, lo, lo.Add(slotSpan))
	if err != nil {
		return err
	}
	candles, err := readRows(ctx, conn, candleSQL, clo, clo.Add(candleSpan))
	if err != nil {
		return err
	}
	if len(trades) != r.counts[phaseThroughput].Trades || len(candles) != r.counts[phaseThroughput].Candles {
		return fmt.Errorf("database phase: read back %d trades and %d candles, want %d and %d",
			len(trades), len(candles), r.counts[phaseThroughput].Trades, r.counts[phaseThroughput].Candles)
	}
	var csvTrades, csvCandles string
	if cfg.Psql != "" {
		dir, err := os.MkdirTemp("", "etl-bench-")
		if err != nil {
			return fmt.Errorf("database phase: %w", err)
		}
		defer os.RemoveAll(dir)
		csvTrades, csvCandles = filepath.Join(dir, "trades.csv"), filepath.Join(dir, "candles.csv")
		if err := copyOut(ctx, conn, tradeSQL, lo, lo.Add(slotSpan), csvTrades); err != nil {
			return err
		}
		if err := copyOut(ctx, conn, candleSQL, clo, clo.Add(candleSpan), csvCandles); err != nil {
			return err
		}
	}
	truncate := func() error {
		if _, err := conn.Exec(ctx, "TRUNCATE trades, candles"); err != nil {
			return fmt.Errorf("database phase: truncate: %w", err)
		}
		_, err := conn.Exec(ctx, "CHECKPOINT")
		if err != nil {
			return fmt.Errorf("database phase: checkpoint: %w", err)
		}
		return nil
	}
	n := int64(len(trades) + len(candles))
	if err := truncate(); err != nil {
		return err
	}
	fmt.Fprintf(cfg.Progress, "phase copy: pgx CopyFrom of %d rows\n", n)
	t0 := time.Now()
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"trades"}, tradeColumns, pgx.CopyFromRows(trades)); err != nil {
		return fmt.Errorf("database phase: copy trades: %w", err)
	}
	if _, err := conn.CopyFrom(ctx, pgx.Identifier{"candles"}, candleColumns, pgx.CopyFromRows(candles)); err != nil {
		return fmt.Errorf("database phase: copy candles: %w", err)
	}
	d := time.Since(t0)
	res.Copy = &Load{Method: "pgx CopyFrom (binary, parsed values)", Rows: n, Seconds: d.Seconds(), Rate: float64(n) / d.Seconds()}
	if err := verifyCount(ctx, conn, n); err != nil {
		return err
	}
	if cfg.Psql != "" {
		if err := r.psqlBaseline(ctx, conn, res, n, csvTrades, csvCandles); err != nil {
			return err
		}
	}
	if err := truncate(); err != nil {
		return err
	}
	sample := trades[:min(len(trades), cfg.NaiveRows)]
	fmt.Fprintf(cfg.Progress, "phase naive: %d trades, one INSERT per row\n", len(sample))
	t0 = time.Now()
	for _, row := range sample {
		if _, err := conn.Exec(ctx, naiveInsert, row...); err != nil {
			return fmt.Errorf("database phase: naive insert: %w", err)
		}
	}
	d = time.Since(t0)
	res.Naive = &Load{Method: "one INSERT per row (autocommit)", Rows: int64(len(sample)), Seconds: d.Seconds(), Rate: float64(len(sample)) / d.Seconds()}
	if err := verifyCount(ctx, conn, int64(len(sample))); err != nil {
		return err
	}
	trades, candles = nil, nil
	runtime.GC()
	debug.FreeOSMemory()
	return nil
}

// The psql baseline's tables: the same columns, constraints, defaults and
// indexes as trades and candles (LIKE ... INCLUDING ALL), empty.
const (
	psqlTrades  = "bench_psql_trades"
	psqlCandles = "bench_psql_candles"
)

// psqlBaseline loads the CSV files with psql \copy into fresh tables
// created LIKE trades and candles INCLUDING ALL (after a CHECKPOINT),
// checks their counts and drops them.
func (r *runner) psqlBaseline(ctx context.Context, conn *pgx.Conn, res *Result, n int64, csvTrades, csvCandles string) error {
	for _, t := range [][2]string{{psqlTrades, "trades"}, {psqlCandles, "candles"}} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP TABLE IF EXISTS %s; CREATE TABLE %s (LIKE %s INCLUDING ALL)", t[0], t[0], t[1])); err != nil {
			return fmt.Errorf("database phase: create %s like %s: %w", t[0], t[1], err)
		}
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+psqlTrades+", "+psqlCandles); err != nil {
			r.cfg.Log.Warn("drop the psql baseline's tables", zap.Error(err))
		}
	}()
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("database phase: checkpoint: %w", err)
	}
	fmt.Fprintf(r.cfg.Progress, "phase copy: psql \\copy of %d rows from CSV into tables LIKE trades, candles INCLUDING ALL\n", n)
	t0 := time.Now()
	if err := psqlCopy(ctx, r.cfg.Psql, r.dbURL, psqlTrades, tradeColumns, csvTrades); err != nil {
		return err
	}
	if err := psqlCopy(ctx, r.cfg.Psql, r.dbURL, psqlCandles, candleColumns, csvCandles); err != nil {
		return err
	}
	d := time.Since(t0)
	res.PsqlCopy = &Load{Method: "psql \\copy from CSV into tables LIKE trades/candles INCLUDING ALL", Rows: n, Seconds: d.Seconds(), Rate: float64(n) / d.Seconds()}
	var got int64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM "+psqlTrades+") + (SELECT count(*) FROM "+psqlCandles+")").Scan(&got); err != nil {
		return fmt.Errorf("database phase: count the psql baseline's rows: %w", err)
	}
	if got != n {
		return fmt.Errorf("database phase: psql \\copy loaded %d rows, want %d", got, n)
	}
	return nil
}

// readRows reads a query's rows as parsed values.
func readRows(ctx context.Context, conn *pgx.Conn, sql string, args ...any) ([][]any, error) {
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("database phase: read rows: %w", err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		v, err := rows.Values()
		if err != nil {
			return nil, fmt.Errorf("database phase: read rows: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("database phase: read rows: %w", err)
	}
	return out, nil
}

// copyOut writes a query's rows to path as CSV.
func copyOut(ctx context.Context, conn *pgx.Conn, query string, lo, hi time.Time, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("database phase: %w", err)
	}
	defer f.Close()
	q := strings.Replace(strings.Replace(query, "$1", "'"+lo.UTC().Format(time.RFC3339Nano)+"'", 1),
		"$2", "'"+hi.UTC().Format(time.RFC3339Nano)+"'", 1)
	if _, err := conn.PgConn().CopyTo(ctx, f, "COPY ("+q+") TO STDOUT WITH (FORMAT csv)"); err != nil {
		return fmt.Errorf("database phase: write %s: %w", filepath.Base(path), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("database phase: write %s: %w", filepath.Base(path), err)
	}
	return nil
}

// psqlCopy loads a CSV file with psql's \copy.
func psqlCopy(ctx context.Context, psql, dbURL, table string, columns []string, path string) error {
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbURL,
		"-c", fmt.Sprintf(`\copy %s (%s) FROM '%s' WITH (FORMAT csv)`, table, strings.Join(columns, ", "), path))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("database phase: psql \\copy %s: %w: %s", table, err, strings.TrimSpace(out.String()))
	}
	return nil
}

// verifyCount checks that trades and candles hold n rows together.
func verifyCount(ctx context.Context, conn *pgx.Conn, n int64) error {
	var got int64
	if err := conn.QueryRow(ctx, "SELECT (SELECT count(*) FROM trades) + (SELECT count(*) FROM candles)").Scan(&got); err != nil {
		return fmt.Errorf("database phase: count rows: %w", err)
	}
	if got != n {
		return fmt.Errorf("database phase: %d rows loaded, want %d", got, n)
	}
	return nil
}

// machineInfo describes where the benchmark ran. What cannot be read is
// left empty.
func machineInfo(ctx context.Context, dbURL, redisURL string) Machine {
	m := Machine{OS: runtime.GOOS + "/" + runtime.GOARCH, Cores: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemoryMB = statusKB(b, "MemTotal:") / 1024
	}
	if conn, err := pgx.Connect(ctx, dbURL); err == nil {
		_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&m.PostgreSQL)
		conn.Close(context.WithoutCancel(ctx))
	}
	if redisURL != "" {
		if opts, err := redis.ParseURL(redisURL); err == nil {
			c := redis.NewClient(opts)
			if info, err := c.InfoMap(ctx, "server").Result(); err == nil {
				m.Redis = info["Server"]["redis_version"]
			}
			_ = c.Close()
		}
	}
	return m
}

// settle vacuums and analyzes the tables a phase filled and forces a
// checkpoint, so that the next phase starts without that work pending.
func settle(ctx context.Context, dbURL string, progress io.Writer) error {
	fmt.Fprintln(progress, "settling the database: VACUUM ANALYZE, CHECKPOINT")
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("settle the database: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, sql := range []string{"VACUUM ANALYZE trades, candles", "CHECKPOINT"} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			return fmt.Errorf("settle the database: %s: %w", sql, err)
		}
	}
	return nil
}
