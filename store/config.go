package store

import (
	"errors"
	"fmt"
	"time"
)

// Config tunes a Writer. A zero field takes its default; New applies the
// defaults and rejects values that make no sense.
type Config struct {
	// BatchSize is the number of rows at which a table's buffer is
	// flushed (default 5000).
	BatchSize int
	// FlushInterval is the age of a buffer's oldest row at which the
	// buffer is flushed even if not full (default 25ms). A row waits at most
	// this long plus the flush before (while it was queued) and its own
	// flush: at 20,000 rows/s a flush takes a few milliseconds, so the
	// receipt-to-commit p99 stays well under 100ms, with room for a loaded
	// database. Under heavy load batches fill (BatchSize) before they age.
	FlushInterval time.Duration
	// FlushTimeout bounds one attempt to store a batch (or a part of it):
	// a COPY or merge blocked longer (on a lock held by another session,
	// say) is cancelled, and the batch retried with its rows kept (default
	// 30s). The Writer's own connections set it as their statement_timeout,
	// so that the server gives up too when the client cannot tell it.
	FlushTimeout time.Duration
	// QueueSize bounds each table's queue of records waiting for its
	// buffer (default 50000). When a table's queue is full, Write blocks.
	// The rejects queue holds at most ten bursts of rejects (see
	// RejectsBurst), and at least 100.
	QueueSize int
	// RetryMin and RetryMax bound the backoff between attempts of a failed
	// flush (defaults 50ms and 5s): the delay doubles from RetryMin up to
	// RetryMax, with jitter.
	RetryMin, RetryMax time.Duration
	// ShutdownTimeout bounds the final drain and flush after Run's context
	// ends (default 20s). Rows not stored by then are handed to Overflow,
	// or counted as lost when there is none.
	ShutdownTimeout time.Duration
	// DrainBy, if set, returns the deadline of the whole process's
	// shutdown, read when Run's context ends (zero: none): the final drain
	// ends at the earlier of it and ShutdownTimeout, so that the writer's
	// share never pushes the shutdown past the platform's grace period.
	// Rows not stored by then go to Overflow.
	DrainBy func() time.Time
	// Overflow, if set, keeps the rows not stored by the shutdown deadline
	// (the spool), records and rejects alike, so that they are stored at
	// the next start.
	Overflow Overflow
	// RawLimit is the number of bytes of a reject's raw payload that are
	// kept (default 4096); negative keeps none.
	RawLimit int
	// RejectsPerSecond and RejectsBurst bound the rate at which rejects are
	// stored (defaults 100 per second, burst 100). Beyond it, rejects are
	// only counted (Stats.RejectsDropped, by reason).
	RejectsPerSecond float64
	RejectsBurst     int
	// CopyWriters is the number of COPY statements that store one large
	// batch (of at least 1000 rows per writer) in parts, concurrently, on
	// connections of their own (default 2). It applies to the tables whose
	// rows may be stored in any order: trades, tickers, book snapshots and
	// balances; candles are always stored by one.
	CopyWriters int
	// OnFlush, if set, is called by the table's flushing goroutine after
	// each batch has been handled (stored, refused row by row, or lost at
	// the shutdown deadline), for metrics and benchmarks. It must be quick
	// and must not call Write or Reject.
	OnFlush func(FlushResult)
}

// The defaults of Config.
const (
	DefaultBatchSize        = 5000
	DefaultFlushInterval    = 25 * time.Millisecond
	DefaultFlushTimeout     = 30 * time.Second
	DefaultQueueSize        = 50000
	DefaultRetryMin         = 50 * time.Millisecond
	DefaultRetryMax         = 5 * time.Second
	DefaultShutdownTimeout  = 20 * time.Second
	DefaultRawLimit         = 4096
	DefaultRejectsPerSecond = 100
	DefaultCopyWriters      = 2
)

// withDefaults returns c with its zero fields set to the defaults, or an
// error saying which field to fix.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	positive := func(name string, v, def int, dst *int) {
		switch {
		case v < 0:
			errs = append(errs, fmt.Errorf("%s is %d: want a positive number (or 0 for the default %d)", name, v, def))
		case v == 0:
			*dst = def
		}
	}
	duration := func(name string, v, def time.Duration, dst *time.Duration) {
		switch {
		case v < 0:
			errs = append(errs, fmt.Errorf("%s is %s: want a positive duration (or 0 for the default %s)", name, v, def))
		case v == 0:
			*dst = def
		}
	}
	positive("BatchSize", c.BatchSize, DefaultBatchSize, &c.BatchSize)
	positive("QueueSize", c.QueueSize, DefaultQueueSize, &c.QueueSize)
	positive("CopyWriters", c.CopyWriters, DefaultCopyWriters, &c.CopyWriters)
	duration("FlushInterval", c.FlushInterval, DefaultFlushInterval, &c.FlushInterval)
	duration("FlushTimeout", c.FlushTimeout, DefaultFlushTimeout, &c.FlushTimeout)
	duration("RetryMin", c.RetryMin, DefaultRetryMin, &c.RetryMin)
	duration("RetryMax", c.RetryMax, DefaultRetryMax, &c.RetryMax)
	duration("ShutdownTimeout", c.ShutdownTimeout, DefaultShutdownTimeout, &c.ShutdownTimeout)
	if c.RawLimit == 0 {
		c.RawLimit = DefaultRawLimit
	}
	switch {
	case c.RejectsPerSecond < 0 || c.RejectsPerSecond != c.RejectsPerSecond:
		errs = append(errs, fmt.Errorf("RejectsPerSecond is %v: want a positive rate (or 0 for the default %d)", c.RejectsPerSecond, DefaultRejectsPerSecond))
	case c.RejectsPerSecond == 0:
		c.RejectsPerSecond = DefaultRejectsPerSecond
	}
	switch {
	case c.RejectsBurst < 0:
		errs = append(errs, fmt.Errorf("RejectsBurst is %d: want a positive number (or 0 for one second's worth)", c.RejectsBurst))
	case c.RejectsBurst == 0:
		c.RejectsBurst = max(1, int(c.RejectsPerSecond))
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("RetryMax %s is below RetryMin %s", c.RetryMax, c.RetryMin))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("store config: %w", err)
	}
	return c, nil
}
