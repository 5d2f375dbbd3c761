package service

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/config"
	"marketetl/store"
)

// OpenDatabase connects to DATABASE_URL, retrying for DATABASE_WAIT while
// the database is unreachable, so that a service started before its
// database waits instead of failing. The caller closes the pool.
func OpenDatabase(ctx context.Context, cfg config.Config, log *zap.Logger) (*pgxpool.Pool, error) {
	deadline := time.Now().Add(cfg.DatabaseWait)
	wait := backoff.Policy{Min: 500 * time.Millisecond, Max: 8 * time.Second, Jitter: backoff.Jitter{Below: 0.5}}
	for attempt := 1; ; attempt++ {
		delay := wait.Delay(attempt - 1)
		pool, err := store.Open(ctx, cfg.DatabaseURL)
		if err == nil {
			return pool, nil
		}
		if ctx.Err() != nil || time.Now().Add(delay).After(deadline) {
			return nil, fmt.Errorf("database (DATABASE_URL, waited %s, DATABASE_WAIT): %w", cfg.DatabaseWait, err)
		}
		log.Warn("database not reachable yet; retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("retry_in", delay))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}
