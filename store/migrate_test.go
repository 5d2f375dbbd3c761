package store

import (
	"io/fs"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
	"marketetl/migrations"
)

// schemaTables are the tables the migrations create.
var schemaTables = []string{
	"balances", "book_snapshots", "book_updates", "candle_checks", "candles", "collector_status", "collectors",
	"gaps", "instances", "rejects", "schema_extensions", "tickers", "trades",
}

// leftovers lists what exists in the database's own schemas besides
// golang-migrate's schema_migrations: relations, types, functions, and
// extensions other than plpgsql.
func leftovers(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT 'relation ' || n.nspname || '.' || c.relname FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
		  AND n.nspname NOT LIKE 'pg_toast_temp%' AND c.relname NOT LIKE 'schema_migrations%'
		UNION ALL
		SELECT 'type ' || n.nspname || '.' || t.typname FROM pg_type t
		JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND n.nspname NOT LIKE 'pg_temp%'
		  AND n.nspname NOT LIKE 'pg_toast_temp%' AND t.typname NOT LIKE '%schema_migrations%'
		UNION ALL
		SELECT 'function ' || n.nspname || '.' || p.proname FROM pg_proc p
		JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
		UNION ALL
		SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'
		UNION ALL
		SELECT 'schema ' || nspname FROM pg_namespace
		WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'public')
		  AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("list catalog: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list catalog: %v", err)
	}
	return names
}

func tablesPresent(t *testing.T, pool *pgxpool.Pool) []string {
	t.Helper()
	rows, err := pool.Query(t.Context(), `
		SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> 'schema_migrations'
		ORDER BY 1`)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	return names
}

func TestMigrateUpDownUp(t *testing.T) {
	url := dbtest.NewDatabase(t)
	log := zaptest.NewLogger(t)
	m, err := NewMigrator(t.Context(), url, log)
	if err != nil {
		t.Fatalf("new migrator: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	pool, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer pool.Close()

	if got := leftovers(t, pool); len(got) != 0 {
		t.Fatalf("fresh database is not empty: %v", got)
	}
	wantVersion := func(want uint) {
		t.Helper()
		v, dirty, err := m.Version(t.Context())
		if err != nil || v != want || dirty {
			t.Fatalf("Version() = %d, %v, %v; want %d, false, nil", v, dirty, err, want)
		}
	}
	wantVersion(0)

	for _, step := range []string{"up", "up again", "down", "up after down"} {
		if step == "down" {
			if err := m.Down(t.Context()); err != nil {
				t.Fatalf("%s: %v", step, err)
			}
			wantVersion(0)
			// Sessions that had TimescaleDB loaded cannot be used after the
			// extension is dropped: look with fresh ones.
			pool.Reset()
			if got := leftovers(t, pool); len(got) != 0 {
				t.Fatalf("after down, left behind: %v", got)
			}
			continue
		}
		if err := m.Up(t.Context()); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		wantVersion(latestMigration(t))
		if got := tablesPresent(t, pool); strings.Join(got, " ") != strings.Join(schemaTables, " ") {
			t.Fatalf("%s: tables %v, want %v", step, got, schemaTables)
		}
	}

	// Forcing an older version and migrating up again re-runs the
	// migrations after 2 over the existing tables: every statement is
	// idempotent.
	if err := m.Force(t.Context(), 2); err != nil {
		t.Fatalf("force: %v", err)
	}
	wantVersion(2)
	if err := m.Up(t.Context()); err != nil {
		t.Fatalf("up over existing tables: %v", err)
	}
	wantVersion(latestMigration(t))
}

// latestMigration returns the highest version among the migration files.
func latestMigration(t *testing.T) uint {
	t.Helper()
	names, err := fs.Glob(migrations.FS(), "*.up.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migration files: %v %v", names, err)
	}
	var latest uint
	for _, n := range names {
		v, err := strconv.ParseUint(n[:strings.IndexByte(n, '_')], 10, 32)
		if err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		latest = max(latest, uint(v))
	}
	return latest
}

// TestMigrateTimescaleDB checks the hypertables when the server has
// TimescaleDB preloaded, and that plain PostgreSQL gets plain tables.
func TestMigrateTimescaleDB(t *testing.T) {
	_, pool := migratedDB(t)
	var installed bool
	if err := pool.QueryRow(t.Context(),
		`SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&installed); err != nil {
		t.Fatal(err)
	}
	var preloaded bool
	if err := pool.QueryRow(t.Context(),
		`SELECT current_setting('timescaledb.disable_load', true) IS NOT DISTINCT FROM 'off'`).Scan(&preloaded); err != nil {
		t.Fatal(err)
	}
	if installed != preloaded {
		t.Fatalf("timescaledb installed = %v, but preloaded = %v", installed, preloaded)
	}
	if !installed {
		t.Logf("plain PostgreSQL: no hypertables to check")
		return
	}
	rows, err := pool.Query(t.Context(),
		`SELECT hypertable_name FROM timescaledb_information.hypertables ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := "balances book_snapshots book_updates candles collector_status rejects tickers trades"
	if strings.Join(got, " ") != want {
		t.Fatalf("hypertables %v, want %s", got, want)
	}
}

func TestParseDatabaseURL(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"postgres", "postgres://u:p@localhost:5432/db?sslmode=disable", true},
		{"postgresql", "postgresql://u@localhost/db", true},
		{"golang-migrate spelling", "pgx5://u@localhost/db", true},
		{"other scheme", "mysql://u:s3cret-pw@localhost/db", false},
		{"keyword form", "host=localhost password=s3cret-pw", false},
		{"not a URL", "postgres://u:s3cret-pw@local host:x/db", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := parseDatabaseURL(tt.in)
			if tt.ok {
				if err != nil || u.Scheme != "postgres" {
					t.Fatalf("parseDatabaseURL(%q) = %v, %v; want scheme postgres", tt.in, u, err)
				}
				return
			}
			if err == nil {
				t.Fatalf("parseDatabaseURL(%q) succeeded", tt.in)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("error reveals the password: %v", err)
			}
		})
	}
}

func TestOpenErrorRedactsPassword(t *testing.T) {
	tests := []struct{ name, url string }{
		{"unreachable", "postgres://marketetl:s3cret-pw@127.0.0.1:1/marketetl?sslmode=disable&connect_timeout=5"},
		{"bad option", "postgres://marketetl:s3cret-pw@127.0.0.1:5432/marketetl?sslmode=bogus"},
		{"wrong database", strings.Replace(dbtest.AdminURL(), "/postgres", "/marketetl_no_such_db", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pool, err := Open(t.Context(), tt.url)
			if err == nil {
				pool.Close()
				t.Fatalf("Open(%s) succeeded", tt.name)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("Open error reveals the password: %v", err)
			}
			m, err := NewMigrator(t.Context(), tt.url, zaptest.NewLogger(t))
			if err == nil {
				_ = m.Close()
				t.Fatalf("NewMigrator(%s) succeeded", tt.name)
			}
			if strings.Contains(err.Error(), "s3cret-pw") {
				t.Fatalf("NewMigrator error reveals the password: %v", err)
			}
		})
	}
}
