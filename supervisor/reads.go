package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"

	"marketetl/store"
)

// ReadSource is what the admin API's unauthenticated reads (/readyz,
// /api/status, /metrics) need from the database. Only a ReadCache calls it,
// once per refresh interval, never per request: a flood of requests cannot
// add a single query. Give it a small pool of its own (NewPoolReads over a
// pool with MaxConns 2), not the writer's.
type ReadSource interface {
	// Ping returns nil when the database answers before ctx ends.
	Ping(ctx context.Context) error
	// GapCounts returns the gaps per exchange and status and the rows
	// filled (store.Gaps.Counts). It may take a while on a large gaps
	// table; it returns ctx's error when ctx ends first.
	GapCounts(ctx context.Context) (store.GapCounts, error)
}

// PoolReads is the ReadSource over a database pool.
type PoolReads struct {
	pool *pgxpool.Pool
	gaps *store.Gaps
}

var _ ReadSource = (*PoolReads)(nil)

// NewPoolReads reads through pool, which should be the admin API's own.
func NewPoolReads(pool *pgxpool.Pool) *PoolReads {
	return &PoolReads{pool: pool, gaps: store.NewGaps(pool)}
}

// Ping implements ReadSource.
func (p *PoolReads) Ping(ctx context.Context) error { return p.pool.Ping(ctx) }

// GapCounts implements ReadSource.
func (p *PoolReads) GapCounts(ctx context.Context) (store.GapCounts, error) {
	return p.gaps.Counts(ctx)
}

// DatabaseState is the cached view of the database that the
// unauthenticated endpoints serve ("database" in GET /api/status).
type DatabaseState struct {
	// State is ok, unreachable, or unknown before the first check.
	State string `json:"state"`
	// Error classifies the last failure, without the driver's text (which
	// names hosts, users and databases): timeout, connection_refused,
	// authentication_failed, database_not_found, too_many_connections,
	// unreachable or query_failed.
	Error string `json:"error,omitempty"`
	// CheckedAt is when the database was last asked.
	CheckedAt *time.Time `json:"checked_at"`
	// Gaps maps exchange to gap status to the number of gaps, and
	// FilledRows exchange to data type to the rows stored by filling; nil
	// when unknown (GapsError says why).
	Gaps       map[string]map[string]int64 `json:"gaps"`
	FilledRows map[string]map[string]int64 `json:"filled_rows"`
	GapsError  string                      `json:"gaps_error,omitempty"`
}

// Database states.
const (
	DatabaseOK          = "ok"
	DatabaseUnreachable = "unreachable"
	DatabaseUnknown     = "unknown"
)

// ReadCache holds the DatabaseState, refreshed by Run every interval, so
// that requests read memory only.
type ReadCache struct {
	src      ReadSource
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time
	log      *zap.Logger

	mu    sync.Mutex // guards state
	state DatabaseState
}

// ReadCacheConfig configures a ReadCache.
type ReadCacheConfig struct {
	// Interval is how often the database is asked; the command passes
	// DEFAULT_HEALTH_CHECK_INTERVAL. Default 30s.
	Interval time.Duration
	// Timeout bounds one refresh. Default 5s (at most Interval).
	Timeout time.Duration
	// Log receives a line when the database turns unreachable or
	// reachable again; default a no-op logger.
	Log *zap.Logger
	// Now returns the current time; default time.Now.
	Now func() time.Time
}

// NewReadCache returns a cache over src; its state is unknown until the
// first Refresh.
func NewReadCache(cfg ReadCacheConfig, src ReadSource) (*ReadCache, error) {
	if src == nil {
		return nil, errors.New("new read cache: a read source is required")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultHealthCheckInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = min(5*time.Second, cfg.Interval)
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &ReadCache{src: src, interval: cfg.Interval, timeout: cfg.Timeout, now: cfg.Now, log: cfg.Log,
		state: DatabaseState{State: DatabaseUnknown}}, nil
}

// Run refreshes the state at once and then every interval until ctx ends;
// it returns nil then.
func (c *ReadCache) Run(ctx context.Context) error {
	c.Refresh(ctx)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			c.Refresh(ctx)
		}
	}
}

// Refresh asks the database once (a ping and the gap counts) and stores
// the outcome. It blocks for at most the configured timeout.
func (c *ReadCache) Refresh(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	next := DatabaseState{State: DatabaseOK}
	if err := c.src.Ping(ctx); err != nil {
		next.State, next.Error = DatabaseUnreachable, ClassifyDBError(err)
	} else if counts, err := c.src.GapCounts(ctx); err != nil {
		next.GapsError = ClassifyDBError(err)
	} else {
		next.Gaps, next.FilledRows = counts.ByStatus, counts.FilledRows
	}
	next.CheckedAt = timePtr(c.now())
	c.mu.Lock()
	prev := c.state.State
	c.state = next
	c.mu.Unlock()
	switch {
	case next.State == DatabaseUnreachable && prev != DatabaseUnreachable:
		c.log.Warn("database unreachable for the status endpoints", zap.String("reason", next.Error))
	case next.State == DatabaseOK && prev == DatabaseUnreachable:
		c.log.Info("database reachable again for the status endpoints")
	}
}

// State returns the last refreshed state; it never blocks on I/O.
func (c *ReadCache) State() DatabaseState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

// GapCounts returns the cached gap counts, for metrics served beside the
// API; ok is false when they are not known.
func (c *ReadCache) GapCounts() (counts store.GapCounts, ok bool) {
	st := c.State()
	if st.Gaps == nil {
		return store.GapCounts{}, false
	}
	return store.GapCounts{ByStatus: st.Gaps, FilledRows: st.FilledRows}, true
}

// ClassifyDBError names the kind of a database failure without the
// driver's text, which can hold the host, the user and the database name.
func ClassifyDBError(err error) string {
	if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) {
		switch {
		case pe.Code == "28P01" || pe.Code == "28000":
			return "authentication_failed"
		case pe.Code == "3D000":
			return "database_not_found"
		case pe.Code == "53300":
			return "too_many_connections"
		case pe.Code == "57014":
			return "timeout"
		case len(pe.Code) == 5 && pe.Code[:2] == "08":
			return "unreachable"
		}
		return "query_failed"
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection_refused"
	}
	return "unreachable"
}

// String implements fmt.Stringer, for logs.
func (s DatabaseState) String() string {
	if s.Error == "" {
		return s.State
	}
	return fmt.Sprintf("%s (%s)", s.State, s.Error)
}
