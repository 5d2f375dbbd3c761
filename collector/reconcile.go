package collector

import (
	"context"
	"fmt"
	"sort"
	"time"

	"go.uber.org/zap"

	"marketetl/backoff"
	"marketetl/market"
)

// CandleChecks is the list of candles waiting to be compared with the
// exchange's own, kept where it survives restarts: *store.CandleChecks (the
// candle_checks table) implements it. Without one, a collector keeps the
// list in memory, lost when it stops. Every method may block on I/O and
// returns an error when the list could not be read or changed.
type CandleChecks interface {
	// Add records checks as pending. A check already recorded for the same
	// candle is kept, due time and attempts included; only its reason (and
	// values) become provisional when a provisional check is added.
	Add(ctx context.Context, checks []market.CandleCheck) error
	// Pending returns up to limit pending checks of streams, earliest due
	// first, due or not.
	Pending(ctx context.Context, streams []market.Stream, limit int) ([]market.CandleCheck, error)
	// Done removes a check that is finished.
	Done(ctx context.Context, c market.CandleCheck) error
	// Retry counts a failed attempt at c and makes it due again at due.
	Retry(ctx context.Context, c market.CandleCheck, due time.Time, lastError string) error
	// Abandon counts a last failed attempt at c and stops retrying it.
	Abandon(ctx context.Context, c market.CandleCheck, lastError string) error
}

// reconcileQueue is how many checks may wait in memory to be recorded
// before each new one is logged: they are kept, never dropped, while the
// check list does not answer.
const reconcileQueue = 4096

// checkPage bounds the checks read per round.
const checkPage = 500

// checkMaxMissing is how many times in a row the exchange may serve no
// candle for a provisional one before its check is abandoned (the candle
// stays provisional). With the backoff below, about two hours.
const checkMaxMissing = 30

// Outcomes of a reconciliation, counted in Status.
const (
	reconcileMatched   = "matched"
	reconcileConfirmed = "confirmed"
	reconcileCorrected = "corrected"
	reconcileMissing   = "missing"
	reconcileFailed    = "failed"
	reconcileAbandoned = "abandoned"
)

// reconcileBatch bounds the candles of one stream compared with one REST
// request: within every exchange's page size (OKX's is the smallest, 100
// candles).
const reconcileBatch = 100

// Retry delays of a failed check: checkRetryMin doubled per attempt up to
// checkRetryMax, jittered. A check list that does not answer (the database
// is down) is retried the same way but at most every checkListRetryMax:
// nothing else wakes the loop once it is back.
const (
	checkRetryMin     = time.Second
	checkRetryMax     = 5 * time.Minute
	checkListRetryMax = 10 * time.Second
)

// checkBackoff returns the delay before retry number attempt (1-based):
// checkRetryMin doubled attempt-1 times, capped at checkRetryMax, jittered
// to [d/2, d] with Config.Rand.
func (c *Collector) checkBackoff(attempt int) time.Duration {
	return backoff.Policy{Min: checkRetryMin, Max: checkRetryMax, Jitter: backoff.Jitter{Below: 0.5}, Rand: c.cfg.Rand}.Delay(attempt - 1)
}

// enqueueReconcile schedules candle cd for comparison with the exchange's
// REST candle ReconcileAfter from now, when the collector has a History: a
// closed candle once, a provisional one until the exchange's candle
// replaces it. The check waits in memory until the reconcile loop records
// it in Config.Checks; it is never dropped. (A provisional candle's check
// is also recorded by the store, in the transaction that stores it.)
func (c *Collector) enqueueReconcile(cd *market.Candle) {
	if c.cfg.History == nil || (!cd.Closed && !cd.Provisional) {
		return
	}
	chk := market.CandleCheck{Stream: cd.Stream(), Time: cd.Time, Reason: market.CheckClosed, Due: c.cfg.Now().Add(c.cfg.ReconcileAfter),
		Open: cd.Open, High: cd.High, Low: cd.Low, Close: cd.Close, Volume: cd.Volume}
	if !cd.Closed {
		chk.Reason = market.CheckProvisional
	}
	c.checkMu.Lock()
	c.checkQueue = append(c.checkQueue, chk)
	n := len(c.checkQueue)
	c.checkMu.Unlock()
	if n >= reconcileQueue && n%reconcileQueue == 0 {
		c.log.Warn("candle checks are waiting to be recorded: the check list does not answer; they are kept in memory meanwhile",
			zap.Int("waiting", n))
	}
	select {
	case c.checkWake <- struct{}{}:
	default:
	}
}

