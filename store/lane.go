package store

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// lane is one table's queue, buffer and flusher. Its goroutine (run) is the
// only one that touches buf, so flushes of one table are applied in order.
type lane[T any] struct {
	w   *Writer
	tab *table[T]
	in  chan T
	buf []T // owned by run
	// vals is the reusable row of values for COPY; owned by run.
	vals []any
	c    counters
}

// counters are a lane's totals, read by Stats without blocking the lane.
type counters struct {
	inserted, updated, skipped, rejected, lost atomic.Uint64
	flushes, retries                           atomic.Uint64
}

func newLane[T any](w *Writer, tab *table[T], queueSize int) *lane[T] {
	return &lane[T]{
		w:   w,
		tab: tab,
		in:  make(chan T, queueSize),
		buf: make([]T, 0, w.cfg.BatchSize),
	}
}

// runner is what Run needs of a lane, whatever its row type.
type runner interface {
	run(ctx context.Context, drain <-chan struct{})
	name() string
	stats() TableStats
}

func (l *lane[T]) name() string { return l.tab.name }

func (l *lane[T]) stats() TableStats {
	return TableStats{
		Inserted: l.c.inserted.Load(),
		Updated:  l.c.updated.Load(),
		Skipped:  l.c.skipped.Load(),
		Rejected: l.c.rejected.Load(),
		Lost:     l.c.lost.Load(),
		Flushes:  l.c.flushes.Load(),
		Retries:  l.c.retries.Load(),
		Queued:   len(l.in),
	}
}

// run buffers rows from the queue and flushes when the buffer reaches
// BatchSize or its oldest row is FlushInterval old. When drain is closed
// (no more rows can be queued) it empties the queue, flushes and returns.
// ctx bounds the flushes; it ends only when the shutdown deadline passes.
func (l *lane[T]) run(ctx context.Context, drain <-chan struct{}) {
	age := time.NewTimer(time.Hour)
	age.Stop()
	defer age.Stop()
	for {
		select {
		case row := <-l.in:
			if len(l.buf) == 0 {
				age.Reset(l.w.cfg.FlushInterval)
			}
			l.buf = append(l.buf, row)
			if len(l.buf) >= l.w.cfg.BatchSize {
				age.Stop()
				l.flush(ctx, FlushSize)
			}
		case <-age.C:
			l.flush(ctx, FlushAge)
		case <-drain:
			for {
				select {
				case row := <-l.in:
					l.buf = append(l.buf, row)
					if len(l.buf) >= l.w.cfg.BatchSize {
						l.flush(ctx, FlushShutdown)
					}
				default:
					l.flush(ctx, FlushShutdown)
					return
				}
			}
		}
	}
}

// flush stores the buffer and empties it. Rows are dropped only when ctx
// ends first (the shutdown deadline); they are then counted as lost.
func (l *lane[T]) flush(ctx context.Context, trigger FlushTrigger) {
	rows := l.buf
	if len(rows) == 0 {
		return
	}
	start := time.Now()
	res := FlushResult{Table: l.tab.name, Trigger: trigger, Rows: len(rows)}
	if err := l.store(ctx, rows, &res); err != nil {
		res.Lost = res.Rows - res.Inserted - res.Updated - res.Skipped - res.Rejected
		l.w.log.Error("store: rows lost: shutdown deadline passed before they were stored",
			zap.String("table", l.tab.name), zap.Int("rows", res.Lost), zap.Error(err))
	}
	res.Duration = time.Since(start)
	for _, row := range rows {
		t := l.tab.received(row)
		if res.OldestReceived.IsZero() || t.Before(res.OldestReceived) {
			res.OldestReceived = t
		}
		if t.After(res.NewestReceived) {
			res.NewestReceived = t
		}
	}
	l.c.inserted.Add(uint64(res.Inserted))
	l.c.updated.Add(uint64(res.Updated))
	l.c.skipped.Add(uint64(res.Skipped))
	l.c.lost.Add(uint64(res.Lost))
	l.c.flushes.Add(1)
	if l.tab.refusal == nil {
		l.w.rejectsStored.Add(uint64(res.Inserted))
	}
	clear(rows)
	l.buf = rows[:0]
	if l.w.cfg.OnFlush != nil {
		l.w.cfg.OnFlush(res)
	}
}

