package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	_ "github.com/golang-migrate/migrate/v4/database/pgx/v5" // the pgx5:// database driver
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"marketetl/migrations"
)

// Migrator applies the schema embedded in package migrations to one
// database. Each migration runs in one transaction; golang-migrate keeps the
// version in schema_migrations and holds an advisory lock while it works,
// so concurrent migrators take turns. Close it when done.
type Migrator struct {
	m *migrate.Migrate
	// versions are the embedded migrations' versions, ascending.
	versions []uint
	url      string // postgres:// form, for the TimescaleDB report
	log      *zap.Logger
}

// NewMigrator connects to databaseURL (postgres:// or postgresql://).
// Errors name the database with any password redacted.
func NewMigrator(ctx context.Context, databaseURL string, log *zap.Logger) (*Migrator, error) {
	if log == nil {
		log = zap.NewNop()
	}
	u, err := parseDatabaseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	// golang-migrate connects without a context: try first under ctx, so
	// that an unreachable database fails as soon as ctx says.
	conn, err := pgx.Connect(ctx, u.String())
	if err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", u.Redacted(), err)
	}
	if err := conn.Close(ctx); err != nil {
		return nil, fmt.Errorf("connect to database %s: %w", u.Redacted(), err)
	}
	src, err := iofs.New(migrations.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	versions, err := sourceVersions(src)
	if err != nil {
		return nil, err
	}
	mg := &Migrator{versions: versions, url: u.String(), log: log}
	if mg.m, err = mg.open(); err != nil {
		return nil, err
	}
	return mg, nil
}

// open connects golang-migrate to the database with the embedded
// migrations.
func (m *Migrator) open() (*migrate.Migrate, error) {
	u, err := parseDatabaseURL(m.url)
	if err != nil {
		return nil, err
	}
	src, err := iofs.New(migrations.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	driverURL := *u
	driverURL.Scheme = "pgx5"
	mg, err := migrate.NewWithSourceInstance("iofs", src, driverURL.String())
	if err != nil {
		return nil, fmt.Errorf("connect to database %s for migrations: %w", u.Redacted(), err)
	}
	mg.Log = migrateLogger{m.log}
	return mg, nil
}

// sourceVersions lists the versions of the migrations in src, ascending.
func sourceVersions(src interface {
	First() (uint, error)
	Next(uint) (uint, error)
}) ([]uint, error) {
	v, err := src.First()
	if err != nil {
		return nil, fmt.Errorf("read embedded migrations: %w", err)
	}
	versions := []uint{v}
	for {
		v, err = src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return versions, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read embedded migrations: %w", err)
		}
		versions = append(versions, v)
	}
}

// Migrate applies every pending migration to databaseURL: NewMigrator, Up
// and Close in one call.
func Migrate(ctx context.Context, databaseURL string, log *zap.Logger) error {
	m, err := NewMigrator(ctx, databaseURL, log)
	if err != nil {
		return err
	}
	upErr := m.Up(ctx)
	return errors.Join(upErr, m.Close())
}

// Up applies every pending migration; with none pending it does nothing. It
// stops between migrations when ctx ends.
func (m *Migrator) Up(ctx context.Context) error {
	applied := 0
	for {
		moved, err := m.step(ctx, 1)
		if err != nil {
			return fmt.Errorf("migrate up: %w", err)
		}
		if !moved {
			break
		}
		applied++
	}
	version, dirty, err := m.Version(ctx)
	if err != nil {
		return err
	}
	ts, err := m.timescaleVersion(ctx)
	if err != nil {
		return err
	}
	m.log.Info("schema ready", zap.Uint("version", version), zap.Int("applied", applied), zap.Bool("dirty", dirty),
		zap.Bool("timescaledb", ts != ""), zap.String("timescaledb_version", ts))
	return nil
}

// Down reverts every migration, dropping everything the schema created
// (and the timescaledb extension if migration 1 created it). Stop the
// service first: with TimescaleDB, sessions that had the extension loaded
// fail once it is dropped. The Migrator's own session is one of them, so
// Down ends by connecting again: Up works after it (with the old session,
// TimescaleDB 2.28 refused the continuous aggregates of migration 5).
func (m *Migrator) Down(ctx context.Context) error {
	reverted := 0
	for {
		moved, err := m.step(ctx, -1)
		if err != nil {
			return fmt.Errorf("migrate down: %w", err)
		}
		if !moved {
			break
		}
		reverted++
	}
	m.log.Info("schema removed", zap.Int("reverted", reverted))
	if reverted == 0 {
		return nil
	}
	fresh, err := m.open()
	if err != nil {
		return fmt.Errorf("migrate down: connect again after the schema was removed: %w", err)
	}
	old := m.m
	m.m = fresh
	if srcErr, dbErr := old.Close(); srcErr != nil || dbErr != nil {
		return fmt.Errorf("migrate down: close the session that removed the schema: %w", errors.Join(srcErr, dbErr))
	}
	return nil
}

