package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"marketetl/dbtest"
	"marketetl/market"
	"marketetl/sim"
	"marketetl/store"
)

// TestDashboardQueries runs the service (as one instance of a cluster,
// with order books and a balance collector) against the simulated
// exchanges into a fresh migrated database, adds the rows the simulator
// does not produce (gaps in every state, a collector error, instances of a
// cluster), then runs
// every SQL query of the provisioned dashboards, expanded as Grafana's
// PostgreSQL datasource expands it, and checks that it returns rows with
// the columns its panel reads (time first for time series). Every PromQL
// query, in the dashboards and in the alerting rules, must name metrics
// that the running service's /metrics exposes.
func TestDashboardQueries(t *testing.T) {
	ctx := t.Context()
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(ctx, dbURL, nil); err != nil {
		t.Fatal(err)
	}
	exposed, started, prom := runServiceForDashboards(t, dbURL)
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	addQualityRows(t, pool)

	var tsdb bool
	if err := pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&tsdb); err != nil {
		t.Fatal(err)
	}
	if tsdb {
		for _, v := range []string{"candles_1h", "candles_1d"} {
			if _, err := pool.Exec(ctx, `CALL refresh_continuous_aggregate($1, NULL, NULL)`, v); err != nil {
				t.Fatalf("refresh %s: %v", v, err)
			}
		}
	}
	// The simulator's exchange time starts six hours before the wall clock.
	g := grafanaQuery{From: started.Add(-12 * time.Hour), To: time.Now().Add(time.Minute), Interval: time.Minute, TimescaleDB: tsdb}

	sqlQueries, promQueries := 0, 0
	for file, d := range loadDashboards(t) {
		g.Vars = resolveVariables(t, pool, g, file, d)
		for _, p := range flatPanels(d.Panels) {
			for _, tg := range p.Targets {
				ds := tg.Datasource.Type
				if ds == "" {
					ds = p.Datasource.Type
				}
				name := file + "/" + p.Title + "/" + tg.RefID
				switch ds {
				case postgresDatasource:
					sqlQueries++
					t.Run("sql/"+name, func(t *testing.T) { checkPanelSQL(t, pool, g, p, tg) })
				case prometheusDatasource:
					promQueries++
					t.Run("promql/"+name, func(t *testing.T) {
						ms := promMetrics(tg.Expr)
						if len(ms) == 0 {
							t.Fatalf("%q names no metric of the service", tg.Expr)
						}
						for _, m := range ms {
							if !exposed[m] {
								t.Errorf("%q reads %s, which /metrics does not expose", tg.Expr, m)
							}
						}
						if prom == nil {
							return
						}
						// Prometheus itself parses and evaluates it over the
						// run, on what it scraped from the service.
						n, err := prom.series(t.Context(), tg.Expr, started, time.Now())
						if err != nil {
							t.Fatalf("prometheus: %q: %v", tg.Expr, err)
						}
						if n == 0 {
							t.Errorf("prometheus: %q gives no series over the run", tg.Expr)
						}
					})
				default:
					t.Errorf("%s: datasource type %q", name, ds)
				}
			}
		}
	}
	checkAlertRules(t, exposed)
	if prom != nil {
		prom.checkRules(t)
	}
	if sqlQueries < 20 || promQueries < 8 {
		t.Errorf("found %d SQL and %d PromQL queries: the dashboards were not read", sqlQueries, promQueries)
	}
}

// checkPanelSQL runs one expanded query and checks its columns.
func checkPanelSQL(t *testing.T, pool *pgxpool.Pool, g grafanaQuery, p grafanaPanel, tg grafanaTarget) {
	q, err := g.expand(tg.RawSQL)
	if err != nil {
		t.Fatalf("expand: %v", err)
	}
	rows, err := pool.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("query failed: %v\n%s", err, q)
	}
	fds := rows.FieldDescriptions()
	n := 0
	for rows.Next() {
		n++
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query failed: %v\n%s", err, q)
	}
	cols := make([]string, len(fds))
	for i, f := range fds {
		cols[i] = f.Name
	}
	if n == 0 {
		t.Errorf("no rows (columns %v):\n%s", cols, q)
	}
	timeSeries := tg.Format == "time_series" || slices.Contains([]string{"timeseries", "candlestick", "state-timeline"}, p.Type)
	if timeSeries {
		if len(fds) < 2 || fds[0].Name != "time" || !timeOIDs[fds[0].DataTypeOID] {
			t.Errorf("a time series needs a first column \"time\" holding a time (or epoch); columns %v, first type oid %d", cols, fds[0].DataTypeOID)
		}
	}
	if tg.Format == "time_series" {
		for _, f := range fds[1:] {
			if f.Name == "metric" {
				if f.DataTypeOID != pgtypeText {
					t.Errorf("column metric must be text (oid %d)", f.DataTypeOID)
				}
				continue
			}
			if !numericOIDs[f.DataTypeOID] {
				t.Errorf("value column %s of a time series must be numeric (oid %d)", f.Name, f.DataTypeOID)
			}
		}
	}
	// Every column the panel names in its options must be one the query
	// returns.
	var want []string
	for _, f := range p.Options.Fields {
		want = append(want, f)
	}
	if p.Options.XField != "" {
		want = append(want, p.Options.XField)
	}
	for _, o := range p.FieldConfig.Overrides {
		if s, ok := o.Matcher.Options.(string); ok && o.Matcher.ID == "byName" {
			want = append(want, s)
		}
	}
	for _, tr := range p.Transformations {
		want = append(want, tr.Options.Fields...)
	}
	for _, w := range want {
		if !slices.Contains(cols, w) {
			t.Errorf("the panel reads column %q, which the query does not return (columns %v)", w, cols)
		}
	}
}

