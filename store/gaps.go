package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/market"
)

// Gap states, stored in gaps.status.
const (
	GapOpen       = "open"
	GapFilling    = "filling"
	GapFilled     = "filled"
	GapUnfillable = "unfillable"
)

// GapRow is one row of the gaps table.
type GapRow struct {
	ID  int64
	Gap market.Gap
	// Status is GapOpen, GapFilling, GapFilled or GapUnfillable.
	Status           string
	Attempts         int
	FilledRows       int64
	LastError        string
	UnfillableReason string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// GapCounts are the gaps per exchange and status, and the rows filled per
// exchange and data type.
type GapCounts struct {
	// ByStatus maps exchange to status to the number of gaps.
	ByStatus map[string]map[string]int64
	// FilledRows maps exchange to data type to the rows stored by filling.
	FilledRows map[string]map[string]int64
}

// Gaps reads and writes the gaps table.
type Gaps struct {
	pool *pgxpool.Pool
}

// NewGaps returns a Gaps working through pool.
func NewGaps(pool *pgxpool.Pool) *Gaps { return &Gaps{pool: pool} }

const gapColumns = `id, exchange, symbol, data_type, coalesce(timeframe, ''), from_ts, to_ts,
	coalesce(after_trade_id, 0), coalesce(before_trade_id, 0), reason, status, attempts, filled_rows,
	coalesce(last_error, ''), coalesce(unfillable_reason, ''), created_at, updated_at`

func scanGap(row pgx.Row) (GapRow, error) {
	var (
		r                      GapRow
		ex, sym, typ, tf, reas string
	)
	err := row.Scan(&r.ID, &ex, &sym, &typ, &tf, &r.Gap.From, &r.Gap.To, &r.Gap.AfterID, &r.Gap.BeforeID,
		&reas, &r.Status, &r.Attempts, &r.FilledRows, &r.LastError, &r.UnfillableReason, &r.CreatedAt, &r.UpdatedAt)
	if err != nil {
		return r, err
	}
	r.Gap.Stream = market.Stream{Exchange: market.Exchange(ex), Symbol: market.Symbol(sym), Type: market.DataType(typ), Timeframe: market.Timeframe(tf)}
	r.Gap.Reason = market.GapReason(reas)
	r.Gap.From, r.Gap.To = r.Gap.From.UTC(), r.Gap.To.UTC()
	r.Gap.Detected = r.CreatedAt
	return r, nil
}

func nullText(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullID(id int64) *int64 {
	if id <= 0 {
		return nil
	}
	return &id
}

// Record stores g as an open gap. Open gaps of the same stream that overlap
// or touch it (in time, or by trade id when both carry ids) are merged with
// it into one row, which keeps the oldest row's id and reason; Record
// returns that row. Gaps being filled are never merged into: an overlap
// with one is filled twice, which the idempotent writer makes harmless.
// A gap that stands alone (Gap.Alone: book_resync) is never merged,
// either way: each resync is its own row (see mergeable).
func (s *Gaps) Record(ctx context.Context, g market.Gap) (GapRow, error) {
	if g.To.Before(g.From) {
		return GapRow{}, fmt.Errorf("record gap %s: to is before from", g)
	}
	var out GapRow
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One stream's gaps are merged under a transaction-scoped advisory
		// lock, so that two concurrent Records cannot both insert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext($1))`, "gaps:"+g.Stream.String()); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT `+gapColumns+` FROM gaps
			WHERE status = 'open' AND exchange = $1 AND symbol = $2 AND data_type = $3
			  AND coalesce(timeframe, '') = $4 AND from_ts <= $6 AND to_ts >= $5
			ORDER BY id FOR UPDATE`,
			string(g.Stream.Exchange), string(g.Stream.Symbol), string(g.Stream.Type), string(g.Stream.Timeframe), g.From, g.To)
		if err != nil {
			return err
		}
		olds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GapRow, error) { return scanGap(r) })
		if err != nil {
			return err
		}
		merged, reason := g, g.Reason
		var ids []int64
		for _, o := range olds {
			if !mergeable(merged, o.Gap) {
				continue
			}
			merged = merged.Union(o.Gap)
			if len(ids) == 0 {
				reason = o.Gap.Reason
			}
			ids = append(ids, o.ID)
		}
		merged.Reason = reason
		if len(ids) == 0 {
			row := tx.QueryRow(ctx, `INSERT INTO gaps (exchange, symbol, data_type, timeframe, from_ts, to_ts,
				after_trade_id, before_trade_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING `+gapColumns,
				string(g.Stream.Exchange), string(g.Stream.Symbol), string(g.Stream.Type), nullText(string(g.Stream.Timeframe)),
				g.From, g.To, nullID(g.AfterID), nullID(g.BeforeID), string(g.Reason))
			out, err = scanGap(row)
			return err
		}
		if len(ids) > 1 {
			if _, err := tx.Exec(ctx, `DELETE FROM gaps WHERE id = ANY($1)`, ids[1:]); err != nil {
				return err
			}
		}
		after, before := merged.AfterID, merged.BeforeID
		if !merged.HasIDs() {
			after, before = 0, 0
		}
		row := tx.QueryRow(ctx, `UPDATE gaps SET from_ts = $2, to_ts = $3, after_trade_id = $4, before_trade_id = $5,
			reason = $6, updated_at = now() WHERE id = $1 RETURNING `+gapColumns,
			ids[0], merged.From, merged.To, nullID(after), nullID(before), string(merged.Reason))
		out, err = scanGap(row)
		return err
	})
	if err != nil {
		return GapRow{}, fmt.Errorf("record gap %s: %w", g, err)
	}
	return out, nil
}

// mergeable reports whether two gaps of one stream can become one row:
// they overlap in time (checked by the query) and, when both carry trade
// ids, their id ranges overlap or touch; a gap with ids never merges with
// one without, whose bounds are not comparable.
//
// A gap that stands alone (Gap.Alone: book_resync) never merges: merged,
// two overlapping resyncs would be one row or two depending only on
// whether the filler had already marked the first unfillable.
func mergeable(a, b market.Gap) bool {
	if a.Alone() || b.Alone() {
		return false
	}
	if a.HasIDs() != b.HasIDs() {
		return false
	}
	if !a.HasIDs() {
		return true
	}
	return a.AfterID < b.BeforeID && b.AfterID < a.BeforeID
}

// Pending returns the open and filling gaps, oldest first; a non-empty
// exchange restricts them to that exchange.
func (s *Gaps) Pending(ctx context.Context, exchange market.Exchange) ([]GapRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+gapColumns+` FROM gaps
		WHERE status IN ('open', 'filling') AND ($1 = '' OR exchange = $1) ORDER BY created_at, id`, string(exchange))
	if err != nil {
		return nil, fmt.Errorf("read pending gaps: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GapRow, error) { return scanGap(r) })
	if err != nil {
		return nil, fmt.Errorf("read pending gaps: %w", err)
	}
	return out, nil
}

// Get returns the gap with the given id.
func (s *Gaps) Get(ctx context.Context, id int64) (GapRow, error) {
	r, err := scanGap(s.pool.QueryRow(ctx, `SELECT `+gapColumns+` FROM gaps WHERE id = $1`, id))
	if err != nil {
		return r, fmt.Errorf("read gap %d: %w", id, err)
	}
	return r, nil
}

// List returns the gaps of one stream, oldest first.
func (s *Gaps) List(ctx context.Context, st market.Stream) ([]GapRow, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+gapColumns+` FROM gaps
		WHERE exchange = $1 AND symbol = $2 AND data_type = $3 AND coalesce(timeframe, '') = $4 ORDER BY from_ts, id`,
		string(st.Exchange), string(st.Symbol), string(st.Type), string(st.Timeframe))
	if err != nil {
		return nil, fmt.Errorf("read gaps of %s: %w", st, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GapRow, error) { return scanGap(r) })
	if err != nil {
		return nil, fmt.Errorf("read gaps of %s: %w", st, err)
	}
	return out, nil
}

// ErrGapNotPending is returned by Start for a gap that is no longer open
// or filling (filled, unfillable, or merged away).
var ErrGapNotPending = errors.New("gap is not pending")

// Start marks gap id as filling and counts the attempt; it returns the
// row as it now is.
func (s *Gaps) Start(ctx context.Context, id int64) (GapRow, error) {
	r, err := scanGap(s.pool.QueryRow(ctx, `UPDATE gaps SET status = 'filling', attempts = attempts + 1, filled_rows = 0, updated_at = now()
		WHERE id = $1 AND status IN ('open', 'filling') RETURNING `+gapColumns, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("start filling gap %d: %w", id, ErrGapNotPending)
	}
	if err != nil {
		return r, fmt.Errorf("start filling gap %d: %w", id, err)
	}
	return r, nil
}

// Narrow sets the bounds of gap id (the part still to fill, after a part
// was split off).
func (s *Gaps) Narrow(ctx context.Context, id int64, g market.Gap) error {
	after, before := g.AfterID, g.BeforeID
	if !g.HasIDs() {
		after, before = 0, 0
	}
	_, err := s.pool.Exec(ctx, `UPDATE gaps SET from_ts = $2, to_ts = $3, after_trade_id = $4, before_trade_id = $5, updated_at = now() WHERE id = $1`,
		id, g.From, g.To, nullID(after), nullID(before))
	if err != nil {
		return fmt.Errorf("narrow gap %d: %w", id, err)
	}
	return nil
}

// AddUnfillable records g as an unfillable gap (a part split off a gap
// being filled) with the reason and the error that explains it.
func (s *Gaps) AddUnfillable(ctx context.Context, g market.Gap, attempts int, reason, lastError string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO gaps (exchange, symbol, data_type, timeframe, from_ts, to_ts,
		after_trade_id, before_trade_id, reason, status, attempts, last_error, unfillable_reason)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'unfillable', $10, $11, $12) RETURNING id`,
		string(g.Stream.Exchange), string(g.Stream.Symbol), string(g.Stream.Type), nullText(string(g.Stream.Timeframe)),
		g.From, g.To, nullID(g.AfterID), nullID(g.BeforeID), string(g.Reason), attempts, nullText(lastError), reason).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("record unfillable part of %s: %w", g, err)
	}
	return id, nil
}

// Progress adds rows to gap id's filled_rows.
func (s *Gaps) Progress(ctx context.Context, id int64, rows int64) error {
	if rows == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, `UPDATE gaps SET filled_rows = filled_rows + $2, updated_at = now() WHERE id = $1`, id, rows); err != nil {
		return fmt.Errorf("count rows filled for gap %d: %w", id, err)
	}
	return nil
}

