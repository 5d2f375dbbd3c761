package main

import (
	"fmt"
	"math"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/dbtest"
	"marketetl/store"
)

// TestDashboardQueriesSameOnTimescaleDB fills the same rows into a plain
// PostgreSQL database and a TimescaleDB one (TEST_TIMESCALEDB_URL, a
// maintenance database on a server that preloads timescaledb) and checks
// that every dashboard query returns the same rows on both: the roll-ups
// (views against continuous aggregates) and $__timeGroup (floor of the
// epoch against time_bucket). Skipped without TEST_TIMESCALEDB_URL.
func TestDashboardQueriesSameOnTimescaleDB(t *testing.T) {
	tsdbAdmin := os.Getenv("TEST_TIMESCALEDB_URL")
	if tsdbAdmin == "" {
		t.Skip("TEST_TIMESCALEDB_URL is not set: no TimescaleDB server to compare with")
	}
	anchor := time.Now().UTC().Truncate(time.Hour).Add(-3 * time.Hour)
	plain := filledDatabase(t, dbtest.NewDatabase(t), anchor)
	t.Setenv("TEST_DATABASE_URL", tsdbAdmin)
	tsdb := filledDatabase(t, dbtest.NewDatabase(t), anchor)
	var ext bool
	if err := tsdb.QueryRow(t.Context(), `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&ext); err != nil || !ext {
		t.Fatalf("TEST_TIMESCALEDB_URL's server did not get the timescaledb extension (%v)", err)
	}
	for _, v := range []string{"candles_1h", "candles_1d"} {
		if _, err := tsdb.Exec(t.Context(), `CALL refresh_continuous_aggregate($1, NULL, NULL)`, v); err != nil {
			t.Fatal(err)
		}
	}
	g := grafanaQuery{From: anchor.Add(-time.Hour), To: anchor.Add(4 * time.Hour), Interval: time.Minute}
	compared := 0
	for file, d := range loadDashboards(t) {
		gp, gt := g, g
		gt.TimescaleDB = true
		gp.Vars = resolveVariables(t, plain, gp, file, d)
		gt.Vars = resolveVariables(t, tsdb, gt, file, d)
		if !reflect.DeepEqual(gp.Vars, gt.Vars) {
			t.Errorf("%s: variables %v on PostgreSQL, %v on TimescaleDB", file, gp.Vars, gt.Vars)
		}
		for _, p := range flatPanels(d.Panels) {
			for _, tg := range p.Targets {
				if tg.RawSQL == "" {
					continue
				}
				compared++
				a, b := queryRows(t, plain, gp, tg.RawSQL), queryRows(t, tsdb, gt, tg.RawSQL)
				if len(a) != len(b) {
					t.Errorf("%s/%s: %d rows on PostgreSQL, %d on TimescaleDB", file, p.Title, len(a), len(b))
					continue
				}
				for i := range a {
					if a[i] != b[i] {
						t.Errorf("%s/%s: row %d differs:\nPostgreSQL:  %s\nTimescaleDB: %s", file, p.Title, i, a[i], b[i])
						break
					}
				}
			}
		}
	}
	t.Logf("compared %d queries", compared)
}

// queryRows runs an expanded query and returns its rows as comparable
// strings: times as Unix seconds (time_bucket gives timestamps where the
// plain expansion gives epochs), columns computed from now() (ages) left
// out.
func queryRows(t *testing.T, pool *pgxpool.Pool, g grafanaQuery, raw string) []string {
	t.Helper()
	q, err := g.expand(raw)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		line := ""
		for i, v := range vals {
			if strings.HasSuffix(rows.FieldDescriptions()[i].Name, "age_seconds") {
				continue
			}
			switch x := v.(type) {
			case time.Time:
				v = x.Unix()
			case pgtype.Numeric:
				f, err := x.Float64Value()
				if err != nil {
					t.Fatal(err)
				}
				v = fmt.Sprintf("%.9g", f.Float64)
			case float64:
				v = fmt.Sprintf("%.9g", x)
			}
			if i == 0 {
				if s, ok := v.(string); ok { // an epoch from the plain expansion
					if f, err := strconv.ParseFloat(s, 64); err == nil && f == math.Trunc(f) {
						v = int64(f)
					}
				}
			}
			line += fmt.Sprintf("%v|", v)
		}
		out = append(out, line)
	}
	return out
}

// filledDatabase migrates dbURL and fills it with the same rows relative
// to anchor: 3 hours of closed 1m candles, trades and book snapshots for
// two streams, health rows, gaps, rejects, an account's balances (from
// before the range on) and the instances of a cluster.
func filledDatabase(t *testing.T, dbURL string, anchor time.Time) *pgxpool.Pool {
	t.Helper()
	ctx := t.Context()
	if err := store.Migrate(ctx, dbURL, nil); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	for _, q := range []string{
		`INSERT INTO candles (exchange, symbol, timeframe, ts, open, high, low, close, volume, quote_volume, trades, closed, received_at, updated_at)
		 SELECT ex, 'BTC-USDT', '1m', $1::timestamptz + i * INTERVAL '1 minute', 100 + i % 7, 115 + i % 5, 90 + i % 3, 101 + i % 11, 1 + i % 4, 100, 3, true, $1, $1::timestamptz + i * INTERVAL '1 minute' + INTERVAL '5 minutes'
		 FROM generate_series(0, 179) i, unnest(ARRAY['binance', 'okx']) ex`,
		`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
		 SELECT ex, 'BTC-USDT', i::text, $1::timestamptz + i * INTERVAL '7 seconds', 100 + i % 13, 0.5 + (i % 3), CASE WHEN i % 3 = 0 THEN 'sell' ELSE 'buy' END, $1
		 FROM generate_series(0, 1500) i, unnest(ARRAY['binance', 'okx']) ex`,
		`INSERT INTO tickers (exchange, symbol, ts, last, bid, ask, received_at)
		 SELECT ex, 'BTC-USDT', $1::timestamptz + i * INTERVAL '1 minute', 100, 99, 101, $1 FROM generate_series(0, 179) i, unnest(ARRAY['binance', 'okx']) ex`,
		`INSERT INTO collector_status (ts, collector, exchange, status, healthy, issues, restarts, reconnect_attempts, time_since_data_seconds, last_error)
		 SELECT $1::timestamptz + i * INTERVAL '30 seconds', c, split_part(c, '-', 1), CASE WHEN i % 50 = 7 THEN 'restarting' ELSE 'running' END,
		        i % 50 <> 7, CASE WHEN i % 50 = 7 THEN '{"stale"}'::text[] ELSE '{}' END, i / 50, i / 40, (i % 9)::float8,
		        CASE WHEN i % 50 = 7 THEN 'read: connection reset' END
		 FROM generate_series(0, 359) i, unnest(ARRAY['binance-main', 'okx-main']) c`,
		`INSERT INTO gaps (exchange, symbol, data_type, from_ts, to_ts, reason, status, filled_rows, unfillable_reason, created_at, updated_at)
		 SELECT CASE WHEN i % 2 = 0 THEN 'okx' ELSE 'binance' END, 'BTC-USDT', 'trade', $1, $1::timestamptz + INTERVAL '1 minute',
		        (ARRAY['disconnect', 'restart', 'trade_id_jump'])[1 + i % 3], (ARRAY['filled', 'unfillable', 'open'])[1 + i % 3], i * 10,
		        CASE WHEN i % 3 = 1 THEN 'history_unavailable' END,
		        $1::timestamptz + i * INTERVAL '9 minutes', $1::timestamptz + i * INTERVAL '9 minutes' + INTERVAL '2 minutes'
		 FROM generate_series(0, 17) i`,
		`INSERT INTO rejects (ts, exchange, symbol, data_type, reason, field, detail)
		 SELECT $1::timestamptz + i * INTERVAL '13 minutes', 'okx', 'BTC-USDT', 'trade', (ARRAY['non_positive_price', 'future_timestamp'])[1 + i % 2], 'price', 'detail ' || i
		 FROM generate_series(0, 12) i`,
		`INSERT INTO book_snapshots (exchange, symbol, ts, sequence, depth, bids, asks, received_at)
		 SELECT ex, 'BTC-USDT', $1::timestamptz + i * INTERVAL '1 minute', i, 2,
		        ARRAY[ARRAY[99.5 - (i % 5) * 0.1, 1 + i % 3], ARRAY[99, 2.25]]::numeric[],
		        ARRAY[ARRAY[100.5 + (i % 4) * 0.1, 1.5], ARRAY[101, 3 + i % 2]]::numeric[], $1
		 FROM generate_series(0, 179) i, unnest(ARRAY['binance', 'okx']) ex`,
		`INSERT INTO balances (exchange, account, asset, ts, free, locked, received_at)
		 SELECT 'okx', 'main', a, $1::timestamptz + i * INTERVAL '10 minutes',
		        CASE a WHEN 'BTC' THEN 1.5 + i * 0.001 ELSE 25000 - i * 37 END, ((i + 12) % 4) * 0.01, $1
		 FROM generate_series(-12, 17) i, unnest(ARRAY['BTC', 'USDT']) a`,
		`INSERT INTO instances (instance_id, started_at, heartbeat_at, owned)
		 VALUES ('etl-a', $1, $1::timestamptz + INTERVAL '3 hours', '{okx-main}'), ('etl-b', $1, $1, '{}')`,
	} {
		if _, err := pool.Exec(ctx, q, anchor); err != nil {
			t.Fatalf("%v\n%s", err, q)
		}
	}
	return pool
}
