package store

import (
	"context"
	"testing"
	"time"
)

// TestFlushTimeoutRetriesBlockedCopy: a COPY blocked on a lock held by
// another session is cut off by FlushTimeout and retried with its rows
// kept; once the lock is released every row arrives exactly once.
func TestFlushTimeoutRetriesBlockedCopy(t *testing.T) {
	_, pool := migratedDB(t)
	// The server's statement_timeout is lengthened: the client's bound
	// alone must end the blocked COPY.
	w := startWriterWith(t, Config{BatchSize: 50, FlushInterval: 5 * time.Millisecond, FlushTimeout: 300 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, pool, func(w *Writer) { w.serverTimeout = time.Hour })
	write := func(from, n int) {
		for _, rec := range trades(from, n) {
			if err := w.Write(t.Context(), rec); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(1, 10)
	if err := w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}

	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
	if _, err := tx.Exec(t.Context(), "LOCK TABLE trades IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	write(5, 26) // 5..10 are stored already: the batch ends in the merge once the lock is gone
	await(t, "two flush attempts cut off by the timeout", func() bool { return w.Stats().Tables[TableTrades].Retries >= 2 })
	if st := w.Stats().Tables[TableTrades]; st.Inserted != 10 || st.Lost != 0 {
		t.Fatalf("trades %+v while locked: want the first 10 inserted, nothing lost", st)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.stop(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats().Tables[TableTrades]
	if st.Inserted != 30 || st.Skipped != 6 || st.Lost != 0 || st.Rejected != 0 {
		t.Errorf("trades %+v: want 30 inserted, 6 skipped, none lost or rejected", st)
	}
	if n := count(t, pool, "SELECT count(*) FROM trades"); n != 30 {
		t.Errorf("%d trades stored, want 30", n)
	}
	if n := count(t, pool, "SELECT count(DISTINCT trade_id) FROM trades"); n != 30 {
		t.Errorf("%d distinct trade ids, want 30", n)
	}
}

// TestServerStatementTimeoutEndsBlockedCopy: the Writer's connections
// carry statement_timeout = FlushTimeout, so a COPY blocked on a lock is
// ended by the server even when the client never cancels it (here the
// client's bound is an hour); the batch is retried with its rows kept.
func TestServerStatementTimeoutEndsBlockedCopy(t *testing.T) {
	_, pool := migratedDB(t)
	r := startWriterWith(t, Config{BatchSize: 50, FlushInterval: 5 * time.Millisecond, FlushTimeout: 300 * time.Millisecond,
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}, pool, func(w *Writer) { w.clientTimeout = time.Hour })
	w := r.Writer

	tx, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(t.Context())) }()
	if _, err := tx.Exec(t.Context(), "LOCK TABLE trades IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	for _, rec := range trades(1, 20) {
		if err := w.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "two flush attempts ended by the server's statement_timeout", func() bool {
		return w.Stats().Tables[TableTrades].Retries >= 2
	})
	if st := w.Stats().Tables[TableTrades]; st.Inserted != 0 || st.Lost != 0 {
		t.Fatalf("trades %+v while locked: want nothing inserted, nothing lost", st)
	}
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := r.stop(); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats().Tables[TableTrades]; st.Inserted != 20 || st.Lost != 0 || st.Rejected != 0 {
		t.Errorf("trades %+v: want 20 inserted, none lost or rejected", st)
	}
	if n := count(t, pool, "SELECT count(DISTINCT trade_id) FROM trades"); n != 20 {
		t.Errorf("%d distinct trades stored, want 20", n)
	}
	// The shared pool's connections keep the server's default: migrations
	// and long reads are not bounded by the Writer's timeout.
	var shared string
	if err := pool.QueryRow(t.Context(), "SHOW statement_timeout").Scan(&shared); err != nil {
		t.Fatal(err)
	}
	if shared != "0" {
		t.Errorf("shared pool statement_timeout %q, want 0", shared)
	}
}

// TestSyncFlushesWithoutWaitingForTheInterval: Sync has the lanes flush
// what is queued at once (the spool's replay waits on it), even under a
// FlushInterval of an hour.
func TestSyncFlushesWithoutWaitingForTheInterval(t *testing.T) {
	_, pool := migratedDB(t)
	w := startWriter(t, Config{BatchSize: 1000, FlushInterval: time.Hour}, pool)
	for _, rec := range trades(1, 25) {
		if err := w.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := w.Sync(ctx); err != nil {
		t.Fatalf("Sync with FlushInterval 1h: %v", err)
	}
	if st := w.Stats().Tables[TableTrades]; st.Inserted != 25 {
		t.Fatalf("trades after Sync: %+v, want 25 inserted", st)
	}
}
