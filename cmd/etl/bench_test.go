package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"marketetl/bench"
	"marketetl/dbtest"
)

// TestBenchQuick runs `etl bench --quick` end to end against the real
// PostgreSQL and Redis, with the frame server in a child process (this
// test binary re-executed: see benchChild). It checks correctness only —
// every record sent is committed and published, the JSON is written, the
// table has every row, the database is dropped — never a speed.
func TestBenchQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end benchmark run")
	}
	t.Setenv("DATABASE_URL", dbtest.AdminURL())
	t.Setenv("REDIS_URL", dbtest.RedisURL())
	t.Setenv("REDIS_CHANNEL_PREFIX", dbtest.Unique("bench"))
	t.Setenv("LOG_LEVEL", "error")
	t.Setenv(benchChildEnv, "1")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"bench", "--quick", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("etl bench --quick: exit %d\nstderr:\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.Result
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("result JSON: %v", err)
	}
	for _, p := range []*bench.PhaseResult{res.Throughput, res.Latency, res.Burst, res.Stall} {
		if p == nil {
			t.Fatalf("a phase is missing: %s", b)
		}
		if p.Records == 0 || p.Committed != p.Records || p.Published != p.Records || p.Lost != 0 {
			t.Errorf("phase %s: %d sent, %d committed, %d published, %d lost", p.Name, p.Records, p.Committed, p.Published, p.Lost)
		}
		if p.Server.Sent != int(p.Records) || p.Server.ServerCloses != 0 || p.Service.Reconnects != 0 {
			t.Errorf("phase %s: server %+v, service %+v", p.Name, p.Server, p.Service)
		}
	}
	// The stall phase held the lock, and records arrived meanwhile.
	if st := res.Stall; st.StallSeconds <= 0 || st.PublishDuringStall == nil || st.PublishDuringStall.Count == 0 {
		t.Errorf("stall phase: locked %.1f s, publish during the stall %+v", st.StallSeconds, st.PublishDuringStall)
	}
	if res.PsqlCopy == nil || res.PsqlCopy.Rows != res.Throughput.Records {
		t.Errorf("psql baseline %+v, want %d rows", res.PsqlCopy, res.Throughput.Records)
	}
	if res.Throughput.RowsTrades != int64(res.Throughput.Trades) || res.Throughput.RowsCandles != int64(res.Throughput.Candles) {
		t.Errorf("throughput phase: tables hold %d trades and %d candles, sent %d and %d",
			res.Throughput.RowsTrades, res.Throughput.RowsCandles, res.Throughput.Trades, res.Throughput.Candles)
	}
	if res.Latency.ToPublish == nil || res.Latency.ToPublish.Count != res.Latency.Records ||
		res.Latency.ToCommit == nil || res.Latency.ToCommit.Count != res.Latency.Records {
		t.Errorf("latency phase: every record's latency should be recorded: %+v %+v", res.Latency.ToPublish, res.Latency.ToCommit)
	}
	wantRows := int64(res.Throughput.Records)
	if res.Copy == nil || res.Copy.Rows != wantRows || res.Naive == nil || res.Naive.Rows == 0 {
		t.Errorf("database phase: copy %+v, naive %+v, want %d rows copied", res.Copy, res.Naive, wantRows)
	}
	if res.Machine.Cores == 0 || res.Machine.PostgreSQL == "" || len(res.Targets) == 0 {
		t.Errorf("machine %+v, targets %+v", res.Machine, res.Targets)
	}
	for _, name := range bench.TableRows {
		if !strings.Contains(stdout.String(), "| "+name+" |") {
			t.Errorf("table has no row %q:\n%s", name, stdout.String())
		}
	}
	// The run's database is gone.
	conn, err := pgx.Connect(t.Context(), dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var left int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname LIKE 'marketetl_bench_%' AND datname = ANY($1)",
		benchDatabases(stderr.String())).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("the benchmark database was not dropped")
	}
}