// reconcile is the collector's reconciliation loop: it records the checks
// enqueued, then compares the due ones — closed candles, built from trades
// (Coinbase) or received (OKX, Binance), and provisional ones — with the
// exchange's REST candles, in the order they fall due; the checks of one
// stream due together are compared with one request. A candle that differs,
// or is provisional, is replaced by the exchange's, handed on as closed. A
// failed request is retried with backoff; the checks left when ctx ends
// stay in the list, for the next run (after a restart too, when the list is
// the database's). It returns when ctx ends.
func (c *Collector) reconcile(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	failures := 0
	for {
		wait, err := c.reconcileRound(ctx)
		if ctx.Err() != nil {
			c.recordChecksAtStop(ctx)
			return nil
		}
		if err != nil {
			failures++
			wait = min(c.checkBackoff(failures), checkListRetryMax)
			c.log.Warn("candle reconciliation: the check list did not answer; retrying", zap.Duration("retry_in", wait), zap.Error(err))
		} else {
			failures = 0
		}
		if wait == 0 {
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			timer.Reset(wait)
			tick = timer.C
		}
		select {
		case <-ctx.Done():
			c.recordChecksAtStop(ctx)
			return nil
		case <-c.checkWake:
		case <-tick:
		}
		timer.Stop()
	}
}

// checkRecheck bounds how long the reconcile loop trusts what it knows of
// the check list's earliest due time (dueCache) without reading the list
// again: checks it did not record itself (the store's trigger records
// those of provisional candles) are found at least this often.
const checkRecheck = 30 * time.Second

// dueCache is what the reconcile loop knows of the check list between
// reads: the earliest due time of its pending checks (zero: none), as read
// at readAt and lowered by the checks recorded since. Only the loop's
// goroutine touches it.
type dueCache struct {
	known  bool
	next   time.Time
	readAt time.Time
}

// wait returns how long nothing is due (< 0: nothing pending until a check
// is enqueued), and whether that is known (a read of the list may be
// skipped): false when the list must be read.
func (d *dueCache) wait(now time.Time) (time.Duration, bool) {
	if !d.known || now.Sub(d.readAt) >= checkRecheck || now.Before(d.readAt) {
		return 0, false
	}
	recheck := checkRecheck - now.Sub(d.readAt)
	if d.next.IsZero() {
		return -1, true // nothing pending: until a check is enqueued
	}
	if !d.next.After(now) {
		return 0, false
	}
	return min(d.next.Sub(now), recheck), true
}

// recorded lowers the earliest due time by that of checks just recorded.
func (d *dueCache) recorded(checks []market.CandleCheck) {
	for _, k := range checks {
		if d.next.IsZero() || k.Due.Before(d.next) {
			d.next = k.Due
		}
	}
}

// reconcileRound records the enqueued checks and works the due ones. It
// returns how long to wait before the next round: 0 to go on at once, < 0
// until a check is enqueued. The check list is read only when a check may
// be due (see dueCache): recording checks, which happens whenever candles
// close, does not make every round read it.
func (c *Collector) reconcileRound(ctx context.Context) (time.Duration, error) {
	if err := c.recordChecks(ctx); err != nil {
		return 0, err
	}
	if c.dueStale.Swap(false) {
		c.due = dueCache{} // the streams changed: theirs may have checks
	}
	now := c.cfg.Now()
	if wait, ok := c.due.wait(now); ok {
		return wait, nil
	}
	pend, err := c.checks.Pending(ctx, c.Streams(), checkPage)
	if err != nil {
		return 0, err
	}
	c.due = dueCache{known: true, readAt: now}
	n := 0
	for n < len(pend) && !pend[n].Due.After(now) {
		n++
	}
	if n == 0 {
		if len(pend) == 0 {
			return -1, nil
		}
		c.due.next = pend[0].Due
		return pend[0].Due.Sub(now), nil
	}
	// Working the due checks changes the list (done, retried, abandoned):
	// the next round reads it again.
	c.due = dueCache{}
	return 0, c.reconcileDue(ctx, pend[:n])
}

