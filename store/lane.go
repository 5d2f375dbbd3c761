package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgerrcode"
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
	// urge asks run to flush what it holds and what is queued now, without
	// waiting for FlushInterval (Writer.Sync); capacity 1.
	urge chan struct{}
	// encs are the reusable COPY streams, one per COPY writer (see
	// copyWriters); encs[i] is used only by part i of a flush.
	encs []copyEncoder
	// mergeNext counts the attempts that go straight to the staging merge
	// because a recent direct COPY found a row already stored.
	mergeNext atomic.Int32
	// recv holds the batch's receipt times for OnFlush; owned by run.
	recv []time.Time
	// flushingSince is when the flush in progress began (Unix ns), 0
	// between flushes: TryWriteWithin does not wait for room behind a
	// flush in progress for StalledFlush.
	flushingSince atomic.Int64
	c             counters
	// statementTimeout sets Config.FlushTimeout as the merge
	// transaction's statement_timeout.
	statementTimeout string
}

// counters are a lane's totals, read by Stats without blocking the lane.
type counters struct {
	inserted, updated, skipped, rejected, lost atomic.Uint64
	flushes, retries                           atomic.Uint64
	// sent counts records queued, done rows handled by flushes (stored,
	// refused, spilled or lost), for Sync; spilled rows handed to the
	// Overflow at the shutdown deadline.
	sent, done, spilled atomic.Uint64
}

func newLane[T any](w *Writer, tab *table[T], queueSize int) *lane[T] {
	return &lane[T]{
		w:                w,
		tab:              tab,
		in:               make(chan T, queueSize),
		urge:             make(chan struct{}, 1),
		buf:              make([]T, 0, w.cfg.BatchSize),
		encs:             make([]copyEncoder, copyWriters(w.cfg, tab.parallel())),
		statementTimeout: fmt.Sprintf("SET LOCAL statement_timeout = %d; ", max(1, w.cfg.FlushTimeout.Milliseconds())),
	}
}

// runner is what Run needs of a lane, whatever its row type.
type runner interface {
	run(ctx context.Context, drain <-chan struct{})
	hurry()
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
		Spilled:  l.c.spilled.Load(),
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
			// Take what else is queued (rows pile up during a flush) with
			// one receive each instead of a four-way select per row.
			l.take()
			if len(l.buf) >= l.w.cfg.BatchSize {
				age.Stop()
				l.flush(ctx, FlushSize)
			}
		case <-age.C:
			l.flush(ctx, FlushAge)
		case <-l.urge:
			// Someone waits for what is queued (Sync): take it all and
			// flush now rather than after FlushInterval.
			for l.take(); len(l.buf) >= l.w.cfg.BatchSize; l.take() {
				l.flush(ctx, FlushSize)
			}
			age.Stop()
			l.flush(ctx, FlushSync)
		case <-drain:
			for l.take(); len(l.buf) >= l.w.cfg.BatchSize; l.take() {
				l.flush(ctx, FlushShutdown)
			}
			l.flush(ctx, FlushShutdown)
			return
		}
	}
}

// take moves the rows already queued into the buffer, without waiting,
// until the buffer holds BatchSize rows or the queue is empty.
func (l *lane[T]) take() {
	for len(l.buf) < l.w.cfg.BatchSize {
		select {
		case row := <-l.in:
			l.buf = append(l.buf, row)
		default:
			return
		}
	}
}

// hurry asks run to flush now (see urge).
func (l *lane[T]) hurry() {
	select {
	case l.urge <- struct{}{}:
	default:
	}
}