// Finish sets the final status of gap id: GapFilled, or GapUnfillable with
// the reason and the error that explains it.
func (s *Gaps) Finish(ctx context.Context, id int64, status, reason, lastError string) error {
	if status != GapFilled && status != GapUnfillable {
		return fmt.Errorf("finish gap %d: status %q: want filled or unfillable", id, status)
	}
	_, err := s.pool.Exec(ctx, `UPDATE gaps SET status = $2, unfillable_reason = $3, last_error = $4, updated_at = now() WHERE id = $1`,
		id, status, nullText(reason), nullText(lastError))
	if err != nil {
		return fmt.Errorf("finish gap %d as %s: %w", id, status, err)
	}
	return nil
}

// Retry puts gap id back to open after a transient failure, with the
// error, so that it is tried again (now or at the next start).
func (s *Gaps) Retry(ctx context.Context, id int64, lastError string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE gaps SET status = 'open', last_error = $2, updated_at = now() WHERE id = $1 AND status = 'filling'`,
		id, nullText(lastError)); err != nil {
		return fmt.Errorf("reopen gap %d: %w", id, err)
	}
	return nil
}

// Reopen sets an unfillable gap back to open, by hand (etl backfill
// --retry): unfillable gaps are never retried automatically.
func (s *Gaps) Reopen(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE gaps SET status = 'open', unfillable_reason = NULL, updated_at = now() WHERE id = $1 AND status = 'unfillable'`, id)
	if err != nil {
		return fmt.Errorf("reopen gap %d: %w", id, err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("reopen gap %d: not an unfillable gap", id)
	}
	return nil
}