// TestBenchSymbolsQuick runs `etl bench --symbols --quick` end to end:
// the simulated exchange in a child process, three collectors in one
// service, a mass disconnect, and the books phase. It checks correctness
// only: every stream subscribed, every connection resubscribed after the
// drop, the database exactly what was sent, the JSON and the table
// written, the databases dropped — never a speed.
func TestBenchSymbolsQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end benchmark run")
	}
	t.Setenv("DATABASE_URL", dbtest.AdminURL())
	t.Setenv("REDIS_URL", dbtest.RedisURL())
	t.Setenv("REDIS_CHANNEL_PREFIX", dbtest.Unique("bench"))
	t.Setenv("LOG_LEVEL", "error")
	t.Setenv(benchChildEnv, "1")
	out := filepath.Join(t.TempDir(), "result.json")
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"bench", "--symbols", "30", "--quick", "--out", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("etl bench --symbols 30 --quick: exit %d\nstderr:\n%s", code, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var res bench.SymbolsResult
	if err := json.Unmarshal(b, &res); err != nil {
		t.Fatalf("result JSON: %v", err)
	}
	th, bk := res.Thousand, res.Books
	if th == nil || bk == nil {
		t.Fatalf("a phase is missing: %s", b)
	}
	for _, p := range []*bench.SymbolsPhase{th, bk} {
		v := p.Verify
		if v == nil || !v.Exact() || v.Sent.Trades == 0 {
			t.Errorf("phase %s: database against what was sent: %+v", p.Name, v)
		}
		if p.Streams == 0 || p.StartupSeconds <= 0 || p.Records == 0 || p.PeakRSS == 0 {
			t.Errorf("phase %s: %+v", p.Name, p)
		}
	}
	if v := th.Verify; v.Sent.Tickers == 0 || v.Sent.Candles == 0 {
		t.Errorf("thousand phase: no tickers or candles sent: %+v", v.Sent)
	}
	// 10 symbols per exchange with trades, tickers and 1m candles: one
	// connection each, OKX two (public and business).
	if th.Streams != 90 || th.Dropped != 4 || th.ResubscribeSeconds <= 0 {
		t.Errorf("thousand phase: %d streams, %d connections dropped, resubscribed in %.1fs", th.Streams, th.Dropped, th.ResubscribeSeconds)
	}
	if bk.Verify.BookSnapshots == 0 {
		t.Errorf("books phase: no book snapshot stored: %+v", bk.Verify)
	}
	if len(res.Targets) == 0 || !strings.Contains(stdout.String(), "| mass disconnect") {
		t.Errorf("targets %+v; table:\n%s", res.Targets, stdout.String())
	}
	conn, err := pgx.Connect(t.Context(), dbtest.AdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var left int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = ANY($1)",
		benchDatabases(stderr.String())).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Errorf("%d benchmark databases were not dropped", left)
	}
}

// benchDatabases finds the database names the run announced.
func benchDatabases(progress string) []string {
	var out []string
	for _, f := range strings.Fields(progress) {
		if i := strings.Index(f, "/marketetl_bench_"); i >= 0 {
			name, _, _ := strings.Cut(f[i+1:], "?")
			out = append(out, name)
		}
	}
	return out
}

// benchChildEnv marks this test binary's re-execution as the benchmark's
// frame server child (etl bench starts `<its own executable> bench --serve`).
const benchChildEnv = "MARKETETL_BENCH_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(benchChildEnv) == "1" && len(os.Args) > 2 && os.Args[1] == "bench" && (os.Args[2] == "--serve" || os.Args[2] == "--serve-sim") {
		os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(runTests(m))
}

// runTests runs the package's tests with SPOOL_DIR (whose default is
// relative to the working directory) in a temporary directory, so that a
// test that runs the service leaves nothing in the source tree.
func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "etl-test-spool-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if os.Getenv("SPOOL_DIR") == "" {
		if err := os.Setenv("SPOOL_DIR", dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}
