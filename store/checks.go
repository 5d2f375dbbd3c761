package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

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
// in order), all in one implicit transaction: all are recorded or none.
func (s *CandleChecks) Add(ctx context.Context, checks []market.CandleCheck) error {
	if len(checks) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, round := range checkRounds(checks) {
		a := newCheckArrays(len(round))
		for _, c := range round {
			a.add(c)
		}
		num := a.literals()
		b.Queue(addChecksSQL, a.exchange, a.symbol, a.timeframe, a.ts, a.reason, a.due,
			num[0], num[1], num[2], num[3], num[4])
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("record %d candle checks: %w", len(checks), err)
	}
	return nil
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

// checkArrays are the columns of checks, as unnest's arrays. The numerics
// are PostgreSQL array literals of their exact decimal text: pgx's binary
// numeric encoding goes through math/big for every value (a dozen
// allocations each), the database parses the text at once.
type checkArrays struct {
	exchange, symbol, timeframe, reason []string
	ts, due                             []time.Time
	num                                 [5][]byte // open, high, low, close, volume
}

func newCheckArrays(n int) *checkArrays {
	a := &checkArrays{
		exchange: make([]string, 0, n), symbol: make([]string, 0, n), timeframe: make([]string, 0, n), reason: make([]string, 0, n),
		ts: make([]time.Time, 0, n), due: make([]time.Time, 0, n),
	}
	for i := range a.num {
		a.num[i] = append(make([]byte, 0, 2+12*n), '{')
	}
	return a
}

func (a *checkArrays) add(c market.CandleCheck) {
	a.exchange = append(a.exchange, string(c.Stream.Exchange))
	a.symbol = append(a.symbol, string(c.Stream.Symbol))
	a.timeframe = append(a.timeframe, string(c.Stream.Timeframe))
	a.reason = append(a.reason, string(c.Reason))
	a.ts = append(a.ts, c.Time)
	a.due = append(a.due, c.Due)
	for i, d := range [5]decimal.Decimal{c.Open, c.High, c.Low, c.Close, c.Volume} {
		if len(a.num[i]) > 1 {
			a.num[i] = append(a.num[i], ',')
		}
		a.num[i] = appendDecimalText(a.num[i], d)
	}
}

// literals returns the numeric columns' array literals.
func (a *checkArrays) literals() [5]string {
	var out [5]string
	for i, b := range a.num {
		out[i] = string(append(b, '}'))
	}
	return out
}

// appendDecimalText appends d as PostgreSQL numeric input text, exact and
// with d's scale (42219.90 stays 42219.90; a positive exponent is written
// out as zeros), without math/big for coefficients of up to 18 digits.
func appendDecimalText(buf []byte, d decimal.Decimal) []byte {
	var scratch [48]byte
	ds, neg := appendCoefficient(scratch[:0], d) // decimal digits of |coefficient|
	if neg {
		buf = append(buf, '-')
	}
	exp := int(d.Exponent())
	if exp >= 0 {
		buf = append(buf, ds...)
		if len(ds) == 1 && ds[0] == '0' {
			return buf
		}
		for range exp {
			buf = append(buf, '0')
		}
		return buf
	}
	scale := -exp
	if len(ds) > scale {
		buf = append(buf, ds[:len(ds)-scale]...)
		buf = append(buf, '.')
		return append(buf, ds[len(ds)-scale:]...)
	}
	buf = append(buf, '0', '.')
	for range scale - len(ds) {
		buf = append(buf, '0')
	}
	return append(buf, ds...)
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