// Counts returns the gaps per exchange and status and the rows filled.
func (s *Gaps) Counts(ctx context.Context) (GapCounts, error) {
	out := GapCounts{ByStatus: map[string]map[string]int64{}, FilledRows: map[string]map[string]int64{}}
	rows, err := s.pool.Query(ctx, `SELECT exchange, data_type, status, count(*), coalesce(sum(filled_rows), 0)::bigint
		FROM gaps GROUP BY exchange, data_type, status`)
	if err != nil {
		return out, fmt.Errorf("count gaps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			ex, typ, st string
			n, filled   int64
		)
		if err := rows.Scan(&ex, &typ, &st, &n, &filled); err != nil {
			return out, fmt.Errorf("count gaps: %w", err)
		}
		if out.ByStatus[ex] == nil {
			out.ByStatus[ex] = map[string]int64{}
			out.FilledRows[ex] = map[string]int64{}
		}
		out.ByStatus[ex][st] += n
		out.FilledRows[ex][typ] += filled
	}
	if err := rows.Err(); err != nil {
		return out, fmt.Errorf("count gaps: %w", err)
	}
	return out, nil
}

// TradeIDsAround returns the numeric trade ids of the stored trades of st
// nearest a window: the last at or before from and the first at or after
// to; 0 for one that is not stored (or whose id is not a number).
func (s *Gaps) TradeIDsAround(ctx context.Context, st market.Stream, from, to time.Time) (after, before int64, err error) {
	var a, b *int64
	err = s.pool.QueryRow(ctx, `SELECT
		(SELECT trade_id::bigint FROM trades WHERE exchange = $1 AND symbol = $2 AND ts <= $3 AND trade_id ~ '^[0-9]{1,18}$'
		 ORDER BY ts DESC, length(trade_id) DESC, trade_id DESC LIMIT 1),
		(SELECT trade_id::bigint FROM trades WHERE exchange = $1 AND symbol = $2 AND ts >= $4 AND trade_id ~ '^[0-9]{1,18}$'
		 ORDER BY ts, length(trade_id), trade_id LIMIT 1)`,
		string(st.Exchange), string(st.Symbol), from, to).Scan(&a, &b)
	if err != nil {
		return 0, 0, fmt.Errorf("look up stored trade ids around %s %s..%s: %w", st, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), err)
	}
	if a != nil {
		after = *a
	}
	if b != nil {
		before = *b
	}
	return after, before, nil
}