// store writes rows, retrying failures that are not the rows' fault and
// bisecting the batch to isolate rows the database refuses. It returns an
// error only when ctx ends; res then counts what was stored before.
func (l *lane[T]) store(ctx context.Context, rows []T, res *FlushResult) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ins, upd, err := l.attempt(ctx, rows)
		if err == nil {
			res.Inserted += ins
			res.Updated += upd
			res.Skipped += len(rows) - ins - upd
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		kind := classify(err)
		if kind == failRows {
			if len(rows) == 1 {
				l.refuse(ctx, rows[0], err)
				res.Rejected++
				return nil
			}
			mid := len(rows) / 2
			if err := l.store(ctx, rows[:mid], res); err != nil {
				return err
			}
			return l.store(ctx, rows[mid:], res)
		}
		delay := backoff(l.w.cfg.RetryMin, l.w.cfg.RetryMax, attempt)
		l.c.retries.Add(1)
		res.Retries++
		fields := []zap.Field{zap.String("table", l.tab.name), zap.Int("rows", len(rows)),
			zap.Int("attempt", attempt+1), zap.Duration("retry_in", delay), zap.String("sqlstate", sqlState(err)), zap.Error(err)}
		if kind == failTransient {
			l.w.log.Warn("store: flush failed; retrying", fields...)
		} else {
			l.w.log.Error("store: flush failed (schema or privileges?); retrying", fields...)
		}
		if err := sleep(ctx, delay); err != nil {
			return err
		}
	}
}

// attempt stores rows in one transaction and returns how many were
// inserted and updated.
func (l *lane[T]) attempt(ctx context.Context, rows []T) (inserted, updated int, err error) {
	src := &rowSource[T]{rows: rows, tab: l.tab, vals: l.vals}
	defer func() { l.vals = src.vals }()
	if l.tab.stage == "" {
		n, err := l.w.pool.CopyFrom(ctx, pgx.Identifier{l.tab.name}, l.tab.columnNames(), src)
		if err != nil {
			return 0, 0, fmt.Errorf("copy %d rows into %s: %w", len(rows), l.tab.name, err)
		}
		return int(n), 0, nil
	}
	tx, err := l.w.pool.Begin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("begin flush of %s: %w", l.tab.name, err)
	}
	defer func() {
		if err != nil {
			// The error that matters is err; a failed rollback closes the connection.
			_ = tx.Rollback(ctx)
		}
	}()
	if _, err := tx.Exec(ctx, l.tab.createStage()); err != nil {
		return 0, 0, fmt.Errorf("create staging table for %s: %w", l.tab.name, err)
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{l.tab.stage}, l.tab.columnNames(), src); err != nil {
		return 0, 0, fmt.Errorf("copy %d rows into staging for %s: %w", len(rows), l.tab.name, err)
	}
	if l.tab.upsert {
		var ins, upd int64
		if err := tx.QueryRow(ctx, l.tab.merge, pgx.QueryExecModeSimpleProtocol).Scan(&ins, &upd); err != nil {
			return 0, 0, fmt.Errorf("merge %d rows into %s: %w", len(rows), l.tab.name, err)
		}
		inserted, updated = int(ins), int(upd)
	} else {
		tag, err := tx.Exec(ctx, l.tab.merge)
		if err != nil {
			return 0, 0, fmt.Errorf("merge %d rows into %s: %w", len(rows), l.tab.name, err)
		}
		inserted = int(tag.RowsAffected())
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, 0, fmt.Errorf("commit flush of %s: %w", l.tab.name, err)
	}
	return inserted, updated, nil
}

// refuse keeps a row the database refused in the rejects table (within the
// rejects rate) and counts it.
func (l *lane[T]) refuse(ctx context.Context, row T, cause error) {
	l.c.rejected.Add(1)
	if l.tab.refusal == nil {
		// A reject the database refuses cannot be kept anywhere.
		l.w.log.Error("store: reject refused by the database; dropped",
			zap.String("sqlstate", sqlState(cause)), zap.Error(cause))
		return
	}
	if !l.w.allowReject(ReasonDatabaseRefused) {
		return
	}
	rej := l.tab.refusal(row)
	rej.Reason = ReasonDatabaseRefused
	rej.Field, rej.Detail = refusalDetail(cause)
	l.w.log.Warn("store: row refused by the database; kept in rejects",
		zap.String("table", l.tab.name), zap.String("sqlstate", sqlState(cause)), zap.Error(cause))
	if err := l.w.insertReject(ctx, newRejectRow(rej, sqlState(cause), l.w.cfg.RawLimit, time.Now())); err != nil {
		l.w.log.Error("store: keep refused row in rejects", zap.String("table", l.tab.name), zap.Error(err))
	}
}

// rowSource feeds a batch to COPY, reusing one slice of values.
type rowSource[T any] struct {
	rows []T
	tab  *table[T]
	i    int
	vals []any
}

var _ pgx.CopyFromSource = (*rowSource[int])(nil)

func (s *rowSource[T]) Next() bool {
	s.i++
	return s.i <= len(s.rows)
}

func (s *rowSource[T]) Values() ([]any, error) {
	s.vals = s.tab.values(s.rows[s.i-1], s.i, s.vals)
	return s.vals, nil
}

func (s *rowSource[T]) Err() error { return nil }
