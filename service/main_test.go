package service

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/dbtest"
	"marketetl/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/jackc/pgx/v5/pgxpool.(*Pool).backgroundHealthCheck"))
}

// migratedPool creates a migrated database for the test and returns its
// URL and a pool on it, closed when the test ends.
func migratedPool(t *testing.T, log *zap.Logger) (string, *pgxpool.Pool) {
	t.Helper()
	dbURL := dbtest.NewDatabase(t)
	if err := store.Migrate(t.Context(), dbURL, log); err != nil {
		t.Fatal(err)
	}
	pool, err := store.Open(t.Context(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return dbURL, pool
}

// quietConfig is the default configuration with the spool in spoolDir,
// and neither Redis nor the backfill.
func quietConfig(t *testing.T, spoolDir string) config.Config {
	t.Helper()
	cfg, err := config.Load(func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cfg.SpoolDir, cfg.RedisEnabled, cfg.BackfillEnabled = spoolDir, false, false
	return cfg
}
