// Package backfill fills gaps in the stored market data from the
// exchanges' REST history.
//
// A Filler receives gaps from the collectors and the spool (RecordGap,
// which never blocks), keeps each one in the gaps table, and works them:
// one worker per exchange pages the exchange's History (trades by id,
// candles by open time) and hands every row to a Sink — validation and the
// same idempotent store writer as the live data, without the live feed —
// so that overlap with stored rows never duplicates anything. What the
// exchange no longer serves, or what is older than the lookback limit, is
// recorded as unfillable with its reason; transient failures are retried
// with backoff. Gaps left open by a previous process are resumed at start.
package backfill

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/collector"
	"marketetl/market"
	"marketetl/store"
)

// Sink takes each backfilled record: validation, then the idempotent store
// writer. A pipeline.Pipeline without a Publisher implements it.
type Sink interface {
	Accept(ctx context.Context, rec market.Record) error
}

// GapStore is the gaps table. *store.Gaps implements it.
type GapStore interface {
	Record(ctx context.Context, g market.Gap) (store.GapRow, error)
	Pending(ctx context.Context, ex market.Exchange) ([]store.GapRow, error)
	Start(ctx context.Context, id int64) (store.GapRow, error)
	Narrow(ctx context.Context, id int64, g market.Gap) error
	AddUnfillable(ctx context.Context, g market.Gap, attempts int, reason, lastError string) (int64, error)
	Progress(ctx context.Context, id int64, rows int64) error
	Finish(ctx context.Context, id int64, status, reason, lastError string) error
	Retry(ctx context.Context, id int64, lastError string) error
	TradeIDsAround(ctx context.Context, st market.Stream, from, to time.Time) (after, before int64, err error)
}

// Why a gap, or part of one, is unfillable: stored in
// gaps.unfillable_reason.
const (
	// ReasonHistoryUnavailable: the exchange no longer serves that history.
	ReasonHistoryUnavailable = "history_unavailable"
	// ReasonLookbackLimit: older than Config.MaxLookback.
	ReasonLookbackLimit = "lookback_limit"
	// ReasonEndpointRefused: the exchange refused the request for good.
	ReasonEndpointRefused = "endpoint_refused"
	// ReasonNoTradeID: a trade gap bounded by time only, with no stored
	// trade on either side to page by id from.
	ReasonNoTradeID = "no_trade_id"
	// ReasonUnsupported: the data type has no REST history.
	ReasonUnsupported = "unsupported_type"
)

// Config configures a Filler. Zero values take the documented defaults.
type Config struct {
	// Histories are the exchanges' REST histories, each behind its
	// exchange's request budget. A gap of an exchange without one is
	// recorded and stays open.
	Histories map[market.Exchange]collector.History
	Sink      Sink
	Gaps      GapStore
	// Sync, when set, waits until the rows handed to Sink so far are
	// committed (*store.Writer.Sync): a gap is marked filled only once it
	// returns nil, so that a crash right after cannot leave a "filled" gap
	// whose rows were still in memory. An error leaves the gap open.
	Sync func(ctx context.Context) error
	// MaxLookback: the part of a gap older than now-MaxLookback is recorded
	// unfillable (lookback_limit), the rest filled. Default 24h.
	MaxLookback time.Duration
	// QueueSize bounds the gaps waiting to be recorded; when full, a new
	// gap is merged with a queued gap of the same stream. Default 1024.
	QueueSize int
	// RetryMin and RetryMax bound the backoff after a failed attempt to
	// fill a gap: the delay doubles per failed attempt from RetryMin up to
	// RetryMax and is drawn from its upper half, so that gaps failing
	// together are not retried in step. Defaults 1s and 5m.
	RetryMin, RetryMax time.Duration
	// MaxThrottles is how many 429/418 answers in a row one page may get
	// before the attempt counts as failed. Default 10.
	MaxThrottles int
	// OnProgress, when set, is called after each page (from the worker).
	OnProgress func(Progress)
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Rand returns a float in [0,1) for the retry jitter; default
	// math/rand/v2.
	Rand func() float64
	// Log receives the filler's logs; default a no-op logger.
	Log *zap.Logger
}

// Progress reports one page of filling.
type Progress struct {
	GapID  int64
	Stream market.Stream
	// Pages and Rows count requests answered and rows handed on so far in
	// this attempt; Position is the exchange time reached.
	Pages    int
	Rows     int64
	Position time.Time
}

