package store

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"
	"go.uber.org/zap/zaptest"

	"marketetl/dbtest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// migratedDB returns the URL of a fresh, migrated database and a pool on it,
// closed when the test ends.
func migratedDB(t testing.TB) (string, *pgxpool.Pool) {
	t.Helper()
	url := dbtest.NewDatabase(t)
	if err := Migrate(t.Context(), url, zaptest.NewLogger(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(pool.Close)
	return url, pool
}

// running is a Writer whose Run goroutine the test owns.
type running struct {
	*Writer
	cancel context.CancelFunc
	done   chan error
}

// startWriter runs a Writer until stop (or the end of the test).
func startWriter(t testing.TB, cfg Config, pool *pgxpool.Pool) *running {
	t.Helper()
	return startWriterWith(t, cfg, pool, nil)
}

// startWriterWith is startWriter with set, when not nil, applied to the
// Writer before Run.
func startWriterWith(t testing.TB, cfg Config, pool *pgxpool.Pool, set func(*Writer)) *running {
	t.Helper()
	w, err := New(cfg, pool, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("new writer: %v", err)
	}
	if set != nil {
		set(w)
	}
	ctx, cancel := context.WithCancel(context.WithoutCancel(t.Context()))
	r := &running{Writer: w, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- w.Run(ctx) }()
	t.Cleanup(func() { _ = r.stop() })
	return r
}

// stop cancels Run and returns its result; it may be called more than once.
func (r *running) stop() error {
	r.cancel()
	err, ok := <-r.done
	if ok {
		close(r.done)
	}
	return err
}

// await polls cond until it holds, failing the test after 20 seconds.
func await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// count returns the number of rows of a query's result (SELECT count(*) ...).
func count(t testing.TB, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}