// recordBatch bounds the checks recorded with one Add: a backlog (the
// database was slow while candles closed) is recorded in parts, so that
// the statement built for it stays small.
const recordBatch = 1000

// recordChecks moves the checks enqueued when it is called into the check
// list, recordBatch at a time; on failure the ones not recorded stay
// enqueued, in order.
func (c *Collector) recordChecks(ctx context.Context) error {
	c.checkMu.Lock()
	todo := len(c.checkQueue)
	c.checkMu.Unlock()
	for todo > 0 {
		c.checkMu.Lock()
		n := min(len(c.checkQueue), recordBatch, todo)
		batch := c.checkQueue[:n:n]
		if n == len(c.checkQueue) {
			c.checkQueue = nil
		} else {
			c.checkQueue = c.checkQueue[n:]
		}
		c.checkMu.Unlock()
		if n == 0 {
			return nil
		}
		todo -= n
		if err := c.checks.Add(ctx, batch); err != nil {
			c.checkMu.Lock()
			c.checkQueue = append(batch, c.checkQueue...)
			c.checkMu.Unlock()
			return err
		}
		c.due.recorded(batch)
	}
	return nil
}

// recordChecksAtStopTimeout bounds recording the checks still enqueued when
// the collector stops.
const recordChecksAtStopTimeout = 5 * time.Second

// recordChecksAtStop records the checks still enqueued when ctx has ended,
// under a context detached from it and bounded by
// recordChecksAtStopTimeout; what cannot be recorded is logged.
func (c *Collector) recordChecksAtStop(ctx context.Context) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordChecksAtStopTimeout)
	defer cancel()
	if err := c.recordChecks(rctx); err != nil {
		c.checkMu.Lock()
		n := len(c.checkQueue)
		c.checkMu.Unlock()
		c.log.Error("candle checks not recorded at stop; those candles will not be compared with the exchange's",
			zap.Int("checks", n), zap.Error(err))
	}
}

// reconcileDue compares the due checks, grouped by stream in the order they
// fell due. It returns the first error of the check list.
func (c *Collector) reconcileDue(ctx context.Context, due []market.CandleCheck) error {
	byStream := map[market.Stream][]market.CandleCheck{}
	var order []market.Stream
	for _, k := range due {
		if _, ok := byStream[k.Stream]; !ok {
			order = append(order, k.Stream)
		}
		byStream[k.Stream] = append(byStream[k.Stream], k)
	}
	for _, s := range order {
		if ctx.Err() != nil {
			return nil
		}
		if err := c.reconcileStream(ctx, byStream[s]); err != nil {
			return err
		}
	}
	return nil
}

// reconcileStream compares checks of one stream, sorted or not, with as few
// REST requests as their span allows (one for up to reconcileBatch
// consecutive candles).
func (c *Collector) reconcileStream(ctx context.Context, checks []market.CandleCheck) error {
	sort.Slice(checks, func(i, j int) bool { return checks[i].Time.Before(checks[j].Time) })
	tf := checks[0].Stream.Timeframe.Duration()
	for len(checks) > 0 {
		n := 1
		for n < len(checks) && checks[n].Time.Sub(checks[0].Time) < reconcileBatch*tf {
			n++
		}
		if err := c.reconcileSpan(ctx, checks[:n]); err != nil {
			return err
		}
		checks = checks[n:]
	}
	return nil
}

