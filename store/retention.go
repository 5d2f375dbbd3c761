package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// RetentionRule says how long one table's rows are kept.
type RetentionRule struct {
	// Table is the table's name (trades, tickers, book_snapshots,
	// book_updates, rejects, gaps, candles). A table that does not exist
	// (book_updates before its migration) is skipped.
	Table string
	// Keep is how long rows are kept, judged on Column; 0 keeps them for
	// ever (and removes a TimescaleDB retention policy set earlier).
	Keep time.Duration
}

// RetentionConfig configures Retention. Zero values take the defaults
// documented on each field.
type RetentionConfig struct {
	// Rules, one per table. Tables not listed are left alone.
	Rules []RetentionRule
	// Interval between passes of the DELETE job. Default 1h.
	Interval time.Duration
	// BatchSize is the number of rows one DELETE statement removes at most,
	// so that no statement holds locks or builds WAL for long. Default
	// 10000.
	BatchSize int
	// MaxRowsPerPass bounds the rows deleted from one table in one pass;
	// the rest waits for the next pass. Default 1,000,000.
	MaxRowsPerPass int64
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Registerer receives the job's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Log receives the job's logs; default a no-op logger.
	Log *zap.Logger
}

// Retention defaults.
const (
	DefaultRetentionInterval  = time.Hour
	DefaultRetentionBatchSize = 10000
	DefaultRetentionMaxRows   = 1_000_000
)

// retentionTable is what the job knows of a table: the time column rows
// are judged on and which rows may go.
type retentionTable struct {
	column string
	// where restricts the deletable rows ("" for all).
	where string
	// hypertableOK says whether TimescaleDB's retention policy (dropping
	// whole chunks) may replace the DELETE: only when every old row may go.
	hypertableOK bool
}

// retentionTables are the tables Retention can manage. Filled gaps are
// deleted by their last change; open, filling and unfillable gaps are
// kept.
var retentionTables = map[string]retentionTable{
	"trades":         {column: "ts", hypertableOK: true},
	"tickers":        {column: "ts", hypertableOK: true},
	"book_snapshots": {column: "ts", hypertableOK: true},
	"book_updates":   {column: "ts", hypertableOK: true},
	"rejects":        {column: "ts", hypertableOK: true},
	"candles":        {column: "ts", hypertableOK: true},
	"gaps":           {column: "updated_at", where: "status = 'filled'"},
}

// Retention deletes rows older than each table's Keep. On TimescaleDB,
// hypertables get a retention policy (drop_chunks run by TimescaleDB's job
// scheduler) when Run starts; every other table is cleaned by a periodic,
// bounded DELETE job.
type Retention struct {
	cfg     RetentionConfig
	pool    *pgxpool.Pool
	log     *zap.Logger
	deleted *prometheus.CounterVec
	errs    *prometheus.CounterVec
	passes  prometheus.Counter
}

