package service

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/store"
	"marketetl/supervisor"
)

// Bounds of the admin API's own database pool.
const (
	readPoolMaxConns = 2
	// readStatementTimeout bounds one status query (the gap counts) on the
	// server side.
	readStatementTimeout = 5 * time.Second
)

// errReadPoolClosed: the admin API's pool is not open (before RunWith or
// after it returned).
var errReadPoolClosed = errors.New("admin api database pool not open")

// adminReads is the admin API's supervisor.ReadSource over a pool of its
// own, opened by RunWith: however many requests arrive, the status reads
// never take a connection from the writer's pool. Only the read cache
// calls it, once per refresh.
type adminReads struct {
	reads atomic.Pointer[supervisor.PoolReads]
}

var _ supervisor.ReadSource = (*adminReads)(nil)

// Ping implements supervisor.ReadSource.
func (a *adminReads) Ping(ctx context.Context) error {
	r := a.reads.Load()
	if r == nil {
		return errReadPoolClosed
	}
	return r.Ping(ctx)
}

// GapCounts implements supervisor.ReadSource.
func (a *adminReads) GapCounts(ctx context.Context) (store.GapCounts, error) {
	r := a.reads.Load()
	if r == nil {
		return store.GapCounts{}, errReadPoolClosed
	}
	return r.GapCounts(ctx)
}

// openReadPool opens the pool of the admin API's reads: at most
// readPoolMaxConns connections and a statement timeout. It connects
// lazily: an unreachable database shows in the status instead of failing
// the start.
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

// buildReads builds the admin API's read cache, refreshed every health
// check interval, and makes the status and the metrics read the gap counts
// from it.
func (s *Service) buildReads() error {
	s.adminReads = &adminReads{}
	reads, err := supervisor.NewReadCache(supervisor.ReadCacheConfig{
		Interval: s.cfg.HealthCheckInterval, Log: s.log.Named("api"),
	}, s.adminReads)
	if err != nil {
		return err
	}
	s.reads = reads
	s.gapCounts = reads.GapCounts
	return nil
}

// runReads opens the admin API's pool and refreshes the read cache until
// ctx ends, then closes the pool.
func (s *Service) runReads(ctx context.Context) error {
	pool, err := openReadPool(ctx, s.cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	s.adminReads.reads.Store(supervisor.NewPoolReads(pool))
	defer s.adminReads.reads.Store(nil)
	return s.reads.Run(ctx)
}
