package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"marketetl/market"
)

// TableCandleChecks is the table of candles waiting to be compared with the
// exchange's own.
const TableCandleChecks = "candle_checks"

// Candle check states, stored in candle_checks.status.
const (
	CheckPending   = "pending"
	CheckAbandoned = "abandoned"
)

// CandleChecks reads and writes the candle_checks table: the durable list
// of candles waiting for reconciliation with the exchange's REST candles.
// Provisional candles get their row from the database itself when they are
// stored (a trigger); closed candles are added by the collectors.
type CandleChecks struct {
	pool *pgxpool.Pool
}

// NewCandleChecks returns a CandleChecks working through pool.
func NewCandleChecks(pool *pgxpool.Pool) *CandleChecks { return &CandleChecks{pool: pool} }

// Add records checks as pending. A check already recorded for the same
// candle is kept, attempts included; when a provisional check is added, it
// becomes provisional, takes its values, and takes its due time when that
// is earlier and no attempt was made yet (the store records a provisional
// candle's check with a due time of its own).
func (s *CandleChecks) Add(ctx context.Context, checks []market.CandleCheck) error {
	if len(checks) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, c := range checks {
		b.Queue(`INSERT INTO candle_checks (exchange, symbol, timeframe, ts, reason, due_at, open, high, low, close, volume)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
			ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET reason = 'provisional', status = 'pending',
				open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
				due_at = CASE WHEN candle_checks.attempts = 0 THEN least(candle_checks.due_at, EXCLUDED.due_at) ELSE candle_checks.due_at END,
				updated_at = now()
			WHERE EXCLUDED.reason = 'provisional'`,
			string(c.Stream.Exchange), string(c.Stream.Symbol), string(c.Stream.Timeframe), c.Time, string(c.Reason), c.Due,
			c.Open, c.High, c.Low, c.Close, c.Volume)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record %d candle checks: %w", len(checks), err)
	}
	return nil
}

// Pending returns up to limit pending checks of streams, earliest due
// first (due or not).
func (s *CandleChecks) Pending(ctx context.Context, streams []market.Stream, limit int) ([]market.CandleCheck, error) {
	var ex, sym, tf []string
	for _, st := range streams {
		if st.Type != market.TypeCandle {
			continue
		}
		ex = append(ex, string(st.Exchange))
		sym = append(sym, string(st.Symbol))
		tf = append(tf, string(st.Timeframe))
	}
	if len(ex) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, `SELECT c.exchange, c.symbol, c.timeframe, c.ts, c.reason, c.due_at, c.attempts, coalesce(c.last_error, ''),
			coalesce(c.open, 0), coalesce(c.high, 0), coalesce(c.low, 0), coalesce(c.close, 0), coalesce(c.volume, 0)
		FROM candle_checks c JOIN unnest($1::text[], $2::text[], $3::text[]) AS s(exchange, symbol, timeframe)
		  ON c.exchange = s.exchange AND c.symbol = s.symbol AND c.timeframe = s.timeframe
		WHERE c.status = 'pending' ORDER BY c.due_at, c.ts, c.exchange, c.symbol, c.timeframe LIMIT $4`, ex, sym, tf, limit)
	if err != nil {
		return nil, fmt.Errorf("read pending candle checks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (market.CandleCheck, error) {
		var (
			c                market.CandleCheck
			e, sy, t, reason string
		)
		err := r.Scan(&e, &sy, &t, &c.Time, &reason, &c.Due, &c.Attempts, &c.LastError, &c.Open, &c.High, &c.Low, &c.Close, &c.Volume)
		c.Stream = market.Stream{Exchange: market.Exchange(e), Symbol: market.Symbol(sy), Type: market.TypeCandle, Timeframe: market.Timeframe(t)}
		c.Reason = market.CheckReason(reason)
		c.Time, c.Due = c.Time.UTC(), c.Due.UTC()
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("read pending candle checks: %w", err)
	}
	return out, nil
}

// Done deletes the check of c's candle: the exchange's candle is stored, or
// ours was found equal to it.
func (s *CandleChecks) Done(ctx context.Context, c market.CandleCheck) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM candle_checks WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts = $4`,
		string(c.Stream.Exchange), string(c.Stream.Symbol), string(c.Stream.Timeframe), c.Time); err != nil {
		return fmt.Errorf("finish candle check %s: %w", c, err)
	}
	return nil
}

// Retry counts a failed attempt at c and makes it due again at due.
func (s *CandleChecks) Retry(ctx context.Context, c market.CandleCheck, due time.Time, lastError string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE candle_checks SET attempts = attempts + 1, due_at = $5, last_error = $6, updated_at = now()
		WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts = $4`,
		string(c.Stream.Exchange), string(c.Stream.Symbol), string(c.Stream.Timeframe), c.Time, due, nullText(lastError)); err != nil {
		return fmt.Errorf("postpone candle check %s: %w", c, err)
	}
	return nil
}

// Abandon counts a last failed attempt at c and stops retrying it: the row
// stays, as abandoned, with the error.
func (s *CandleChecks) Abandon(ctx context.Context, c market.CandleCheck, lastError string) error {
	if _, err := s.pool.Exec(ctx, `UPDATE candle_checks SET attempts = attempts + 1, status = 'abandoned', last_error = $5, updated_at = now()
		WHERE exchange = $1 AND symbol = $2 AND timeframe = $3 AND ts = $4`,
		string(c.Stream.Exchange), string(c.Stream.Symbol), string(c.Stream.Timeframe), c.Time, nullText(lastError)); err != nil {
		return fmt.Errorf("abandon candle check %s: %w", c, err)
	}
	return nil
}