// reconcileSpan compares checks, sorted, of one stream and within
// reconcileBatch candles of each other, with one REST request.
func (c *Collector) reconcileSpan(ctx context.Context, checks []market.CandleCheck) error {
	first, last := checks[0], checks[len(checks)-1]
	tf := first.Stream.Timeframe
	rest, err := c.cfg.History.Candles(ctx, first.Stream.Symbol, tf, first.Time, last.Time.Add(tf.Duration()))
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		c.log.Debug("reconcile candles: fetch the exchange's; will retry", zap.String("stream", first.Stream.String()), zap.Int("candles", len(checks)), zap.Error(err))
		for _, k := range checks {
			c.st.reconciled(reconcileFailed)
			if err := c.postpone(ctx, k, fmt.Sprintf("fetch the exchange's candles: %v", err), false); err != nil {
				return err
			}
		}
		return nil
	}
	var handed, done []market.CandleCheck
	for _, k := range checks {
		var theirs *market.Candle
		for i := range rest {
			if rest[i].Time.Equal(k.Time) {
				theirs = &rest[i]
				break
			}
		}
		switch {
		case theirs == nil:
			c.st.reconciled(reconcileMissing)
			if k.Reason != market.CheckProvisional {
				done = append(done, k) // nothing to compare with: the candle stays as it is
				continue
			}
			if err := c.postpone(ctx, k, "the exchange served no candle", true); err != nil {
				return err
			}
		case k.Reason != market.CheckProvisional && sameValues(&k, theirs):
			c.st.reconciled(reconcileMatched)
			done = append(done, k)
		default:
			if err := c.replace(ctx, k, theirs); err != nil {
				return nil // ctx ended: the check stays pending
			}
			handed = append(handed, k)
		}
	}
	if len(handed) > 0 && c.cfg.Sync != nil {
		// A check is finished only once the exchange's candle is stored:
		// until then it stays pending, in case the process dies first.
		if err := c.cfg.Sync(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			for _, k := range handed {
				if err := c.postpone(ctx, k, fmt.Sprintf("wait for the exchange's candle to be stored: %v", err), false); err != nil {
					return err
				}
			}
			handed = nil
		}
	}
	for _, k := range append(done, handed...) {
		if err := c.checks.Done(ctx, k); err != nil {
			return err
		}
	}
	return nil
}

// replace hands on theirs, the exchange's candle, as the closed version of
// the candle of check k, and counts it as confirmed (k was provisional with
// the same values) or corrected.
func (c *Collector) replace(ctx context.Context, k market.CandleCheck, theirs *market.Candle) error {
	fixed := *theirs
	fixed.Exchange, fixed.Symbol, fixed.Timeframe, fixed.Closed, fixed.Provisional = k.Stream.Exchange, k.Stream.Symbol, k.Stream.Timeframe, true, false
	fixed.Received = c.cfg.Now().UTC()
	outcome := reconcileCorrected
	if k.Reason == market.CheckProvisional && sameValues(&k, theirs) {
		outcome = reconcileConfirmed
	}
	if outcome == reconcileCorrected {
		c.log.Info("candle differs from the exchange's REST candle; corrected",
			zap.String("stream", k.Stream.String()), zap.Time("ts", k.Time), zap.String("reason", string(k.Reason)),
			zap.String("ours", ohlcv(k.Open, k.High, k.Low, k.Close, k.Volume)),
			zap.String("exchange", ohlcv(fixed.Open, fixed.High, fixed.Low, fixed.Close, fixed.Volume)))
	}
	if err := c.route.deliver(ctx, &fixed, fixed.Received, 0); err != nil {
		return err
	}
	c.st.reconciled(outcome)
	return nil
}

// postpone counts a failed attempt at k and schedules the next one after
// the backoff; a provisional candle the exchange still has no candle for
// (missing) after checkMaxMissing attempts is abandoned.
func (c *Collector) postpone(ctx context.Context, k market.CandleCheck, why string, missing bool) error {
	attempt := k.Attempts + 1
	if k.Reason == market.CheckProvisional && missing && attempt >= checkMaxMissing {
		c.st.reconciled(reconcileAbandoned)
		c.log.Warn("candle check abandoned: the exchange served no candle; the candle stays provisional",
			zap.String("stream", k.Stream.String()), zap.Time("ts", k.Time), zap.Int("attempts", attempt))
		return c.checks.Abandon(ctx, k, why)
	}
	return c.checks.Retry(ctx, k, c.cfg.Now().Add(c.checkBackoff(attempt)), why)
}

func sameValues(k *market.CandleCheck, b *market.Candle) bool {
	return k.Open.Equal(b.Open) && k.High.Equal(b.High) && k.Low.Equal(b.Low) && k.Close.Equal(b.Close) && k.Volume.Equal(b.Volume)
}

func ohlcv(o, h, l, cl, v interface{ String() string }) string {
	return "o=" + o.String() + " h=" + h.String() + " l=" + l.String() + " c=" + cl.String() + " v=" + v.String()
}
