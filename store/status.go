package store

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// CollectorStatus is one row of collector_status: a collector's health and
// counters at one health-check round, for dashboards of uptime and
// restarts.
type CollectorStatus struct {
	Time      time.Time
	Collector string
	Exchange  string
	// Status is the supervisor's state: running, restarting, failed, stopped.
	Status  string
	Healthy bool
	// Issues says why the collector is unhealthy (empty when healthy).
	Issues []string
	// Counters since the service started, summed over the collector's runs.
	MessagesReceived  uint64
	MessagesProcessed uint64
	Records           uint64
	Errors            uint64
	Restarts          uint64
	// ReconnectAttempts counts the collector's own redials.
	ReconnectAttempts uint64
	// TimeSinceDataSeconds is the time since the collector's last record,
	// in seconds; nil before its first.
	TimeSinceDataSeconds *float64
	// LastError is the latest error, redacted ("" when none).
	LastError string
}

// StatusLog writes collector_status rows.
type StatusLog struct {
	pool *pgxpool.Pool
}

// NewStatusLog returns a StatusLog writing through pool.
func NewStatusLog(pool *pgxpool.Pool) *StatusLog { return &StatusLog{pool: pool} }

// collectorStatusColumns are the columns InsertStatus fills, in the order of
// collectorStatusValues.
var collectorStatusColumns = []string{
	"ts", "collector", "exchange", "status", "healthy", "issues",
	"messages_received", "messages_processed", "records", "errors", "restarts", "reconnect_attempts",
	"time_since_data_seconds", "last_error",
}

func collectorStatusValues(r *CollectorStatus) []any {
	issues := r.Issues
	if issues == nil {
		issues = []string{}
	}
	var lastErr *string
	if r.LastError != "" {
		lastErr = &r.LastError
	}
	return []any{
		r.Time, r.Collector, r.Exchange, r.Status, r.Healthy, issues,
		clampInt64(r.MessagesReceived), clampInt64(r.MessagesProcessed), clampInt64(r.Records),
		clampInt64(r.Errors), clampInt64(r.Restarts), clampInt64(r.ReconnectAttempts),
		r.TimeSinceDataSeconds, lastErr,
	}
}

// InsertStatus writes one round of rows with one COPY.
func (l *StatusLog) InsertStatus(ctx context.Context, rows []CollectorStatus) error {
	if len(rows) == 0 {
		return nil
	}
	src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) { return collectorStatusValues(&rows[i]), nil })
	if _, err := l.pool.CopyFrom(ctx, pgx.Identifier{"collector_status"}, collectorStatusColumns, src); err != nil {
		return fmt.Errorf("insert %d collector_status rows: %w", len(rows), err)
	}
	return nil
}

// DeleteStatusBefore deletes the rows older than before and returns how
// many it deleted. On TimescaleDB a retention policy on the hypertable can
// do the same; deleting here as well is harmless.
func (l *StatusLog) DeleteStatusBefore(ctx context.Context, before time.Time) (int64, error) {
	tag, err := l.pool.Exec(ctx, `DELETE FROM collector_status WHERE ts < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("delete collector_status rows before %s: %w", before.Format(time.RFC3339), err)
	}
	return tag.RowsAffected(), nil
}

// clampInt64 converts a counter to bigint, saturating.
func clampInt64(v uint64) int64 {
	if v > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(v)
}
