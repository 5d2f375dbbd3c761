package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
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
//
// The checks are sent as arrays, one INSERT ... SELECT FROM unnest per
// round of distinct candles (one round unless checks names a candle more
// than once: the k-th check of a candle goes in round k, so that they apply
// in order), all in one implicit transaction (one pipeline, one Sync): all
// are recorded or none.
func (s *CandleChecks) Add(ctx context.Context, checks []market.CandleCheck) error {
	if len(checks) == 0 {
		return nil
	}
	if err := s.add(ctx, checks); err != nil {
		return fmt.Errorf("record %d candle checks: %w", len(checks), err)
	}
	return nil
}

// addChecksStatement names addChecksSQL prepared on a connection.
const addChecksStatement = "etl_add_candle_checks"

// add sends the rounds of checks to the statement prepared on one of the
// pool's connections, its parameters already in PostgreSQL's binary format
// (checkParams): pgx's generic array encoding boxes every element.
func (s *CandleChecks) add(ctx context.Context, checks []market.CandleCheck) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	sd, err := c.Conn().Prepare(ctx, addChecksStatement, addChecksSQL)
	if err != nil {
		return err
	}
	binary := [11]int16{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1} // every parameter
	b := &pgconn.Batch{}
	for _, round := range checkRounds(checks) {
		b.ExecPrepared(sd.Name, checkParams(round), binary[:], nil)
	}
	return c.Conn().PgConn().ExecBatch(ctx, b).Close()
}

// addChecksSQL records the checks of its arrays, one per distinct candle
// (ON CONFLICT DO UPDATE may not touch a row twice in one statement).
const addChecksSQL = `INSERT INTO candle_checks (exchange, symbol, timeframe, ts, reason, due_at, open, high, low, close, volume)
	SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::timestamptz[],
		$7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[])
	ON CONFLICT (exchange, symbol, timeframe, ts) DO UPDATE SET reason = 'provisional', status = 'pending',
		open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low, close = EXCLUDED.close, volume = EXCLUDED.volume,
		due_at = CASE WHEN candle_checks.attempts = 0 THEN least(candle_checks.due_at, EXCLUDED.due_at) ELSE candle_checks.due_at END,
		updated_at = now()
	WHERE EXCLUDED.reason = 'provisional'`

// checkKey is the candle a check is for: candle_checks' primary key.
type checkKey struct {
	stream market.Stream
	ts     time.Time
}

// checkRounds splits checks, in order, into rounds in which each candle
// appears at most once: the k-th check of a candle goes in round k. The
// common case, no candle twice, is one round: checks itself.
func checkRounds(checks []market.CandleCheck) [][]market.CandleCheck {
	seen := make(map[checkKey]int, len(checks))
	repeated := false
	for _, c := range checks {
		k := checkKey{c.Stream, c.Time.UTC()}
		seen[k]++
		repeated = repeated || seen[k] > 1
	}
	if !repeated {
		return [][]market.CandleCheck{checks}
	}
	clear(seen)
	var rounds [][]market.CandleCheck
	for _, c := range checks {
		k := checkKey{c.Stream, c.Time.UTC()}
		n := seen[k]
		seen[k] = n + 1
		if n == len(rounds) {
			rounds = append(rounds, nil)
		}
		rounds[n] = append(rounds[n], c)
	}
	return rounds
}

// Element types of the parameter arrays.
const (
	textOID        = 25
	timestamptzOID = 1184
	numericOID     = 1700
)

// checkParams returns addChecksSQL's parameters for checks: the columns as
// one-dimensional arrays in PostgreSQL's binary format (array_recv), in
// one buffer. Numerics keep their exact digits and scale (appendNumeric),
// times are microseconds as pgx sends them (copyEncoder.timestamptz).
func checkParams(checks []market.CandleCheck) [][]byte {
	n := len(checks)
	// Per check: 4 short texts, 2 times, 5 numerics of a few base-10000
	// digits, each with its length.
	e := copyEncoder{buf: make([]byte, 0, 11*20+n*(4*16+2*12+5*20))}
	var ends [11]int
	col := 0
	array := func(elem uint32, add func(c *market.CandleCheck)) {
		// ndim 1, no NULLs, element type, length, lower bound 1.
		e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
		e.buf = binary.BigEndian.AppendUint32(e.buf, 0)
		e.buf = binary.BigEndian.AppendUint32(e.buf, elem)
		e.buf = binary.BigEndian.AppendUint32(e.buf, uint32(n))
		e.buf = binary.BigEndian.AppendUint32(e.buf, 1)
		for i := range checks {
			add(&checks[i])
		}
		ends[col] = len(e.buf)
		col++
	}
	array(textOID, func(c *market.CandleCheck) { e.text(string(c.Stream.Exchange)) })
	array(textOID, func(c *market.CandleCheck) { e.text(string(c.Stream.Symbol)) })
	array(textOID, func(c *market.CandleCheck) { e.text(string(c.Stream.Timeframe)) })
	array(timestamptzOID, func(c *market.CandleCheck) { e.timestamptz(c.Time) })
	array(textOID, func(c *market.CandleCheck) { e.text(string(c.Reason)) })
	array(timestamptzOID, func(c *market.CandleCheck) { e.timestamptz(c.Due) })
	array(numericOID, func(c *market.CandleCheck) { e.numeric(c.Open) })
	array(numericOID, func(c *market.CandleCheck) { e.numeric(c.High) })
	array(numericOID, func(c *market.CandleCheck) { e.numeric(c.Low) })
	array(numericOID, func(c *market.CandleCheck) { e.numeric(c.Close) })
	array(numericOID, func(c *market.CandleCheck) { e.numeric(c.Volume) })
	params := make([][]byte, len(ends))
	start := 0
	for i, end := range ends {
		params[i] = e.buf[start:end:end]
		start = end
	}
	return params
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
