package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"marketetl/dbtest"
	"marketetl/sim"
	"marketetl/store"
)

// syncBuffer is a goroutine-safe buffer for the command's output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// TestRunKeepsSecretsOut runs the service (etl run) with distinctive fake
// secrets in DATABASE_URL, REDIS_URL and ETL_ADMIN_TOKEN against the
// simulated exchange, provokes errors (Redis refuses the password, wrong
// tokens, a bad collector), and finds none of the secrets in the logs, the
// API's answers, the metrics or the status table. It also checks that the
// service stores data, writes status rows and stops cleanly.
func TestRunKeepsSecretsOut(t *testing.T) {
	const (
		dbSecret    = "DbPass-7f3a9c"
		redisSecret = "RedisPass-51be2d"
		tokenSecret = "AdminTok-c0ffee42"
	)
	secrets := []string{dbSecret, redisSecret, tokenSecret}
	ctx := t.Context()

	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, nil); err != nil {
		t.Fatal(err)
	}
	// Trust authentication ignores the password, so the service connects.
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	secretDB := fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, dbSecret, cfg.Host, cfg.Port, cfg.Database)

	s, err := sim.New(sim.Config{Seed: 3, Rate: 50}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ep, err := s.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	simCtx, stopSim := context.WithCancel(ctx)
	simDone := make(chan error, 1)
	go func() { simDone <- s.Run(simCtx) }()
	defer func() { stopSim(); <-simDone }()

	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "collectors.yaml")
	if err := os.WriteFile(yamlPath, []byte(`collectors:
  - name: okx-test
    exchange: okx
    symbols: [BTC-USDT]
    data_types: [trade, candle]
    timeframes: [1m]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := freeAddr(t)
	env := map[string]string{
		"DATABASE_URL": secretDB, "REDIS_URL": "redis://marketetl:" + redisSecret + "@127.0.0.1:6379/0",
		"ETL_ADMIN_TOKEN": tokenSecret, "ETL_ADMIN_ADDR": admin, "ETL_CONFIG": yamlPath,
		"LOG_DIR": filepath.Join(dir, "logs"), "LOG_LEVEL": "debug", "LOG_FORMAT": "json",
		"DEFAULT_HEALTH_CHECK_INTERVAL": "200ms", "GLOBAL_HEALTH_CHECK_INTERVAL": "200ms",
		"REDIS_CHANNEL_PREFIX": dbtest.Unique("secrets"),
		"OKX_WS_PUBLIC_URL":    ep.OKXPublicWS, "OKX_WS_BUSINESS_URL": ep.OKXBusinessWS, "OKX_REST_URL": ep.OKXREST,
		"BINANCE_WS_URL": ep.BinanceWS, "BINANCE_REST_URL": ep.BinanceREST,
		"COINBASE_WS_URL": ep.CoinbaseWS, "COINBASE_REST_URL": ep.CoinbaseREST,
	}
	for k, v := range env {
		t.Setenv(k, v)
	}

	runCtx, stopRun := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, []string{"run"}, &stdout, &stderr) }()

	base := "http://" + admin
	var answers strings.Builder
	call := func(method, path, token, body string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		answers.Write(b)
		return resp.StatusCode, string(b)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !cond() {
			select {
			case code := <-done:
				t.Fatalf("etl run exited with %d while waiting for %s:\n%s", code, what, stderr.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond) // polling a condition
		}
	}
	count := func(sql string) int {
		var n int
		if err := pool.QueryRow(ctx, sql).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitFor("the admin API", func() bool { code, _ := call("GET", "/healthz", "", ""); return code == 200 })
	waitFor("trades stored", func() bool { return count("SELECT count(*) FROM trades") > 0 })
	waitFor("status rows", func() bool { return count("SELECT count(*) FROM collector_status") >= 2 })
	// The unauthenticated reads are served from a cached view of the
	// database, read through the admin API's own small pool.
	waitFor("the admin API's view of the database", func() bool {
		var st struct {
			Database struct {
				State string                      `json:"state"`
				Gaps  map[string]map[string]int64 `json:"gaps"`
			} `json:"database"`
		}
		_, body := call("GET", "/api/status", "", "")
		return json.Unmarshal([]byte(body), &st) == nil && st.Database.State == "ok" && st.Database.Gaps != nil
	})
	if n := count("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'marketetl-admin' AND datname = current_database()"); n < 1 || n > 2 {
		t.Errorf("%d connections of the admin API's pool, want 1 or 2", n)
	}

	// Provoke errors.
	if code, _ := call("POST", "/api/collectors/okx-test/restart", "", ""); code != 401 {
		t.Errorf("restart without a token: %d, want 401", code)
	}
	if code, _ := call("POST", "/api/collectors/okx-test/restart", tokenSecret+"x", ""); code != 401 {
		t.Errorf("restart with a wrong token: %d, want 401", code)
	}
	if code, _ := call("POST", "/api/collectors", tokenSecret, `{"name":"Bad Name","exchange":"bitstamp"}`); code != 400 {
		t.Errorf("bad collector: %d, want 400", code)
	}
	if code, _ := call("POST", "/api/collectors/okx-test/restart", tokenSecret, ""); code != 202 {
		t.Errorf("restart with the token: %d, want 202", code)
	}
	if _, body := call("GET", "/api/status", "", ""); !strings.Contains(body, `"components"`) || !strings.Contains(body, `"redis"`) || !strings.Contains(body, `"connected": false`) {
		t.Errorf("/api/status does not say that Redis (which refuses the user and password) is down:\n%s", body)
	}
	for _, p := range []string{"/api/status", "/api/collectors", "/api/collectors/okx-test", "/api/collectors/okx-test/health", "/readyz", "/metrics"} {
		call("GET", p, "", "")
	}
	if !strings.Contains(answers.String(), "etl_redis_up") || !strings.Contains(answers.String(), "etl_collector_messages_received_total") ||
		!strings.Contains(answers.String(), "etl_store_flush_duration_seconds_bucket") {
		t.Error("metrics lack the data path's or the collectors' series")
	}
	if !strings.Contains(answers.String(), `etl_gaps{exchange="okx",state="open"}`) {
		t.Error("metrics lack the gap counts of the read cache")
	}

	// SIGHUP re-reads the file and applies the difference: a new collector.
	if err := os.WriteFile(yamlPath, []byte(`collectors:
  - name: okx-test
    exchange: okx
    symbols: [BTC-USDT]
    data_types: [trade, candle]
    timeframes: [1m]
  - name: okx-second
    exchange: okx
    symbols: [ETH-USDT]
    data_types: [trade]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// Our own registration keeps SIGHUP from ending the test process even
	// before the service has registered its handler; repeated signals are
	// harmless, since only differences are applied.
	hup := make(chan os.Signal, 16)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	waitFor("the collector added by SIGHUP", func() bool {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		code, _ := call("GET", "/api/collectors/okx-second", "", "")
		return code == 200
	})
	waitFor("the added collector's trades", func() bool { return count("SELECT count(*) FROM trades WHERE symbol = 'ETH-USDT'") > 0 })

	stopRun()
	select {
	case code := <-done:
		if code != 0 {
			t.Errorf("etl run exited with %d:\n%s", code, stderr.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("etl run did not stop")
	}

	logs, err := os.ReadFile(filepath.Join(dir, "logs", "etl.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logs), "WRONGPASS") {
		t.Error("the logs do not show the Redis failure that was provoked")
	}
	rows, err := pool.Query(ctx, "SELECT coalesce(last_error, '') || ' ' || coalesce(array_to_string(issues, ' '), '') FROM collector_status")
	if err != nil {
		t.Fatal(err)
	}
	var statusText strings.Builder
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		statusText.WriteString(s)
	}
	rows.Close()
	for where, text := range map[string]string{
		"logs": string(logs), "stderr": stderr.String(), "stdout": stdout.String(),
		"API answers and metrics": answers.String(), "collector_status": statusText.String(),
	} {
		for _, sec := range secrets {
			if strings.Contains(text, sec) {
				t.Errorf("secret %q found in %s", sec, where)
			}
		}
	}
}

// TestRunWithDatabaseDownFailsClearly starts the service against a closed
// port: after DATABASE_WAIT it exits 1 with an error naming DATABASE_URL.
func TestRunWithDatabaseDownFailsClearly(t *testing.T) {
	dir := t.TempDir()
	yamlPath := filepath.Join(dir, "collectors.yaml")
	if err := os.WriteFile(yamlPath, []byte("collectors:\n  - name: a\n    exchange: okx\n    symbols: [BTC-USDT]\n    data_types: [trade]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DATABASE_URL", "postgres://postgres:Sekr1t-99@127.0.0.1:1/marketetl?sslmode=disable")
	t.Setenv("DATABASE_WAIT", "1s")
	t.Setenv("ETL_CONFIG", yamlPath)
	t.Setenv("ETL_ADMIN_ADDR", "")
	var stdout, stderr syncBuffer
	code := run(t.Context(), []string{"run"}, &stdout, &stderr)
	if code != 1 {
		t.Fatalf("exit %d, want 1; stderr:\n%s", code, stderr.String())
	}
	out := stderr.String()
	if !strings.Contains(out, "DATABASE_URL") || !strings.Contains(out, "DATABASE_WAIT") {
		t.Errorf("error does not name DATABASE_URL and DATABASE_WAIT:\n%s", out)
	}
	if strings.Contains(out, "Sekr1t-99") {
		t.Errorf("the password leaked:\n%s", out)
	}
}

// TestBadConfigurationNamesTheVariable checks the exit status and message
// of a bad environment.
func TestBadConfigurationNamesTheVariable(t *testing.T) {
	t.Setenv("STORE_BATCH_SIZE", "lots")
	var stdout, stderr syncBuffer
	if code := run(t.Context(), []string{"run"}, &stdout, &stderr); code != 1 {
		t.Fatalf("exit %d, want 1", code)
	}
	if !strings.Contains(stderr.String(), "STORE_BATCH_SIZE") {
		t.Errorf("error does not name STORE_BATCH_SIZE: %s", stderr.String())
	}
}
