package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"marketetl/market"
)

// Overflow keeps records and rejects the Writer could not commit before
// its shutdown deadline, instead of losing them. *spool.Spool implements
// it.
type Overflow interface {
	// Append keeps rec. It must not block for long (a local disk write);
	// an error means rec was not kept (it is then counted as lost).
	Append(rec market.Record) error
	// AppendReject keeps a reject like Append keeps a record.
	AppendReject(rej market.Reject) error
}

// TryWrite is Write that never blocks: queued is false, and nothing was
// done, when the record's table queue is full. An unstorable record is
// kept in rejects (or counted, when the rejects queue is full too) and
// counts as queued. It fails like Write otherwise.
func (w *Writer) TryWrite(rec market.Record) (queued bool, err error) {
	return w.TryWriteWithin(rec, 0)
}

// TryWriteWithin is TryWrite that waits up to wait for room in the
// record's table queue (a queue is briefly full while its table flushes).
// A record that finds the queue full behind a flush in progress for
// StalledFlush or longer (a stalled database) does not wait at all, so
// that the caller (the spool, which then takes the record) is not held up
// by the database.
func (w *Writer) TryWriteWithin(rec market.Record, wait time.Duration) (queued bool, err error) {
	switch r := rec.(type) {
	case *market.Trade:
		return tryQueue(w, w.trades, r, checkTrade, wait)
	case *market.Ticker:
		return tryQueue(w, w.tickers, r, checkTicker, wait)
	case *market.Candle:
		return tryQueue(w, w.candles, r, checkCandle, wait)
	case *market.BookSnapshot:
		return tryQueue(w, w.books, r, checkBook, wait)
	case *market.BookUpdate:
		return tryQueue(w, w.updates, r, checkBookUpdate, wait)
	case *market.Balance:
		return tryQueue(w, w.balances, r, checkBalance, wait)
	}
	return false, fmt.Errorf("store %T: %w", rec, ErrUnsupported)
}

// TryReject is Reject that never blocks: a reject that finds the rejects
// queue full is counted (Stats.RejectsDropped, by reason) and dropped.
func (w *Writer) TryReject(r market.Reject) error {
	if !w.allowReject(r.Reason) {
		return nil
	}
	queued, err := trySend(w, w.rejects.in, newRejectRow(r, "", w.cfg.RawLimit, time.Now()), 0, nil)
	if err == nil && !queued {
		w.countDroppedReject(r.Reason)
	}
	return err
}

func tryQueue[T market.Record](w *Writer, l *lane[T], rec T, check func(T) error, wait time.Duration) (bool, error) {
	if err := check(rec); err != nil {
		l.c.rejected.Add(1)
		rej := refusalOf(rec)
		rej.Reason, rej.Detail = ReasonUnstorable, err.Error()
		return true, w.TryReject(rej)
	}
	// Counted before it is sent, taken back if it is not (see Sync).
	l.c.sent.Add(1)
	queued, err := trySend(w, l.in, rec, wait, &l.flushingSince)
	if !queued {
		l.c.sent.Add(^uint64(0))
	}
	return queued, err
}

// StalledFlush is how long a flush must have been in progress for its
// database to count as stalled: a record that finds its table's queue full
// behind such a flush does not wait for room at all (TryWriteWithin).
const StalledFlush = time.Second

// waitBehind is how long a record that finds its queue full waits for
// room, given wait and when the table's flush in progress began (Unix ns,
// 0: none): wait, or nothing behind a flush in progress for StalledFlush
// or longer.
func waitBehind(flushingSince int64, now time.Time, wait time.Duration) time.Duration {
	if flushingSince != 0 && now.Sub(time.Unix(0, flushingSince)) >= StalledFlush {
		return 0
	}
	return wait
}

// trySend queues v on ch unless ch stays full for wait, or for what is
// left of it behind the flush in progress since *flushingSince (nil: no
// such flush to consider; see waitBehind).
func trySend[T any](w *Writer, ch chan<- T, v T, wait time.Duration, flushingSince *atomic.Int64) (bool, error) {
	w.sendMu.RLock()
	defer w.sendMu.RUnlock()
	if w.closed {
		return false, ErrClosed
	}
	select {
	case ch <- v:
		return true, nil
	default:
	}
	if flushingSince != nil {
		wait = waitBehind(flushingSince.Load(), time.Now(), wait)
	}
	if wait <= 0 {
		return false, nil
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ch <- v:
		return true, nil
	case <-t.C:
		return false, nil
	case <-w.stopping:
		return false, ErrClosed
	}
}

// countDroppedReject counts a reject dropped because its queue was full.
func (w *Writer) countDroppedReject(reason string) {
	w.rejectsDropped.Add(1)
	w.dropMu.Lock()
	w.droppedByReason[reason]++
	w.dropMu.Unlock()
}

// flushSignal wakes Sync callers after each flush.
type flushSignal struct {
	mu sync.Mutex    // guards ch
	ch chan struct{} // closed and replaced after each flush
}

func (f *flushSignal) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch == nil {
		f.ch = make(chan struct{})
	}
	return f.ch
}

func (f *flushSignal) notify() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ch != nil {
		close(f.ch)
		f.ch = nil
	}
}

// hurry asks every lane to flush at once.
func (w *Writer) hurry() {
	for _, l := range w.lanes {
		l.hurry()
	}
}

// Sync waits until every record queued (by Write or TryWrite) before the
// call has been handled: committed, skipped as a duplicate or kept in
// rejects; the lanes are asked to flush what they hold at once rather
// than after FlushInterval. It returns ctx.Err() if ctx ends first and ErrClosed once the
// Writer is shutting down (the records may then be spilled rather than
// committed). Rejects are not waited for.
func (w *Writer) Sync(ctx context.Context) error {
	lanes := []*counters{&w.trades.c, &w.tickers.c, &w.candles.c, &w.books.c, &w.updates.c, &w.balances.c}
	targets := make([]uint64, len(lanes))
	for i, c := range lanes {
		targets[i] = c.sent.Load()
	}
	for {
		wake := w.flushed.wait()
		w.hurry()
		select {
		case <-w.stopping:
			return ErrClosed
		default:
		}
		done := true
		for i, c := range lanes {
			// A row is counted in sent before it enters its queue, so
			// every row ahead of the caller's in a queue was counted
			// before the call: once done reaches the count taken then,
			// the caller's rows are handled. A count taken back (a send
			// that failed) lowers the target.
			targets[i] = min(targets[i], c.sent.Load())
			if c.done.Load() < targets[i] {
				done = false
				break
			}
		}
		if done {
			return nil
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-w.stopping:
			return ErrClosed
		}
	}
}

// spill hands rows a flush could not store (records or rejects) to the
// Overflow and returns how many it kept.
func (l *lane[T]) spill(rows []T) int {
	ov := l.w.cfg.Overflow
	if ov == nil {
		return 0
	}
	kept := 0
	for _, row := range rows {
		var err error
		switch r := any(row).(type) {
		case market.Record:
			err = ov.Append(r)
		case rejectRow:
			err = ov.AppendReject(r.reject())
		default:
			return kept
		}
		if err != nil {
			l.w.log.Error("store: spill unstored row at shutdown", zap.String("table", l.tab.name), zap.Error(err))
			continue
		}
		kept++
	}
	return kept
}
