package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"marketetl/market"
)

// ErrClosed is returned by Write and Reject once the Writer has begun
// shutting down: the record was not queued.
var ErrClosed = errors.New("store writer is closed")

// ErrUnsupported is returned by Write for a record type it cannot store.
var ErrUnsupported = errors.New("unsupported record type")

// Writer stores records and rejects in batches. Write and Reject may be
// called from any goroutine, before and while Run runs.
type Writer struct {
	cfg Config
	// shared is the pool given to New; Run derives pool from its settings.
	shared *pgxpool.Pool
	// pool is what the lanes store through: the Writer's own pool, opened
	// by Run before the lanes start and closed after they stop, whose
	// connections carry statement_timeout (see writerPoolConfig); shared
	// until then.
	pool *pgxpool.Pool
	// clientTimeout bounds one flush attempt on the client's side and
	// serverTimeout is the statement_timeout of the Writer's connections:
	// both are Config.FlushTimeout (tests lengthen one to show the other).
	clientTimeout, serverTimeout time.Duration
	log                          *zap.Logger

	trades   *lane[*market.Trade]
	tickers  *lane[*market.Ticker]
	candles  *lane[*market.Candle]
	books    *lane[*market.BookSnapshot]
	updates  *lane[*market.BookUpdate]
	balances *lane[*market.Balance]
	rejects  *lane[rejectRow]
	lanes    []runner

	limiter         *rate.Limiter
	rejectsStored   atomic.Uint64
	rejectsDropped  atomic.Uint64
	dropMu          sync.Mutex // guards droppedByReason
	droppedByReason map[string]uint64

	// sendMu is held for reading by a producer while it queues a row and
	// for writing by Run when it closes the Writer, so that no row is
	// queued after the final drain has begun.
	sendMu   sync.RWMutex
	closed   bool          // guarded by sendMu
	stopping chan struct{} // closed when shutdown begins: blocked producers give up
	drain    chan struct{} // closed once closed is set: lanes drain and return
	started  atomic.Bool
	flushed  flushSignal // wakes Sync after each flush
}

// New checks cfg, applies its defaults and returns a Writer that stores
// through pool. Nothing happens until Run.
func New(cfg Config, pool *pgxpool.Pool, log *zap.Logger) (*Writer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if pool == nil {
		return nil, errors.New("new store writer: a connection pool is required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	w := &Writer{
		cfg:             cfg,
		shared:          pool,
		pool:            pool,
		clientTimeout:   cfg.FlushTimeout,
		serverTimeout:   cfg.FlushTimeout,
		log:             log,
		limiter:         rate.NewLimiter(rate.Limit(cfg.RejectsPerSecond), cfg.RejectsBurst),
		droppedByReason: map[string]uint64{},
		stopping:        make(chan struct{}),
		drain:           make(chan struct{}),
	}
	w.trades = newLane(w, &tradesTable, cfg.QueueSize)
	w.tickers = newLane(w, &tickersTable, cfg.QueueSize)
	w.candles = newLane(w, &candlesTable, cfg.QueueSize)
	w.books = newLane(w, &bookSnapshotsTable, cfg.QueueSize)
	w.updates = newLane(w, &bookUpdatesTable, cfg.QueueSize)
	w.balances = newLane(w, &balancesTable, cfg.QueueSize)
	w.rejects = newLane(w, &rejectsTable, rejectsQueueSize(cfg))
	w.lanes = []runner{w.trades, w.tickers, w.candles, w.books, w.updates, w.balances, w.rejects}
	return w, nil
}

// rejectsQueueSize bounds the rejects queue to ten bursts (at least 100):
// rejects arrive at a bounded rate, and each may hold a payload of up to
// RawLimit bytes.
func rejectsQueueSize(cfg Config) int {
	return min(cfg.QueueSize, max(100, 10*cfg.RejectsBurst))
}

// Run flushes batches until ctx ends, then stops accepting records, drains
// the queues and flushes everything, under a context detached from ctx and
// bounded by Config.ShutdownTimeout. Rows not stored by that deadline are
// handed to Config.Overflow when set. It returns after the final flush; the
// error is non-nil only if rows were lost (neither stored nor spilled)
// because that deadline passed.
// Run may be called once.
func (w *Writer) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errors.New("store writer: Run called twice")
	}
	flushCtx, hardStop := context.WithCancel(context.WithoutCancel(ctx))
	defer hardStop()
	pool, err := pgxpool.NewWithConfig(flushCtx, writerPoolConfig(w.shared, w.serverTimeout))
	if err != nil {
		// Only an invalid configuration fails here: keep storing through
		// the shared pool, bounded by the client's timeout alone.
		w.log.Error("store: open the writer's own pool; using the shared one without a server-side statement_timeout", zap.Error(err))
		pool = w.shared
	} else {
		defer pool.Close()
	}
	w.pool = pool

	var lanes sync.WaitGroup
	for _, l := range w.lanes {
		lanes.Go(func() { l.run(flushCtx, w.drain) })
	}
	<-ctx.Done()
	w.log.Info("store: draining and flushing", zap.Int("queued", w.Stats().QueueDepth),
		zap.Duration("shutdown_timeout", w.cfg.ShutdownTimeout))

	close(w.stopping)
	w.sendMu.Lock()
	w.closed = true
	w.sendMu.Unlock()
	close(w.drain)

	done := make(chan struct{})
	var waiter sync.WaitGroup
	waiter.Go(func() {
		lanes.Wait()
		close(done)
	})
	deadline := time.NewTimer(w.drainTimeout())
	defer deadline.Stop()
	select {
	case <-done:
	case <-deadline.C:
		hardStop()
		<-done
	}
	waiter.Wait()

	var lost uint64
	for _, l := range w.lanes {
		lost += l.stats().Lost
	}
	if lost > 0 {
		return fmt.Errorf("store writer: %d rows not stored within the shutdown timeout of %s", lost, w.cfg.ShutdownTimeout)
	}
	return nil
}