// Stats is a snapshot of a Filler's counters since New.
type Stats struct {
	// Queued gaps wait to be recorded; Received counts RecordGap calls;
	// MergedInQueue counts gaps merged into a queued one because the queue
	// was full; Overflowed counts gaps that found the queue full with no
	// gap of their stream to merge with (logged with the gap, then kept
	// waiting beside the queue — never dropped).
	Queued, Received, MergedInQueue, Overflowed int
	// Rows counts rows handed to the sink, by exchange and data type.
	Rows map[market.Exchange]map[market.DataType]int64
	// Throttled counts 429/418 answers seen, by exchange.
	Throttled map[market.Exchange]int64
	// Failures counts failed fill attempts (transient errors), by exchange.
	Failures map[market.Exchange]int64
}

// Filler records gaps and fills them. Create it with New, give it gaps with
// RecordGap, and run it with Run; Fill works one gap by hand.
type Filler struct {
	cfg Config
	log *zap.Logger

	mu        sync.Mutex // guards the fields below
	queue     []market.Gap
	overflow  []market.Gap
	received  int
	merged    int
	overflows int
	rows      map[market.Exchange]map[market.DataType]int64
	throttled map[market.Exchange]int64
	failures  map[market.Exchange]int64

	queued chan struct{}                     // signalled (non-blocking) by RecordGap
	wake   map[market.Exchange]chan struct{} // signalled when a gap of the exchange was recorded
}

// New checks cfg and returns a Filler.
func New(cfg Config) (*Filler, error) {
	if cfg.Sink == nil || cfg.Gaps == nil {
		return nil, errors.New("new backfill filler: a sink and a gap store are required")
	}
	if cfg.MaxLookback <= 0 {
		cfg.MaxLookback = 24 * time.Hour
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 1024
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(5*time.Minute, cfg.RetryMin)
	}
	if cfg.MaxThrottles <= 0 {
		cfg.MaxThrottles = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	f := &Filler{
		cfg: cfg, log: cfg.Log,
		rows:      map[market.Exchange]map[market.DataType]int64{},
		throttled: map[market.Exchange]int64{},
		failures:  map[market.Exchange]int64{},
		queued:    make(chan struct{}, 1),
		wake:      map[market.Exchange]chan struct{}{},
	}
	for _, ex := range market.Exchanges() {
		f.wake[ex] = make(chan struct{}, 1)
	}
	return f, nil
}

// RecordGap queues g to be recorded and filled. It never blocks: when the
// queue is full, g is merged with a queued gap of the same stream (their
// union is filled) unless either stands alone (Gap.Alone: a book resync
// is one row each); when there is none, g is logged and kept aside until
// the queue drains.
func (f *Filler) RecordGap(g market.Gap) {
	if g.To.Before(g.From) {
		g.From, g.To = g.To, g.From
	}
	if g.Detected.IsZero() {
		g.Detected = f.cfg.Now()
	}
	f.mu.Lock()
	f.received++
	switch {
	case len(f.queue) < f.cfg.QueueSize:
		f.queue = append(f.queue, g)
	default:
		merged := false
		for i := range f.queue {
			if f.queue[i].Stream == g.Stream && !g.Alone() && !f.queue[i].Alone() {
				f.queue[i] = f.queue[i].Union(g)
				merged = true
				break
			}
		}
		if merged {
			f.merged++
		} else {
			f.overflows++
			f.overflow = append(f.overflow, g)
			f.log.Error("backfill: gap queue full; gap kept aside until it drains", zap.Stringer("gap", g), zap.Int("queue_size", f.cfg.QueueSize))
		}
	}
	f.mu.Unlock()
	select {
	case f.queued <- struct{}{}:
	default:
	}
}

// Stats returns a snapshot of the counters.
func (f *Filler) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := Stats{
		Queued: len(f.queue) + len(f.overflow), Received: f.received, MergedInQueue: f.merged, Overflowed: f.overflows,
		Rows:      map[market.Exchange]map[market.DataType]int64{},
		Throttled: map[market.Exchange]int64{},
		Failures:  map[market.Exchange]int64{},
	}
	for ex, m := range f.rows {
		s.Rows[ex] = map[market.DataType]int64{}
		for t, n := range m {
			s.Rows[ex][t] = n
		}
	}
	for ex, n := range f.throttled {
		s.Throttled[ex] = n
	}
	for ex, n := range f.failures {
		s.Failures[ex] = n
	}
	return s
}

// Run records queued gaps and runs one worker per exchange with a History
// until ctx ends. Gaps left open or filling in the table (by this process
// or a previous one) are worked first. A gap being filled when ctx ends is
// put back to open, to be resumed at the next start. Run returns nil when
// ctx ends.
func (f *Filler) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for ex := range f.cfg.Histories {
		wg.Go(func() { f.work(ctx, ex) })
	}
	f.recordLoop(ctx)
	wg.Wait()
	return nil
}

