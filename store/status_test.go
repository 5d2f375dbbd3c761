package store

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestStatusLog(t *testing.T) {
	_, pool := migratedDB(t)
	log := NewStatusLog(pool)
	ctx := t.Context()
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	age := 1.5
	round := func(at time.Time) []CollectorStatus {
		return []CollectorStatus{
			{Time: at, Collector: "a", Exchange: "okx", Status: "running", Healthy: true,
				MessagesReceived: 10, MessagesProcessed: 9, Records: 8, Errors: 1, Restarts: 2, ReconnectAttempts: 3,
				TimeSinceDataSeconds: &age},
			{Time: at, Collector: "b", Exchange: "binance", Status: "failed", Healthy: false,
				Issues: []string{"failed: connection refused", "second issue"}, Errors: math.MaxUint64, LastError: "connection refused"},
		}
	}
	if err := log.InsertStatus(ctx, nil); err != nil {
		t.Fatalf("InsertStatus(nil): %v", err)
	}
	for _, at := range []time.Time{t0, t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		if err := log.InsertStatus(ctx, round(at)); err != nil {
			t.Fatalf("InsertStatus: %v", err)
		}
	}
	if n := count(t, pool, `SELECT count(*) FROM collector_status`); n != 6 {
		t.Fatalf("%d rows, want 6", n)
	}

	var (
		issues  []string
		lastErr *string
		since   *float64
		errs    int64
		recon   int64
	)
	row := pool.QueryRow(ctx, `SELECT issues, last_error, time_since_data_seconds, errors, reconnect_attempts
		FROM collector_status WHERE collector = 'a' AND ts = $1`, t0)
	if err := row.Scan(&issues, &lastErr, &since, &errs, &recon); err != nil {
		t.Fatal(err)
	}
	if len(issues) != 0 || lastErr != nil || since == nil || *since != 1.5 || errs != 1 || recon != 3 {
		t.Errorf("a's row: issues %q last_error %v since %v errors %d reconnects %d", issues, lastErr, since, errs, recon)
	}
	row = pool.QueryRow(ctx, `SELECT issues, last_error, time_since_data_seconds, errors
		FROM collector_status WHERE collector = 'b' AND ts = $1`, t0)
	if err := row.Scan(&issues, &lastErr, &since, &errs); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(issues, []string{"failed: connection refused", "second issue"}) || lastErr == nil ||
		*lastErr != "connection refused" || since != nil || errs != math.MaxInt64 {
		t.Errorf("b's row: issues %q last_error %v since %v errors %d", issues, lastErr, since, errs)
	}

	n, err := log.DeleteStatusBefore(ctx, t0.Add(90*time.Minute))
	if err != nil || n != 4 {
		t.Errorf("DeleteStatusBefore = %d, %v; want 4 rows", n, err)
	}
	if left := count(t, pool, `SELECT count(*) FROM collector_status WHERE ts = $1`, t0.Add(2*time.Hour)); left != 2 {
		t.Errorf("%d rows of the last round left, want 2", left)
	}
}