// writerPoolConfig returns shared's settings with statement_timeout set
// to flushTimeout on every connection (a startup parameter, so it holds
// from the first statement): a COPY or merge blocked on a lock is ended by
// the server after flushTimeout even when the client's cancel never
// reaches it (a lost cancel request, a half-open connection), so that it
// does not keep its place in the lock queue. Only the Writer's
// connections carry it: migrations, retention and the other readers use
// their own connections without it.
func writerPoolConfig(shared *pgxpool.Pool, flushTimeout time.Duration) *pgxpool.Config {
	cfg := shared.Config()
	cfg.ConnConfig.RuntimeParams["statement_timeout"] = strconv.FormatInt(max(1, flushTimeout.Milliseconds()), 10)
	return cfg
}

// drainTimeout is how long the final drain may take: ShutdownTimeout, or
// less when Config.DrainBy sets an earlier deadline (none when it passed).
func (w *Writer) drainTimeout() time.Duration {
	d := w.cfg.ShutdownTimeout
	if w.cfg.DrainBy == nil {
		return d
	}
	if by := w.cfg.DrainBy(); !by.IsZero() {
		d = min(d, max(time.Until(by), 0))
	}
	return d
}

// Write queues a validated record for its table. It blocks while that
// table's queue is full; it returns ctx.Err() if ctx ends first, ErrClosed
// once the Writer is shutting down, and ErrUnsupported for a type it cannot
// store. A record holding a value its column cannot represent is not
// queued: it is kept in rejects (ReasonUnstorable) and Write returns nil.
// The Writer keeps rec until it is stored: the caller must not modify it.
func (w *Writer) Write(ctx context.Context, rec market.Record) error {
	switch r := rec.(type) {
	case *market.Trade:
		return queue(ctx, w, w.trades, r, checkTrade)
	case *market.Ticker:
		return queue(ctx, w, w.tickers, r, checkTicker)
	case *market.Candle:
		return queue(ctx, w, w.candles, r, checkCandle)
	case *market.BookSnapshot:
		return queue(ctx, w, w.books, r, checkBook)
	case *market.BookUpdate:
		return queue(ctx, w, w.updates, r, checkBookUpdate)
	case *market.Balance:
		return queue(ctx, w, w.balances, r, checkBalance)
	}
	return fmt.Errorf("store %T: %w", rec, ErrUnsupported)
}

// Reject keeps r in the rejects table, its texts made valid UTF-8 and its
// Raw payload cut to Config.RawLimit bytes. Beyond Config.RejectsPerSecond
// rejects are only counted (and Reject returns nil). Otherwise it blocks
// and fails like Write.
func (w *Writer) Reject(ctx context.Context, r market.Reject) error {
	if !w.allowReject(r.Reason) {
		return nil
	}
	return send(ctx, w, w.rejects.in, newRejectRow(r, "", w.cfg.RawLimit, time.Now()))
}

// queue checks that rec can be stored and sends it to its lane; an
// unstorable record goes to rejects instead.
func queue[T market.Record](ctx context.Context, w *Writer, l *lane[T], rec T, check func(T) error) error {
	if err := check(rec); err != nil {
		l.c.rejected.Add(1)
		if !w.allowReject(ReasonUnstorable) {
			return nil
		}
		rej := refusalOf(rec)
		rej.Reason, rej.Detail = ReasonUnstorable, err.Error()
		return send(ctx, w, w.rejects.in, newRejectRow(rej, "", w.cfg.RawLimit, time.Now()))
	}
	// Counted before it is sent, taken back if it is not (see Sync).
	l.c.sent.Add(1)
	if err := send(ctx, w, l.in, rec); err != nil {
		l.c.sent.Add(^uint64(0))
		return err
	}
	return nil
}

// send queues v on ch, blocking while ch is full.
func send[T any](ctx context.Context, w *Writer, ch chan<- T, v T) error {
	w.sendMu.RLock()
	defer w.sendMu.RUnlock()
	if w.closed {
		return ErrClosed
	}
	select {
	case ch <- v:
		return nil
	default:
	}
	select {
	case ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stopping:
		return ErrClosed
	}
}

const insertRejectSQL = `INSERT INTO rejects (ts, exchange, symbol, data_type, reason, field, detail, sqlstate, raw, raw_bytes)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

// insertReject stores one reject at once, retrying failures that are not
// the row's fault until ctx ends.
func (w *Writer) insertReject(ctx context.Context, r rejectRow) error {
	for attempt := 0; ; attempt++ {
		_, err := w.pool.Exec(ctx, insertRejectSQL, r.ts, r.exchange, r.symbol, r.dataType, r.reason,
			r.field, r.detail, r.sqlstate, r.raw, r.rawBytes)
		if err == nil {
			w.rejectsStored.Add(1)
			return nil
		}
		if ctx.Err() != nil || classify(err) == failRows {
			return fmt.Errorf("insert reject: %w", err)
		}
		if err := sleep(ctx, retryDelay(w.cfg.RetryMin, w.cfg.RetryMax, attempt)); err != nil {
			return fmt.Errorf("insert reject: %w", err)
		}
	}
}

// refusalDetail describes a database refusal for rejects.field and
// rejects.detail.
func refusalDetail(err error) (field, detail string) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return "", err.Error()
	}
	field = pgErr.ConstraintName
	if field == "" {
		field = pgErr.ColumnName
	}
	detail = pgErr.Message
	if pgErr.Detail != "" {
		detail += ": " + pgErr.Detail
	}
	return field, detail
}