// recordLoop moves queued gaps into the gaps table until ctx ends; a gap
// whose recording failed stays queued and is tried again with backoff.
func (f *Filler) recordLoop(ctx context.Context) {
	attempt := 0 // failed rounds in a row
	for {
		f.mu.Lock()
		batch := append(f.queue, f.overflow...)
		f.queue, f.overflow = nil, nil
		f.mu.Unlock()
		var failed []market.Gap
		for i, g := range batch {
			if ctx.Err() != nil {
				failed = append(failed, batch[i:]...)
				break
			}
			if _, err := f.cfg.Gaps.Record(ctx, g); err != nil {
				if ctx.Err() == nil {
					f.log.Warn("backfill: record gap; will retry", zap.Stringer("gap", g), zap.Error(err))
				}
				failed = append(failed, g)
				continue
			}
			f.signal(g.Stream.Exchange)
		}
		if len(failed) > 0 {
			f.mu.Lock()
			f.queue = append(failed, f.queue...)
			f.mu.Unlock()
		}
		if ctx.Err() != nil {
			f.recordLeft(ctx)
			return
		}
		var retry <-chan time.Time
		var t *time.Timer
		if len(failed) > 0 {
			t = time.NewTimer(f.retryDelay(attempt))
			retry = t.C
			attempt++
		} else {
			attempt = 0
		}
		select {
		case <-ctx.Done():
		case <-f.queued:
		case <-retry:
		}
		if t != nil {
			t.Stop()
		}
	}
}

// recordLeftTimeout bounds recording the gaps still queued when the filler
// stops: they are not found again by the next start, which only compares
// each stream's last stored record with its first new one.
const recordLeftTimeout = 5 * time.Second

// recordLeft records the gaps still queued when ctx has ended, under a
// context detached from it and bounded by recordLeftTimeout; what cannot be
// recorded is logged, gap by gap.
func (f *Filler) recordLeft(ctx context.Context) {
	f.mu.Lock()
	left := append(append([]market.Gap(nil), f.queue...), f.overflow...)
	f.queue, f.overflow = nil, nil
	f.mu.Unlock()
	if len(left) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordLeftTimeout)
	defer cancel()
	recorded := 0
	for _, g := range left {
		if _, err := f.cfg.Gaps.Record(rctx, g); err != nil {
			f.log.Error("backfill: gap not recorded at shutdown", zap.Stringer("gap", g), zap.Error(err))
			continue
		}
		recorded++
	}
	f.log.Info("backfill: gaps recorded at shutdown, to be filled at the next start",
		zap.Int("recorded", recorded), zap.Int("not_recorded", len(left)-recorded))
}

func (f *Filler) signal(ex market.Exchange) {
	ch, ok := f.wake[ex]
	if !ok {
		return
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// work is an exchange's worker: it fills that exchange's pending gaps one
// at a time, oldest first, and waits for new ones or for a retry to fall
// due.
func (f *Filler) work(ctx context.Context, ex market.Exchange) {
	type retry struct {
		notBefore time.Time
		attempt   int // failed attempts so far
	}
	retries := map[int64]retry{}
	for ctx.Err() == nil {
		rows, err := f.cfg.Gaps.Pending(ctx, ex)
		var next time.Time
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			f.log.Warn("backfill: read pending gaps; will retry", zap.String("exchange", string(ex)), zap.Error(err))
			next = f.cfg.Now().Add(f.cfg.RetryMin)
		}
		for _, r := range rows {
			if ctx.Err() != nil {
				return
			}
			if b, ok := retries[r.ID]; ok && b.notBefore.After(f.cfg.Now()) {
				if next.IsZero() || b.notBefore.Before(next) {
					next = b.notBefore
				}
				continue
			}
			_, err := f.fillRow(ctx, r.ID)
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				b := retries[r.ID]
				delay := f.retryDelay(b.attempt)
				b.attempt++
				b.notBefore = f.cfg.Now().Add(delay)
				retries[r.ID] = b
				if next.IsZero() || b.notBefore.Before(next) {
					next = b.notBefore
				}
				f.log.Warn("backfill: fill attempt failed; will retry", zap.Int64("gap_id", r.ID), zap.Stringer("gap", r.Gap),
					zap.Duration("retry_in", delay), zap.Error(err))
				continue
			}
			delete(retries, r.ID)
		}
		var timer <-chan time.Time
		var t *time.Timer
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(f.cfg.Now()), 0))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-f.wake[ex]:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// retryDelay returns the wait after failed attempt number attempt (0 for
// the first) to record or fill a gap.
func (f *Filler) retryDelay(attempt int) time.Duration {
	return backoff.Policy{
		Min: f.cfg.RetryMin, Max: f.cfg.RetryMax,
		Jitter: backoff.Jitter{Below: 0.5}, Rand: f.cfg.Rand,
	}.Delay(attempt)
}

