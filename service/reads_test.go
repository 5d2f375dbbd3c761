package service

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"marketetl/market"
)

// TestAdminReadsUseTheirOwnPool: the admin API's cached reads run on a
// pool of their own (application_name marketetl-admin), not on the
// writer's: a flood of unauthenticated reads cannot take the writer's
// connections.
func TestAdminReadsUseTheirOwnPool(t *testing.T) {
	ctx := t.Context()
	log := zaptest.NewLogger(t, zaptest.Level(zap.ErrorLevel))
	dbURL, pool := migratedPool(t, log)
	cfg := quietConfig(t, t.TempDir())
	cfg.AdminAddr, cfg.DatabaseURL = "127.0.0.1:0", dbURL
	reg := Registry{market.OKX: {New: func(Endpoints, *http.Client) (Adapter, error) { return unreachableAdapter{}, nil }}}
	svc, err := New(cfg, pool, reg, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	adminConns := func(ctx context.Context) int {
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND application_name = 'marketetl-admin'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	found := 0
	err = svc.RunWith(runCtx, func(ctx context.Context) error {
		defer cancel()
		deadline := time.Now().Add(30 * time.Second) // a bound for a hung test, not a speed assertion
		for found = adminConns(ctx); found == 0 && time.Now().Before(deadline); found = adminConns(ctx) {
			time.Sleep(10 * time.Millisecond) // polling a condition
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Fatal("no connection of the admin reads' own pool (application_name marketetl-admin)")
	}
}