// flush stores the buffer and empties it. When ctx ends first (the
// shutdown deadline), the rows not stored are spilled to Config.Overflow,
// or counted as lost.
func (l *lane[T]) flush(ctx context.Context, trigger FlushTrigger) {
	rows := l.buf
	if len(rows) == 0 {
		return
	}
	start := time.Now()
	l.flushingSince.Store(start.UnixNano())
	defer l.flushingSince.Store(0)
	res := FlushResult{Table: l.tab.name, Trigger: trigger, Rows: len(rows)}
	if err := l.store(ctx, rows, &res); err != nil {
		// Which rows were stored is not known row by row (parts of a
		// batch may commit separately), so the whole batch is spilled: the
		// replay skips the rows already stored.
		notStored := res.Rows - res.Inserted - res.Updated - res.Skipped - res.Rejected
		res.Lost = min(notStored, len(rows)-l.spill(rows))
		res.Spilled = notStored - res.Lost
		if res.Spilled > 0 {
			l.w.log.Warn("store: shutdown deadline passed; unstored rows spilled",
				zap.String("table", l.tab.name), zap.Int("rows", res.Spilled), zap.Error(err))
		}
		if res.Lost > 0 {
			l.w.log.Error("store: rows lost: shutdown deadline passed before they were stored",
				zap.String("table", l.tab.name), zap.Int("rows", res.Lost), zap.Error(err))
		}
	}
	res.Duration = time.Since(start)
	record := l.w.cfg.OnFlush != nil
	l.recv = l.recv[:0]
	for _, row := range rows {
		t := l.tab.received(row)
		if record {
			l.recv = append(l.recv, t)
		}
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
	l.c.spilled.Add(uint64(res.Spilled))
	l.c.done.Add(uint64(res.Rows))
	l.c.flushes.Add(1)
	if l.tab.refusal == nil {
		l.w.rejectsStored.Add(uint64(res.Inserted))
	}
	clear(rows)
	l.buf = rows[:0]
	if record {
		res.Received = l.recv
		l.w.cfg.OnFlush(res)
	}
	l.w.flushed.notify()
}

// Tuning of the COPY writers.
const (
	// minCopyPart is the smallest part of a batch worth its own COPY writer.
	minCopyPart = 1000
	// mergeAfterConflict is the number of attempts that skip the direct
	// COPY after one found a row already stored: duplicates come in runs
	// (a reconnect's overlap, a replay, a backfill).
	mergeAfterConflict = 8
)

// copyWriters is the number of concurrent COPY writers of tab's flushes:
// Config.CopyWriters for tables whose rows may be stored in any order
// (their merge only inserts), one for the others (candles must stay in
// order per key, rejects are few).
func copyWriters(cfg Config, parallel bool) int {
	if !parallel {
		return 1
	}
	return max(1, cfg.CopyWriters)
}

// store writes rows, retrying failures that are not the rows' fault and
// bisecting the batch to isolate rows the database refuses. A large batch
// of a table whose rows may be stored in any order is split among the COPY
// writers, each storing its part on its own connection. It returns an
// error only when ctx ends; res then counts what was stored before.
func (l *lane[T]) store(ctx context.Context, rows []T, res *FlushResult) error {
	parts := min(len(l.encs), len(rows)/minCopyPart)
	if parts <= 1 {
		return l.storeRows(ctx, rows, res, &l.encs[0])
	}
	results := make([]FlushResult, parts)
	errs := make([]error, parts)
	size := (len(rows) + parts - 1) / parts
	var writers sync.WaitGroup
	for i := range parts {
		part := rows[i*size : min(len(rows), (i+1)*size)]
		writers.Go(func() { errs[i] = l.storeRows(ctx, part, &results[i], &l.encs[i]) })
	}
	writers.Wait()
	for _, r := range results {
		res.Inserted += r.Inserted
		res.Updated += r.Updated
		res.Skipped += r.Skipped
		res.Rejected += r.Rejected
		res.Retries += r.Retries
	}
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// storeRows is store for one COPY writer, encoding with enc.
func (l *lane[T]) storeRows(ctx context.Context, rows []T, res *FlushResult, enc *copyEncoder) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		ins, upd, err := l.attemptWithin(ctx, rows, enc)
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
			if err := l.storeRows(ctx, rows[:mid], res, enc); err != nil {
				return err
			}
			return l.storeRows(ctx, rows[mid:], res, enc)
		}
		delay := retryDelay(l.w.cfg.RetryMin, l.w.cfg.RetryMax, attempt)
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

// ErrFlushTimeout is wrapped by a flush attempt cut off by
// Config.FlushTimeout; the batch is retried with its rows kept.
var ErrFlushTimeout = errors.New("flush attempt timed out")

// attemptWithin is attempt bounded by Config.FlushTimeout: an attempt
// blocked longer (on a lock, say) is cancelled and fails with
// ErrFlushTimeout, a transient failure.
func (l *lane[T]) attemptWithin(ctx context.Context, rows []T, enc *copyEncoder) (inserted, updated int, err error) {
	actx, cancel := context.WithTimeout(ctx, l.w.clientTimeout)
	defer cancel()
	inserted, updated, err = l.attempt(actx, rows, enc)
	if err != nil && ctx.Err() == nil && errors.Is(actx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%w after %s: %w", ErrFlushTimeout, l.w.cfg.FlushTimeout, err)
	}
	return inserted, updated, err
}

// attempt stores rows and returns how many were inserted and updated.
// Rows are encoded into a binary COPY stream. Unless a recent attempt found
// rows already stored, the stream is first copied straight into the table
// (one statement, atomic on its own); only when that finds a key already
// stored or repeated (unique_violation) is the batch copied into the
// staging table and merged in one transaction, which skips or updates
// those rows.
func (l *lane[T]) attempt(ctx context.Context, rows []T, enc *copyEncoder) (inserted, updated int, err error) {
	defer func() { enc.release(err != nil) }()
	if l.tab.stage == "" {
		n, err := l.copyDirect(ctx, l.tab.copyStage(), l.encode(rows, enc, false))
		if err != nil {
			return 0, 0, fmt.Errorf("copy %d rows into %s: %w", len(rows), l.tab.name, err)
		}
		return int(n), 0, nil
	}
	var data []byte
	if l.mergeNext.Load() <= 0 {
		data = l.encode(rows, enc, false)
		n, err := l.copyDirect(ctx, l.tab.copyTarget(), data)
		if err == nil {
			return int(n), 0, nil
		}
		if sqlState(err) != pgerrcode.UniqueViolation {
			return 0, 0, fmt.Errorf("copy %d rows into %s: %w", len(rows), l.tab.name, err)
		}
		l.mergeNext.Store(mergeAfterConflict)
	} else {
		l.mergeNext.Add(-1)
	}
	if data == nil || l.tab.seq {
		data = l.encode(rows, enc, l.tab.seq)
	}
	return l.merge(ctx, len(rows), data)
}

// encode writes rows as a binary COPY stream into enc, each with its
// position in the batch first if seq, and returns the stream.
func (l *lane[T]) encode(rows []T, enc *copyEncoder, seq bool) []byte {
	enc.reset()
	fields := len(l.tab.columns)
	if seq {
		fields++
	}
	for i, row := range rows {
		enc.row(fields)
		if seq {
			enc.int32(int32(i + 1))
		}
		l.tab.encode(row, enc)
	}
	return enc.finish()
}

// copyDirect runs one COPY of a binary stream on a connection of its own
// and returns the number of rows copied.
func (l *lane[T]) copyDirect(ctx context.Context, sql string, data []byte) (int64, error) {
	conn, err := l.w.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("acquire connection: %w", err)
	}
	defer conn.Release()
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), sql)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// merge copies a batch of n rows, encoded in data, into the staging table
// and merges it into the target in one transaction.
func (l *lane[T]) merge(ctx context.Context, n int, data []byte) (inserted, updated int, err error) {
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
	// No arguments: one simple-protocol round trip for both statements.
	if _, err := tx.Exec(ctx, l.statementTimeout+l.tab.createStage()); err != nil {
		return 0, 0, fmt.Errorf("create staging table for %s: %w", l.tab.name, err)
	}
	if _, err := tx.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(data), l.tab.copyStage()); err != nil {
		return 0, 0, fmt.Errorf("copy %d rows into staging for %s: %w", n, l.tab.name, err)
	}
	if l.tab.upsert {
		var ins, upd int64
		if err := tx.QueryRow(ctx, l.tab.merge, pgx.QueryExecModeSimpleProtocol).Scan(&ins, &upd); err != nil {
			return 0, 0, fmt.Errorf("merge %d rows into %s: %w", n, l.tab.name, err)
		}
		inserted, updated = int(ins), int(upd)
	} else {
		tag, err := tx.Exec(ctx, l.tab.merge)
		if err != nil {
			return 0, 0, fmt.Errorf("merge %d rows into %s: %w", n, l.tab.name, err)
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