const pgtypeText = 25

var (
	timeOIDs    = map[uint32]bool{1184: true, 1114: true, 701: true, 1700: true, 20: true}
	numericOIDs = map[uint32]bool{20: true, 21: true, 23: true, 700: true, 701: true, 1700: true}
)

// resolveVariables runs the dashboard's variable queries in order and
// takes the first value of each, as Grafana does for a new viewer.
func resolveVariables(t *testing.T, pool *pgxpool.Pool, g grafanaQuery, file string, d grafanaDashboard) map[string]string {
	t.Helper()
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type != "query" || v.Datasource.Type != postgresDatasource {
			t.Errorf("%s: variable %s: want a query on the PostgreSQL datasource", file, v.Name)
			continue
		}
		g.Vars = vars
		q, err := g.expand(v.Query)
		if err != nil {
			t.Fatalf("%s: variable %s: %v", file, v.Name, err)
		}
		var first string
		if err := pool.QueryRow(t.Context(), q).Scan(&first); err != nil {
			t.Fatalf("%s: variable %s: %v\n%s", file, v.Name, err, q)
		}
		vars[v.Name] = first
	}
	return vars
}

// runServiceForDashboards runs etl run against the simulator until closed
// 1m candles, trades, tickers and health rows are stored, and returns the
// metric names /metrics exposed then and when the run started.
func runServiceForDashboards(t *testing.T, dbURL string) (map[string]bool, time.Time, *promServer) {
	ctx := t.Context()
	started := time.Now()
	// Exchange time runs 200 times faster than the wall clock, from six
	// hours ago, so that minutes close within seconds.
	s, err := sim.New(sim.Config{Seed: 15, Rate: 200}, nil)
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
  - name: okx-main
    exchange: okx
    symbols: [BTC-USDT]
    data_types: [trade, candle, ticker, orderbook]
    timeframes: [1m, 5m]
  - name: binance-main
    exchange: binance
    symbols: [BTC-USDT]
    data_types: [trade, candle, ticker, orderbook]
    timeframes: [1m, 5m]
  - name: okx-balances
    exchange: okx
    data_types: [balance]
    credentials: OKX_DASH
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// The balance collector's account, before it logs in: its first
	// snapshot stores these rows.
	if _, err := s.SetBalances(market.OKX, false,
		sim.BalanceChange{Asset: "BTC", Free: decimal.RequireFromString("1.5"), Locked: decimal.RequireFromString("0.02")},
		sim.BalanceChange{Asset: "USDT", Free: decimal.RequireFromString("25000"), Locked: decimal.Zero}); err != nil {
		t.Fatal(err)
	}
	key := sim.DemoAPIKey(market.OKX)
	admin := freeAddr(t)
	for k, v := range map[string]string{
		"OKX_DASH_API_KEY": key.Key, "OKX_DASH_API_SECRET": key.Secret, "OKX_DASH_API_PASSPHRASE": key.Passphrase,
		"OKX_WS_PRIVATE_URL": ep.OKXPrivateWS(),
		// One instance of a cluster, so that /metrics has the cluster's
		// metrics for the cluster panels.
		"ETL_CLUSTER": "true", "ETL_INSTANCE_ID": "dash-test",
		"DATABASE_URL": dbURL, "REDIS_URL": dbtest.RedisURL(), "REDIS_CHANNEL_PREFIX": dbtest.Unique("dash"),
		"ETL_ADMIN_ADDR": admin, "ETL_CONFIG": yamlPath, "SPOOL_DIR": filepath.Join(dir, "spool"),
		"DEFAULT_HEALTH_CHECK_INTERVAL": "1s", "GLOBAL_HEALTH_CHECK_INTERVAL": "1s", "LOG_LEVEL": "warn",
		"OKX_WS_PUBLIC_URL": ep.OKXPublicWS, "OKX_WS_BUSINESS_URL": ep.OKXBusinessWS, "OKX_REST_URL": ep.OKXREST,
		"BINANCE_WS_URL": ep.BinanceWS, "BINANCE_REST_URL": ep.BinanceREST,
		"COINBASE_WS_URL": ep.CoinbaseWS, "COINBASE_REST_URL": ep.CoinbaseREST,
	} {
		t.Setenv(k, v)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() { done <- run(runCtx, []string{"run"}, &stdout, &stderr) }()
	defer func() {
		stopRun()
		if code := <-done; code != 0 {
			t.Errorf("etl run exited with %d:\n%s", code, stderr.String())
		}
	}()
	prom := startPrometheus(t, admin)

	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	count := func(q string) int {
		var n int
		if err := pool.QueryRow(ctx, q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	deadline := time.Now().Add(90 * time.Second)
	injected := false
	for count(`SELECT count(*) FROM candles WHERE timeframe = '1m' AND closed AND exchange = 'binance'`) < 70 ||
		count(`SELECT count(*) FROM tickers`) == 0 || count(`SELECT count(DISTINCT collector) FROM collector_status`) < 3 ||
		count(`SELECT count(*) FROM rejects`) == 0 || count(`SELECT count(*) FROM balances`) == 0 ||
		count(`SELECT count(DISTINCT exchange) FROM book_snapshots`) < 2 {
		if !injected && count(`SELECT count(*) FROM trades WHERE exchange = 'binance'`) > 0 {
			// A trade the validation refuses, for the rejects panels.
			if _, err := s.InjectInvalidTrade(market.Binance, "BTC-USDT"); err != nil {
				t.Fatal(err)
			}
			injected = true
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("etl run exited with %d:\n%s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the simulator's data:\n%s", stderr.String())
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	if prom != nil {
		prom.waitScraped(t, 5)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	exposed := map[string]bool{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 8<<20))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		exposed[name] = true
	}
	if len(exposed) == 0 {
		t.Fatal("/metrics exposed nothing")
	}
	return exposed, started, prom
}

// addQualityRows adds what a calm simulated run does not produce: gaps in
// every state, a collector's error and the rows of a cluster's instances.
func addQualityRows(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	batch := &pgx.Batch{}
	batch.Queue(`INSERT INTO gaps (exchange, symbol, data_type, timeframe, from_ts, to_ts, reason, status, attempts, filled_rows, unfillable_reason, created_at, updated_at)
		VALUES ('binance', 'BTC-USDT', 'trade', NULL, now() - INTERVAL '2 hours', now() - INTERVAL '119 minutes', 'disconnect', 'filled', 1, 42, NULL, now() - INTERVAL '2 hours', now() - INTERVAL '100 minutes'),
		       ('okx', 'BTC-USDT', 'candle', '1m', now() - INTERVAL '3 hours', now() - INTERVAL '170 minutes', 'restart', 'unfillable', 2, 0, 'history_unavailable', now() - INTERVAL '3 hours', now() - INTERVAL '150 minutes'),
		       ('okx', 'BTC-USDT', 'trade', NULL, now() - INTERVAL '10 minutes', now() - INTERVAL '9 minutes', 'trade_id_jump', 'open', 0, 0, NULL, now() - INTERVAL '10 minutes', now() - INTERVAL '10 minutes')`)
	// Instances of a cluster: the test's own instance deleted its row when
	// it stopped.
	batch.Queue(`INSERT INTO instances (instance_id, started_at, heartbeat_at, owned)
		VALUES ('etl-a', now() - INTERVAL '2 hours', now() - INTERVAL '1 second', '{okx-main,okx-balances}'),
		       ('etl-b', now() - INTERVAL '3 hours', now() - INTERVAL '40 minutes', '{}')`)
	batch.Queue(`INSERT INTO collector_status (ts, collector, exchange, status, healthy, issues, last_error)
		VALUES (now() - INTERVAL '1 minute', 'okx-main', 'okx', 'restarting', false, '{"no data for 6m0s"}', 'read: connection reset by peer')`)
	if err := pool.SendBatch(t.Context(), batch).Close(); err != nil {
		t.Fatal(err)
	}
}