// maxDeadlockAttempts bounds the attempts of one migration that deadlocks.
const maxDeadlockAttempts = 5

// step applies one migration up (n = 1) or down (n = -1) and reports
// whether there was one to apply. A migration that deadlocks (with
// TimescaleDB, a policy job can hold locks that DROP TABLE needs in the
// opposite order) is retried: it ran in one transaction, which was rolled
// back, so the database is still at the version it started from.
func (m *Migrator) step(ctx context.Context, n int) (bool, error) {
	for attempt := 1; ; attempt++ {
		from, dirty, err := m.m.Version()
		if errors.Is(err, migrate.ErrNilVersion) {
			from, dirty, err = noVersion, false, nil
		}
		if err != nil {
			return false, fmt.Errorf("read schema version: %w", err)
		}
		if dirty {
			return false, explainDirty(migrate.ErrDirty{Version: int(from)})
		}
		err = m.do(ctx, func() error { return m.m.Steps(n) })
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, migrate.ErrNoChange), errors.Is(err, os.ErrNotExist):
			if n > 0 && from != noVersion && !slices.Contains(m.versions, from) {
				return false, fmt.Errorf("the database is at schema version %d, which this program does not know (its newest is %d)",
					from, m.versions[len(m.versions)-1])
			}
			return false, nil
		case deadlocked(err) && attempt < maxDeadlockAttempts:
			if ferr := m.m.Force(int(from)); ferr != nil {
				return false, fmt.Errorf("reset schema version to %d after a deadlock: %w", int(from), ferr)
			}
			delay := retryDelay(100*time.Millisecond, 2*time.Second, attempt-1)
			m.log.Warn("migration deadlocked with a background job; retrying",
				zap.Int("from_version", int(from)), zap.Int("attempt", attempt), zap.Duration("retry_in", delay))
			if err := sleep(ctx, delay); err != nil {
				return false, err
			}
		default:
			return false, fmt.Errorf("from version %d: %w", int(from), migrationError(err))
		}
	}
}

// noVersion is golang-migrate's "no migration applied" as a uint.
const noVersion = ^uint(0)

// deadlocked reports whether a migration failed with deadlock_detected.
func deadlocked(err error) bool {
	var dbErr database.Error
	if errors.As(err, &dbErr) {
		err = dbErr.OrigErr
	}
	return sqlState(err) == "40P01"
}

// migrationError keeps the line and the server's error of a failed
// migration and leaves out the SQL text golang-migrate adds.
func migrationError(err error) error {
	var dbErr database.Error
	if errors.As(err, &dbErr) && dbErr.OrigErr != nil {
		return fmt.Errorf("migration failed at line %d: %w", dbErr.Line, dbErr.OrigErr)
	}
	return explainDirty(err)
}

// Version returns the applied version (0 when none) and whether the last
// migration failed half-way (dirty).
func (m *Migrator) Version(ctx context.Context) (version uint, dirty bool, err error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	version, dirty, err = m.m.Version()
	if errors.Is(err, migrate.ErrNilVersion) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("read schema version: %w", err)
	}
	return version, dirty, nil
}

// Force records version as applied and clean without running anything:
// the way out of a dirty state once the database has been repaired by hand.
// -1 means no version.
func (m *Migrator) Force(ctx context.Context, version int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := m.m.Force(version); err != nil {
		return fmt.Errorf("force schema version %d: %w", version, err)
	}
	return nil
}

// Close releases the connection.
func (m *Migrator) Close() error {
	srcErr, dbErr := m.m.Close()
	if err := errors.Join(srcErr, dbErr); err != nil {
		return fmt.Errorf("close migrator: %w", err)
	}
	return nil
}

// do runs f, asking golang-migrate to stop at the next migration boundary
// if ctx ends meanwhile.
func (m *Migrator) do(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-ctx.Done():
			select {
			case m.m.GracefulStop <- true:
			default:
			}
		case <-done:
		}
	})
	err := f()
	close(done)
	wg.Wait()
	if err == nil && ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

// timescaleVersion returns the installed TimescaleDB version, or "".
func (m *Migrator) timescaleVersion(ctx context.Context) (string, error) {
	conn, err := pgx.Connect(ctx, m.url)
	if err != nil {
		return "", fmt.Errorf("check for timescaledb: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var v string
	err = conn.QueryRow(ctx, `SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("check for timescaledb: %w", err)
	}
	return v, nil
}

// explainDirty adds the way out to golang-migrate's dirty-state error.
func explainDirty(err error) error {
	var dirty migrate.ErrDirty
	if errors.As(err, &dirty) {
		return fmt.Errorf("%w: a migration failed; each one is a single transaction, so the database is usually still at the version before it: check, then run `etl migrate force N` with that version",
			err)
	}
	return err
}

// migrateLogger passes golang-migrate's messages to zap.
type migrateLogger struct{ log *zap.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.log.Debug("migrate: " + fmt.Sprintf(format, v...))
}

func (l migrateLogger) Verbose() bool { return false }