// Result is the outcome of filling one gap.
type Result struct {
	// GapID is the gaps row filled (after merging with open gaps).
	GapID int64
	// Status is the row's final status: filled, unfillable, or open when
	// the attempt failed and will be retried.
	Status string
	// Rows counts rows fetched and handed to the sink; Pages the requests
	// answered; Throttled the 429/418 answers waited out.
	Rows      int64
	Pages     int
	Throttled int
	// Unfillable lists the parts recorded as unfillable (their own rows,
	// or the gap itself when nothing of it could be filled).
	Unfillable []Part
	// Err is the error of a failed attempt.
	Err error
}

// Part is a part of a gap that could not be filled.
type Part struct {
	Gap    market.Gap
	Reason string
	Detail string
}

// Fill records g (merged with overlapping open gaps of its stream) and
// fills it now, in the caller's goroutine: etl backfill. A transient
// failure leaves the gap open and is returned in Result.Err.
func (f *Filler) Fill(ctx context.Context, g market.Gap) (Result, error) {
	row, err := f.cfg.Gaps.Record(ctx, g)
	if err != nil {
		return Result{}, err
	}
	return f.fillRow(ctx, row.ID)
}

// fillRow runs one attempt on gap id: status filling, fill, then filled,
// unfillable, or open again (transient error, or ctx ended).
func (f *Filler) fillRow(ctx context.Context, id int64) (Result, error) {
	row, err := f.cfg.Gaps.Start(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrGapNotPending) {
			return Result{GapID: id}, nil
		}
		return Result{GapID: id}, err
	}
	ex := row.Gap.Stream.Exchange
	h := f.cfg.Histories[ex]
	res := Result{GapID: id}
	a := &attempt{f: f, row: row, h: h, res: &res}
	if h == nil {
		err = fmt.Errorf("no REST history for exchange %q", ex)
	} else {
		err = a.run(ctx)
	}
	if err == nil && f.cfg.Sync != nil {
		if serr := f.cfg.Sync(ctx); serr != nil {
			err = fmt.Errorf("wait for the backfilled rows to be committed: %w", serr)
		}
	}
	// Bookkeeping goes on after ctx ends: the gap must not stay "filling".
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if perr := f.cfg.Gaps.Progress(bctx, id, res.Rows); perr != nil {
		f.log.Warn("backfill: count filled rows", zap.Int64("gap_id", id), zap.Error(perr))
	}
	switch {
	case err == nil && a.final != nil:
		res.Status = store.GapUnfillable
		if ferr := f.cfg.Gaps.Finish(bctx, id, store.GapUnfillable, a.final.Reason, a.final.Detail); ferr != nil {
			return res, ferr
		}
		res.Unfillable = append(res.Unfillable, *a.final)
		f.log.Warn("backfill: gap unfillable", zap.Int64("gap_id", id), zap.Stringer("gap", a.final.Gap), zap.String("reason", a.final.Reason), zap.String("detail", a.final.Detail))
	case err == nil:
		res.Status = store.GapFilled
		if ferr := f.cfg.Gaps.Finish(bctx, id, store.GapFilled, "", ""); ferr != nil {
			return res, ferr
		}
		f.log.Info("backfill: gap filled", zap.Int64("gap_id", id), zap.Stringer("gap", row.Gap), zap.Int64("rows", res.Rows), zap.Int("pages", res.Pages))
	case errors.Is(err, collector.ErrPermanent):
		res.Status = store.GapUnfillable
		part := Part{Gap: a.cur, Reason: ReasonEndpointRefused, Detail: err.Error()}
		res.Unfillable = append(res.Unfillable, part)
		if ferr := f.cfg.Gaps.Finish(bctx, id, store.GapUnfillable, part.Reason, part.Detail); ferr != nil {
			return res, ferr
		}
		f.log.Warn("backfill: gap unfillable", zap.Int64("gap_id", id), zap.Stringer("gap", row.Gap), zap.String("reason", part.Reason), zap.Error(err))
	default:
		res.Status = store.GapOpen
		res.Err = err
		msg := err.Error()
		if ctx.Err() != nil {
			msg = "interrupted: " + msg
		} else {
			f.mu.Lock()
			f.failures[ex]++
			f.mu.Unlock()
		}
		if rerr := f.cfg.Gaps.Retry(bctx, id, msg); rerr != nil {
			return res, rerr
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		return res, err
	}
	return res, nil
}