// NewRetention checks cfg and returns the job. It refuses unknown tables
// and negative durations.
func NewRetention(cfg RetentionConfig, pool *pgxpool.Pool) (*Retention, error) {
	if pool == nil {
		return nil, errors.New("new retention: a database pool is required")
	}
	for _, r := range cfg.Rules {
		if _, ok := retentionTables[r.Table]; !ok {
			return nil, fmt.Errorf("new retention: table %q is not one retention manages", r.Table)
		}
		if r.Keep < 0 {
			return nil, fmt.Errorf("new retention: %s: negative retention %s", r.Table, r.Keep)
		}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultRetentionInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultRetentionBatchSize
	}
	if cfg.MaxRowsPerPass <= 0 {
		cfg.MaxRowsPerPass = DefaultRetentionMaxRows
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	r := &Retention{
		cfg: cfg, pool: pool, log: cfg.Log,
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etl_retention_rows_deleted_total",
			Help: "Rows deleted by the retention job, by table (TimescaleDB's dropped chunks are not counted).",
		}, []string{"table"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etl_retention_errors_total",
			Help: "Failed retention passes over a table, by table.",
		}, []string{"table"}),
		passes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etl_retention_passes_total",
			Help: "Passes of the retention job over its tables.",
		}),
	}
	for _, rule := range cfg.Rules {
		// Every table's series exist from the start, at 0.
		r.deleted.WithLabelValues(rule.Table)
		r.errs.WithLabelValues(rule.Table)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{r.deleted, r.errs, r.passes} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("new retention: register metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Run applies TimescaleDB policies, then runs a DELETE pass at once and
// every Interval until ctx ends; it returns nil then. A failed pass is
// logged and counted, and tried again at the next interval.
func (r *Retention) Run(ctx context.Context) error {
	deleteJob, err := r.applyPolicies(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		// Without the policies, the DELETE job covers every table.
		r.log.Error("retention: timescaledb policies not applied; deleting rows instead", zap.Error(err))
		deleteJob = r.cfg.Rules
	}
	t := time.NewTicker(r.cfg.Interval)
	defer t.Stop()
	for {
		if _, err := r.pass(ctx, deleteJob); err != nil && ctx.Err() == nil {
			r.log.Warn("retention pass failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Pass runs one DELETE pass over every rule's table (hypertables
// included) and returns the rows deleted by table. Run calls it for the
// tables that have no TimescaleDB policy.
func (r *Retention) Pass(ctx context.Context) (map[string]int64, error) {
	return r.pass(ctx, r.cfg.Rules)
}

func (r *Retention) pass(ctx context.Context, rules []RetentionRule) (map[string]int64, error) {
	out := map[string]int64{}
	var errs []error
	for _, rule := range rules {
		if rule.Keep == 0 {
			continue
		}
		n, err := r.deleteOld(ctx, rule)
		out[rule.Table] = n
		r.deleted.WithLabelValues(rule.Table).Add(float64(n))
		if err != nil {
			r.errs.WithLabelValues(rule.Table).Inc()
			errs = append(errs, err)
		}
	}
	r.passes.Inc()
	return out, errors.Join(errs...)
}

// deleteOld deletes rule's old rows in batches of BatchSize, at most
// MaxRowsPerPass.
func (r *Retention) deleteOld(ctx context.Context, rule RetentionRule) (int64, error) {
	exists, err := r.tableExists(ctx, rule.Table)
	if err != nil || !exists {
		return 0, err
	}
	t := retentionTables[rule.Table]
	cond := pgx.Identifier{t.column}.Sanitize() + " < $1"
	if t.where != "" {
		cond += " AND " + t.where
	}
	table := pgx.Identifier{rule.Table}.Sanitize()
	// Batches by physical row address: (tableoid, ctid) names one row on
	// any table, a hypertable's chunks included (a ctid alone repeats in
	// every chunk). The DELETE checks the condition again, so that a row
	// changed since the SELECT is left alone.
	sel := fmt.Sprintf(`SELECT tableoid::oid, ctid FROM %s WHERE %s LIMIT $2`, table, cond)
	del := fmt.Sprintf(`DELETE FROM %s WHERE tableoid = $2 AND ctid = ANY ($3) AND %s`, table, cond)
	before := r.cfg.Now().Add(-rule.Keep)
	var total int64
	for total < r.cfg.MaxRowsPerPass {
		limit := min(int64(r.cfg.BatchSize), r.cfg.MaxRowsPerPass-total)
		n, found, err := r.deleteBatch(ctx, sel, del, before, limit)
		total += n
		if err != nil {
			return total, fmt.Errorf("retention: delete %s rows before %s: %w", rule.Table, before.Format(time.RFC3339), err)
		}
		if found < limit {
			break
		}
	}
	if total > 0 {
		r.log.Info("retention: deleted old rows", zap.String("table", rule.Table), zap.Int64("rows", total),
			zap.Time("before", before))
	}
	return total, nil
}

// deleteBatch selects up to limit deletable rows and deletes them; it
// returns the rows deleted and found.
func (r *Retention) deleteBatch(ctx context.Context, sel, del string, before time.Time, limit int64) (int64, int64, error) {
	rows, err := r.pool.Query(ctx, sel, before, limit)
	if err != nil {
		return 0, 0, err
	}
	byTable := map[uint32][]pgtype.TID{}
	var found int64
	for rows.Next() {
		var oid uint32
		var tid pgtype.TID
		if err := rows.Scan(&oid, &tid); err != nil {
			rows.Close()
			return 0, 0, err
		}
		byTable[oid] = append(byTable[oid], tid)
		found++
	}
	if err := rows.Err(); err != nil {
		return 0, 0, err
	}
	var deleted int64
	for oid, tids := range byTable {
		tag, err := r.pool.Exec(ctx, del, before, oid, tids)
		if err != nil {
			return deleted, found, err
		}
		deleted += tag.RowsAffected()
	}
	return deleted, found, nil
}

func (r *Retention) tableExists(ctx context.Context, table string) (bool, error) {
	var ok bool
	if err := r.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, table).Scan(&ok); err != nil {
		return false, fmt.Errorf("retention: look up table %s: %w", table, err)
	}
	return ok, nil
}

// applyPolicies sets or removes TimescaleDB retention policies on the
// rules' hypertables and returns the rules left to the DELETE job. Without
// TimescaleDB every rule is.
func (r *Retention) applyPolicies(ctx context.Context) ([]RetentionRule, error) {
	var tsdb bool
	if err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')`).Scan(&tsdb); err != nil {
		return nil, fmt.Errorf("retention: look for timescaledb: %w", err)
	}
	if !tsdb {
		return r.cfg.Rules, nil
	}
	var rest []RetentionRule
	for _, rule := range r.cfg.Rules {
		if !retentionTables[rule.Table].hypertableOK {
			rest = append(rest, rule)
			continue
		}
		var hyper bool
		if err := r.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = $1)`,
			rule.Table).Scan(&hyper); err != nil {
			return nil, fmt.Errorf("retention: look up hypertable %s: %w", rule.Table, err)
		}
		if !hyper {
			rest = append(rest, rule)
			continue
		}
		if _, err := r.pool.Exec(ctx, `SELECT remove_retention_policy($1::regclass, if_exists => TRUE)`, rule.Table); err != nil {
			return nil, fmt.Errorf("retention: remove the retention policy of %s: %w", rule.Table, err)
		}
		if rule.Keep == 0 {
			continue
		}
		if _, err := r.pool.Exec(ctx, `SELECT add_retention_policy($1::regclass, drop_after => $2::interval)`,
			rule.Table, fmt.Sprintf("%d seconds", int64(rule.Keep/time.Second))); err != nil {
			return nil, fmt.Errorf("retention: add a retention policy of %s to %s: %w", rule.Keep, rule.Table, err)
		}
		r.log.Info("retention: timescaledb policy set", zap.String("table", rule.Table), zap.Duration("drop_after", rule.Keep))
	}
	return rest, nil
}
