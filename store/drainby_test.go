package store

import (
	"context"
	"testing"
	"time"
)

// TestDrainByCutsTheDrainShort: with the database stalled (the trades
// table locked), a writer whose shutdown timeout is an hour stops its
// drain at Config.DrainBy, the whole shutdown's deadline, and spills every
// row it could not commit to the Overflow, none lost.
func TestDrainByCutsTheDrainShort(t *testing.T) {
	_, pool := migratedDB(t)
	lock, err := pool.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(context.WithoutCancel(t.Context())) }()
	if _, err := lock.Exec(t.Context(), `LOCK TABLE trades IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	ov := &keepOverflow{}
	var by time.Time
	r := startWriter(t, Config{BatchSize: 10, FlushInterval: time.Millisecond, FlushTimeout: time.Hour, ShutdownTimeout: time.Hour,
		Overflow: ov, DrainBy: func() time.Time { return by }}, pool)
	for _, rec := range trades(1, 25) {
		if err := r.Write(t.Context(), rec); err != nil {
			t.Fatal(err)
		}
	}
	by = time.Now() // the deadline has come: read when the writer's context ends
	r.cancel()
	// The writer must return without the database; an hour is its own
	// timeout, so returning at all proves the shared deadline cut it.
	var runErr error
	select {
	case runErr = <-r.done:
		close(r.done)
	case <-time.After(time.Minute):
		t.Fatal("the writer's drain ignored the shutdown deadline")
	}
	if runErr != nil {
		t.Fatalf("Run: %v", runErr)
	}
	st := r.Stats().Tables[TableTrades]
	ov.mu.Lock()
	spilled := len(ov.recs)
	ov.mu.Unlock()
	if spilled != 25 || st.Spilled != 25 || st.Lost != 0 || st.Inserted != 0 {
		t.Errorf("%d rows in the overflow, stats %+v; want all 25 spilled, none lost or stored", spilled, st)
	}
}
