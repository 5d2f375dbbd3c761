package store

import (
	"context"
	"fmt"
	"net/url"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Pool settings Open applies unless the URL sets them.
const (
	// defaultMaxConns leaves room for the Writer's six flushing tables,
	// the rejects of refused rows, the supervisor and the admin API.
	defaultMaxConns = 16
	// applicationName shows in pg_stat_activity.
	applicationName = "marketetl"
)

// Open connects a pool to databaseURL (postgres:// or postgresql://, libpq
// URL form) and pings it. Unless the URL says otherwise it sets
// application_name to marketetl and pool_max_conns to 16. Errors name the
// database with any password redacted.
func Open(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	u, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(u.String())
	if err != nil {
		// pgx redacts the password in its parse errors.
		return nil, fmt.Errorf("parse database URL %s: %w", u.Redacted(), err)
	}
	q := u.Query()
	if !q.Has("application_name") {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	if !q.Has("pool_max_conns") {
		cfg.MaxConns = defaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", u.Redacted(), err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to database %s: %w", u.Redacted(), err)
	}
	return pool, nil
}

// parseDatabaseURL checks that raw is a postgres:// or postgresql:// URL
// (pgx5://, golang-migrate's spelling, is accepted too) and returns it with
// the scheme postgres.
func parseDatabaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Parse quotes the input, password included: say only what is wrong.
		return nil, fmt.Errorf("database URL is not a URL: want postgres://user:password@host:port/database")
	}
	switch u.Scheme {
	case "postgres", "postgresql", "pgx5":
	case "":
		// Most likely the key=value form, which may hold a password in clear.
		return nil, fmt.Errorf("database URL has no scheme: want postgres://user:password@host:port/database")
	default:
		return nil, fmt.Errorf("database URL %s: scheme %q: want postgres:// or postgresql://", u.Redacted(), u.Scheme)
	}
	u.Scheme = "postgres"
	return u, nil
}
