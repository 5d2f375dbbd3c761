package main

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"marketetl/config"
	"marketetl/supervisor"
)

// Bounds of the admin API's own database pool.
const (
	readPoolMaxConns = 2
	// readStatementTimeout bounds one status query (the gap counts) on the
	// server side.
	readStatementTimeout = 5 * time.Second
)

// openReadPool opens the pool that serves the admin API's unauthenticated
// reads: at most readPoolMaxConns connections and a statement timeout, so
// that however many requests arrive, they never take a connection from the
// writer's pool. It connects lazily: an unreachable database shows in the
// status instead of failing the start.
func openReadPool(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("admin api database pool: %w", err)
	}
	pc.MaxConns = readPoolMaxConns
	pc.MinConns = 0
	pc.ConnConfig.RuntimeParams["application_name"] = "marketetl-admin"
	pc.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(readStatementTimeout.Milliseconds())
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("admin api database pool: %w", err)
	}
	return pool, nil
}

// newReads builds the cached database state of the admin API and the
// metrics over a pool of its own, refreshed every health check interval,
// and makes the status and metrics of c read the gap counts from it. The
// caller runs the cache and closes the pool after it has returned.
func newReads(ctx context.Context, cfg config.Config, c *core, log *zap.Logger) (*supervisor.ReadCache, *pgxpool.Pool, error) {
	pool, err := openReadPool(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, nil, err
	}
	reads, err := supervisor.NewReadCache(supervisor.ReadCacheConfig{Interval: cfg.HealthCheckInterval, Log: log}, supervisor.NewPoolReads(pool))
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	c.gapCounts = reads.GapCounts
	return reads, pool, nil
}
