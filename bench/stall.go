package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// stallWindow holds a lock on the trades table for a while, as a stalled
// database would, and records the latencies around that window: receipt
// to publish of the records received during it, and receipt to commit of
// those received after it.
type stallWindow struct {
	start, end  atomic.Int64 // unix nanoseconds; 0 until reached
	pubDuring   *recorder
	commitAfter *recorder
}

func newStallWindow() *stallWindow {
	return &stallWindow{pubDuring: newRecorder(), commitAfter: newRecorder()}
}

// published records the publish latencies of the records received during
// the stall.
func (s *stallWindow) published(now time.Time, received []time.Time) {
	from, to := s.start.Load(), s.end.Load()
	if from == 0 {
		return
	}
	s.pubDuring.sinceIf(now, received, func(t time.Time) bool {
		ns := t.UnixNano()
		return ns >= from && (to == 0 || ns < to)
	})
}

// committed records the commit latencies of the records received after
// the stall.
func (s *stallWindow) committed(now time.Time, received []time.Time) {
	to := s.end.Load()
	if to == 0 {
		return
	}
	s.commitAfter.sinceIf(now, received, func(t time.Time) bool { return t.UnixNano() >= to })
}

// seconds is how long the lock was held (0 before it was released).
func (s *stallWindow) seconds() float64 {
	from, to := s.start.Load(), s.end.Load()
	if from == 0 || to == 0 {
		return 0
	}
	return time.Duration(to - from).Seconds()
}

// hold locks the trades table (ACCESS EXCLUSIVE: the store's COPY and
// INSERT wait) for d, or until ctx ends, then releases it.
func (s *stallWindow) hold(ctx context.Context, dbURL string, d time.Duration) error {
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		return fmt.Errorf("stall the database: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("stall the database: begin: %w", err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE trades IN ACCESS EXCLUSIVE MODE"); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("stall the database: lock trades: %w", err)
	}
	s.start.Store(time.Now().UnixNano())
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
	err = tx.Rollback(context.WithoutCancel(ctx))
	s.end.Store(time.Now().UnixNano())
	if err != nil {
		return fmt.Errorf("stall the database: release the lock: %w", err)
	}
	return nil
}
