package store

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fillRetention inserts, relative to now, old and new rows into trades,
// rejects and gaps: 10 trades a day old and 4 an hour old; 5 rejects a day
// old and 1 new; gaps: 3 filled a day ago, 2 filled now, 2 open and 1
// unfillable a day ago.
func fillRetention(t *testing.T, ctx context.Context, r *Retention, now time.Time) {
	t.Helper()
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := r.pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	day, hour := now.Add(-24*time.Hour), now.Add(-time.Hour)
	exec(`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
		SELECT 'okx', 'BTC-USDT', i::text, $1::timestamptz + i * INTERVAL '1 ms', 100, 1, 'buy', $1 FROM generate_series(1, 10) i`, day)
	exec(`INSERT INTO trades (exchange, symbol, trade_id, ts, price, size, side, received_at)
		SELECT 'okx', 'BTC-USDT', (100 + i)::text, $1::timestamptz + i * INTERVAL '1 ms', 100, 1, 'sell', $1 FROM generate_series(1, 4) i`, hour)
	exec(`INSERT INTO rejects (ts, reason) SELECT $1, 'bad_price' FROM generate_series(1, 5)`, day)
	exec(`INSERT INTO rejects (ts, reason) VALUES ($1, 'bad_price')`, hour)
	gap := `INSERT INTO gaps (exchange, symbol, data_type, from_ts, to_ts, reason, status, updated_at)
		SELECT 'okx', 'BTC-USDT', 'trade', $1, $1, 'reconnect', $2, $1 FROM generate_series(1, $3::int)`
	exec(gap, day, "filled", 3)
	exec(gap, hour, "filled", 2)
	exec(gap, day, "open", 2)
	exec(gap, day, "unfillable", 1)
}

func TestRetentionPassDeletesOnlyOldRowsInBoundedBatches(t *testing.T) {
	ctx := t.Context()
	_, pool := migratedDB(t)
	now := time.Now().UTC().Truncate(time.Second)
	reg := prometheus.NewRegistry()
	r, err := NewRetention(RetentionConfig{
		Rules: []RetentionRule{
			{Table: "trades", Keep: 12 * time.Hour},
			{Table: "rejects", Keep: 12 * time.Hour},
			{Table: "gaps", Keep: 12 * time.Hour},
			{Table: "tickers", Keep: 0},
			{Table: "book_updates", Keep: time.Hour}, // absent until its migration: skipped
		},
		BatchSize: 3, MaxRowsPerPass: 7,
		Now:        func() time.Time { return now },
		Registerer: reg,
	}, pool)
	if err != nil {
		t.Fatal(err)
	}
	fillRetention(t, ctx, r, now)

	// First pass: trades stop at the bound of 7 (batches 3+3+1); rejects
	// and filled gaps are all gone.
	got, err := r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int64{"trades": 7, "rejects": 5, "gaps": 3, "book_updates": 0}
	for table, n := range want {
		if got[table] != n {
			t.Errorf("first pass deleted %d %s rows, want %d (all: %v)", got[table], table, n, got)
		}
	}
	// Second pass: the 3 old trades left by the bound, nothing else.
	got, err = r.Pass(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got["trades"] != 3 || got["rejects"] != 0 || got["gaps"] != 0 {
		t.Errorf("second pass deleted %v, want 3 trades and nothing else", got)
	}
	for q, n := range map[string]int{
		`SELECT count(*) FROM trades`:                                      4,
		`SELECT count(*) FROM rejects`:                                     1,
		`SELECT count(*) FROM gaps WHERE status = 'filled'`:                2,
		`SELECT count(*) FROM gaps WHERE status IN ('open', 'unfillable')`: 3,
	} {
		if c := count(t, pool, q); c != n {
			t.Errorf("%s = %d, want %d", q, c, n)
		}
	}
	if v := testutil.ToFloat64(r.deleted.WithLabelValues("trades")); v != 10 {
		t.Errorf("etl_retention_rows_deleted_total{table=trades} = %v, want 10", v)
	}
	if v := testutil.ToFloat64(r.passes); v != 2 {
		t.Errorf("etl_retention_passes_total = %v, want 2", v)
	}
}

func TestRetentionRunPassesAtOnceAndStopsWithContext(t *testing.T) {
	_, pool := migratedDB(t)
	now := time.Now().UTC().Truncate(time.Second)
	r, err := NewRetention(RetentionConfig{
		Rules: []RetentionRule{{Table: "trades", Keep: 12 * time.Hour}, {Table: "rejects", Keep: 12 * time.Hour},
			{Table: "gaps", Keep: 12 * time.Hour}},
		Interval: time.Hour, Now: func() time.Time { return now },
	}, pool)
	if err != nil {
		t.Fatal(err)
	}
	fillRetention(t, t.Context(), r, now)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	await(t, "the first pass", func() bool { return testutil.ToFloat64(r.passes) == 1 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	// Filled gaps (a plain table everywhere) go by DELETE.
	if n := count(t, pool, `SELECT count(*) FROM gaps WHERE status = 'filled'`); n != 2 {
		t.Errorf("filled gaps left: %d, want 2", n)
	}
	if count(t, pool, `SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'`) == 0 {
		if n := count(t, pool, `SELECT count(*) FROM trades`); n != 4 {
			t.Errorf("trades left: %d, want 4", n)
		}
		return
	}
	// On TimescaleDB the hypertables get retention policies instead.
	for table, keep := range map[string]string{"trades": "12:00:00", "rejects": "12:00:00"} {
		var got string
		if err := pool.QueryRow(t.Context(), `SELECT config->>'drop_after' FROM timescaledb_information.jobs
			WHERE proc_name = 'policy_retention' AND hypertable_name = $1`, table).Scan(&got); err != nil || got != keep {
			t.Errorf("retention policy of %s: drop_after %q, %v; want %s", table, got, err, keep)
		}
	}
}

func TestNewRetentionRefusesUnknownTables(t *testing.T) {
	_, pool := migratedDB(t)
	for name, rule := range map[string]RetentionRule{
		"unknown table": {Table: "collectors", Keep: time.Hour},
		"negative":      {Table: "trades", Keep: -time.Hour},
	} {
		if _, err := NewRetention(RetentionConfig{Rules: []RetentionRule{rule}}, pool); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
